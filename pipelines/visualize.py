"""Step records → pictures: image grids, filmstrips, GIF animations, schedule and cost plots.

No Gradio here: the app (and training, for its sample grids) call these with tensors or with recorded steps.
A recorded trajectory is a uint8 array of shape (K, B, H, W, C): K steps in sampling order, B images, as
`to_uint8` makes them (so 16 images × 1000 steps × 32×32 is 16 MB).
"""

from __future__ import annotations

import functools
import math
import statistics
from pathlib import Path
from typing import Any, Sequence

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
def _font(size: int = 12) -> ImageFont.ImageFont:
    # Pillow's bundled font: no file on disk or download needed; loaded once per size (a GIF draws ~100 captions)
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow built without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _draw_text(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, font=None) -> None:
    """Black text at xy; a combining circumflex (x̂) is drawn as a hat, since the bundled font has no glyph
    for it."""
    font = font or _font()
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


def _text_width(text: str, font=None) -> float:
    font = font or _font()
    return sum(font.getlength(char) for char in text if char != "\u0302")


def _caption_height(font=None) -> int:
    """The height of a caption strip: the font's tallest line plus the hat's rise, CAPTION_PAD above and below."""
    font = font or _font()
    _, top, _, bottom = font.getbbox(_LINE_SAMPLE)
    return int(math.ceil(bottom - top)) + HAT_HEIGHT + 2 + 2 * CAPTION_PAD


def _with_caption(image: Image.Image, caption: str, font=None) -> Image.Image:
    """The image with a white caption strip above it, widened (the image centred) when the caption is wider."""
    font = font or _font()
    height = _caption_height(font)
    width = max(image.width, int(math.ceil(_text_width(caption, font))) + 2 * CAPTION_PAD)
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


def _vstack(images: Sequence[Image.Image], gap: int = 0) -> Image.Image:
    width = max(im.width for im in images)
    height = sum(im.height for im in images) + gap * (len(images) - 1)
    out = Image.new(images[0].mode, (width, height), color=_background(images[0].mode))
    y = 0
    for im in images:
        out.paste(im, (0, y))
        y += im.height + gap
    return out


