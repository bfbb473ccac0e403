"""The exact posterior's pictures, as matplotlib Figures drawn from numbers they are given: the true step's variance
along a chain against β̃, β and σ*² (`plot_chain_variances`), what one exact step costs as N grows (`plot_step_cost`,
`plot_step_costs`), when exact trajectories commit to one training image (`plot_commit`), and the held-out images'
distances to their nearest training image (`plot_nearest_distances`), and r² of the local, equivariant and exact
denoisers against the network along its run (`plot_r2_curves`).
"""

from __future__ import annotations

import math
import statistics
import warnings
from typing import Any, Sequence

import numpy as np

from pipelines.pictures.units import format_bytes, format_duration


def _positive(values) -> np.ndarray:
    """Zeros (the noiseless step to x_0) cannot go on a log axis: NaN there."""
    a = np.asarray(values, dtype=np.float64)
    return np.where(a > 0, a, np.nan)


SHADE_MIN_SPREAD = 1.1  # the draws' (max / min) true variance from which their range is shaded: narrower is invisible


def draw_spread(true_q) -> float | None:
    """The largest (max / min) of the true variance over the x_t draws of one step (None with a zero draw)."""
    draws = np.asarray(true_q, dtype=np.float64)
    return float((draws.max(1) / draws.min(1)).max()) if draws.size and draws.min() > 0 else None


def plot_chain_variances(record: dict[str, Any], title: str | None = None):
    """Two panels against the t of each step's input (T on the left, 0 on the right):

    top (log): the true step's variance at x_t ~ q(x_t) (its mean, and its range over the draws shaded when that
    range is wide enough to see: SHADE_MIN_SPREAD), at the x_t of a real trajectory, β̃, β, σ*² with the exact Γ_t
    and, if present, σ*² with the model's Γ_t; bottom: each variance divided by the mean true variance (1 = the
    right width). The curves that coincide are drawn wide under thin, dashes over a solid line, markers of
    different sizes, so each one the legend names shows. `record`: the dict of `chain_variances`. Uses
    `matplotlib.figure.Figure` (not pyplot): safe from threads."""
    from matplotlib.figure import Figure

    ts = np.asarray(record["timesteps"])
    true_q = np.asarray(record["true_q"], dtype=np.float64)
    exact = true_q.mean(1)
    curves = [  # drawn in this order, each over the ones before
        ("beta", r"$\beta_{t|s}$ of the forward step (Ho et al.'s other choice)", dict(color="C1", lw=4, alpha=0.5)),
        ("sigma2_model", r"$\sigma^{*2}$ with the model's $\Gamma_t$", dict(color="C3", lw=1.3)),
        (
            "beta_tilde",
            r"$\tilde\beta_{t|s}$ of the posterior (one of Ho et al.'s two choices; this demo's default)",
            dict(color="C2", ls=(0, (4, 3)), lw=1.8),
        ),
        (
            "sigma2_exact",
            r"$\sigma^{*2}$ with the exact $\Gamma_t$ (circles)",
            dict(color="k", ls="none", marker="o", ms=9, mfc="none", mew=1.1),
        ),
        (
            "true_trajectory",
            "exact step at a sampled trajectory's $x_t$ (×, inside the circles)",
            dict(color="C4", ls="none", marker="x", ms=5, mew=1.4),
        ),
    ]
    fig = Figure(figsize=(9.2, 7.2), dpi=100, layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    spread = draw_spread(true_q)
    num_draws = true_q.shape[1] if true_q.ndim == 2 else 1
    true_label = f"exact step, mean over {num_draws} draws of $x_t \\sim q(x_t)$ (wide blue)"
    if spread is not None and spread >= SHADE_MIN_SPREAD:
        top.fill_between(ts, true_q.min(1), true_q.max(1), color="C0", alpha=0.25, lw=0)
        true_label += "; their range shaded"
    elif spread is not None:
        true_label += f"; they agree within {spread - 1:.1%}, too close to shade"
    truth = dict(color="C0", lw=6, alpha=0.4, solid_capstyle="butt")
    top.plot(ts, _positive(exact), label=true_label, **truth)
    bottom.axhline(1.0, **truth)
    with np.errstate(invalid="ignore", divide="ignore"):
        for key, label, style in curves:
            values = record.get(key) or []
            if len(values) != len(ts):
                continue
            top.plot(ts, _positive(values), label=label, **style)
            bottom.plot(ts, _positive(values) / _positive(exact), **style)
    top.set_yscale("log")
    bottom.set_yscale("log")
    top.set_ylabel("per-pixel variance (log)")
    bottom.set_ylabel("ratio to the exact step's variance\n(1 = right width; log)")
    bottom.set_xlabel("t of the step's input $x_t$ (sampling runs left → right)")
    span = max(ts.max() - ts.min(), 1)
    top.set_xlim(ts.max() + 0.02 * span, ts.min() - 0.02 * span)
    for ax in (top, bottom):
        ax.grid(True, which="both", alpha=0.3)
    top.set_title(title or f"The variance of each of the {len(ts)} reverse steps", fontsize=10)
    fig.legend(loc="outside lower center", ncol=1, fontsize=8, frameon=False)  # one a line: whole, however long
    return fig


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


# A label's box: white, so a line that passes behind it does not run through its letters.
# How far (points, left and up) each extrapolated data set's label sits from its star.
STAR_LABEL_OFFSET = 28
_LABEL_BOX = dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor="none", alpha=0.85)


