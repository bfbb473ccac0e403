"""Pictures of the copy-to-new transition (`pipelines.transition`): the table against N, and one pair's samples.

Each function draws only what it is given (row dicts as `TransitionRow.as_dict()` returns them, points as (M, 2)
lists or arrays) and returns a matplotlib Figure; rendering goes through `pipelines.pictures.render`'s lock."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

COLOR_A, COLOR_B = "#1f77b4", "#d62728"  # model A, model B


EXACT_COLOR = "#555555"


LIVE_COLOR = "#2ca02c"


DATA_COLOR = "#b0b0b0"


PAIR_LINES = 60  # same-noise pairs joined by a segment in the overlay


def _column(rows: Sequence[dict[str, Any]], *keys: str) -> np.ndarray:
    values = []
    for row in rows:
        value = row
        for key in keys:
            value = value[key]
        values.append(float(value))
    return np.asarray(values, dtype=float)


def plot_transition(
    rows: Sequence[dict[str, Any]], live_rows: Sequence[dict[str, Any]] = (), title: str = "", noun: str = "points"
):
    """Left: the copy fraction of model A and of model B against N (log x), with the exact processes' (always 1).
    Right: the median distance between A's and B's samples from the same noise, divided by the data's spacing,
    for the models and for the exact processes. live_rows: pairs trained in this session, drawn as big markers."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, NullFormatter

    from pipelines.exact.neighbours import COPY_RATIO_TEXT

    fig = Figure(figsize=(10.4, 4.2), dpi=100)
    left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    rows, live_rows = sorted(rows, key=lambda r: r["num_points"]), list(live_rows)
    if rows:
        n = _column(rows, "num_points")
        left.plot(n, _column(rows, "copy_fraction", "a"), "o-", color=COLOR_A, label=r"$p_\theta$ on A")
        left.plot(n, _column(rows, "copy_fraction", "b"), "s--", color=COLOR_B, label=r"$p_\theta$ on B")
        exact = (_column(rows, "exact", "copy_fraction", "a") + _column(rows, "exact", "copy_fraction", "b")) / 2
        left.plot(n, exact, ":", color=EXACT_COLOR, linewidth=2, label="exact processes")
        right.plot(n, _column(rows, "pair_distance_over_spacing"), "o-", color=COLOR_A, label=r"$p_\theta$: A vs B")
        right.plot(
            n, _column(rows, "exact", "pair_distance_over_spacing"), ":", color=EXACT_COLOR, linewidth=2,
            label="exact: A vs B",
        )  # fmt: skip
    if live_rows:
        n = _column(live_rows, "num_points")
        copies = (_column(live_rows, "copy_fraction", "a") + _column(live_rows, "copy_fraction", "b")) / 2
        left.plot(n, copies, "*", color=LIVE_COLOR, markersize=13, label="trained here (mean of A, B)")
        right.plot(
            n, _column(live_rows, "pair_distance_over_spacing"), "*", color=LIVE_COLOR, markersize=13,
            label="trained here",
        )  # fmt: skip
    ladder = sorted({int(r["num_points"]) for r in [*rows, *live_rows]})
    for ax in (left, right):
        ax.set_xscale("log")
        if ladder:
            ax.set_xticks(ladder, [f"{n:,}" for n in ladder], fontsize=8)
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(f"N, training {noun} of each model")
        ax.grid(True, which="both", alpha=0.25)
        if rows or live_rows:
            ax.legend(fontsize=8, loc="best")
    left.set_ylim(-0.04, 1.08)
    left.set_ylabel(rf"fraction of copies ($d_1 / d_2 < {COPY_RATIO_TEXT}$)")
    left.set_title("Copies of its own training set", fontsize=10)
    right.set_yscale("log")
    right.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    low, high = right.get_ylim()  # within a decade (MNIST's 0.6–2) label more minor ticks, or the axis has one
    labelled = {2, 3, 4, 6, 8} if high / max(low, 1e-12) < 20 else {2, 5}

    def minor_label(value, _):
        mantissa = round(value / 10 ** np.floor(np.log10(value)), 6) if value > 0 else 0
        return f"{value:g}" if mantissa in labelled else ""

    right.yaxis.set_minor_formatter(FuncFormatter(minor_label))
    right.tick_params(axis="y", which="minor", labelsize=8)
    right.set_ylabel(r"median $\|x_A - x_B\|$ / data spacing")
    right.set_title("Do the two models agree? (same noise)", fontsize=10)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def plot_pair_samples(points_a, points_b, samples_a, samples_b, num_points: int, copies: tuple[float, float]):
    """Three panels: model A's samples over subset A, model B's over subset B, and both together with the first
    pairs from the same noise joined by a segment (short segments: the two models agree)."""
    from matplotlib.figure import Figure

    pa, pb = np.asarray(points_a, dtype=float), np.asarray(points_b, dtype=float)
    sa, sb = np.asarray(samples_a, dtype=float), np.asarray(samples_b, dtype=float)
    fig = Figure(figsize=(12.0, 4.3), dpi=100)
    panels = [fig.add_subplot(1, 3, k) for k in (1, 2, 3)]
    for ax, points, samples, color, name, fraction in (
        (panels[0], pa, sa, COLOR_A, "A", copies[0]),
        (panels[1], pb, sb, COLOR_B, "B", copies[1]),
    ):
        ax.scatter(points[:, 0], points[:, 1], s=28, facecolors="none", edgecolors="black", linewidths=0.7,
                   label=f"subset {name} (N = {num_points:,})")  # fmt: skip
        ax.scatter(samples[:, 0], samples[:, 1], s=6, color=color, alpha=0.7, label=rf"samples of $p_\theta$ on {name}")
        ax.set_title(f"Model {name}: {fraction:.0%} copies", fontsize=10)
    ax = panels[2]
    count = min(PAIR_LINES, len(sa), len(sb))
    for k in range(count):
        ax.plot([sa[k, 0], sb[k, 0]], [sa[k, 1], sb[k, 1]], color=EXACT_COLOR, linewidth=0.6, alpha=0.7)
    ax.scatter(sa[:count, 0], sa[:count, 1], s=8, color=COLOR_A, label="A")
    ax.scatter(sb[:count, 0], sb[:count, 1], s=8, color=COLOR_B, label="B")
    ax.set_title(f"A and B from the same noise ({count} pairs)", fontsize=10)
    for ax in panels:
        ax.set_xlim(-1.25, 1.25)
        ax.set_ylim(-1.25, 1.25)
        ax.set_aspect("equal")
        ax.grid(True, alpha=0.25)
        ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def mnist_pair_picture(examples: dict[str, Any], num_points: int, copies: tuple[float, float] | None = None):
    """One MNIST pair as a PIL image: a column per noise; rows: model A's sample, its nearest digit in block A (with
    d₁/d₂ and the verdict under it), model B's sample from the same noise, its nearest digit in block B.

    examples: `pipelines.transition.mnist.pair_examples` ({"a"/"b": samples, nearest, ratio, distance})."""
    from PIL import Image, ImageDraw

    from pipelines.exact.neighbours import COPY_RATIO
    from pipelines.pictures.images import labelled_row, load_font, text_width, to_uint8

    font = load_font(13)
    rows = []
    for name in ("a", "b"):
        part = examples[name]
        count = len(part["ratio"])
        samples = to_uint8(part["samples"], model_space=True)
        nearest = to_uint8(part["nearest"], model_space=True)
        verdicts = [f"{r:.2f} {'copy' if r < COPY_RATIO else 'new'}" for r in part["ratio"]]
        rows.append(
            (f"model {name.upper()}: sample", labelled_row(list(samples), [f"noise {k + 1}" for k in range(count)], 3))
        )
        rows.append((f"nearest in block {name.upper()}, d1/d2", labelled_row(list(nearest), verdicts, 3)))
    label_width = int(max(text_width(label, font) for label, _ in rows)) + 16
    title = f"N = {num_points:,} digits per block; each column: one noise, both models"
    if copies is not None:
        title += f" (copies of 64: A {copies[0]:.0%}, B {copies[1]:.0%})"
    title_height = 28
    width = max(label_width + max(row.width for _, row in rows), int(text_width(title, font)) + 16)
    gap = 8
    height = title_height + sum(row.height + gap for _, row in rows)
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((8, 6), title, fill="black", font=font)
    y = title_height
    for label, row in rows:
        canvas.paste(row.convert("RGB"), (label_width, y))
        draw.text((8, y + row.height // 2), label, fill="black", font=font, anchor="lm")
        y += row.height + gap
    return canvas
