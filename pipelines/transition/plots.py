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
        # A: big hollow rings, B: small squares inside them, so equal values (both 0 on MNIST) show both
        left.plot(
            n, _column(rows, "copy_fraction", "a"), "o-", color=COLOR_A, markersize=10, markerfacecolor="none",
            markeredgewidth=1.8, label=r"$p_\theta$ on A",
        )  # fmt: skip
        left.plot(n, _column(rows, "copy_fraction", "b"), "s--", color=COLOR_B, markersize=4, label=r"$p_\theta$ on B")
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
        ax.set_xlabel(f"$N$, training {noun} of each model")
        ax.grid(True, which="both", alpha=0.25)
        if rows or live_rows:
            ax.legend(fontsize=8, loc="best")
    left.set_ylim(-0.04, 1.08)
    left.set_ylabel(rf"fraction of copies ($d_1 / d_2 < {COPY_RATIO_TEXT}$)")
    left.set_title("Copies of its own training set", fontsize=10)
    right.set_yscale("log")
    distances = [r["pair_distance_over_spacing"] for r in [*rows, *live_rows]]
    _log_margin(right, distances + [r["exact"]["pair_distance_over_spacing"] for r in rows])  # no point on the frame
    right.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    low, high = right.get_ylim()  # within a decade (MNIST's 0.6–2) label more minor ticks, or the axis has one
    labelled = {2, 3, 4, 6, 8} if high / max(low, 1e-12) < 20 else {2, 5}

    def minor_label(value, _):
        mantissa = round(value / 10 ** np.floor(np.log10(value)), 6) if value > 0 else 0
        return f"{value:g}" if mantissa in labelled else ""

    right.yaxis.set_minor_formatter(FuncFormatter(minor_label))
    right.tick_params(axis="y", which="minor", labelsize=8)
    right.set_ylabel(r"median $\|x_A - x_B\|$ / data spacing")
    spacings = {float(r["spacing"]) for r in rows if r.get("spacing")}
    unit = "L2 over the 1,024 pixels in [−1, 1]" if noun == "digits" else "in the [−1, 1]² plane"
    spacing = f"\n1 spacing = {spacings.pop():.3g} ({unit})" if len(spacings) == 1 else ""  # one per data set
    right.set_title(f"Do the two models agree? (same noise){spacing}", fontsize=10)
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