def _mathtext_sci(x: float, digits: int = 3) -> str:
    """x in mathtext with `digits` significant figures, as the page writes it: 8.66\\times10^{-7}."""
    mantissa, exponent = f"{x:.{digits - 1}e}".split("e")
    return rf"{mantissa}\times10^{{{int(exponent)}}}"


def _plot_extrapolated(ax, grid, c: float, D0: int, targets) -> None:
    """`plot_step_costs`'s extrapolations: the fitted c·N·D line for each image size other than the measured D0,
    and each extrapolated data set (★) labelled with its time per step and memory."""
    # one style and colour per image size (and its D in the legend), so the lines cannot be mistaken for each other
    styles = ("--", "-.", (0, (1, 1.5)), (0, (5, 1, 1, 1, 1, 1)))
    for k, D in enumerate(sorted({e["D"] for e in targets} - {D0})):
        color = f"C{4 + k % 5}"
        sets = ", ".join(e["name"] for e in targets if e["D"] == D)
        style = styles[k % len(styles)]
        ax.plot(grid, c * grid * D, color=color, linewidth=1.2, linestyle=style, label=f"c·N·D, D = {D:,} ({sets})")
    for e in targets:
        ax.plot([e["N"]], [e["ms"]], marker="*", markersize=12, linestyle="none", color="C3", zorder=3)
        name = e["name"] + (" (web-scale)" if "LAION" in e["name"] else "")
        # Up and to the left, with an arrow: every line rises to the right with the same slope, so that corner is
        # clear of them all (beside the star, the next line up ran through the label, and the box cut the line).
        ax.annotate(
            f"{name}\n{format_duration(e['ms'])} / step, {format_bytes(e['bytes'])}",
            (e["N"], e["ms"]),
            textcoords="offset points",
            xytext=(-STAR_LABEL_OFFSET, STAR_LABEL_OFFSET),
            ha="right",
            va="bottom",
            fontsize=7.5,
            bbox=_LABEL_BOX,
            arrowprops=dict(arrowstyle="-", color="C3", linewidth=0.8, shrinkA=0, shrinkB=5),
            zorder=5,
        )


def _plot_index_costs(ax, index_costs) -> None:
    """`plot_step_costs`'s nearest-image search through an index: one line per kind (■), from the benchmark's rows."""
    for k, kind in enumerate(sorted({r["kind"] for r in index_costs or ()})):
        rows = sorted((r for r in index_costs if r["kind"] == kind), key=lambda r: r["N"])
        what = "exact (flat)" if kind == "flat" else "compressed (IVF, 8-bit)"
        ax.plot(
            [r["N"] for r in rows],
            [r["ms_per_query"] for r in rows],
            marker="s",
            color=("C1", "C8")[k % 2],
            linewidth=1.4,
            label=f"index, {what}: nearest images per query, D = {rows[0]['D']:,} (separate benchmark, 2 cores)",
        )


