"""Images and step records → pictures: uint8 conversion, image grids, captions and labelled rows, filmstrips and
GIF animations of a trajectory, and a digit from a flat vector.

No Gradio here: the app (and training, for its sample grids) call these with tensors or with recorded steps.
A recorded trajectory is a uint8 array of shape (K, B, H, W, C): K steps in sampling order, B images, as
`to_uint8` makes them (so 16 images × 1000 steps × 32×32 is 16 MB).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

BACKGROUND = 255


def to_uint8(images: torch.Tensor, model_space: bool = False) -> np.ndarray:
    """(B, C, H, W) float in [0, 1] (or [-1, 1] with model_space) → (B, H, W, C) uint8."""
    if model_space:
        images = images / 2 + 0.5
    array = (images.detach().float().clamp(0, 1).cpu().permute(0, 2, 3, 1).numpy() * 255).round()
    return array.astype(np.uint8)


def _background(mode: str):
    """The white of a PIL mode: 255 for "L", (255, 255, 255) for "RGB" (a bare 255 would be red there)."""
    return BACKGROUND if mode in ("L", "1", "P") else (BACKGROUND,) * len(mode)


def _to_pil(array: np.ndarray) -> Image.Image:
    """(H, W, C) uint8 with C = 1 or 3 → a PIL image ("L" or "RGB")."""
    return Image.fromarray(array[..., 0], mode="L") if array.shape[-1] == 1 else Image.fromarray(array, mode="RGB")


def _scaled(image: Image.Image, scale: int) -> Image.Image:
    # Nearest neighbour: a 32×32 digit blown up must stay crisp pixels, not a blur.
    return image if scale == 1 else image.resize((image.width * scale, image.height * scale), Image.NEAREST)


def grid_uint8(array: np.ndarray, nrow: int | None = None, padding: int = 2, scale: int = 1) -> Image.Image:
    """(B, H, W, C) uint8 images → one PIL image on a white background, `nrow` per row (default ⌈√B⌉)."""
    if array.ndim != 4 or array.dtype != np.uint8 or array.shape[-1] not in (1, 3):
        raise ValueError(f"images must be a (B, H, W, 1|3) uint8 array, got {array.dtype} {array.shape}")
    b, h, w, c = array.shape
    nrow = nrow or math.ceil(math.sqrt(b))
    rows = math.ceil(b / nrow)
    canvas = np.full((rows * (h + padding) + padding, nrow * (w + padding) + padding, c), BACKGROUND, dtype=np.uint8)
    for i in range(b):
        r, col = divmod(i, nrow)
        y, x = padding + r * (h + padding), padding + col * (w + padding)
        canvas[y : y + h, x : x + w] = array[i]
    return _scaled(_to_pil(canvas), scale)


def make_grid(
    images: torch.Tensor, nrow: int | None = None, padding: int = 2, scale: int = 1, model_space: bool = False
) -> Image.Image:
    """(B, C, H, W) images in [0, 1] (or [-1, 1] with model_space) → one PIL image, `nrow` per row."""
    return grid_uint8(to_uint8(images, model_space), nrow=nrow, padding=padding, scale=scale)


def display_scale(array: np.ndarray, min_width: int = 256, nrow: int | None = None, padding: int = 2) -> int:
    """The integer upscale that makes the grid of (B, H, W, C) images at least `min_width` pixels wide."""
    b, _, w, _ = array.shape
    nrow = nrow or math.ceil(math.sqrt(b))
    width = nrow * (w + padding) + padding
    return max(1, math.ceil(min_width / width))


def evenly_spaced(num_steps: int, count: int) -> list[int]:
    """`count` indices spread evenly over range(num_steps), always including the first and the last
    (fewer when num_steps < count)."""
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    if count == 1:
        return [num_steps - 1]
    return sorted({round(i * (num_steps - 1) / (count - 1)) for i in range(count)})


@functools.lru_cache(maxsize=8)
def load_font(size: int = 12) -> ImageFont.ImageFont:
    """The captions' font, loaded once per size (a GIF draws ~100 captions): DejaVu Sans from matplotlib's own
    files (on disk wherever matplotlib is; it has the subscripts and arrows of "xₜ₋₁", "x̂₀", "99→x₀"), else
    Pillow's bundled font (no such glyphs)."""
    try:
        import matplotlib

        return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"), size)
    except (ImportError, OSError):
        pass
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow built without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _draw_text(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, font=None) -> None:
    """Black text at xy; a combining circumflex (x̂) is drawn as a hat over its letter (Pillow's basic layout
    does not place combining marks)."""
    font = font or load_font()
    fill = 0 if draw.im.mode == "L" else (0, 0, 0)
    x, y = xy
    for i, char in enumerate(text):
        if char == "\u0302":
            continue
        draw.text((x, y), char, fill=fill, font=font)
        width = draw.textlength(char, font=font)
        if i + 1 < len(text) and text[i + 1] == "\u0302":
            top = y + font.getbbox(char)[1] - 2  # just above the letter
            draw.line([(x + 1, top), (x + width / 2, top - HAT_HEIGHT), (x + width - 1, top)], fill=fill, width=1)
        x += width


