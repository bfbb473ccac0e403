"""A model's training data beyond what memory holds: turned once into memory-mapped shards, cached by content.

`resolve_model_data` (record.py) loads a model's images into memory, which the dense exact posterior needs (32
bytes per value, `record.BYTES_PER_VALUE`). Beyond `record.MEMORY_BOUND_BYTES` the app and the memorization report
use `streamed_model_data` instead: the same sources (the bundle beside the model, the folder its record names, or
--data: a bundle folder, an image folder or a 🤗 data set), read batch by batch and written once into a shard set
(`pipelines.data.shards`) in a cache folder, then read shard by shard. What is held at once is one batch while
writing and one shard while reading (`shard_size_for`: SHARD_VALUES values, 64 MB as float32), whatever N is.

The cache folder's name is a digest of where the images come from; its manifest keeps a fingerprint of the source
files (names, sizes, modification times). A source whose fingerprint changed is read again and the shards rebuilt
(`StreamedData.cache` says so); when the model's record holds a content hash, the shards' hash must equal it, else
DataError: the data changed since the model was trained, as `load_recorded_data` says for data in memory.
A 🤗 data set is the one source loaded whole before it is written (its library reads it so).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from pipelines.data.record import (
    BUNDLE_FILE,
    DataRecord,
    read_record,
)
from pipelines.data.shards import MANIFEST_FILE, ShardSet, folder_images, to_pixels, write_shards
from pipelines.data.sources import IMAGE_SUFFIXES, DataError, load_hf_dataset

# Values per shard the app writes: 2²⁴ (64 MB as float32, 16 MB as uint8); 5,461 images of 3×32×32.
SHARD_VALUES = 1 << 24


# Held-out images kept beside the shards (evenly spaced over the held-out part): the yardstick needs a sample, not
# all of them, and they are held in memory.
HELDOUT_SAMPLE = 500


CACHE_FOLDER = ".data-shards"  # inside the model folder, when it can be written


def shard_size_for(image_shape: tuple[int, int, int]) -> int:
    """Images per shard so that one shard holds at most SHARD_VALUES values."""
    return max(1, SHARD_VALUES // int(np.prod(image_shape)))


def default_cache_root(model_dir: str | os.PathLike | None) -> Path:
    """Where shards are cached: the model folder's CACHE_FOLDER when the folder can be written, else the user's
    cache (~/.cache/ddpm-posterior/shards, or $XDG_CACHE_HOME)."""
    if model_dir is not None and Path(model_dir).is_dir() and os.access(model_dir, os.W_OK):
        return Path(model_dir) / CACHE_FOLDER
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "ddpm-posterior" / "shards"


@dataclass
class StreamedData:
    """The training images as a ShardSet, a sample of the held-out ones in memory (M ≤ HELDOUT_SAMPLE), the record,
    a line saying where they came from, and what the cache did ("reused …", "written …", "rebuilt …")."""

    shards: ShardSet
    heldout: torch.Tensor
    record: DataRecord | None
    description: str
    cache: str


# ---------------------------------------------------------------------------------------------- the sources
def _fingerprint(paths: list[Path], root: Path) -> str:
    """A digest of the files' relative names, sizes and modification times (no pixels read)."""
    digest = hashlib.sha256()
    for path in paths:
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _bundle_batches(path: Path, key: str, limit: int | None = None, batch: int = 4096) -> Iterator[np.ndarray]:
    """A bundle's uint8 images (key train or heldout) in batches, read from the file without loading it whole."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            if key not in f.keys():
                return
            part = f.get_slice(key)
            count = part.get_shape()[0] if limit is None else min(limit, part.get_shape()[0])
            for start in range(0, count, batch):
                array = part[start : min(count, start + batch)]
                if array.dtype != torch.uint8:
                    raise DataError(f"{path} holds {key} as {array.dtype}, not uint8 pixels")
                yield array.numpy()
    except DataError:
        raise
    except Exception as error:  # a truncated or foreign file: one line
        raise DataError(f"{path} is not a readable image bundle: {str(error).splitlines()[0][:200]}") from None


def _bundle_count(path: Path, key: str = "train") -> int:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return f.get_slice(key).get_shape()[0] if key in f.keys() else 0
    except Exception as error:
        raise DataError(f"{path} is not a readable image bundle: {str(error).splitlines()[0][:200]}") from None


def _evenly(indices, count: int) -> list[int]:
    """At most `count` of `indices`, evenly spaced."""
    indices = list(indices)
    if len(indices) <= count:
        return indices
    return [indices[int(i)] for i in np.linspace(0, len(indices) - 1, count).round().astype(int)]


class _FolderSplit:
    """One pass over an image folder: the train positions' images streamed, the held-out sample kept aside."""

    def __init__(self, folder: Path, shape, train: list[int] | None, heldout: list[int]):
        self.folder, self.shape = folder, shape
        self.train = None if train is None else np.asarray(train, dtype=np.int64)
        self.keep_heldout = set(_evenly(heldout, HELDOUT_SAMPLE))
        self.heldout: list[torch.Tensor] = []

    def batches(self) -> Iterator[torch.Tensor]:
        channels, size = self.shape[0], self.shape[1]
        position = 0
        for batch in folder_images(self.folder, size, channels):
            positions = np.arange(position, position + len(batch))
            position += len(batch)
            if self.keep_heldout:
                held = [i for i, p in enumerate(positions) if int(p) in self.keep_heldout]
                if held:
                    self.heldout.append(batch[held])
            if self.train is None:
                yield batch
            else:
                keep = np.isin(positions, self.train)
                if keep.any():
                    yield batch[torch.from_numpy(keep)]

    def heldout_images(self) -> torch.Tensor:
        return torch.cat(self.heldout) if self.heldout else torch.zeros((0, *self.shape))


