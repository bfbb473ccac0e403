"""Pictures of the 2-D world: the plane (a click on it is a point), the zoomed reverse step, the two samplers, live
training. Each draws only what it is given (a `pipelines.toy2d.ToyStepView`, a `SamplerComparison`, losses) and
returns a matplotlib Figure; callers render it (the app under `pipelines.pictures.render`'s lock). Layouts are fixed (no
tight_layout) and titles sit at y = 1 (nothing is drawn above the axes), so matplotlib lays each text out once."""

from __future__ import annotations

import math

import numpy as np

from pipelines.exact.neighbours import COPY_RATIO, COPY_RATIO_TEXT

PLANE_LIMIT = 2.0  # the plane view shows [-2, 2]²: the data in [-1, 1]² and where x_t at large t usually lies


# The plane figure, in pixels (dpi 100): the square axes sit at a fixed place in it, so a click maps linearly to
# (x, y); room above for the title, left and below for the tick labels, and below those for the legend.
PLANE_WIDTH, PLANE_HEIGHT = 560, 640


PLANE_AXES_LEFT, PLANE_AXES_TOP, PLANE_AXES_SIZE = 62, 44, 470


EXACT_COLOR, MODEL_COLOR, TRACTABLE_COLOR, DATA_COLOR, XT_COLOR = "C0", "C1", "C2", "0.6", "C3"


# p_θ's three variances, by the scheduler's names: how each is drawn (β̃ as the sampler uses it: solid), and their
# symbols for a step t → s = t − Δ (the page's notation: β_{t|s} = 1 − ᾱ_t/ᾱ_s, never a bare β_t for a stride;
# \vert is LaTeX's |, which a Markdown table would take for a column break)
STRIDE_VARIANCE_SYMBOLS = {
    "fixed_small": r"$\tilde\beta_{t\vert s}$",
    "fixed_large": r"$\beta_{t\vert s}$",
    "analytic": r"$\sigma^{*2}$",
}
# A mean closer than this to x_t hides under x_t's × on the plane (about 7 pixels at 470 pixels per 4 units).
SHORT_STEP = 0.06
VARIANCE_STYLES = {"fixed_small": "-", "fixed_large": (0, (5, 2)), "analytic": (0, (1, 1.5))}
SAMPLER_VARIANCE = "fixed_small"  # the variance the 2-D sampler uses


def plane_to_pixel(x: float, y: float, limit: float = PLANE_LIMIT) -> tuple[float, float]:
    """A point of the plane view → its pixel (column, row) in the picture, row 0 at the top."""
    scale = PLANE_AXES_SIZE / (2 * limit)
    return PLANE_AXES_LEFT + (x + limit) * scale, PLANE_AXES_TOP + (limit - y) * scale


def pixel_to_plane(column: float, row: float, limit: float = PLANE_LIMIT) -> tuple[float, float]:
    """A pixel of the plane picture (column, row; as gradio's Image.select reports a click) → the point (x, y)."""
    scale = (2 * limit) / PLANE_AXES_SIZE
    return (column - PLANE_AXES_LEFT) * scale - limit, limit - (row - PLANE_AXES_TOP) * scale


def _ellipse(ax, mean, cov, color, linestyle, label, scales=(1, 2)):
    """1σ (thick) and 2σ (thin) ellipses of N(mean, cov) (2-D)."""
    from matplotlib.patches import Ellipse

    values, vectors = np.linalg.eigh(np.asarray(cov, dtype=float))
    angle = math.degrees(math.atan2(vectors[1, 1], vectors[0, 1]))
    for k, scale in enumerate(scales):
        ax.add_patch(
            Ellipse(
                tuple(np.asarray(mean, dtype=float)),
                2 * scale * math.sqrt(max(values[1], 0.0)),
                2 * scale * math.sqrt(max(values[0], 0.0)),
                angle=angle,
                fill=False,
                color=color,
                linestyle=linestyle,
                linewidth=1.6 if k == 0 else 1.0,
                label=label if k == 0 else None,
            )
        )