HAT_HEIGHT = 2  # the hat of x̂ rises this far above its letter, which sits 2 px lower


CAPTION_PAD = 3  # white pixels around a caption's ink, on every side


# Every caption strip has the height of the tallest line the font draws (capitals, the hat of x̂, descenders and
# the underscore of "x_t"), so strips side by side line up and nothing of a caption touches the image below it.
_LINE_SAMPLE = "Ag|_y"


def text_width(text: str, font=None) -> float:
    font = font or load_font()
    return sum(font.getlength(char) for char in text if char != "\u0302")


def _caption_height(font=None) -> int:
    """The height of a caption strip: the font's tallest line plus the hat's rise, CAPTION_PAD above and below."""
    font = font or load_font()
    _, top, _, bottom = font.getbbox(_LINE_SAMPLE)
    return int(math.ceil(bottom - top)) + HAT_HEIGHT + 2 + 2 * CAPTION_PAD


def _with_caption(image: Image.Image, caption: str, font=None) -> Image.Image:
    """The image with a white caption strip above it, widened (the image centred) when the caption is wider."""
    font = font or load_font()
    height = _caption_height(font)
    width = max(image.width, int(math.ceil(text_width(caption, font))) + 2 * CAPTION_PAD)
    out = Image.new(image.mode, (width, image.height + height), color=_background(image.mode))
    out.paste(image, ((width - image.width) // 2, height))
    top = font.getbbox(_LINE_SAMPLE)[1]
    _draw_text(ImageDraw.Draw(out), (CAPTION_PAD, CAPTION_PAD + HAT_HEIGHT + 2 - top), caption, font)
    return out


def _hstack(images: Sequence[Image.Image], gap: int = 6) -> Image.Image:
    width = sum(im.width for im in images) + gap * (len(images) - 1)
    height = max(im.height for im in images)
    out = Image.new(images[0].mode, (width, height), color=_background(images[0].mode))
    x = 0
    for im in images:
        out.paste(im, (x, 0))
        x += im.width + gap
    return out


def trajectory_frame(xt: np.ndarray, x0: np.ndarray, caption: str | None = None, scale: int = 2) -> Image.Image:
    """One step as a picture: the x_t grid and the x̂_0 grid side by side, (B, H, W, C) uint8 each,
    captioned "x_s" (the sample the step t -> s drew) / "x̂0" and, above both, `caption` (e.g. "step 3 / 50,
    t = 939 -> 919")."""
    pair = _hstack([_with_caption(grid_uint8(xt, scale=scale), "xₛ"), _with_caption(grid_uint8(x0, scale=scale), "x̂₀")])
    return _with_caption(pair, caption) if caption else pair


def make_filmstrip(
    xt_steps: np.ndarray,
    x0_steps: np.ndarray,
    captions: Sequence[str],
    num_frames: int = 10,
    max_images: int = 4,
    scale: int = 2,
) -> Image.Image:
    """~`num_frames` evenly spaced steps of a trajectory, left (noise) to right (image).

    xt_steps, x0_steps: (K, B, H, W, C) uint8; captions: K strings (one per step). For each of the first
    `max_images` images there are two rows, x_t then x̂_0; each column is one step, captioned."""
    if xt_steps.shape != x0_steps.shape or xt_steps.ndim != 5:
        raise ValueError(
            f"xt_steps and x0_steps must be equal (K, B, H, W, C) arrays, got {xt_steps.shape} and {x0_steps.shape}"
        )
    if len(captions) != len(xt_steps):
        raise ValueError(f"captions must have one entry per step ({len(xt_steps)}), got {len(captions)}")
    picked = evenly_spaced(len(xt_steps), num_frames)
    n = min(max_images, xt_steps.shape[1])
    columns = []
    for k in picked:
        # One column: image i's x_t above its x̂_0, for each image, as a 1-wide grid.
        rows = np.stack([frame for i in range(n) for frame in (xt_steps[k, i], x0_steps[k, i])])
        columns.append(_with_caption(grid_uint8(rows, nrow=1, scale=scale), captions[k]))
    caption_height = _caption_height()
    font = load_font()
    names = ("xₛ", "x̂₀")  # the sample the step t → s drew, and the x̂_0 it was built from
    labels = Image.new(
        columns[0].mode,
        (int(math.ceil(max(text_width(name, font) for name in names))) + 2 * CAPTION_PAD, columns[0].height),
        color=_background(columns[0].mode),
    )
    draw = ImageDraw.Draw(labels)
    cell = (columns[0].height - caption_height) / (2 * n)
    _, top, _, bottom = font.getbbox(_LINE_SAMPLE)
    for j in range(2 * n):
        y = caption_height + cell * j + (cell - (bottom - top)) / 2 - top
        _draw_text(draw, (CAPTION_PAD, y), names[j % 2], font)
    return _hstack([labels, *columns], gap=4)


def save_gif(frames: Sequence[Image.Image], path: str | Path, frame_ms: int = 80, final_hold_ms: int = 1500) -> Path:
    """Write an animated GIF that loops forever; the last frame is held `final_hold_ms` so the result is seen."""
    if not frames:
        raise ValueError("frames must not be empty")
    path = Path(path)
    durations = [frame_ms] * (len(frames) - 1) + [final_hold_ms]
    frames[0].save(
        path,
        format="GIF",
        save_all=True,
        append_images=list(frames[1:]),
        duration=durations,
        loop=0,
        optimize=False,
        disposal=1,
    )
    return path


def make_trajectory_gif(
    xt_steps: np.ndarray,
    x0_steps: np.ndarray,
    captions: Sequence[str],
    path: str | Path,
    max_frames: int = 60,
    scale: int = 2,
    frame_ms: int = 80,
) -> Path:
    """The trajectory as an animated GIF of ≤ `max_frames` evenly spaced steps (x_t | x̂_0 side by side)."""
    picked = evenly_spaced(len(xt_steps), max_frames)
    frames = [trajectory_frame(xt_steps[k], x0_steps[k], captions[k], scale=scale) for k in picked]
    return save_gif(frames, path, frame_ms=frame_ms)


def labelled_row(
    images: Sequence[np.ndarray],
    captions: Sequence[str] | None = None,
    scale: int = 1,
    gap: int = 6,
    title: str | None = None,
) -> Image.Image:
    """Images side by side, each (H, W, C) uint8 (C = 1 or 3, as `to_uint8` makes them), upscaled by `scale`
    (nearest neighbour) and, with `captions` (one per image), captioned above — e.g. a sample beside its
    nearest training image, or an estimate of x_{t-1} beside its x̂0 — and with `title`, one more caption above
    the whole row."""
    if not len(images):
        raise ValueError("images must not be empty")
    if captions is not None and len(captions) != len(images):
        raise ValueError(f"captions must have one entry per image ({len(images)}), got {len(captions)}")
    tiles = [grid_uint8(np.asarray(image)[None], padding=0, scale=scale) for image in images]
    if captions is not None:
        tiles = [_with_caption(tile, caption) for tile, caption in zip(tiles, captions)]
    row = _hstack(tiles, gap=gap)
    return row if title is None else _with_caption(row, title)


def digit_image(x: torch.Tensor, scale: int = 4) -> Image.Image:
    """One image (1, C, H, W) in [-1, 1] (model space) → a PIL image, upscaled by `scale` with crisp pixels."""
    return grid_uint8(to_uint8(x, model_space=True), padding=0, scale=scale)
