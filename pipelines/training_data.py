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
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from .data import SPLIT_SEED, DataError, load_hf_dataset, load_image_folder, mnist_split

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
    from .data import _mnist_arrays, _pad_and_scale

    return _pad_and_scale(_mnist_arrays()[0])


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