def _plane_figure(points, limit: float):
    """The plane's static part, the same for every x_t, t and stride over one set of training points: the square
    axes at their fixed place, the N training points, ticks, axis labels, grid, and the legend of every artist the
    changing part draws (`_plane_step`), with proxies of the same styles. Returns (figure, axes)."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    fig = Figure(figsize=(PLANE_WIDTH / 100, PLANE_HEIGHT / 100), dpi=100)
    ax = fig.add_axes(
        (
            PLANE_AXES_LEFT / PLANE_WIDTH,
            1 - (PLANE_AXES_TOP + PLANE_AXES_SIZE) / PLANE_HEIGHT,
            PLANE_AXES_SIZE / PLANE_WIDTH,
            PLANE_AXES_SIZE / PLANE_HEIGHT,
        )
    )
    pts = np.asarray(points, dtype=float)
    ax.scatter(pts[:, 0], pts[:, 1], s=6, color=DATA_COLOR, label=f"training points $x_0^i$ (N = {len(pts):,})")
    ax.set_xlim(-limit, limit)
    ax.set_ylim(-limit, limit)
    ax.set_autoscale_on(False)
    ticks = np.arange(-limit, limit + 1e-9, 0.5)
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.tick_params(labelsize=8)
    ax.set_xlabel("first coordinate", fontsize=8, labelpad=1)
    ax.set_ylabel("second coordinate", fontsize=8, labelpad=1)
    ax.grid(True, alpha=0.25)
    proxy = dict(linestyle="none")
    handles = [
        *ax.get_legend_handles_labels()[0],
        Line2D([], [], marker="o", markersize=4, color="#4a89c8", **proxy),
        Line2D([], [], marker="o", markersize=7, markerfacecolor="none", markeredgecolor=TRACTABLE_COLOR,
               markeredgewidth=1.8, **proxy),
        Line2D([], [], marker="x", markersize=8, color=XT_COLOR, markeredgewidth=1.4, **proxy),
        Line2D([], [], marker="D", markersize=6.5, color=EXACT_COLOR, markeredgecolor="black", markeredgewidth=0.9,
               **proxy),
        Line2D([], [], marker="s", markersize=5.5, markerfacecolor="none", markeredgecolor=MODEL_COLOR,
               markeredgewidth=1.6, **proxy),
        Line2D([], [], color="0.3", linewidth=1.4, marker=">", markersize=5),
        Rectangle((0, 0), 1, 1, fill=False, color="0.3", linestyle=":"),
    ]  # fmt: skip
    labels = [
        ax.get_legend_handles_labels()[1][0],
        r"component means $\tilde\mu(x_t, x_0^i)$, darker = heavier",
        "heaviest $x_0$ (its weight: in the text)",
        "$x_t$ (click to move it)",
        r"exact mean $E[x_{t-\Delta} \mid x_t]$",
        r"$p_\theta$ mean (open square)",
        r"arrows: $x_t$ → each mean (none if on $x_t$)",
        "zoomed view (right)",
    ]
    fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 0.005), ncol=2, fontsize=7.5, frameon=False)
    return fig, ax


def _plane_step(ax, view, limit: float) -> list:
    """The plane's changing part, drawn on `_plane_figure`'s axes: the component means shaded by weight, the
    heaviest x_0, x_t, the arrows to the exact and p_θ means, the zoomed view's square and the title. Returns the
    artists (to draw, then remove)."""
    from matplotlib.patches import Rectangle

    step = view.step
    artists = []
    weights = view.weights.numpy()
    heavy = weights >= 1e-3 * weights.max()
    means = step.component_means.numpy()
    artists.append(
        ax.scatter(
            means[heavy, 0],
            means[heavy, 1],
            s=3 + 30 * weights[heavy] / weights.max(),
            c=weights[heavy],
            cmap="Blues",
            vmin=0,
            vmax=weights.max(),
            edgecolors="none",
            zorder=2,
        )
    )
    heaviest = view.points.numpy()[view.heaviest_index]
    artists.append(ax.scatter(*heaviest, s=90, facecolors="none", edgecolors=TRACTABLE_COLOR, linewidths=1.8, zorder=3))
    x_t = view.x_t.numpy()
    for end, color in ((step.exact_mean.numpy(), EXACT_COLOR), (step.model_mean.numpy(), MODEL_COLOR)):
        arrow = ax.annotate("", xy=tuple(end), xytext=tuple(x_t), arrowprops=dict(arrowstyle="->", color=color, lw=1.4))
        artists.append(arrow)
    # x_t as a thin open cross under the two means: a mean close to x_t (a small step) stays visible on top of it
    artists.append(ax.scatter(*x_t, marker="x", s=140, color=XT_COLOR, linewidths=1.4, zorder=4))
    # the exact mean: a black-edged diamond (not a dot like the component means), bigger than p_θ's open square on
    # top of it, so its corners show even where the two means and x_t coincide
    artists.append(ax.scatter(*step.exact_mean.numpy(), marker="D", s=64, color=EXACT_COLOR, edgecolors="black",
                              linewidths=0.9, zorder=6))  # fmt: skip
    artists.append(
        ax.scatter(
            *step.model_mean.numpy(), marker="s", s=30, facecolors="none", edgecolors=MODEL_COLOR, linewidths=1.6,
            zorder=7,
        )
    )  # fmt: skip
    cx, cy, half = view.window
    if half < limit:
        square = Rectangle((cx - half, cy - half), 2 * half, 2 * half, fill=False, color="0.3", linestyle=":")
        artists.append(ax.add_patch(square))
    title = f"The plane, and the step t = {view.t} → {view.prev_t} (Δ = {view.stride})"
    moves = [float(np.linalg.norm(end - x_t)) for end in (step.exact_mean.numpy(), step.model_mean.numpy())]
    if max(moves) < SHORT_STEP:  # no arrow can show: say where the means are
        title += f"\nboth means within {max(moves):.3g} of the × of xₜ (one spot in the zoom, right, too)"
    artists.append(ax.set_title(title, fontsize=10, y=1.0))
    return artists


def plot_toy_plane(view, limit: float = PLANE_LIMIT):
    """The whole plane [-limit, limit]² at a fixed place in the picture (`pixel_to_plane`): the N training points,
    x_t, the means μ̃(x_t, x_0^i) of the mixture's components shaded by weight, the exact and p_θ means with arrows
    from x_t, the heaviest x_0, and the zoomed view's square. `view`: a `pipelines.toy2d.ToyStepView`.
    (`plot_cache.draw_toy_plane`: the same picture, faster, as an image.)"""
    fig, ax = _plane_figure(view.points.numpy(), limit)
    _plane_step(ax, view, limit)
    return fig


STEP_SIZE = (5.6, 6.4)  # the zoomed step's figure, inches at dpi 100


def _step_legend(fig) -> None:
    """The zoomed step's legend (below the axes): fixed labels, so it is the same picture for every step, drawn with
    line proxies of the ellipses' styles (`_step_axes`)."""
    from matplotlib.lines import Line2D

    handles, labels = [], []
    for name, style in VARIANCE_STYLES.items():
        handles.append(Line2D([], [], color=MODEL_COLOR, linestyle=style, linewidth=1.6))
        labels.append(
            rf"$p_\theta$ with variance {STRIDE_VARIANCE_SYMBOLS[name]}"
            + (" (as the sampler uses it)" if name == SAMPLER_VARIANCE else "")
        )
    handles += [
        Line2D([], [], color=EXACT_COLOR, linestyle="--", linewidth=1.6),
        Line2D([], [], color=TRACTABLE_COLOR, linestyle=":", linewidth=1.6),
    ]
    labels += ["best Gaussian (moment-matched)", r"tractable $q(x_{t-\Delta} \mid x_t, x_0)$ of the heaviest $x_0$"]
    fig.legend(
        handles,
        labels,
        loc="lower center",
        bbox_to_anchor=(0.5, 0.01),
        fontsize=7.5,
        title="ellipses: 1σ (thick), 2σ (thin); ◆ exact mean, □ $p_\\theta$ mean, × $x_t$ (when in the window)",
        title_fontsize=7.5,
    )