# Figure API only (no pyplot): a new Figure per call, so concurrent requests never share one.
def plot_step_costs(
    costs, title: str | None = None, mark: str | None = None, index_costs=None, model_label: str | None = None
):
    """`costs`: a `pipelines.exact.posterior.StepCosts`. Log–log: measured exact-step ms against N (●), the
    fitted c·N·D line for each image size, the
    extrapolated data sets (★, labelled with time per step and memory), and the model's constant line.
    mark: a label for the largest measured point (the data set the exact step ran over, e.g. its N and D).
    index_costs: rows {"N", "D", "kind", "ms_per_query"} (`index.MEASURED_INDEX_COSTS`): the nearest-image search
    through an index, one line per kind (■). model_label: the model line's label (which model, its size)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.6, 6.6 if index_costs else 4.8), dpi=110)
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
    ax.plot(grid, c * grid * D0, color="C0", linewidth=1, label=f"fit c·N·D, $c = {_mathtext_sci(c)}$ ms per number")
    if mark:
        last = costs.rows[-1]
        ax.plot(
            [last["N"]], [last["ms"]], marker="D", markersize=8, linestyle="none", color="C2", zorder=4,
            label=f"this app's data set: {mark}",
        )  # fmt: skip
    _plot_extrapolated(ax, grid, c, D0, targets)
    _plot_index_costs(ax, index_costs)
    ax.axhline(
        costs.model_ms,
        color="gray",
        linestyle=":",
        label=model_label or rf"model $p_\theta$: one UNet call ({format_duration(costs.model_ms)}), any N",
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    low = min([costs.model_ms, *(r["ms"] for r in costs.rows), *(r["ms_per_query"] for r in index_costs or ())])
    ax.set_ylim(low / 3, max(e["ms"] for e in targets) * 50 if targets else None)
    ax.set_xlabel("N, training images the exact step must read (log scale)")
    ax.set_ylabel("milliseconds per reverse step (median, log scale)")
    ax.set_title(title or "One reverse step: the exact cost grows with N·D", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    if index_costs:  # seven entries: below the axes, where they hide no point or label
        ax.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=1, frameon=False)
    else:
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
    _commit_markers(top, bottom, timesteps, effective_n, max_weight, commit_step)
    top.set_yscale("log")
    top.set_ylim(0.6, num_data * 1.5)  # room under n_eff = 1 for the commit rings
    top.axhline(num_data, color="gray", linestyle=":", linewidth=0.8)
    # the dotted line's meaning, written under it at the image end (where every curve has fallen to 1)
    top.annotate(
        f"N = {num_data:,}: every training {noun} equally likely",
        (min(timesteps) if timesteps else 0, num_data), textcoords="offset points", xytext=(-4, -3), ha="right",
        va="top", fontsize=7, color="0.35",
    )  # fmt: skip
    top.set_ylabel("effective candidates\n" r"$1/\sum_i w_i^2$ (log)")
    top.set_title(f"Exact sampler: how many of the N = {num_data:,} training {noun}s are still in play", fontsize=10)
    bottom.axhline(
        commit_weight, color="gray", linestyle="--", linewidth=0.8, label=f"{commit_weight:.0%}: committed (●)"
    )
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


def _commit_markers(top, bottom, timesteps, effective_n, max_weight, commit_step) -> None:
    """`plot_commit`'s ● at each trajectory's commit step. Trajectories that commit at the same step would hide each
    other: theirs are nested rings (the first the largest), each in its trajectory's colour, and a count above them
    says how many share the step."""
    groups: dict[int, list[int]] = {}
    for b in range(len(effective_n)):
        k = commit_step[b] if b < len(commit_step) else None
        if k is not None and 0 <= k < len(timesteps):
            groups.setdefault(k, []).append(b)
    for k, members in groups.items():
        for rank, b in enumerate(members):
            size = 6 + 3.5 * (len(members) - 1 - rank)  # the first largest, drawn first, the last smallest on top
            for ax, values in ((top, effective_n[b]), (bottom, max_weight[b])):
                ax.plot([timesteps[k]], [values[k]], marker="o", color=f"C{b % 10}", markersize=size,
                        markeredgecolor="white", markeredgewidth=0.8, zorder=3 + rank, clip_on=False)  # fmt: skip
        if len(members) > 1:
            top.annotate(
                f"{len(members)}", (timesteps[k], effective_n[members[0]][k]), textcoords="offset points",
                xytext=(0, 7 + 1.75 * (len(members) - 1)), ha="center", va="bottom", fontsize=7.5, fontweight="bold",
            )  # fmt: skip


def plot_nearest_distances(heldout, exact, model, noun: str = "digit", image_shape: tuple[int, int, int] = (1, 32, 32)):
    """A histogram of the held-out real images' distances to their nearest training image, with this run's exact
    and model samples as strips of ticks on a panel of their own above it (each strip named with how many samples
    it holds), and a line at each median. The legend (the histogram and each median line) sits below the axes, where
    it covers no bar or line. The x axis starts left of 0, so ticks at 0 (copies) stand clear of it. With no
    held-out images (an empty `heldout`) only the strips are drawn. noun: what one image is ("digit", "image");
    image_shape: (C, H, W), named in the axis label."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.6, 4.5), dpi=110, layout="constrained")
    # this run's samples on their own strip (one tick each, no count axis), the held-out histogram below
    strip, ax = fig.subplots(2, 1, sharex=True, height_ratios=(1, 2.4))
    heldout = np.asarray(heldout, dtype=float)
    top_value = max([*heldout.tolist(), *exact, *model, 1.0])
    bins = np.linspace(0, top_value * 1.05, 40)
    if len(heldout):
        ax.hist(
            heldout,
            bins=bins,
            color="C2",
            alpha=0.6,
            label=f"held-out real {noun}s ({len(heldout):,}, never trained on)",
        )
        median = float(np.median(heldout))
        ax.axvline(median, color="C2", linestyle="--", linewidth=0.8, label=f"median, held-out {noun}s: {median:.2f}")
    for values, y, color, name in ((exact, 1.0, "C0", "exact"), (model, 0.0, "C1", "model")):
        if len(values):
            strip.plot(
                values,
                [y] * len(values),
                marker="|",
                markersize=12,
                markeredgewidth=2,
                linestyle="none",
                color=color,
            )
            median = statistics.median(values)
            for axis in (strip, ax):
                label = f"median, {name} samples: {median:.2f}" if axis is ax else None
                axis.axvline(median, color=color, linestyle=":", linewidth=0.8, label=label)
    strip.set_ylim(-0.7, 1.7)
    names = [
        f"{len(v)} {name}" + (f", median {statistics.median(v):.2f}" if len(v) else "")
        for v, name in ((exact, "exact"), (model, "model"))
    ]
    strip.set_yticks([1.0, 0.0], names, fontsize=7.5)
    strip.set_title(
        f"this run's samples: one tick per sample, at its distance to the nearest training {noun}", fontsize=8
    )
    strip.grid(True, axis="x", alpha=0.3)
    ax.set_xlim(-0.05 * top_value, top_value * 1.08)
    c, h, w = image_shape
    size = f"{h}×{w} pixels" if c == 1 else f"{c}×{h}×{w} values"
    ax.set_xlabel(f"L2 distance to the nearest training {noun} ({size}, [-1, 1] units)")
    ax.set_ylabel(f"held-out {noun}s (count)" if len(heldout) else "no held-out images", fontsize=8)
    if not len(heldout):
        ax.set_yticks([])
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        fig.legend(loc="outside lower center", ncol=2, fontsize=7.5, frameon=False)
    return fig


