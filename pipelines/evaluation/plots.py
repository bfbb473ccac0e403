"""The memorization report's picture: the closest pairs (sample | nearest training image, in colour for RGB) and the
histogram of d₁/d₂ for the samples against the held-out images, with the copy rule's line at 1/3. Drawn from the
report's numbers (`pipelines.evaluation.memorization.memorization_report`); no math here."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from pipelines.pictures.images import to_uint8


def _pair(sample: np.ndarray, neighbour: np.ndarray, gap: int = 2) -> np.ndarray:
    """(H, W, C) uint8 twice → one (H, 2W + gap, 3) image with a white gap (grayscale made RGB)."""
    h, _, c = sample.shape
    white = np.full((h, gap, c), 255, dtype=np.uint8)
    row = np.concatenate([sample, white, neighbour], axis=1)
    return np.repeat(row, 3, axis=2) if c == 1 else row


def memorization_figure(report: dict[str, Any], samples: torch.Tensor, train: torch.Tensor):
    """A matplotlib Figure: up to 12 closest pairs (lowest d₁/d₂ first), each titled with d₁, d₁/d₂ and the verdict,
    above the ratio histogram of the samples and of the held-out images (when there are any)."""
    from matplotlib.figure import Figure

    pairs = report["closest_pairs"]
    cols = 4
    rows = max(1, -(-len(pairs) // cols))
    fig = Figure(figsize=(8.4, 1.45 * rows + 3.3), dpi=100)
    grid = fig.add_gridspec(rows + 1, cols, height_ratios=[1.0] * rows + [1.9], hspace=0.6)
    picked = torch.tensor([p["sample"] for p in pairs], dtype=torch.long)
    nearest = torch.tensor([p["training_index"] for p in pairs], dtype=torch.long)
    sample_u8, train_u8 = to_uint8(samples[picked], model_space=True), to_uint8(train[nearest], model_space=True)
    for k, pair in enumerate(pairs):
        ax = fig.add_subplot(grid[k // cols, k % cols])
        ax.imshow(_pair(sample_u8[k], train_u8[k]), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        verdict = "copy" if pair["copy"] else "new"
        ax.set_title(
            f"#{pair['sample']} | train #{pair['training_index']}\n"
            f"$d_1$ {pair['nearest_distance']:.2f}, $d_1/d_2$ {pair['ratio']:.2f}: {verdict}",
            fontsize=7.5,
            color="C3" if pair["copy"] else "black",
        )
    hist = fig.add_subplot(grid[rows, :])
    sample_ratios = np.asarray(report["per_sample"]["nearest_distance"]) / np.maximum(
        np.asarray(report["per_sample"]["second_distance"]), 1e-12
    )
    bins = np.linspace(0, 1, 41)
    s = report["samples"]
    hist.hist(
        sample_ratios,
        bins=bins,
        color="C1",
        alpha=0.7,
        weights=np.full(len(sample_ratios), 1 / len(sample_ratios)),
        label=f"model samples ({s['count']:,}): {s['copy_fraction']:.1%} copies",
    )
    if report.get("heldout"):
        h = report["heldout"]
        hist.hist(
            report["heldout_ratios"],
            bins=bins,
            color="C2",
            alpha=0.5,
            weights=np.full(h["count"], 1 / h["count"]),
            label=f"held-out images ({h['count']:,}, never trained on): {h['copy_fraction']:.1%}",
        )
    from pipelines.exact.neighbours import COPY_RATIO, COPY_RATIO_TEXT

    label = f"the copy rule: $d_1/d_2$ < {COPY_RATIO_TEXT}"
    hist.axvline(COPY_RATIO, color="C3", linestyle="--", linewidth=1.2, label=label)
    hist.set_xlim(0, 1)
    hist.set_xlabel("$d_1/d_2$: distance to the nearest training image ÷ to the second-nearest")
    hist.set_ylabel("fraction of images")
    hist.legend(fontsize=7.5, loc="upper left")
    hist.grid(True, alpha=0.3)
    fig.suptitle(
        "Closest pairs (sample | nearest training image), most copy-like first", fontsize=10, y=0.995, va="top"
    )
    fig.subplots_adjust(left=0.08, right=0.98, top=1 - 0.55 / fig.get_figheight(), bottom=0.6 / fig.get_figheight())
    return fig


def plot_memorization(report: dict[str, Any], samples: torch.Tensor, train: torch.Tensor) -> bytes:
    """The figure as PNG bytes, drawn under the render lock."""
    from pipelines.pictures.render import RENDER_LOCK, figure_png

    with RENDER_LOCK:
        return figure_png(memorization_figure(report, samples, train))
