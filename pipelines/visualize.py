"""Step records → pictures: image grids, filmstrips, GIF animations and schedule plots."""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image


def to_uint8(images: torch.Tensor, model_space: bool = False) -> np.ndarray:
    """(B, C, H, W) float in [0, 1] (or [-1, 1] with model_space) → (B, H, W, C) uint8."""
    if model_space:
        images = images / 2 + 0.5
    array = (images.detach().float().clamp(0, 1).cpu().permute(0, 2, 3, 1).numpy() * 255).round()
    return array.astype(np.uint8)


def make_grid(images: torch.Tensor, nrow: int | None = None, padding: int = 2, scale: int = 1,
              model_space: bool = False) -> Image.Image:
    """(B, C, H, W) images in [0, 1] (or [-1, 1] with model_space) → one PIL image, `nrow` per row."""
    array = to_uint8(images, model_space)
    b, h, w, c = array.shape
    nrow = nrow or math.ceil(math.sqrt(b))
    rows = math.ceil(b / nrow)
    canvas = np.full((rows * (h + padding) + padding, nrow * (w + padding) + padding, c), 255, dtype=np.uint8)
    for i in range(b):
        r, col = divmod(i, nrow)
        y, x = padding + r * (h + padding), padding + col * (w + padding)
        canvas[y:y + h, x:x + w] = array[i]
    image = Image.fromarray(canvas[..., 0] if c == 1 else canvas, mode="L" if c == 1 else "RGB")
    if scale != 1:
        image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    return image
