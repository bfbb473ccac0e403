"""What a model was trained on: the record `train.py` writes into the model folder (`training_data.json`).

A diffusion model's samples can only be judged against the images it saw: the exact reverse process, the copy rule
and the held-out yardstick all need that set. So a model folder records it:

- `kind` (`mnist`, `folder` or `hf_dataset`), `source` (the path or id), `resolution`, `channels`;
- `num_source_images` (all images the source holds), `train_indices` (the ones trained on, positions in the source's
  order: the folder's sorted file list, the data set's rows, or mnist's 5,000 digits) and `heldout_indices` (the
  held-out part, never trained on: mnist keeps its fixed 4,500/500 split, other sources hold out a seeded
  `heldout_fraction`, default 10 %);
- `subset` when training used only `size` of the training images (`subset_index`-th block of a seeded permutation:
  blocks with different indices are disjoint — the memorisation transition trains two models on two of them);
- `content_hash`: SHA-256 of the training images as 8-bit pixels, so a later load can tell the data changed.

`prepare_training_data` makes the images and the record for `train.py`; `load_recorded_data` gives them back from a
record (or from another `--data` source) for the app and the memorization report. A stock folder without the record
still loads everywhere; only the data-dependent parts then ask for `--data`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pipelines.checks import first_line
from pipelines.data.sources import (
    IMAGE_SUFFIXES,
    SPLIT_SEED,
    DataError,
    load_hf_dataset,
    load_image_folder,
    mnist_split,
)

RECORD_FILE = "training_data.json"


DEFAULT_HELDOUT_FRACTION = 0.1


KINDS = ("mnist", "folder", "hf_dataset")


@dataclass
class DataRecord:
    kind: str
    source: str
    resolution: int
    channels: int
    num_source_images: int
    train_indices: list[int]
    heldout_indices: list[int]
    heldout_fraction: float
    split_seed: int = SPLIT_SEED
    content_hash: str = ""
    subset: dict | None = None  # {"size", "index", "seed"}
    num_images: int = field(init=False)

    def __post_init__(self):
        self.num_images = len(self.train_indices)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> DataRecord:
        names = {"kind", "source", "resolution", "channels", "num_source_images", "train_indices"}
        missing = sorted(names - set(data))
        if missing:
            raise DataError(f"{RECORD_FILE} lacks {', '.join(missing)}")
        if data["kind"] not in KINDS:
            raise DataError(f"{RECORD_FILE}: kind must be one of {', '.join(KINDS)}, got {data['kind']!r}")
        return cls(
            kind=data["kind"],
            source=str(data["source"]),
            resolution=int(data["resolution"]),
            channels=int(data["channels"]),
            num_source_images=int(data["num_source_images"]),
            train_indices=[int(i) for i in data["train_indices"]],
            heldout_indices=[int(i) for i in data.get("heldout_indices", [])],
            heldout_fraction=float(data.get("heldout_fraction", 0.0)),
            split_seed=int(data.get("split_seed", SPLIT_SEED)),
            content_hash=str(data.get("content_hash", "")),
            subset=data.get("subset"),
        )


def content_hash(images: torch.Tensor) -> str:
    """SHA-256 of images (N, C, H, W) in [-1, 1] as 8-bit pixels (stable across float round-off)."""
    pixels = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).contiguous()
    digest = hashlib.sha256(str(tuple(pixels.shape)).encode())
    digest.update(pixels.numpy().tobytes())
    return "sha256:" + digest.hexdigest()


def _source_images(kind: str, source: str, resolution: int, channels: int) -> torch.Tensor:
    """Every image of a source, in the source's order."""
    if kind == "folder":
        return load_image_folder(source, resolution, channels)
    if kind == "hf_dataset":
        return load_hf_dataset(source, resolution, channels)
    if (resolution, channels) != (32, 1):
        raise DataError(
            f"dataset mnist is 1 channel at resolution 32; got channels={channels}, resolution={resolution}"
        )
    from pipelines.data.sources import mnist_arrays, pad_and_scale

    return pad_and_scale(mnist_arrays()[0])


def heldout_split(num_images: int, fraction: float, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) positions: a seeded permutation's last round(fraction · N) images are held out (at least one
    when fraction > 0, and at least one image always trains)."""
    if not (isinstance(fraction, (int, float)) and 0 <= fraction < 1):
        raise DataError(f"heldout_fraction must be in [0, 1), got {fraction!r}")
    held = min(num_images - 1, max(1 if fraction > 0 else 0, round(fraction * num_images)))
    order = np.random.default_rng(seed).permutation(num_images)
    return np.sort(order[: num_images - held]), np.sort(order[num_images - held :])


def disjoint_subset(indices: np.ndarray, size: int, index: int, seed: int = 0) -> np.ndarray:
    """The `index`-th block of `size` in a seeded permutation of `indices`: blocks 0, 1, … never share an image."""
    if not isinstance(size, int) or size < 1:
        raise DataError(f"subset_size must be an integer >= 1, got {size!r}")
    if not isinstance(index, int) or index < 0:
        raise DataError(f"subset_index must be an integer >= 0, got {index!r}")
    if (index + 1) * size > len(indices):
        raise DataError(
            f"subset_size {size} × (subset_index {index} + 1) = {(index + 1) * size} is more than the "
            f"{len(indices)} training images"
        )
    order = np.random.default_rng(seed).permutation(len(indices))
    return np.sort(np.asarray(indices)[order[index * size : (index + 1) * size]])


def prepare_training_data(
    dataset: str = "mnist",
    train_data_dir: str | None = None,
    dataset_name: str | None = None,
    resolution: int = 32,
    channels: int = 1,
    heldout_fraction: float = DEFAULT_HELDOUT_FRACTION,
    subset_size: int | None = None,
    subset_index: int = 0,
    subset_seed: int = 0,
) -> tuple[torch.Tensor, DataRecord]:
    """The images to train on (N, C, H, W) in [-1, 1] and their record (folder > 🤗 data set > built-in mnist)."""
    if train_data_dir:
        kind, source = "folder", str(Path(train_data_dir).resolve())
    elif dataset_name:
        kind, source = "hf_dataset", dataset_name
    elif dataset == "mnist":
        kind, source = "mnist", "mnist"
    else:
        raise DataError(f"dataset must be 'mnist' (or give --train_data_dir / --dataset_name), got {dataset!r}")
    images = _source_images(kind, source, resolution, channels)
    if kind == "mnist":  # the fixed, stratified 4,500 / 500 split every mnist tool here uses
        split = mnist_split()
        train, held, fraction = split["train"][0], split["heldout"][0], 0.1
    elif len(images) < 2 and heldout_fraction > 0:
        raise DataError(
            f"{kind} {source!r} holds {len(images)} image: hold out none (--heldout_fraction 0) or add more"
        )
    else:
        train, held = heldout_split(len(images), heldout_fraction)
        fraction = float(heldout_fraction)
    subset = None
    if subset_size is not None:
        train = disjoint_subset(train, subset_size, subset_index, subset_seed)
        subset = {"size": subset_size, "index": subset_index, "seed": subset_seed}
    train_images = images[torch.from_numpy(train)]
    record = DataRecord(
        kind=kind,
        source=source,
        resolution=resolution,
        channels=channels,
        num_source_images=len(images),
        train_indices=train.tolist(),
        heldout_indices=held.tolist(),
        heldout_fraction=fraction,
        content_hash=content_hash(train_images),
        subset=subset,
    )
    return train_images, record


def load_training_data(
    dataset: str = "mnist",
    train_data_dir: str | None = None,
    dataset_name: str | None = None,
    resolution: int = 32,
    channels: int = 1,
) -> torch.Tensor:
    """Every training image of the CLI's three sources (folder > 🤗 data set > built-in mnist), (N, C, H, W) in
    [-1, 1]: `prepare_training_data` holding nothing out beyond mnist's fixed split (its 4,500 train digits)."""
    return prepare_training_data(dataset, train_data_dir, dataset_name, resolution, channels, heldout_fraction=0)[0]