def _step_axes(fig, view) -> list:
    """The zoomed step's changing part on `fig`: its axes (density, contours, ellipses, means, ticks, labels, title)
    and the colour bar's axes. Returns both axes."""
    from matplotlib.colors import PowerNorm

    step = view.step
    xs, ys, density = view.density_xs.numpy(), view.density_ys.numpy(), view.density.numpy()
    ax = fig.add_axes((0.14, 0.29, 0.62, 0.6))
    cax = fig.add_axes((0.8, 0.29 + 0.03, 0.03, 0.54))
    # A square-root colour scale, so that narrow spikes and the wide parts of a mixture both show.
    image = ax.imshow(
        density,
        origin="lower",
        extent=(xs[0], xs[-1], ys[0], ys[-1]),
        cmap="Greys",
        aspect="equal",
        norm=PowerNorm(0.5, vmin=0.0),
    )
    bar = fig.colorbar(image, cax=cax)
    bar.set_label("exact density (grey; √ scale)", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    if density.max() > 0:
        ax.contour(xs, ys, density, levels=density.max() * np.array([0.05, 0.3, 0.7]), colors="0.25", linewidths=0.6)
    eye = np.eye(2)
    for name, style in VARIANCE_STYLES.items():
        scales = (1, 2) if name == SAMPLER_VARIANCE else (1,)
        _ellipse(ax, step.model_mean.numpy(), step.variances[name] * eye, MODEL_COLOR, style, None, scales=scales)
    _ellipse(ax, step.exact_mean.numpy(), step.exact_cov.numpy(), EXACT_COLOR, "--", None)
    _ellipse(ax, view.tractable_mean.numpy(), step.component_variance * eye, TRACTABLE_COLOR, ":", None)
    x_t = view.x_t.numpy()
    ax.scatter(*step.exact_mean.numpy(), marker="D", s=52, color=EXACT_COLOR, edgecolors="black", linewidths=0.8,
               zorder=4)  # fmt: skip
    ax.scatter(
        *step.model_mean.numpy(), marker="s", s=28, facecolors="none", edgecolors=MODEL_COLOR, linewidths=1.4, zorder=5
    )
    if xs[0] <= x_t[0] <= xs[-1] and ys[0] <= x_t[1] <= ys[-1]:  # x_t in the window: a large thin × under the
        # means, its arms reaching past them, so the ◆ and □ on it stay visible and so does the ×
        ax.scatter(*x_t, marker="x", s=300, color=XT_COLOR, linewidths=1.1, zorder=3)
    ax.set_xlim(xs[0], xs[-1])
    ax.set_ylim(ys[0], ys[-1])
    ax.locator_params(nbins=5)
    ax.tick_params(labelsize=8)
    ax.ticklabel_format(useOffset=False)
    ax.set_xlabel(r"first coordinate of $x_{t-\Delta}$")
    ax.set_ylabel("second coordinate")
    ax.set_title(f"Step t = {view.t} → {view.prev_t} (Δ = {view.stride}), zoomed", fontsize=9, y=1.0)
    return [ax, cax]


def plot_toy_step(view):
    """The zoomed reverse step: the exact density q(x_{t-Δ} | x_t) as a heat map with contours, p_θ's Gaussian
    with each of its three variances (β̃ as the sampler uses it, β, σ*²; 1σ and 2σ for β̃, 1σ for the others),
    the best Gaussian (the mixture's own moments) and the tractable q(x_{t-Δ} | x_t, x_0) of the heaviest x_0;
    the legend below (its labels fixed; the KLs are in the page's table). `view`: a `pipelines.toy2d.ToyStepView`
    (its density grid). (`plot_cache.draw_toy_step`: the same picture, faster, as an image.)"""
    from matplotlib.figure import Figure

    fig = Figure(figsize=STEP_SIZE, dpi=100)
    _step_axes(fig, view)
    _step_legend(fig)
    return fig


def plan_title(timesteps) -> str:
    """A sampler's steps as its picture names them: "100 steps of Δ = 10" (strides that differ: "Δ = 9 to 10")."""
    plan = [int(t) for t in timesteps or ()]
    strides = sorted({a - b for a, b in zip(plan, plan[1:])})
    if not strides:
        return f"{len(plan)} step" + ("s" if len(plan) != 1 else "")
    stride = f"{strides[0]}" if len(strides) == 1 else f"{strides[0]} to {strides[-1]}"
    return f"{len(plan)} steps of Δ = {stride}"


def _trajectories(ax, paths, first) -> None:
    """`plot_toy_samplers`' few trajectories (K + 1, n, ...) of one sampler, each from its start (pure noise at the
    plan's first t, `first`; a start may lie beyond the frame, and the legend counts those inside) to x_0."""
    starts = paths[0].reshape(-1, 2).abs().amax(dim=1)
    inside = int((starts <= PLANE_LIMIT).sum())
    seen = "" if inside == paths.shape[1] else f", {inside} of {paths.shape[1]} inside the frame"
    for k in range(paths.shape[1]):
        path = paths[:, k].reshape(-1, 2).numpy()
        label = f"{paths.shape[1]} trajectories, pure noise at t = {first} → $x_0$" if k == 0 else None
        ax.plot(path[:, 0], path[:, 1], color="0.25", linewidth=0.5, alpha=0.5, zorder=1, label=label)
        start = f"start of each (pure noise at t = {first}){seen}" if k == 0 else None
        ax.scatter(*path[0], marker=".", s=20, color="0.2", label=start)


def plot_toy_samplers(points, comparison):
    """Exact and p_θ samples from the same noise over the training points, a few trajectories of each (from pure noise
    at the plan's first t to x_0), and each sample's ratio d₁/d₂ of its nearest to its second-nearest training point
    — the project's copy rule (Gu et al.; `pipelines.exact.neighbours`): a copy when below COPY_RATIO. `comparison`:
    a `SamplerComparison` of 2-D points."""
    from matplotlib.figure import Figure

    pts = np.asarray(points, dtype=float)
    fig = Figure(figsize=(12.6, 5.6), dpi=100)
    # fixed margins (no tight_layout: costs more than the points); the legends below, covering no sample
    fig.subplots_adjust(left=0.045, right=0.99, bottom=0.25, top=0.9, wspace=0.22)
    axes = [fig.add_subplot(1, 3, k + 1) for k in range(3)]
    counts = comparison.as_dict()  # the copy rule's counts, as the API reports them
    ratio_shown = COPY_RATIO_TEXT
    runs = (
        (
            "exact",
            r"exact $q(x_{t-\Delta} \mid x_t)$",
            comparison.exact_samples,
            comparison.exact_trajectories,
            comparison.exact_nearest_distances,
            EXACT_COLOR,
        ),
        (
            "model",
            r"learned $p_\theta$",
            comparison.model_samples,
            comparison.model_trajectories,
            comparison.model_nearest_distances,
            MODEL_COLOR,
        ),
    )
    for ax, (key, name, samples, paths, distances, color) in zip(axes, runs):
        s = samples.reshape(-1, 2).numpy()
        copies = counts[key]["copy_fraction"]
        # open rings: a sample that copies a training point sits inside its ring, and both stay visible
        ax.scatter(pts[:, 0], pts[:, 1], s=26, facecolors="none", edgecolors=DATA_COLOR, linewidths=0.7, zorder=2,
                   label=f"training points (N = {len(pts):,})")  # fmt: skip
        label = f"{len(s):,} samples: {copies:.0%} copies (d₁/d₂ < {ratio_shown})"  # plain text: laid out fast
        ax.scatter(s[:, 0], s[:, 1], s=4, color=color, zorder=3, label=label)
        if paths is not None:
            _trajectories(ax, paths, int(comparison.timesteps[0]) if comparison.timesteps else "T − 1")
        ax.set_xlim(-PLANE_LIMIT, PLANE_LIMIT)
        ax.set_ylim(-PLANE_LIMIT, PLANE_LIMIT)
        ax.set_aspect("equal")
        ax.set_title(f"{name}: {plan_title(comparison.timesteps)}", fontsize=10, y=1.0)
        ax.set_xlabel("first coordinate", fontsize=8, labelpad=1)
        ax.set_ylabel("second coordinate", fontsize=8, labelpad=1)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), frameon=False)
        ax.grid(True, alpha=0.25)
    ax = axes[2]
    bins = np.linspace(0, 1, 41)
    for name, d1, d2, color in (
        ("exact", comparison.exact_nearest_distances, comparison.exact_second_distances, EXACT_COLOR),
        ("learned", comparison.model_nearest_distances, comparison.model_second_distances, MODEL_COLOR),
    ):
        d1 = d1.numpy()
        ratio = d1 / np.maximum(d2.numpy(), 1e-12)
        label = f"{name}: median d₁/d₂ {np.median(ratio):.2f}"
        ax.hist(np.clip(ratio, 0, 1), bins=bins, color=color, alpha=0.55, label=label)
    ax.axvline(COPY_RATIO, color="black", linestyle="--", linewidth=1, label=f"copy below $d_1/d_2 = {ratio_shown}$")
    ax.set_xlabel(r"$d_1/d_2$: nearest / second-nearest training distance")
    ax.set_ylabel("samples (count)")
    ax.set_title("New points or copies? (the copy rule)", fontsize=10, y=1.0)
    ax.legend(fontsize=7.5)
    ax.grid(True, alpha=0.25)
    return fig