def mnist_pair_picture(
    examples: dict[str, Any],
    num_points: int,
    copies: tuple[float, float] | None = None,
    num_samples: int = 64,
    note: str | None = None,
):
    """One MNIST pair as a PIL image: a column per noise; rows: model A's sample, its nearest digit in block A (with
    d₁/d₂ and the verdict under it), model B's sample from the same noise, its nearest digit in block B.

    examples: `pipelines.transition.mnist.pair_examples` ({"a"/"b": samples, nearest, ratio, distance}); copies: each
    model's copy fraction over num_samples samples (the title says both); note: a second title line (where the
    samples come from)."""
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
        rows.append((f"nearest in block {name.upper()}, d₁/d₂", labelled_row(list(nearest), verdicts, 3)))
    label_width = int(max(text_width(label, font) for label, _ in rows)) + 16
    title = f"N = {num_points:,} digits per block; each column: one noise, both models"
    if copies is not None:
        title += f" (copies of {num_samples} samples: A {copies[0]:.0%}, B {copies[1]:.0%})"
    lines = [title] if note is None else [title, note]
    title_height = 8 + 20 * len(lines)
    width = max(label_width + max(row.width for _, row in rows), *(int(text_width(line, font)) + 16 for line in lines))
    gap = 8
    height = title_height + sum(row.height + gap for _, row in rows)
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    for k, line in enumerate(lines):
        draw.text((8, 6 + 20 * k), line, fill="black", font=font)
    y = title_height
    for label, row in rows:
        canvas.paste(row.convert("RGB"), (label_width, y))
        draw.text((8, y + row.height // 2), label, fill="black", font=font, anchor="lm")
        y += row.height + gap
    return canvas


# ---------------------------------------------------------------------------------------------- the mechanism
NETWORK_STYLE, OPTIMUM_STYLE = "-", "--"  # a trained p_θ, the training loss's optimum (the exact posterior)


TRAIN_COLOR, HELDOUT_COLOR = "#1f77b4", "#d62728"  # on the training points, on held-out points


N_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")  # one per N of a dynamics record


def _mantissa(value: float) -> float:
    return round(value / 10 ** np.floor(np.log10(value)), 6) if value > 0 else 0.0


def _log_axis(ax, which: str = "y") -> None:
    """A log axis with plain numbers (0.1, 1, 10; 1,000, 10,000); the narrower its range, the more of its minor
    ticks labelled (2, 3, 5 within a few decades; every one within a factor 3)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullFormatter

    axis = ax.yaxis if which == "y" else ax.xaxis
    (ax.set_yscale if which == "y" else ax.set_xscale)("log")
    low, high = ax.get_ylim() if which == "y" else ax.get_xlim()
    ratio = high / max(low, 1e-12)
    labelled = set(range(2, 10)) if ratio < 3 else {2, 3, 5} if ratio < 300 else set()
    if which == "x":
        labelled = {2, 5} if ratio < 300 else set()
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,g}"))
    axis.set_minor_formatter(FuncFormatter(lambda value, _: f"{value:,g}" if _mantissa(value) in labelled else ""))
    if which == "y" and ratio < 3:  # within a factor 3 a log axis has one labelled tick or none: place a few
        ticks = [v for v in MaxNLocator(5).tick_values(low, high) if low <= v <= high]
        axis.set_major_locator(FixedLocator(ticks))
        axis.set_minor_formatter(NullFormatter())
    ax.tick_params(axis=which, which="both", labelsize=8)


def _log_margin(ax, values, fraction: float = 0.08) -> None:
    """y limits (log) that hold every positive value with `fraction` of the log range (at least 3 %) beyond the
    lowest and the highest, so a horizontal line at the extreme sits inside the panel, not on its frame."""
    positive = [float(v) for v in values if v is not None and np.isfinite(v) and v > 0]
    if not positive:
        return
    low, high = np.log10(min(positive)), np.log10(max(positive))
    pad = max(fraction * (high - low), np.log10(1.03))
    ax.set_ylim(10 ** (low - pad), 10 ** (high + pad))


def _words(dataset: str) -> str:
    """A data set's id as a title writes it: two_moons → two moons, eight_gaussians → eight Gaussians."""
    return dataset.replace("_", " ").replace("gaussians", "Gaussians")


def _band_label(low: int, high: int) -> str:
    return rf"$t \in [{low}, {high})$"


def _check_record(record, name: str, keys: Sequence[str]) -> None:
    if not isinstance(record, dict) or any(key not in record for key in keys):
        raise ValueError(f"{name} must be a dict with the keys {', '.join(keys)}, got {type(record).__name__}")


def plot_loss_gap(record: dict[str, Any], dataset: str):
    """The loss gap against N (log x), one panel per band of t, the smallest t first (its title in bold): the simple
    loss per dimension of the network and of the optimum (the exact posterior over the N training points), on the
    training points and on held-out ones, each ± its standard error. record: a loss_gap.json dict
    (`loss_gap.load_loss_gap`); dataset: its data set's name, as recorded."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    _check_record(record, "record", ("rows", "bands"))
    if not isinstance(dataset, str) or dataset != record.get("dataset", dataset):
        raise ValueError(f"dataset must be the record's data set {record.get('dataset')!r}, got {dataset!r}")
    bands = sorted(tuple(int(v) for v in band) for band in record["bands"])
    if not bands or not record["rows"]:
        raise ValueError("record must hold at least one band and one row, got none")
    columns = 2 if len(bands) > 1 else 1
    lines = (len(bands) + columns - 1) // columns
    fig = Figure(figsize=(9.0, 0.6 + 3.1 * lines), dpi=100)
    axes = [fig.add_subplot(lines, columns, k + 1) for k in range(len(bands))]
    for k, (ax, (low, high)) in enumerate(zip(axes, bands)):
        rows = sorted((r for r in record["rows"] if r["t_low"] == low), key=lambda r: r["num_points"])
        n = _column(rows, "num_points")
        for split, color, where in (("train", TRAIN_COLOR, "training points"), ("heldout", HELDOUT_COLOR, "held-out")):
            for who, style, marker in (("network", NETWORK_STYLE, "o"), ("optimum", OPTIMUM_STYLE, "s")):
                name = r"network $p_\theta$" if who == "network" else "optimum (exact posterior)"
                ax.errorbar(
                    n, _column(rows, f"{split}_{who}"), yerr=_column(rows, f"{split}_{who}_se"), fmt=marker,
                    linestyle=style, color=color, markersize=3.5 if who == "network" else 8, linewidth=1.4, capsize=2,
                    markerfacecolor=color if who == "network" else "none", label=f"{name}, {where}",
                    zorder=3 if who == "network" else 2,  # the network's dot on top, inside the optimum's open square
                )  # fmt: skip
        ax.set_xscale("log")
        _log_axis(ax, "y")
        ax.set_xticks(n, [str(int(v)) for v in n], fontsize=8)
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(True, which="major", alpha=0.25)
        ax.set_xlabel("$N$, training points", fontsize=9)
        ax.set_ylabel(r"loss $\|\epsilon - \hat\epsilon\|^2 / 2$", fontsize=9)
        emphasis = {"fontweight": "bold"} if k == 0 else {}
        where = ": where they part" if k == 0 else ""
        ax.set_title(_band_label(low, high) + where, fontsize=10, **emphasis)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=8, frameon=False)
    fig.suptitle(f"{_words(dataset)}: the network against the training loss's optimum", fontsize=11)
    fig.tight_layout(rect=(0, 0.11 if lines == 1 else 0.07, 1, 1))
    return fig


def _mark_times(ax, runs, colors) -> None:
    """τ_gen (dotted) and τ_mem (dash-dot) per run as vertical lines; runs whose time coincides share the line in
    alternating segments of their colours, so every colour stays visible."""
    for key, on, period in (("tau_gen", 1.5, 3.0), ("tau_mem", 4.0, 6.0)):
        at: dict[int, list[str]] = {}
        for run, color in zip(runs, colors):
            if run.get(key) is not None:
                at.setdefault(int(run[key]), []).append(color)
        for step, shared in at.items():
            g = len(shared)
            for i, color in enumerate(shared):
                style = ":" if key == "tau_gen" else "-."
                if g > 1:  # segment i of every g: the colours alternate along one line
                    style = (i * period, (on, period * g - on))
                ax.axvline(step, color=color, linestyle=style, linewidth=1.3 if g == 1 else 1.8)


def plot_training_dynamics(record: dict[str, Any]):
    """The training dynamics of a `dynamics.run_dynamics` record against the optimizer step (log x), one colour
    per N. Rows one and two: the loss on the training points and on held-out points, over all t and over the
    small-t band, the network solid and the optimum (the exact posterior over the N points) dashed. Row three: the
    copy fraction of S samples. τ_gen (dotted) and τ_mem (dash-dot) marked in every panel."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    from pipelines.exact.neighbours import COPY_RATIO_TEXT
    from pipelines.transition.dynamics import GENERALISED_WITHIN, MEMORISED_AT

    _check_record(record, "record", ("runs", "bands"))
    runs = sorted(record["runs"], key=lambda r: r["num_points"])
    if not runs or len(runs) > len(N_COLORS):
        raise ValueError(f"record must hold 1 to {len(N_COLORS)} runs, got {len(runs)}")
    colors = N_COLORS[: len(runs)]
    fig = Figure(figsize=(9.0, 10.4), dpi=100)
    grid = fig.add_gridspec(3, 2)
    bands = (("all", ""), ("small_t", "_small_t"))
    for row, (band, suffix) in enumerate(bands):
        low, high = record["bands"][band]
        for column, (split, where) in enumerate((("train", "the $N$ training points"), ("heldout", "held-out points"))):
            ax = fig.add_subplot(grid[row, column])
            values = []
            for run, color in zip(runs, colors):
                c = run["checkpoints"]
                ax.plot(c["step"], c[f"{split}_loss{suffix}"], NETWORK_STYLE, color=color, linewidth=1.5)
                ax.axhline(run["optimum"][band][split], color=color, linestyle=OPTIMUM_STYLE, linewidth=1.2)
                values += [*c[f"{split}_loss{suffix}"], run["optimum"][band][split]]
            _mark_times(ax, runs, colors)
            _log_margin(ax, values)  # an optimum's dashed line never on the panel's edge
            _log_axis(ax, "x")
            _log_axis(ax, "y")
            ax.grid(True, which="major", alpha=0.25)
            ax.tick_params(labelsize=8)
            ax.set_title(f"Loss on {where}, " + _band_label(low, high), fontsize=10)
            ax.set_xlabel("training step", fontsize=9)
            ax.set_ylabel(r"loss $\|\epsilon - \hat\epsilon\|^2 / 2$", fontsize=9)
    ax = fig.add_subplot(grid[2, :])
    for run, color in zip(runs, colors):
        c = run["checkpoints"]
        gen, mem = run.get("tau_gen"), run.get("tau_mem")
        times = rf"$\tau_{{gen}}$ = {gen:,}, " + (rf"$\tau_{{mem}}$ = {mem:,}" if mem else r"$\tau_{mem}$: not reached")
        label = f"N = {run['num_points']:,}: {times}"
        ax.plot(c["step"], c["copy_fraction"], "o-", color=color, markersize=3, label=label)
    _mark_times(ax, runs, colors)
    ax.axhline(MEMORISED_AT, color="0.55", linewidth=0.8, linestyle=(0, (1, 3)))  # τ_mem's threshold, not a curve
    _log_axis(ax, "x")
    ax.set_ylim(-0.03, 1.03)
    ax.grid(True, which="major", alpha=0.25)
    ax.tick_params(labelsize=8)
    ax.set_xlabel("training step", fontsize=9)
    ax.set_ylabel(rf"copies ($d_1 / d_2 < {COPY_RATIO_TEXT}$)", fontsize=9)
    ax.set_title("Fraction of samples that copy a training point", fontsize=10)
    keys = [
        Line2D([], [], color="black", linestyle=NETWORK_STYLE, label=r"network $p_\theta$"),
        Line2D([], [], color="black", linestyle=OPTIMUM_STYLE, label="optimum (exact posterior)"),
        Line2D(
            [],
            [],
            color="black",
            linestyle=":",
            label=rf"$\tau_{{gen}}$: held-out loss within {GENERALISED_WITHIN:.0%} of its lowest",
        ),  # fmt: skip
        Line2D([], [], color="black", linestyle="-.", label=rf"$\tau_{{mem}}$: copies reach {MEMORISED_AT:g}"),
    ]
    handles, _ = ax.get_legend_handles_labels()
    fig.legend(handles=handles + keys, fontsize=8, loc="lower center", ncol=2, frameon=False)
    fig.suptitle(f"{_words(record.get('dataset', ''))}: training and held-out loss, and copies, as the network trains",
                 fontsize=11)  # fmt: skip
    fig.tight_layout(rect=(0, 0.01 + 0.02 * max(len(handles), len(keys)), 1, 1))
    return fig