def save_record(folder: str | os.PathLike, record: DataRecord) -> Path:
    path = Path(folder) / RECORD_FILE
    path.write_text(json.dumps(record.as_dict()))
    return path


def read_record(folder: str | os.PathLike) -> DataRecord | None:
    """The record in a local model folder, or None when the folder has none (a stock diffusers folder)."""
    path = Path(folder) / RECORD_FILE
    if not path.is_file():
        return None
    try:
        return DataRecord.from_dict(json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError, ValueError) as error:
        raise DataError(f"{path} is not a valid training-data record: {error}") from None


def load_recorded_data(record: DataRecord, check_hash: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(train images, held-out images) a record describes; a changed source is a DataError naming it."""
    images = _source_images(record.kind, record.source, record.resolution, record.channels)
    if len(images) != record.num_source_images:
        raise DataError(
            f"the training data {record.source!r} now holds {len(images)} images, the model was trained when it held "
            f"{record.num_source_images}: pass the data it was trained on with --data"
        )
    train = images[torch.tensor(record.train_indices, dtype=torch.long)]
    held = images[torch.tensor(record.heldout_indices, dtype=torch.long)] if record.heldout_indices else images[:0]
    if check_hash and record.content_hash and content_hash(train) != record.content_hash:
        raise DataError(
            f"the training data {record.source!r} changed since the model was trained (content hash differs): "
            "pass the data it was trained on with --data"
        )
    return train, held


# -- the data a loaded model is compared with: its record, a bundle shipped beside it, or --data ---------------------
BUNDLE_FILE = "training_images.safetensors"  # the train / held-out images as uint8, for a Space that lacks the source


@dataclass
class ModelData:
    """The training images a model is compared with, its held-out images (maybe none) and where they came from."""

    train: torch.Tensor  # (N, C, H, W) in [-1, 1]
    heldout: torch.Tensor  # (M, C, H, W), M may be 0
    record: DataRecord | None
    description: str  # one line for the page: "4,500 images of mnist (held out: 500)"


def _to_uint8(images: torch.Tensor) -> torch.Tensor:
    return ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).contiguous()


def save_bundle(folder: str | os.PathLike, train: torch.Tensor, heldout: torch.Tensor) -> Path:
    """Write the images beside the model as 8-bit pixels (`training_images.safetensors`, keys train and heldout)."""
    from safetensors.torch import save_file

    path = Path(folder) / BUNDLE_FILE
    save_file({"train": _to_uint8(train), "heldout": _to_uint8(heldout)}, str(path))
    return path


def load_bundle(path: str | os.PathLike) -> tuple[torch.Tensor, torch.Tensor]:
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(path))
    except Exception as error:  # a truncated or foreign file: one line
        raise DataError(f"{path} is not a readable image bundle: {error}") from None
    if "train" not in tensors:
        raise DataError(f"{path} holds no 'train' images")
    scale = lambda t: t.float() / 127.5 - 1.0  # noqa: E731
    return scale(tensors["train"]), scale(tensors.get("heldout", tensors["train"][:0]))


def _describe(train: torch.Tensor, heldout: torch.Tensor, where: str) -> str:
    return f"{len(train):,} training images from {where} (held out: {len(heldout):,})"


def resolve_model_data(
    model_dir: str | os.PathLike | None,
    image_shape: tuple[int, int, int],
    data: str | None = None,
    flag: str = "--data",
) -> ModelData:
    """The images a model (drawing `image_shape` = (C, H, W)) is compared with.

    - `data` given: "mnist", a folder of images or a 🤗 data set id/path (a folder holding `training_images.safetensors`
      uses that). If the model folder has a record of the same source, its train / held-out indices apply (and
      its content hash is checked); otherwise every image counts as training data and none is held out.
    - no `data`: the bundle beside the model, else the source its record names.
    DataError naming `flag` when nothing is found, the source changed, or the shape differs from the model's."""
    folder = Path(model_dir) if model_dir is not None else None
    record = read_record(folder) if folder is not None and folder.is_dir() else None
    channels, height, width = image_shape
    if data is None:
        if folder is not None and (folder / BUNDLE_FILE).is_file():
            train, heldout = load_bundle(folder / BUNDLE_FILE)
            result = ModelData(train, heldout, record, _describe(train, heldout, "the bundle beside the model"))
        elif record is None:
            raise DataError(
                f"the model records no training data (no {RECORD_FILE}): pass {flag} with its images "
                "(a folder, a 🤗 data set id, or mnist)"
            )
        else:
            try:
                train, heldout = load_recorded_data(record)
            except DataError as error:
                raise DataError(f"{error} (the model's {RECORD_FILE} names {record.source!r}; pass {flag})") from None
            result = ModelData(
                train,
                heldout,
                record,
                _describe(train, heldout, "mnist" if record.kind == "mnist" else f"{record.kind} {record.source}"),
            )
    else:
        result = _data_from_flag(data, record, channels, height, flag)
    shape = tuple(result.train.shape[1:])
    if shape != (channels, height, width):
        raise DataError(
            f"{flag}: the images are {'×'.join(map(str, shape))} but the model draws {channels}×{height}×{width}"
        )
    return result


def _data_from_flag(data: str, record: DataRecord | None, channels: int, size: int, flag: str) -> ModelData:
    if not str(data).strip():
        raise DataError(f"{flag} must not be empty")
    path = Path(data)
    if data == "mnist":
        kind, source = "mnist", "mnist"
    elif path.is_dir() and (path / BUNDLE_FILE).is_file():
        train, heldout = load_bundle(path / BUNDLE_FILE)
        return ModelData(train, heldout, record, _describe(train, heldout, str(path)))
    elif path.is_dir():
        if not any(p.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp", ".bmp") for p in path.rglob("*")):
            raise DataError(f"{flag} {data!r} holds no images (png/jpg/jpeg/webp/bmp)")
        kind, source = "folder", str(path.resolve())
    elif path.exists() or "/" not in str(data) or str(data).startswith((".", "/")):
        raise DataError(f"{flag} {data!r}: no such folder (and not a 🤗 data set id of the form USER/NAME or mnist)")
    else:
        kind, source = "hf_dataset", str(data)
    try:
        images = _source_images(kind, source, size, channels)
    except DataError as error:
        raise DataError(f"{flag}: {error}") from None
    if record is not None and record.kind == kind and record.num_source_images == len(images):
        same = DataRecord.from_dict({**record.as_dict(), "source": source})
        train, heldout = load_recorded_data(same, check_hash=False)
        if same.content_hash and content_hash(train) != same.content_hash:
            raise DataError(f"{flag} {data!r} is not the data the model was trained on (content hash differs)")
        return ModelData(train, heldout, record, _describe(train, heldout, str(data)))
    if kind == "mnist":
        split = mnist_split()
        train, heldout = images[torch.from_numpy(split["train"][0])], images[torch.from_numpy(split["heldout"][0])]
        return ModelData(train, heldout, record, _describe(train, heldout, "mnist"))
    return ModelData(images, images[:0], record, _describe(images, images[:0], str(data)))


# -- where a model's data files are, for a local folder or a Hub repo ------------------------------------------------
def model_data_folder(model: str | os.PathLike) -> Path | None:
    """The folder that holds a model's `training_data.json` / `training_images.safetensors`: the model folder itself,
    or for a Hub repo id (USER/NAME) the cache folder those two files are downloaded into (each may be missing: a
    stock repo has neither). None when there is no such folder or the repo has neither file."""
    path = Path(model)
    if path.is_dir():
        return path
    if path.exists() or not re.fullmatch(r"[\w.-]+/[\w.-]+", str(model)) or str(model).startswith("."):
        return None
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError

    found = None
    for name in (RECORD_FILE, BUNDLE_FILE):
        try:
            found = Path(hf_hub_download(str(model), name)).parent
        except (EntryNotFoundError, LocalEntryNotFoundError):
            continue  # no such file (or offline and not cached): no record, not an error
        except HfHubHTTPError as error:
            raise DataError(f"cannot fetch {name} from the Hub repo {model}: {first_line(error)}") from None
    return found


# -- memory: what holding a data set for the exact posterior costs ---------------------------------------------------
# The posterior tabs' peak resident memory per value of the N × D training images, as bench/bench_data_memory.py
# measures it (the float32 images, the float64 copy the exact posterior computes with, the app's cost measurement's
# own copies and the chunked temporaries of a sampler run and a nearest-neighbour search; README has the numbers).
BYTES_PER_VALUE = 32


# The bound on that memory: a free CPU Space has 16 GB; the rest is for the app itself (torch, gradio, the model:
# about 0.6 GB) and headroom.
MEMORY_BOUND_BYTES = 10 * 10**9


def data_memory_bytes(num_images: int, image_shape: tuple[int, int, int]) -> int:
    """The memory the exact posterior needs for num_images images of image_shape (C, H, W)."""
    return int(num_images) * int(np.prod(image_shape)) * BYTES_PER_VALUE


def check_data_memory(
    num_images: int, image_shape: tuple[int, int, int], flag: str = "--data", bound: int | None = None
) -> None:
    """DataError naming `flag` when num_images images of image_shape need more memory than `bound` bytes (default
    MEMORY_BOUND_BYTES)."""
    bound = MEMORY_BOUND_BYTES if bound is None else bound
    need = data_memory_bytes(num_images, image_shape)
    if need > bound:
        c, h, w = image_shape
        most = bound // (int(np.prod(image_shape)) * BYTES_PER_VALUE)
        raise DataError(
            f"{flag}: {num_images:,} images of {c}×{h}×{w} need {need / 1e9:.3g} GB for the exact posterior; the bound "
            f"is {bound / 1e9:.3g} GB (at most {most:,} images of this size, for a 16 GB machine): pass a smaller set"
        )


def count_source_images(data: str | os.PathLike) -> int | None:
    """How many image files a --data folder holds (without decoding them), None when it is not a folder."""
    path = Path(data)
    if not path.is_dir():
        return None
    return sum(1 for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def check_folder_images(folder: str | os.PathLike, image_shape: tuple[int, int, int], flag: str = "--data") -> None:
    """DataError naming `flag` unless every image file of `folder` already has the model's size and channels (read
    from the file headers only). For a folder that is not the one a model's record names: nothing then says how it
    was resized, so images of another size or colour are refused rather than silently converted."""
    channels, height, width = image_shape
    files = sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    sizes, colours = {}, {}
    for path in files:
        try:
            with Image.open(path) as image:
                size, grey = image.size, image.mode in ("1", "L", "LA", "I", "I;16", "F")
        except (OSError, ValueError, Image.DecompressionBombError):
            continue  # unreadable files are skipped (and counted) when the folder is loaded
        if size != (width, height):
            sizes.setdefault(size, path.name)
        if grey != (channels == 1):
            colours.setdefault(grey, path.name)
    if sizes:
        (w, h), name = next(iter(sizes.items()))
        raise DataError(
            f"{flag} {str(folder)!r}: {name} is {w}×{h} but the model draws {width}×{height} images: pass the images "
            f"at {width}×{height} (as train.py --resolution {width} made them)"
        )
    if colours:
        grey, name = next(iter(colours.items()))
        raise DataError(
            f"{flag} {str(folder)!r}: {name} is {'grayscale' if grey else 'colour'} but the model draws "
            f"{channels} channel{'s' if channels > 1 else ''} ({'RGB' if channels == 3 else 'grayscale'})"
        )