def plot_toy_training(losses, points, samples, update: int, num_updates: int, batch_size: int):
    """Live training: the ε-MSE loss of each batch (raw and a running mean over 100 updates) and p_θ's current
    samples over the training points, with the square [-1, 1]² the sampler clips x̂_0 to."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    fig = Figure(figsize=(10.4, 4.2), dpi=100)
    # fixed layout (drawn every ~0.5 s); room on the right for the samples' legend
    grid = fig.add_gridspec(1, 2, width_ratios=(1.25, 1), left=0.07, right=0.85, bottom=0.12, top=0.88, wspace=0.2)
    ax = fig.add_subplot(grid[0])
    losses = np.asarray(losses, dtype=float)
    if len(losses):
        steps = np.arange(1, len(losses) + 1)
        label = f"loss of each batch ({batch_size} points)"
        ax.plot(steps, losses, color=MODEL_COLOR, alpha=0.25, linewidth=0.6, label=label)
        window = min(100, len(losses))
        running = np.convolve(losses, np.ones(window) / window, mode="valid")
        ax.plot(steps[window - 1 :], running, color=MODEL_COLOR, linewidth=1.6, label=f"running mean ({window})")
        ax.set_ylim(0, max(1.05, float(np.percentile(losses, 99))))
        ax.legend(fontsize=7.5, loc="upper right")
    else:  # before the first update: say why there is no curve yet
        ax.text(0.5, 0.5, "no update yet: the loss of each batch\nis drawn here as training runs",
                transform=ax.transAxes, ha="center", va="center", fontsize=10, color="0.4")  # fmt: skip
    ax.set_xlim(0, num_updates)
    ax.set_xlabel("optimizer update")
    ax.set_ylabel(r"mean of $(\epsilon - \epsilon_\theta(x_t, t))^2$ per coordinate")
    ax.set_title(rf"Training $p_\theta$: update {update:,} of {num_updates:,}", fontsize=10, y=1.0)
    ax.grid(True, alpha=0.3)
    if not len(losses):  # no frame, ticks or labels around nothing: only the message until the first update
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.axis("off")
    ax = fig.add_subplot(grid[1])
    pts = np.asarray(points, dtype=float)
    ax.scatter(pts[:, 0], pts[:, 1], s=10, color=DATA_COLOR, label=f"training points\n(N = {len(pts):,})")
    if samples is not None:
        s = np.asarray(samples, dtype=float)
        ax.scatter(s[:, 0], s[:, 1], s=4, color=MODEL_COLOR, label=rf"{len(s)} samples" + "\n" + r"of $p_\theta$ now")
    # the sampler clips its guess x̂_0 to this square: an untrained network's samples pile up on its edges
    ax.add_patch(Rectangle((-1, -1), 2, 2, fill=False, color="0.35", linestyle="--", linewidth=0.8,
                           label="the square $[-1, 1]^2$\nthat $\\hat x_0$ is clipped to"))  # fmt: skip
    ax.set_xlabel("first coordinate", fontsize=8, labelpad=1)
    ax.set_ylabel("second coordinate", fontsize=8, labelpad=1)
    ax.set_xlim(-1.5, 1.5)
    ax.set_ylim(-1.5, 1.5)
    ax.set_aspect("equal")
    ax.grid(True, alpha=0.25)
    ax.set_anchor("W")  # the legend beside the square panel, so it covers none of the samples
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False)
    ax.set_title("Samples of the model being trained", fontsize=10, y=1.0)
    return fig


FIELD_ARROWS = 21  # arrows per side at most: a denser grid is thinned to about this


def plot_denoiser_fields(fields, points, data=None):
    """Two panels side by side, the exact E[x_0 | x_t] (left) and the network's x̂_0 (right) at one t: an arrow from
    each grid point x_t to its estimate, coloured by the estimate's distance to the nearest training point (one
    colour scale for both, one labelled colour bar; one legend below both panels), over the training points.
    Each title says t, ᾱ_t, N and the median of that distance. fields: a `pipelines.toy2d.DenoiserFields` (a
    denser grid than FIELD_ARROWS per side is thinned); points: its N training points (N, 2); data: optional (M,
    2) points of the whole distribution (the pool), drawn faintly so the eye sees where the data lie between the
    training points."""
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    from pipelines.toy2d.fields import DenoiserFields

    if not isinstance(fields, DenoiserFields):
        raise ValueError(f"fields must be a DenoiserFields (toy2d.denoiser_fields), got {type(fields).__name__}")
    pts = np.asarray(points, dtype=float)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) != fields.num_points:
        raise ValueError(f"points must have shape ({fields.num_points}, 2) (the fields' N), got {pts.shape}")
    if data is not None:
        data = np.asarray(data, dtype=float)
        if data.ndim != 2 or data.shape[1] != 2:
            raise ValueError(f"data must have shape (M, 2), got {data.shape}")
    stride = max(1, math.ceil((len(fields.axis) - 1) / (FIELD_ARROWS - 1)))
    x_t = fields.x_t.numpy()[::stride, ::stride].reshape(-1, 2)
    panels = (
        (r"exact $E[x_0 \mid x_t]$", fields.exact, fields.exact_distance),
        (r"network $\hat x_0(x_t)$", fields.network, fields.network_distance),
    )
    distances = [d.numpy()[::stride, ::stride].reshape(-1) for _, _, d in panels]
    norm = Normalize(0.0, max(float(np.percentile(np.concatenate(distances), 98)), 1e-3))
    fig = Figure(figsize=(10.0, 5.4), dpi=100)
    fig.subplots_adjust(left=0.06, right=0.9, bottom=0.17, top=0.87, wspace=0.18)
    extent = float(fields.axis.abs().max()) + 0.15
    for k, ((name, estimate, _), distance) in enumerate(zip(panels, distances)):
        ax = fig.add_subplot(1, 2, k + 1)
        ends = estimate.numpy()[::stride, ::stride].reshape(-1, 2)
        if data is not None:
            ax.scatter(data[:, 0], data[:, 1], s=2, color=DATA_COLOR, alpha=0.5, zorder=0, label="the data (pool)")
        ax.scatter(pts[:, 0], pts[:, 1], s=14, color="black", zorder=3, label=f"training points (N = {len(pts):,})")
        arrows = ax.quiver(
            x_t[:, 0], x_t[:, 1], ends[:, 0] - x_t[:, 0], ends[:, 1] - x_t[:, 1], distance, cmap="viridis",
            norm=norm, angles="xy", scale_units="xy", scale=1.0, width=0.004, headwidth=3.5, headlength=4,
        )  # fmt: skip
        ax.set_xlim(-extent, extent)
        ax.set_ylim(-extent, extent)
        ax.set_aspect("equal")
        ax.grid(True, alpha=0.2)
        ax.set_xlabel("first coordinate")
        ax.set_ylabel("second coordinate")
        ax.set_title(
            rf"{name}, $t$ = {fields.t}, $\bar\alpha_t$ = {fields.alpha_bar:.4f}, $N$ = {fields.num_points:,}"
            + f"\nmedian distance to the nearest training point: {float(np.median(distance)):.3f}",
            fontsize=9.5, y=1.0,
        )  # fmt: skip
    # one legend for both panels, below them, so it covers no arrow
    fig.legend(*ax.get_legend_handles_labels(), loc="lower center", ncol=2, fontsize=8.5, frameon=False)
    bar = fig.colorbar(arrows, cax=fig.add_axes((0.915, 0.17, 0.015, 0.7)), extend="max")
    bar.set_label("arrow colour, both panels: distance of the estimate\nto the nearest training point", fontsize=9)
    bar.ax.tick_params(labelsize=8)
    return fig
