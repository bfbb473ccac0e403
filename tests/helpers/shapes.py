"""Generated RGB data for "your model, your data" tests: coloured shapes on a dark ground, and a tiny model that
`train.py` trains on them (the path a user takes with their own image folder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

COLOURS = [(230, 60, 60), (60, 200, 90), (70, 110, 240), (240, 200, 40), (200, 80, 220), (40, 210, 220)]


def make_shapes_folder(folder: str | Path, count: int = 200, size: int = 32, seed: int = 0) -> Path:
    """count PNGs (size × size, RGB) of one filled circle, square or triangle each, random colour, place and size."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        image = Image.new("RGB", (size, size), (12, 12, 20))
        draw = ImageDraw.Draw(image)
        colour = COLOURS[rng.integers(len(COLOURS))]
        r = int(rng.integers(size // 6, size // 3))
        cx, cy = (int(v) for v in rng.integers(r, size - r, size=2))
        kind = rng.integers(3)
        if kind == 0:
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
        elif kind == 1:
            draw.rectangle((cx - r, cy - r, cx + r, cy + r), fill=colour)
        else:
            draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
        image.save(folder / f"shape-{i:04d}.png")
    return folder


def train_tiny_rgb_model(data_dir: str | Path, output_dir: str | Path, steps: int = 4, *extra: str) -> Path:
    """A tiny 3×32×32 model trained by `train.py` itself on data_dir (seconds); extra flags are appended."""
    import train

    argv = [
        "--train_data_dir", str(data_dir), "--channels", "3", "--resolution", "32",
        "--output_dir", str(output_dir), "--block_out_channels", "8", "16", "--no_attention",
        "--train_batch_size", "8", "--max_train_steps", str(steps), "--ddpm_num_steps", "100",
        "--num_inference_steps", "2", "--save_images_steps", "100000", "--logger", "none", "--num_threads", "1",
        *extra,
    ]  # fmt: skip
    code = train.main(argv)
    if code != 0:
        raise RuntimeError(f"train.py {' '.join(argv)} exited with {code}")
    return Path(output_dir)