# ---------------------------------------------------------------------------------------------- the cache
def _cache_folder(root: Path, identity: str) -> Path:
    return root / f"shards-{hashlib.sha256(identity.encode()).hexdigest()[:16]}"


def _cached(folder: Path, source: str, expected_hash: str) -> tuple[ShardSet | None, str]:
    """(the cached set when its source line (with the fingerprint) and hash are what is expected, why not)."""
    if not (folder / MANIFEST_FILE).is_file():
        return None, "written"
    try:
        shards = ShardSet(folder)
    except DataError:
        return None, "rebuilt (the cached shards could not be read)"
    if shards.source != source:
        return None, "rebuilt (the data changed since its shards were written: its files' names, sizes or times)"
    if expected_hash and shards.content_hash != expected_hash:
        return None, "rebuilt (the cached shards' content hash was not the model's record's)"
    return shards, "reused"


def _write(folder: Path, batches, heldout_of, source: str, shape) -> ShardSet:
    """write_shards with the held-out sample known only once the batches are read: the training shards first,
    then the held-out file added before the manifest is final (write_shards takes the held-out images up front)."""
    collected = _Collect(batches)
    shards = write_shards(folder, collected, shard_size=shard_size_for(shape), source=source)
    heldout = heldout_of()
    if len(heldout):
        # rewrite only the manifest and the held-out file: the shards stay as written
        import json

        from pipelines.data.shards import HELDOUT_FILE

        np.save(folder / HELDOUT_FILE, to_pixels(heldout))
        manifest = json.loads((folder / MANIFEST_FILE).read_text())
        manifest["num_heldout"] = len(heldout)
        tmp = folder / (MANIFEST_FILE + f".tmp-{os.getpid()}")
        tmp.write_text(json.dumps(manifest, indent=1) + "\n")
        os.replace(tmp, folder / MANIFEST_FILE)
        shards = ShardSet(folder)
    return shards


class _Collect:
    """An iterable over batches that can be iterated once (write_shards reads it once)."""

    def __init__(self, batches):
        self.batches = batches

    def __iter__(self):
        yield from self.batches