# The y range of the r² curves: below −0.5 a curve only says "worse than the image's mean", and a long fall there
# would squash the range where the denoisers differ.
R2_FLOOR = -0.5


def _r2_rows(name: str, values, K: int) -> np.ndarray:
    """r² as (K, B): a (K,) curve of medians is one image."""
    a = np.asarray(values, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] != K or a.shape[1] < 1:
        raise ValueError(f"{name} must be ({K},) or ({K}, B) r² values, one row per step, got shape {a.shape}")
    return a


def plot_r2_curves(
    timesteps, r2_local, r2_exact, r2_equivariant=None, patch_sizes=None, title: str | None = None, fit_below=None
):
    """r² of each denoiser's x̂_0 against the network's, step by step along its run: the median over the images per
    step (a line) and, with more than one image, their min–max range (shaded), against t running from T down to
    0 (the order sampling goes). timesteps: (K,); r2_local, r2_exact, r2_equivariant: (K,) medians or (K, B) per
    image (NaN skipped); patch_sizes: (K,) the local machines' patch side per step, drawn as a step line on a
    right-hand axis; fit_below: the t below which a fitted patch size means something (above it the t axis is
    shaded and the legend says why). The exact posterior's line is drawn wide and pale under the others (where a
    local line coincides with it, both stay visible); the legend sits below the axes, over no curve. The y axis
    shows [−0.5, 1]; lower values are clipped there (the y label says so). A Figure ~900 px wide."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    ts = np.asarray(timesteps, dtype=np.float64)
    if ts.ndim != 1 or len(ts) < 1:
        raise ValueError(f"timesteps must be a non-empty 1-D sequence, got shape {ts.shape}")
    K = len(ts)
    curves = [
        ("r2_local", r2_local, "local (LS, patch P per t)", "C0"),
        ("r2_equivariant", r2_equivariant, "equivariant (ELS)", "C2"),
        ("r2_exact", r2_exact, "exact posterior (whole image; wide, pale)", "C3"),
    ]
    fig = Figure(figsize=(9.0, 5.0), dpi=100, layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    clipped = False
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN step: no median, no line there
        for name, values, label, color in curves:
            if values is None:
                continue
            rows = _r2_rows(name, values, K)
            median = np.nanmedian(rows, axis=1)
            clipped |= bool(np.nanmin(rows) < R2_FLOOR) if np.isfinite(rows).any() else False
            if rows.shape[1] > 1:
                low, high = np.nanmin(rows, axis=1), np.nanmax(rows, axis=1)
                ax.fill_between(ts, np.maximum(low, R2_FLOOR), high, color=color, alpha=0.18, lw=0)
            wide = name == "r2_exact"  # drawn wide and pale under the others, so a curve on top of it stays visible
            ax.plot(
                ts, np.maximum(median, R2_FLOOR), color=color, lw=5 if wide else 1.8, alpha=0.45 if wide else 1.0,
                marker="o", ms=3, label=label, zorder=1 if wide else 2,
            )  # fmt: skip
    ax.axhline(0.0, color="0.5", lw=0.8, ls=":")
    if fit_below is not None and ts.max() > fit_below:
        ax.axvspan(ts.max() + 10, fit_below, color="0.85", alpha=0.5, lw=0, zorder=0,
                   label="here $r^2$ hardly depends on $P$: the fitted $P$ means nothing")  # fmt: skip
    ax.set_ylim(R2_FLOOR - 0.02, 1.02)
    ax.set_xlim(ts.max() + 10, max(ts.min() - 10, -10))  # T on the left, 0 on the right: the order sampling goes
    note = f"\n(values below {R2_FLOOR:g} drawn at {R2_FLOOR:g})" if clipped else ""
    ax.set_ylabel(f"$r^2$ against the network's $\\hat x_0${note}")
    ax.set_xlabel("$t$ of the network's input $x_t$ (sampling runs left → right)")
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if patch_sizes is not None:
        sizes = np.asarray(patch_sizes, dtype=np.float64)
        if sizes.shape != (K,):
            raise ValueError(f"patch_sizes must hold one patch side per step ({K},), got shape {sizes.shape}")
        right = ax.twinx()
        (line,) = right.step(ts, sizes, where="mid", color="0.35", lw=1.2, ls="--", label="patch size $P$ (right)")
        right.set_ylabel("patch side $P$ (pixels)")
        right.set_ylim(0, max(sizes.max(), 1) * 1.15 + 1)
        right.yaxis.set_major_locator(MaxNLocator(integer=True))
        handles, labels = handles + [line], labels + [line.get_label()]
    ncol = len(handles) if len(handles) <= 3 else 2  # one row for three entries; two columns beyond, within the width
    fig.legend(handles, labels, loc="outside lower center", ncol=ncol, fontsize=9, frameon=False)
    ax.set_title(title or "$r^2$ of each denoiser's $\\hat x_0$ against the network's, along its run")
    return fig
