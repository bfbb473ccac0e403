"""Images on disk in memory-mapped shards, read back shard by shard, so memory does not grow with N.

A shard set is a folder: `manifest.json` (image shape (C, H, W), count, the shards' file names and counts, the dtype,
the source and the content hash) and `shard-00000.npy`, `shard-00001.npy`, … each (n, C, H, W) **uint8**: the
8-bit pixels of images in model space, p = round((x + 1) · 127.5), read back as x = p / 127.5 − 1. Training images
from a folder, MNIST or a bundle are 8-bit to begin with, so nothing is lost; the content hash is the record's
(`record.content_hash`: SHA-256 of the shape and the 8-bit pixels), so a shard set and a model's record can be
compared. A held-out part, when given, is one more file (`heldout.npy`).

Writing is atomic: a new set is written into a temporary sibling folder and swapped in only when complete, so a
disk that fills (or a killed process) leaves the old set as it was, and the error names the path it failed on.
Reading opens each shard with `numpy.load(mmap_mode="r")`: at most one shard's pixels (and its float copy) are held
at once; `SHARD_BYTES` below is what that costs per value.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from pipelines.checks import check_int
from pipelines.data.record import _to_uint8
from pipelines.data.sources import IMAGE_SUFFIXES, DataError, _to_tensor

MANIFEST_FILE = "manifest.json"


HELDOUT_FILE = "heldout.npy"


FORMAT = "ddpm-posterior-shards/1"


SHARD_DTYPE = "uint8"  # the 8-bit pixels the content hash covers


DEFAULT_SHARD_SIZE = 16_384  # images per shard: 48 MB of uint8 (200 MB as float32) at 3×32×32


def to_pixels(images: torch.Tensor) -> np.ndarray:
    """Images (N, C, H, W) in [-1, 1] → their 8-bit pixels (N, C, H, W) uint8, as the content hash makes them."""
    return _to_uint8(images.detach().cpu()).numpy()


def from_pixels(pixels: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """8-bit pixels (N, C, H, W) → images in [-1, 1] in `dtype` (a new tensor; the memory map is only read)."""
    images = torch.from_numpy(np.array(pixels, dtype=np.float32))  # a new float32 array: scaled in place
    return images.div_(127.5).sub_(1.0).to(dtype)  # float32, as loaded


class ShardSet:
    """A shard set on disk (see the module's doc). Open one with `ShardSet(folder)`; write one with `write_shards`."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        path = self.folder / MANIFEST_FILE
        if not path.is_file():
            raise DataError(f"shards {str(self.folder)!r}: no {MANIFEST_FILE} (not a shard set, or not written yet)")
        try:
            manifest = json.loads(path.read_text())
            self.image_shape: tuple[int, int, int] = tuple(int(s) for s in manifest["image_shape"])
            self.files: list[str] = list(manifest["files"])
            self.counts: list[int] = [int(c) for c in manifest["counts"]]
            self.content_hash: str = str(manifest["content_hash"])
            self.source: str = str(manifest.get("source", ""))
            self.num_heldout: int = int(manifest.get("num_heldout", 0))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise DataError(f"shards {str(path)!r} is not a valid manifest: {error}") from None
        if manifest.get("format") != FORMAT or len(self.files) != len(self.counts) or len(self.image_shape) != 3:
            raise DataError(f"shards {str(path)!r} is not a {FORMAT} manifest")
        self.count = sum(self.counts)
        self.starts = np.concatenate([[0], np.cumsum(self.counts)]).astype(np.int64)

    def __len__(self) -> int:
        return self.count

    def __repr__(self) -> str:
        c, h, w = self.image_shape
        return f"ShardSet({str(self.folder)!r}, {self.count:,} images of {c}×{h}×{w} in {len(self.files)} shards)"

    @property
    def dim(self) -> int:
        """D = C·H·W, the values per image."""
        return int(np.prod(self.image_shape))

    @property
    def num_shards(self) -> int:
        return len(self.files)

    def pixels(self, shard: int) -> np.ndarray:
        """Shard `shard` (0 … num_shards − 1) as a read-only memory map (n, C, H, W) uint8."""
        check_int("shard", shard, 0, self.num_shards - 1)
        path = self.folder / self.files[shard]
        try:
            array = np.load(path, mmap_mode="r")
        except (OSError, ValueError) as error:
            raise DataError(f"shards: {str(path)!r} cannot be read: {error}") from None
        if array.shape != (self.counts[shard], *self.image_shape) or array.dtype != np.uint8:
            raise DataError(f"shards: {str(path)!r} holds {array.shape} {array.dtype}, the manifest says otherwise")
        return array

    def images(self, shard: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Shard `shard` as images (n, C, H, W) in [-1, 1]."""
        return from_pixels(self.pixels(shard), dtype)

    def iter_images(self, dtype: torch.dtype = torch.float32) -> Iterator[tuple[int, torch.Tensor]]:
        """(first index, images (n, C, H, W) in [-1, 1]) for each shard in order: one shard held at a time."""
        for shard in range(self.num_shards):
            yield int(self.starts[shard]), self.images(shard, dtype)

    def rows(self, indices, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The images at `indices` (any shape of ints in [0, N)), shaped (*indices.shape, C, H, W), in [-1, 1]."""
        index = torch.as_tensor(indices, dtype=torch.int64)
        flat = index.reshape(-1).numpy()
        if len(flat) and (flat.min() < 0 or flat.max() >= self.count):
            raise ValueError(f"indices must be in [0, {self.count - 1}], got {int(flat.min())} … {int(flat.max())}")
        out = np.empty((len(flat), *self.image_shape), dtype=np.uint8)
        shard_of = np.searchsorted(self.starts, flat, side="right") - 1
        for shard in np.unique(shard_of):
            where = np.flatnonzero(shard_of == shard)
            out[where] = self.pixels(int(shard))[flat[where] - self.starts[shard]]
        return from_pixels(out, dtype).reshape(*index.shape, *self.image_shape)

    def __getitem__(self, indices) -> torch.Tensor:
        """shards[i] / shards[tensor of indices] / shards[a:b]: the images there (float32, [-1, 1]), as a tensor
        would give them."""
        if isinstance(indices, slice):
            return self.rows(list(range(*indices.indices(self.count))))
        return self.rows(indices)

    def load(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Every image (N, C, H, W) in [-1, 1], in memory: for small sets and tests."""
        return torch.cat([images for _, images in self.iter_images(dtype)])

    def heldout(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The held-out images (M, C, H, W) in [-1, 1] (M = 0 when the set has none)."""
        if not self.num_heldout:
            return torch.zeros((0, *self.image_shape), dtype=dtype)
        return from_pixels(np.load(self.folder / HELDOUT_FILE, mmap_mode="r"), dtype)

    def check_hash(self, expected: str, name: str = "shards") -> None:
        """DataError when the shards' content hash is not `expected` (the data changed, or another data set)."""
        if expected and self.content_hash != expected:
            raise DataError(
                f"{name} {str(self.folder)!r} holds other images than expected (content hash {self.content_hash[:19]}…"
                f" ≠ {expected[:19]}…): rewrite them from the data (write_shards)"
            )


# ---------------------------------------------------------------------------------------------- writing
def _hash_shards(folder: Path, files: list[str], image_shape: tuple[int, ...], count: int) -> str:
    """The record's content hash (SHA-256 of the shape tuple, then the 8-bit pixels in order), read shard by shard."""
    digest = hashlib.sha256(str((count, *image_shape)).encode())
    for name in files:
        array = np.load(folder / name, mmap_mode="r")
        for start in range(0, len(array), 4096):
            digest.update(np.ascontiguousarray(array[start : start + 4096]).tobytes())
    return "sha256:" + digest.hexdigest()


def _batches(images, shard_size: int) -> Iterator[np.ndarray]:
    """uint8 batches of at most shard_size images, from a tensor or an iterable of tensors / uint8 arrays."""
    if isinstance(images, torch.Tensor):
        tensor = images
        images = (tensor[start : start + shard_size] for start in range(0, len(tensor), shard_size))
    pending, held = [], 0
    for batch in images:
        is_pixels = isinstance(batch, np.ndarray) and batch.dtype == np.uint8
        array = batch if is_pixels else to_pixels(torch.as_tensor(batch))
        pending.append(array)
        held += len(array)
        while held >= shard_size:
            joined = np.concatenate(pending)
            yield joined[:shard_size]
            pending, held = [joined[shard_size:]], held - shard_size
    if held:
        yield np.concatenate(pending)


def _write_into(tmp: Path, images, shard_size: int, heldout, source: str) -> dict:
    files, counts, shape = [], [], None
    for number, array in enumerate(_batches(images, shard_size)):
        if array.ndim != 4 or (shape is not None and array.shape[1:] != shape):
            raise ValueError(f"images must be batches (n, C, H, W) of one shape, got {array.shape}")
        shape = array.shape[1:]
        name = f"shard-{number:05d}.npy"
        np.save(tmp / name, array)
        files.append(name)
        counts.append(len(array))
    if shape is None:
        raise ValueError("images must hold at least one image, got none")
    num_heldout = 0
    if heldout is not None and len(heldout):
        held = to_pixels(torch.as_tensor(heldout))
        if held.shape[1:] != shape:
            raise ValueError(f"heldout must have images of shape {shape} (the training images'), got {held.shape}")
        np.save(tmp / HELDOUT_FILE, held)
        num_heldout = len(held)
    count = sum(counts)
    return {
        "format": FORMAT,
        "image_shape": list(shape),
        "count": count,
        "dtype": SHARD_DTYPE,
        "files": files,
        "counts": counts,
        "num_heldout": num_heldout,
        "source": source,
        "content_hash": _hash_shards(tmp, files, shape, count),
    }


def write_shards(
    folder: str | os.PathLike,
    images: torch.Tensor | Iterable,
    shard_size: int = DEFAULT_SHARD_SIZE,
    heldout: torch.Tensor | None = None,
    source: str = "",
) -> ShardSet:
    """Write images into the shard set `folder`, replacing any set there only once the new one is complete.

    images: a tensor (N, C, H, W) in [-1, 1], or an iterable of such batches (or of uint8 pixel batches) so that N
    need not fit in memory. shard_size: images per shard, ≥ 1. heldout: held-out images (M, C, H, W), kept apart.
    source: a line saying where the images came from (kept in the manifest). A write that fails (a full disk, no
    permission) leaves the old set usable and raises DataError naming the path."""
    shard_size = check_int("shard_size", shard_size, 1, meaning=" (images per shard)")
    folder = Path(folder)
    tmp = folder.parent / f".{folder.name}.tmp-{os.getpid()}"
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        manifest = _write_into(tmp, images, shard_size, heldout, source)
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1) + "\n")
        old = folder.parent / f".{folder.name}.old-{os.getpid()}"
        if folder.exists():
            os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as error:
        shutil.rmtree(tmp, ignore_errors=True)
        where = error.filename or tmp
        raise DataError(
            f"shards {str(folder)!r} could not be written ({error.strerror or error} at {str(where)!r}); "
            "the shards there before, if any, are unchanged"
        ) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ShardSet(folder)


def shards_for(images: torch.Tensor, folder: str | os.PathLike, heldout=None, source: str = "", **kwargs) -> ShardSet:
    """The shard set of `images` (N, C, H, W) in [-1, 1] at `folder`: the one there when its content hash is the
    images' (nothing is rewritten), else a new one written over it (the bundled data or a loaded set, turned once)."""
    from pipelines.data.record import content_hash

    try:
        existing = ShardSet(folder)
        if existing.content_hash == content_hash(images) and existing.num_heldout == (
            0 if heldout is None else len(heldout)
        ):
            return existing
    except DataError:
        pass
    return write_shards(folder, images, heldout=heldout, source=source, **kwargs)


def folder_images(
    image_folder: str | os.PathLike,
    resolution: int = 32,
    channels: int = 1,
    indices: Sequence[int] | None = None,
    batch_size: int = 1024,
) -> Iterator[torch.Tensor]:
    """The images of an image folder, streamed in batches (n, C, resolution, resolution) in [-1, 1], made as
    `sources.load_image_folder` makes them (sorted files, resized and center-cropped, unreadable files skipped and
    counted in a warning). indices: keep only these positions among the readable images (a record's train split)."""
    root = Path(image_folder)
    if not root.is_dir():
        raise DataError(f"image folder {str(image_folder)!r} does not exist or is not a folder")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    keep = None if indices is None else set(int(i) for i in indices)
    batch, bad, position = [], [], 0
    for path in files:
        try:
            with Image.open(path) as image:
                image.load()
                tensor = _to_tensor(image, resolution, channels)
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
            bad.append(path.name)
            continue
        if keep is None or position in keep:
            batch.append(tensor)
        position += 1
        if len(batch) == batch_size:
            yield torch.stack(batch)
            batch = []
    if batch:
        yield torch.stack(batch)
    if bad:
        warnings.warn(f"skipped {len(bad)} unreadable image file(s) in {str(image_folder)!r}: {', '.join(bad[:5])}")


def shards_from_folder(
    image_folder: str | os.PathLike,
    folder: str | os.PathLike,
    resolution: int = 32,
    channels: int = 1,
    shard_size: int = DEFAULT_SHARD_SIZE,
) -> ShardSet:
    """An image folder turned once into the shard set `folder`, streamed (one batch of images in memory at once)."""
    images = folder_images(image_folder, resolution, channels)
    return write_shards(folder, images, shard_size=shard_size, source=f"folder {Path(image_folder).resolve()}")