# ---------------------------------------------------------------------------------------------- the entry point
def streamed_model_data(
    model_dir: str | os.PathLike | None,
    image_shape: tuple[int, int, int],
    data: str | None = None,
    cache_root: str | os.PathLike | None = None,
    flag: str = "--data",
) -> StreamedData:
    """The images a model (drawing image_shape (C, H, W)) is compared with, as a shard set in `cache_root`
    (default `default_cache_root(model_dir)`), written once and reused while the source is unchanged.

    The sources and their order are `record.resolve_model_data`'s: with `data` ("mnist", a folder holding the bundle,
    an image folder, a 🤗 data set id) that; without it the bundle beside the model, else the source its record names.
    A record of the same source gives the train / held-out split and its content hash is checked. DataError naming
    `flag` for a source that cannot be read, a shape that is not the model's, or images that are not the ones the
    model was trained on."""
    folder = Path(model_dir) if model_dir is not None else None
    record = read_record(folder) if folder is not None and folder.is_dir() else None
    root = Path(cache_root) if cache_root is not None else default_cache_root(model_dir)
    shape = tuple(int(s) for s in image_shape)
    expected, split = "", None  # the record's hash and (train, heldout) positions, when the record applies
    if data is None and folder is not None and (folder / BUNDLE_FILE).is_file():
        path = folder / BUNDLE_FILE
        kind, where, files, base = "bundle", "the bundle beside the model", [path], folder
    elif data is None and record is not None:
        kind, where = record.kind, "mnist" if record.kind == "mnist" else f"{record.kind} {record.source}"
        path = Path(record.source)
        files, base = (_image_files(path), path) if kind == "folder" and path.is_dir() else ([], None)
        if kind == "folder" and not files:
            raise DataError(
                f"the training data {record.source!r} is gone or holds no images (the model's training_data.json "
                f"names it; pass {flag})"
            )
        split, expected = (record.train_indices, record.heldout_indices), record.content_hash
    elif data is None:
        raise DataError(f"the model records no training data: pass {flag} with its images")
    else:
        path = Path(data)
        if path.is_dir() and (path / BUNDLE_FILE).is_file():
            kind, where, files, base, path = "bundle", str(data), [path / BUNDLE_FILE], path, path / BUNDLE_FILE
        elif path.is_dir():
            kind, where, files, base = "folder", str(data), _image_files(path), path
            if not files:
                raise DataError(f"{flag} {data!r} holds no images (png/jpg/jpeg/webp/bmp)")
            if record is not None and record.kind == "folder" and record.num_source_images == len(files):
                split, expected = (record.train_indices, record.heldout_indices), record.content_hash
        elif data == "mnist":
            raise DataError(f"{flag} mnist is small enough to load: it needs no shards")
        else:
            kind, where, files, base = "hf_dataset", str(data), [], None
    fingerprint = _fingerprint(files, base) if files else "none"
    identity = f"{kind}|{Path(path).resolve() if kind != 'hf_dataset' else path}|{shape}|{bool(split)}"
    source = f"{where} | files {fingerprint}"
    target = _cache_folder(root, identity)
    shards, cache = _cached(target, source, expected)
    if shards is None:
        shards = _write_source(target, kind, path, shape, split, source, flag)
        cache = f"{cache} into {target}"
    else:
        cache = f"reused from {target}"
    if shards.image_shape != shape:
        c, h, w = shape
        raise DataError(
            f"{flag}: the images are {'×'.join(map(str, shards.image_shape))} but the model draws {c}×{h}×{w}"
        )
    if expected and shards.content_hash != expected:
        if data is not None:
            raise DataError(f"{flag} {data!r} is not the data the model was trained on (content hash differs)")
        raise DataError(
            f"the training data {where!r} changed since the model was trained (content hash differs): pass the data "
            "it was trained on with --data"
        )
    heldout = shards.heldout()
    count = len(shards)
    description = f"{count:,} training images from {where} (held out: {len(heldout):,}"
    description += f", a sample of {len(split[1]):,})" if split and len(split[1]) > len(heldout) else ")"
    return StreamedData(shards, heldout, record, description, cache)


def _write_source(target: Path, kind: str, path: Path, shape, split, source: str, flag: str) -> ShardSet:
    """Read the source batch by batch and write its shards (the held-out sample beside them)."""
    train, held = (None, []) if split is None else (list(split[0]), list(split[1]))
    if kind == "bundle":
        keep = _evenly(range(_bundle_count(path, "heldout")), HELDOUT_SAMPLE)

        def heldout_of():
            if not keep:
                return torch.zeros((0, *shape))
            rows = np.concatenate(list(_bundle_batches(path, "heldout", keep[-1] + 1)))[keep]
            return torch.from_numpy(rows.astype(np.float32)) / 127.5 - 1.0

        return _write(target, _bundle_batches(path, "train"), heldout_of, source, shape)
    if kind == "folder":
        reader = _FolderSplit(path, shape, train, held)
        return _write(target, reader.batches(), reader.heldout_images, source, shape)
    if kind == "hf_dataset":
        try:
            images = load_hf_dataset(str(path), shape[1], shape[0])
        except DataError as error:
            raise DataError(f"{flag}: {error}") from None
        return write_shards(target, images, shard_size=shard_size_for(shape), source=source)
    raise DataError(f"the training data of kind {kind} is small enough to load: it needs no shards")


def source_count(model_dir: str | os.PathLike | None, data: str | None = None) -> int | None:
    """How many training images the data would hold, read from headers only (the record, the bundle, a folder's
    file count); None when it cannot be told without loading (a 🤗 data set, mnist: small)."""
    folder = Path(model_dir) if model_dir is not None else None
    if data is None:
        if folder is not None and (folder / BUNDLE_FILE).is_file():
            return _bundle_count(folder / BUNDLE_FILE)
        record = read_record(folder) if folder is not None and folder.is_dir() else None
        return record.num_images if record is not None else None
    path = Path(data)
    if path.is_dir() and (path / BUNDLE_FILE).is_file():
        return _bundle_count(path / BUNDLE_FILE)
    if path.is_dir():
        return len(_image_files(path))
    return None