def trajectory_frame(xt: np.ndarray, x0: np.ndarray, caption: str | None = None, scale: int = 2) -> Image.Image:
    """One step as a picture: the x_t grid and the x̂_0 grid side by side, (B, H, W, C) uint8 each,
    captioned "x_t" / "x̂0" and, above both, `caption` (e.g. "step 3 / 50, t = 939")."""
    pair = _hstack(
        [_with_caption(grid_uint8(xt, scale=scale), "x_t"), _with_caption(grid_uint8(x0, scale=scale), "x̂0")]
    )
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
    font = _font()
    names = ("x_t", "x̂0")
    labels = Image.new(
        columns[0].mode,
        (int(math.ceil(max(_text_width(name, font) for name in names))) + 2 * CAPTION_PAD, columns[0].height),
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


def schedule_curves(scheduler) -> dict[str, np.ndarray]:
    """The noise schedule of a DDPM scheduler as float64 arrays over t = 0 … T−1: "t", "alphas_cumprod" (ᾱ_t),
    "betas" (β_t), "posterior_variance" (β̃_t, eq. 7) and "snr" (ᾱ_t / (1 − ᾱ_t), Kingma et al. 2021)."""
    alphas_cumprod = scheduler.alphas_cumprod.double().numpy()
    return {
        "t": np.arange(len(alphas_cumprod)),
        "alphas_cumprod": alphas_cumprod,
        "betas": scheduler.betas.double().numpy(),
        "posterior_variance": scheduler.posterior_variance.double().numpy(),
        "snr": alphas_cumprod / (1.0 - alphas_cumprod),  # signal-to-noise ratio of q(x_t | x_0)
    }


def plot_schedule(scheduler, t: int | None = None, timesteps: Sequence[int] | None = None, sigma_star=None):
    """A matplotlib Figure of the schedule against t: ᾱ_t (linear axis) and β_t, β̃_t, SNR(t) (log axis).

    sigma_star: (t of each step, its σ*²) of an analytic-variance chain, drawn as markers on the log axis.

    t: marks that timestep (a vertical line and its values in the title). timesteps: the chain a run used,
    drawn as ticks along the bottom. Uses `matplotlib.figure.Figure` directly (not pyplot): safe from worker
    threads and nothing to close."""
    from matplotlib.figure import Figure

    curves = schedule_curves(scheduler)
    ts = curves["t"]
    fig = Figure(figsize=(9, 3.2), layout="constrained")
    ax_lin, ax_log = fig.subplots(1, 2)
    ax_lin.plot(ts, curves["alphas_cumprod"], color="C0", label=r"$\bar\alpha_t$")
    ax_lin.plot(ts, 1 - curves["alphas_cumprod"], color="C0", ls=":", label=r"$1-\bar\alpha_t$")
    ax_lin.set_ylim(-0.02, 1.02)
    ax_lin.set_xlabel("$t$")
    ax_lin.set_title(r"signal $\bar\alpha_t$ and noise $1-\bar\alpha_t$", fontsize=10)
    # Zeros (β̃_0 = 0) cannot go on a log axis: mask them.
    positive = lambda a: np.where(a > 0, a, np.nan)  # noqa: E731
    # β̃_t ≈ β_t except near t = 0: a wide β_t under a thin dashed β̃_t keeps both visible where they coincide.
    ax_log.semilogy(ts, positive(curves["betas"]), color="C1", lw=4, alpha=0.45, label=r"$\beta_t$")
    ax_log.semilogy(
        ts,
        positive(curves["posterior_variance"]),
        color="C2",
        ls="--",
        lw=1.2,
        label=r"$\tilde\beta_t$ ($\approx\beta_t$ for $t \gg 0$)",
    )
    ax_log.semilogy(ts, positive(curves["snr"]), color="C3", label=r"SNR $=\bar\alpha_t/(1-\bar\alpha_t)$")
    if sigma_star is not None and len(sigma_star[0]):
        ax_log.semilogy(
            sigma_star[0],
            positive(np.asarray(sigma_star[1])),
            "o",
            color="C4",
            ms=3,
            label=r"$\sigma^{*2}$ of the chain's steps",
        )
    ax_log.set_xlabel("$t$")
    ax_log.set_title("variances and SNR (log scale)", fontsize=10)
    for ax in (ax_lin, ax_log):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
        if timesteps is not None and len(timesteps):
            ax.plot(
                list(timesteps),
                np.zeros(len(timesteps)),
                "|",
                color="0.4",
                ms=6,
                transform=ax.get_xaxis_transform(),
                label="_timesteps used",
            )
    if t is not None:
        t = int(t)
        for ax in (ax_lin, ax_log):
            ax.axvline(t, color="k", lw=1)
        fig.suptitle(
            rf"$t$ = {t}:  $\bar\alpha_t$ = {curves['alphas_cumprod'][t]:.4g},  $\beta_t$ = {curves['betas'][t]:.3g},  "
            rf"$\tilde\beta_t$ = {curves['posterior_variance'][t]:.3g},  SNR = {curves['snr'][t]:.3g}",
            fontsize=10,
        )
    return fig


def labelled_row(
    images: Sequence[np.ndarray], captions: Sequence[str] | None = None, scale: int = 1, gap: int = 6
) -> Image.Image:
    """Images side by side, each (H, W, C) uint8 (C = 1 or 3, as `to_uint8` makes them), upscaled by `scale`
    (nearest neighbour) and, with `captions` (one per image), captioned above — e.g. a sample beside its
    nearest training image, or an estimate of x_{t-1} beside its x̂0."""
    if not len(images):
        raise ValueError("images must not be empty")
    if captions is not None and len(captions) != len(images):
        raise ValueError(f"captions must have one entry per image ({len(images)}), got {len(captions)}")
    tiles = [grid_uint8(np.asarray(image)[None], padding=0, scale=scale) for image in images]
    if captions is not None:
        tiles = [_with_caption(tile, caption) for tile, caption in zip(tiles, captions)]
    return _hstack(tiles, gap=gap)


def digit_image(x: torch.Tensor, scale: int = 4) -> Image.Image:
    """One image (1, C, H, W) in [-1, 1] (model space) → a PIL image, upscaled by `scale` with crisp pixels."""
    return grid_uint8(to_uint8(x, model_space=True), padding=0, scale=scale)


def plot_step_cost(
    series: dict[str, list[dict[str, Any]]],
    model_ms: float | None = None,
    title: str | None = None,
    keys: Sequence[str] = ("median_ms",),
):
    """A matplotlib Figure of per-step milliseconds against N: one line per series (e.g. per dtype) and per key
    ("median_ms" wall clock, solid; "median_cpu_ms" CPU time, dashed), and the model's per-step cost as a flat
    line when given. Uses the Figure API only: no pyplot, no GUI backend."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.2), dpi=110)
    ax = fig.add_subplot(1, 1, 1)
    for i, (label, rows) in enumerate(series.items()):
        for key in keys:
            cpu = "cpu" in key
            ax.plot(
                [r["n"] for r in rows],
                [r[key] for r in rows],
                marker="o",
                color=f"C{i}",
                linestyle="--" if cpu else "-",
                label=rf"exact $q(x_{{t-1}}\mid x_t)$, {label}"
                + (", CPU time" if cpu else ", wall clock" if len(keys) > 1 else ""),
            )
    if model_ms is not None:
        ax.axhline(model_ms, color="gray", linestyle=":", label=rf"model $p_\theta$: one UNet call ({model_ms:.1f} ms)")
    ax.set_xlabel("N, training images the exact step must visit")
    ax.set_ylabel("milliseconds per reverse step (median)")
    ax.set_title(title or "Cost of one exact reverse step grows with the data set")
    ax.grid(True, alpha=0.3)
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------- exact sampler
def format_duration(milliseconds: float) -> str:
    """Milliseconds as the unit a person reads: "0.42 ms", "38 ms", "3.4 s", "2.1 min", "11.6 h", "4.3 days"."""
    s = milliseconds / 1e3
    for unit, size in (("days", 86400.0), ("h", 3600.0), ("min", 60.0), ("s", 1.0)):
        if s >= size:
            return f"{s / size:,.1f} {unit}"
    return f"{milliseconds:.2g} ms" if milliseconds < 10 else f"{milliseconds:.0f} ms"


def format_bytes(n: float) -> str:
    """Bytes in decimal units: "4.6 MB", "614 MB", "63 GB", "19.7 TB"."""
    for unit, size in (("PB", 1e15), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            value = n / size
            return f"{value:.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{n:.0f} B"


# Figure API only (no pyplot): a new Figure per call, so concurrent requests never share one.
def plot_step_costs(costs, title: str | None = None, mark: str | None = None):
    """`costs`: a `pipelines.exact_posterior.StepCosts`. Log–log: measured exact-step ms against N (●), the
    fitted c·N·D line for each image size, the
    extrapolated data sets (★, labelled with time per step and memory), and the model's constant line.
    mark: a label for the largest measured point (the data set the exact step ran over, e.g. its N and D)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.6, 4.8), dpi=110)
    ax = fig.add_subplot(1, 1, 1)
    c = costs.ms_per_element
    D0 = costs.rows[0]["D"]
    ns = [r["N"] for r in costs.rows]
    targets = costs.extrapolated
    n_max = max([*ns, *(e["N"] for e in targets)])
    grid = np.logspace(math.log10(min(ns)), math.log10(n_max) + 0.15, 50)
    ax.plot(
        ns,
        [r["ms"] for r in costs.rows],
        marker="o",
        linestyle="none",
        color="C0",
        zorder=3,
        label=rf"exact $q(x_{{t-1}}\mid x_t)$, measured (D = {D0:,})",
    )
    ax.plot(grid, c * grid * D0, color="C0", linewidth=1, label=f"fit c·N·D, c = {c:.2g} ms per number")
    if mark:
        last = costs.rows[-1]
        ax.plot([last["N"]], [last["ms"]], marker="D", markersize=8, linestyle="none", color="C2", zorder=4)
        ax.annotate(
            mark, (last["N"], last["ms"]), textcoords="offset points", xytext=(6, -12), fontsize=7.5, color="C2"
        )
    for D in sorted({e["D"] for e in targets} - {D0}):
        ax.plot(grid, c * grid * D, color="C0", linewidth=0.8, linestyle="--", alpha=0.6, label=f"c·N·D for D = {D:,}")
    for e in targets:
        ax.plot([e["N"]], [e["ms"]], marker="*", markersize=12, linestyle="none", color="C3", zorder=3)
        name = e["name"] + (" (web-scale)" if "LAION" in e["name"] else "")
        ax.annotate(
            f"{name}\n{format_duration(e['ms'])} / step, {format_bytes(e['bytes'])}",
            (e["N"], e["ms"]),
            textcoords="offset points",
            xytext=(-8, 6),
            ha="right",
            fontsize=7.5,
        )
    ax.axhline(
        costs.model_ms,
        color="gray",
        linestyle=":",
        label=rf"model $p_\theta$: one UNet call ({format_duration(costs.model_ms)}), any N",
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    low = min([costs.model_ms, *(r["ms"] for r in costs.rows)])
    ax.set_ylim(low / 3, max(e["ms"] for e in targets) * 50 if targets else None)
    ax.set_xlabel("N, training images the exact step must read (log scale)")
    ax.set_ylabel("milliseconds per reverse step (median, log scale)")
    ax.set_title(title or "One reverse step: the exact cost grows with N·D", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7.5, loc="upper left")
    fig.tight_layout()
    return fig


def plot_commit(
    timesteps, effective_n, max_weight, commit_step, num_data: int, commit_weight: float = 0.99, noun: str = "digit"
):
    """Two panels against t (T on the left, 0 on the right): each exact trajectory's effective number of
    candidates 1/Σw² (log scale) and its largest weight, with a ● where it first reaches commit_weight."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.6, 4.6), dpi=110)
    top, bottom = fig.subplots(2, 1, sharex=True)
    for b, (n_eff, w_max) in enumerate(zip(effective_n, max_weight)):
        color = f"C{b % 10}"
        top.plot(timesteps, n_eff, color=color, linewidth=1.2, label=f"sample {b + 1}")
        bottom.plot(timesteps, w_max, color=color, linewidth=1.2)
        k = commit_step[b] if b < len(commit_step) else None
        if k is not None and 0 <= k < len(timesteps):
            top.plot([timesteps[k]], [n_eff[k]], marker="o", color=color, markersize=6)
            bottom.plot([timesteps[k]], [w_max[k]], marker="o", color=color, markersize=6)
    top.set_yscale("log")
    top.set_ylim(0.8, num_data * 1.5)
    top.axhline(num_data, color="gray", linestyle=":", linewidth=0.8)
    top.set_ylabel("effective candidates\n" r"$1/\sum_i w_i^2$ (log)")
    top.set_title(f"Exact sampler: how many of the N = {num_data:,} training {noun}s are still in play", fontsize=10)
    bottom.axhline(commit_weight, color="gray", linestyle="--", linewidth=0.8, label=f"{commit_weight:.0%}")
    bottom.set_ylim(0, 1.05)
    bottom.set_ylabel("largest weight\n" r"$\max_i w_i$")
    bottom.set_xlabel(r"$t$ of the step's input $x_t$ (sampling runs left → right, noise → image)")
    top.set_xlim(max(timesteps) + 0.5 if timesteps else 1, min(timesteps) - 0.5 if timesteps else 0)
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
    if len(effective_n) <= 8:
        top.legend(fontsize=7, loc="lower left", ncol=2)
    bottom.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def plot_nearest_distances(heldout, exact, model, noun: str = "digit", image_shape: tuple[int, int, int] = (1, 32, 32)):
    """A histogram of the held-out real images' distances to their nearest training image, with this run's exact
    and model samples as strips of ticks above it (each strip named, with how many samples it holds, above its left
    end), and a line at each median. The x axis starts left of 0, so ticks at 0 (copies) stand clear of it. With no
    held-out images (an empty `heldout`) only the strips are drawn. noun: what one image is ("digit", "image");
    image_shape: (C, H, W), named in the axis label."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.6, 3.4), dpi=110)
    ax = fig.add_subplot(1, 1, 1)
    heldout = np.asarray(heldout, dtype=float)
    top_value = max([*heldout.tolist(), *exact, *model, 1.0])
    bins = np.linspace(0, top_value * 1.05, 40)
    height = 1.0
    if len(heldout):
        counts, _, _ = ax.hist(
            heldout,
            bins=bins,
            color="C2",
            alpha=0.6,
            label=f"held-out real {noun}s ({len(heldout):,} never trained on), median {np.median(heldout):.2f}",
        )
        height = max(float(counts.max()), 1.0)
        ax.axvline(float(np.median(heldout)), color="C2", linestyle="--", linewidth=0.8)
    for values, y, color, name in ((exact, 1.45, "C0", "exact"), (model, 1.2, "C1", "model")):
        if len(values):
            ax.plot(
                values,
                [height * y] * len(values),
                marker="|",
                markersize=14,
                markeredgewidth=2,
                linestyle="none",
                color=color,
                label=f"{name} samples, median {statistics.median(values):.2f}",
            )
            ax.axvline(statistics.median(values), color=color, linestyle=":", linewidth=0.8)
            ax.annotate(
                f"{len(values)} {name}",
                (min(values), height * y),
                textcoords="offset points",
                xytext=(5, 8),
                va="bottom",
                fontsize=7.5,
                color=color,
            )
    ax.set_ylim(0, height * 2.3)
    ax.set_xlim(-0.05 * top_value, top_value * 1.08)
    c, h, w = image_shape
    size = f"{h}×{w} pixels" if c == 1 else f"{c}×{h}×{w} values"
    ax.set_xlabel(f"L2 distance to the nearest training {noun} ({size}, [-1, 1] units)")
    ax.set_ylabel(f"held-out {noun}s (count)" if len(heldout) else "no held-out images")
    if not len(heldout):
        ax.set_yticks([])
    ax.legend(fontsize=7.5, loc="upper right")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig
