"""AppContext: what every tab shares — the one loaded pipeline (its scheduler is stateless, so concurrent
requests share it), the run store, and, built on first use, the model's training images and the exact posterior
over them. Also the settings every tab reads (concurrency, the default step count)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from pipelines import DatasetPosterior, PosteriorDDPMPipeline, PosteriorDDPMScheduler
from pipelines.data.record import (
    BUNDLE_FILE,
    MEMORY_BOUND_BYTES,
    ModelData,
    check_folder_images,
    count_source_images,
    data_memory_bytes,
    model_data_folder,
    read_record,
    resolve_model_data,
)
from pipelines.data.shards import write_shards
from pipelines.data.sources import DataError, mnist_labels, mnist_split
from pipelines.data.streamed import default_cache_root, shard_size_for, source_count, streamed_model_data
from pipelines.ddpm.scheduler import TIMESTEP_SPACINGS
from ui.files import RunStore

DEFAULT_MODEL = "models/ddpm-mnist"
# The one place the default step count lives: the default model's card has the quality of each step count.
DEFAULT_NUM_INFERENCE_STEPS = 40
SAMPLE_CONCURRENCY = 2  # /sample and /exact_sample runs at once; more wait in the queue
# The live view of /sample sends a frame at most every FRAME_INTERVAL_S (and always the first step), and only while
# the frames so far cost at most FRAME_BUDGET of the run's time: each frame is two PNGs encoded, cached and sent to
# every viewer, so a fast model streaming every step spends more time showing than sampling
# (bench/bench_streaming.py). Every step is still recorded for the slider and the GIF. app.py's --frame-interval-s
# and --frame-budget set them per server (0 and 1: every step's frame).
FRAME_INTERVAL_S = 0.25
FRAME_BUDGET = 0.05
# A model that records no training data and draws this shape is compared with the bundled MNIST digits (as the
# demo always did); any other model needs its record, a bundle beside it, or --data.
MNIST_SHAPE = (1, 32, 32)
# The largest images the posterior tabs compare (a free CPU Space holds about 25,000 of 3×64×64: see README).
MAX_DATA_SIDE = 64
# Beyond the memory bound (pipelines.data.record.MEMORY_BOUND_BYTES: the dense exact posterior's 32 bytes per value)
# the data are read from memory-mapped shards and searched through a FAISS index; the exact posterior is then
# restricted to the NEAREST_K nearest training images of x_t/√ᾱ_t, with a bound on what the rest could hold.
NEAREST_K = 64


@dataclass
class AppContext:
    """The pipeline, its name, the run store, and — built on first use — the model's training images and the
    `DatasetPosterior` over them.

    `schedulers` holds one scheduler per timestep spacing, used only to plan timesteps. The data comes from
    `pipelines.data.record.resolve_model_data`: `data` (app.py's --data) when given, else the model folder's (or
    Hub repo's) record or bundle; a 1×32×32 model without either gets the bundled MNIST digits. `load_data()` resolves
    it once (thread-safe): app.py calls it at start, so a bad --data stops the app with one line; with no data to be
    found the tabs show `data_notice()` instead. Everything built from it is read-only and shared."""

    pipe: PosteriorDDPMPipeline
    model_id: str
    store: RunStore = field(default_factory=RunStore)
    sample_concurrency: int = SAMPLE_CONCURRENCY
    frame_interval_s: float = FRAME_INTERVAL_S
    frame_budget: float = FRAME_BUDGET
    data: str | None = None  # app.py's --data: a folder, a 🤗 data set id, or mnist
    # Bytes the dense exact posterior may hold (None: MEMORY_BOUND_BYTES); beyond, shards and an index.
    memory_bound: int | None = None
    shard_cache: str | None = None  # where the shards are cached (None: beside the model, else ~/.cache)
    index_kind: str = "auto"  # the NeighbourIndex kind at scale: auto (exact up to 4·10⁹ values), flat or ivf
    schedulers: dict[str, PosteriorDDPMScheduler] = field(init=False)
    _model_data: ModelData | None = field(default=None, init=False, repr=False)
    _data_notice: str | None = field(default=None, init=False, repr=False)
    _labels: torch.Tensor | None = field(default=None, init=False, repr=False)
    _dataset_posterior: DatasetPosterior | None = field(default=None, init=False, repr=False)
    _index = None  # the NeighbourIndex over the shards, at scale
    _cache_note: str = ""
    # Re-entrant: dataset_posterior() calls load_data() while holding it.
    _lazy_lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)

    def __post_init__(self):
        config = self.pipe.scheduler.config
        self.schedulers = {s: PosteriorDDPMScheduler.from_config(config, timestep_spacing=s) for s in TIMESTEP_SPACINGS}

    @property
    def num_train_timesteps(self) -> int:
        return int(self.pipe.scheduler.config.num_train_timesteps)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.pipe.image_shape)

    def timestep_plan(self, spacing: str, num_inference_steps: int) -> list[int]:
        """The descending timesteps of a K-step run with this spacing (the scheduler's rule, not ours)."""
        return self.schedulers[spacing].timestep_plan(num_inference_steps).tolist()

    # -- the training images and the exact posterior over them, built once, on first use, by one thread --
    def load_data(self) -> ModelData | None:
        """The model's training images, resolved once. With --data, a DataError (one line naming --data) when they
        cannot be used; without it, None when none are found (then `data_notice()` says which flag to pass)."""
        with self._lazy_lock:
            if self._model_data is None and self._data_notice is None:
                try:
                    self._model_data = self._resolve()
                except DataError as error:
                    if self.data is not None:
                        raise
                    self._data_notice = self._notice(str(error))
            return self._model_data

    def _resolve(self) -> ModelData:
        shape = self.image_shape
        if max(shape[1:]) > MAX_DATA_SIDE:
            raise DataError(
                f"{'--data: ' if self.data is not None else ''}the posterior tabs compare images up to "
                f"{MAX_DATA_SIDE}×{MAX_DATA_SIDE} (the exact posterior's cost and memory grow with N·D); the model "
                f"draws {'×'.join(map(str, shape))}"
            )
        folder = model_data_folder(self.model_id)
        record = read_record(folder) if folder is not None else None
        bundled = folder is not None and (folder / BUNDLE_FILE).is_file()
        if self.data not in (None, "mnist"):
            count = count_source_images(self.data)
            if count and not Path(self.data, BUNDLE_FILE).is_file():
                recorded = record is not None and record.kind == "folder" and record.num_source_images == count
                if not recorded:  # not the folder the model records: its images must already fit the model
                    check_folder_images(self.data, shape)
        count = source_count(folder, self.data) if self.data != "mnist" else None
        if count is not None and data_memory_bytes(count, shape) > self.bound:
            return self._streamed(folder)
        if self.data is None and record is None and shape == MNIST_SHAPE and not bundled:
            result = resolve_model_data(None, shape, "mnist")  # a stock 1×32×32 model: the bundled digits, as always
            result.description += " (the model records no training data; --data names another set)"
        else:
            result = resolve_model_data(folder, shape, self.data)
        if data_memory_bytes(len(result.train), shape) > self.bound:  # counted only once loaded (a 🤗 data set)
            root = Path(self.shard_cache) if self.shard_cache else default_cache_root(folder)
            shards = write_shards(
                root / "loaded", result.train, shard_size_for(shape), heldout=result.heldout[:500],
                source=result.description,
            )  # fmt: skip
            result = ModelData(shards, shards.heldout(), result.record, result.description)
            self._index = self._build_index(shards)
            self._cache_note = f"written into {root / 'loaded'}"
        return result

    @property
    def bound(self) -> int:
        """The bytes the dense exact posterior may hold (`memory_bound`, default MEMORY_BOUND_BYTES)."""
        return MEMORY_BOUND_BYTES if self.memory_bound is None else int(self.memory_bound)

    def _streamed(self, folder) -> ModelData:
        """The data beyond the bound: memory-mapped shards (written once, cached by source) and an index over them."""
        flag = "--data" if self.data is not None else "the model's training data"
        streamed = streamed_model_data(folder, self.image_shape, self.data, self.shard_cache, flag=flag)
        self._index = self._build_index(streamed.shards)
        self._cache_note = streamed.cache
        return ModelData(streamed.shards, streamed.heldout, streamed.record, streamed.description)

    def _build_index(self, shards):
        """The NeighbourIndex over the shards: one part per shard (one shard in memory at a time); a cached
        compressed index built for other data is refused by name (rebuild=False), never silently used."""
        from pipelines.exact.index import NeighbourIndex

        return NeighbourIndex(shards, kind=self.index_kind, num_parts=shards.num_shards, rebuild=False)

    @property
    def at_scale(self) -> bool:
        """Whether the data are beyond the memory bound (read from shards, searched through an index)."""
        return self.load_data() is not None and self._index is not None

    @property
    def neighbour_index(self):
        """The NeighbourIndex at scale (None for data held in memory)."""
        self.load_data()
        return self._index

    def scale_notice(self) -> str:
        """At scale, one paragraph for the page: why the data are on disk, what is held at once, and the index."""
        if not self.at_scale:
            return ""
        index, shape = self._index, self.image_shape
        dim = int(np.prod(shape))
        per_shard = shard_size_for(shape)
        need = data_memory_bytes(len(index), shape)
        engine = (
            "an exact (flat) index: the nearest images found are the true nearest"
            if index.kind == "flat"
            else "a compressed (IVF, 8-bit) index: approximate, its recall@2 against brute force is measured on a "
            "sample of every search and shown with the result"
        )
        return (
            f"**Data on disk.** {len(index):,} training {self.noun}s of {'×'.join(map(str, shape))} would need "
            f"{need / 1e9:.3g} GB for the exact posterior in memory; the bound is {self.bound / 1e9:.3g} GB. So they "
            f"are read from memory-mapped shards of at most {per_shard:,} {self.noun}s "
            f"({per_shard * dim * 4 / 1e6:.0f} MB as 32-bit floats), one shard in memory at a time whatever $N$ "
            f"is, and the nearest {self.noun}s are found through {engine}. "
            f"The exact posterior is restricted to the {NEAREST_K} nearest training "
            f"{self.noun}s of $x_t/\\sqrt{{\\bar\\alpha_t}}$, with a bound on the weight the others can hold. "
            "Each exact step reads every shard once, so an exact run takes seconds per step here."
        )

    def _notice(self, reason: str) -> str:
        C, H, W = self.image_shape
        return (
            f"This tab compares the model with the images it was trained on, and the app has none for "
            f"{self.model_id} ({C}×{H}×{W}): {reason.rstrip('.')}. Start the app with "
            f"`python app.py --model {self.model_id} --data FOLDER_OR_DATASET_ID` (a folder of its training images, "
            "a 🤗 data set id, or mnist); the Sample tab works without it."
        )

    @property
    def has_data(self) -> bool:
        """Whether the data tabs can run (the model's training images were found)."""
        return self.load_data() is not None

    def data_notice(self) -> str:
        """Why the data tabs cannot run, and the flag that fixes it ("" when they can)."""
        self.load_data()
        return self._data_notice or ""

    def require_data(self) -> ModelData:
        """The model's training images, or ValueError (shown on the page) saying which flag to pass."""
        data = self.load_data()
        if data is None:
            raise ValueError(self._data_notice)
        return data

    @property
    def is_mnist(self) -> bool:
        """Whether the training images are the bundled MNIST digits (so they have labels, and the page says digit)."""
        data = self.load_data()
        return data is not None and self._mnist_indices(data) is not None

    def _mnist_indices(self, data: ModelData):
        record = data.record
        if self.data not in (None, "mnist"):
            return None
        if record is not None and record.kind == "mnist" and len(data.train) == record.num_images:
            return record.train_indices
        if (self.data == "mnist" or record is None) and len(data.train) == len(mnist_split()["train"][0]):
            return mnist_split()["train"][0]
        return None

    @property
    def noun(self) -> str:
        """What one training image is called on the page: "digit" for MNIST, "image" for any other data."""
        return "digit" if self.is_mnist else "image"

    def train_images(self) -> torch.Tensor:
        """The training images (N, C, H, W) in [-1, 1]; ValueError with the notice when there are none."""
        return self.require_data().train

    def heldout_images(self) -> torch.Tensor:
        """The held-out images (M, C, H, W), M may be 0 (none held out)."""
        return self.require_data().heldout

    def train_labels(self) -> torch.Tensor | None:
        """The MNIST labels of the training digits (N,), or None for any other data (it has no labels)."""
        with self._lazy_lock:
            if self._labels is None and self.is_mnist:
                indices = self._mnist_indices(self.load_data())
                self._labels = torch.from_numpy(mnist_labels()[np.asarray(indices)].astype(np.int64))
            return self._labels

    def mnist_train(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(training images, their MNIST labels or None): the name the MNIST-only demo used."""
        return self.train_images(), self.train_labels()

    def dataset_posterior(self) -> DatasetPosterior:
        """The exact q(x_{t-1} | x_t) over the training images, with the model's noise schedule; built once and
        shared (it is read-only after construction, so concurrent requests may use it)."""
        with self._lazy_lock:
            if self._dataset_posterior is None:
                if self.at_scale:  # the data on disk: q(x_0 | x_t) on the k nearest through the index
                    from pipelines.exact.nearest_posterior import IndexedPosterior

                    recall = 0 if self._index.kind == "flat" else 16  # an exact index needs no check
                    self._dataset_posterior = IndexedPosterior(self._index, self.pipe.scheduler, NEAREST_K, recall)
                else:
                    self._dataset_posterior = DatasetPosterior(self.train_images(), self.pipe.scheduler)
            return self._dataset_posterior

    def training_image(self, index: int) -> torch.Tensor:
        """One training image (1, C, H, W) in [-1, 1] (read from its shard at scale)."""
        return self.train_images()[index : index + 1].float()
