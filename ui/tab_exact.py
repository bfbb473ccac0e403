"""Tab "Exact posterior sampler": the exact reverse process over the training digits and p_θ from the same
noise — the exact one can only copy; when each exact trajectory commits to one digit; how far real unseen digits
are from the training set (the yardstick for "new"); and what one exact step costs against the data set's size N.

Also the app's one cost protocol (`step_costs`): both posterior tabs and their API summaries quote the same
measurement (`pipelines.exact_posterior.measure_step_costs`), taken once per process at first use."""

from __future__ import annotations

import math
import statistics
import threading
import weakref
from pathlib import Path

import gradio as gr
import numpy as np

from pipelines.exact_posterior import (
    COMMIT_WEIGHT,
    COPY_DISTANCE,
    StepCosts,
    compare_samplers,
    heldout_nearest_distances,
    measure_step_costs,
)
from pipelines.visualize import labelled_row, to_uint8

from . import text
from .context import DEFAULT_NUM_INFERENCE_STEPS, UI_CONCURRENCY, AppContext
from .inputs import MAX_NUM_IMAGES, MAX_SEED, check_int, check_seed, unchecked, user_errors

DEFAULT_EXACT_NUM_IMAGES = 8
# The benchmark's JSON is another protocol (other machine, other repeats): the page quotes only this process's
# measurement, so that every "ms" on it is comparable. Kept as a name for callers that point it elsewhere.
COST_BENCH_JSON = Path(__file__).resolve().parent.parent / "bench" / "results" / "exact_posterior.json"
# The one cost protocol: exact steps over the first N train digits for each N, and the model's step, batch 1;
# at least QUICK_COST_REPEATS timed steps and QUICK_COST_MIN_SECONDS per point (about a second in all on 2 cores).
QUICK_COST_SIZES = (250, 500, 1000, 2000, 4500)
QUICK_COST_REPEATS = 3
QUICK_COST_MIN_SECONDS = 0.05
PAIR_SCALE = 3  # each digit of a "sample | nearest" pair shown 3×

_costs: dict[tuple, StepCosts] = {}
_costs_lock = threading.Lock()


def step_costs(ctx: AppContext) -> StepCosts:
    """The app's cost measurement for this context: one exact step over the first N mnist train digits (each N in
    QUICK_COST_SIZES, at most all of them) and one model step, under one protocol
    (`measure_step_costs`). Measured once per context and settings, at first use, by one thread; later calls
    (from either tab) get the same numbers."""
    data = ctx.mnist_train()[0]
    sizes = tuple(sorted({min(int(n), len(data)) for n in QUICK_COST_SIZES}))
    key = (id(ctx), sizes, QUICK_COST_REPEATS, QUICK_COST_MIN_SECONDS)
    with _costs_lock:
        if key not in _costs:
            _costs[key] = measure_step_costs(
                ctx.pipe, data, sizes=sizes, repeats=QUICK_COST_REPEATS, min_seconds=QUICK_COST_MIN_SECONDS
            )
            weakref.finalize(ctx, _costs.pop, key, None)
        return _costs[key]


def exact_step_ms(costs: StepCosts, n: int) -> float:
    """Milliseconds of one exact step over n images: the measured point when there is one, else the c·N·D fit."""
    for row in costs.rows:
        if row["N"] == n:
            return float(row["ms"])
    return costs.ms_per_element * n * costs.rows[0]["D"]


def cost_summary(costs: StepCosts) -> dict:
    """summary["cost"] of /exact_sample: the measured points, the fit c, the model's step, the extrapolation."""
    return {
        "measured": [{"N": r["N"], "ms": r["ms"]} for r in costs.rows],
        "D": costs.rows[0]["D"],
        "ms_per_element": costs.ms_per_element,
        "model_ms": costs.model_ms,
        "extrapolated": [{k: e[k] for k in ("name", "N", "D", "ms", "bytes")} for e in costs.extrapolated],
        "batch_size": costs.batch_size,
        "torch_threads": costs.torch_threads,
        "dtype": costs.dtype,
    }


# ---------------------------------------------------------------------------------------------- plots
# Figure API only (no pyplot): a new Figure per call, so concurrent requests never share one.
def plot_step_costs(costs: StepCosts, title: str | None = None):
    """Log–log: measured exact-step ms against N (●), the fitted c·N·D line for each image size, the
    extrapolated data sets (★, labelled with time per step and memory), and the model's constant line."""
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
        label=f"exact q(x_{{t-1}}|x_t), measured (D = {D0:,})",
    )
    ax.plot(grid, c * grid * D0, color="C0", linewidth=1, label=f"fit c·N·D, c = {c:.2g} ms per number")
    for D in sorted({e["D"] for e in targets} - {D0}):
        ax.plot(grid, c * grid * D, color="C0", linewidth=0.8, linestyle="--", alpha=0.6, label=f"c·N·D for D = {D:,}")
    for e in targets:
        ax.plot([e["N"]], [e["ms"]], marker="*", markersize=12, linestyle="none", color="C3", zorder=3)
        name = e["name"] + (" (web-scale)" if "LAION" in e["name"] else "")
        ax.annotate(
            f"{name}\n{text.duration(e['ms'])} / step, {text.size_bytes(e['bytes'])}",
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
        label=f"model p_θ: one UNet call ({text.duration(costs.model_ms)}), any N",
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    low = min([costs.model_ms, *(r["ms"] for r in costs.rows)])
    ax.set_ylim(low / 3, max(e["ms"] for e in targets) * 50 if targets else None)
    ax.set_xlabel("N, training images the exact step must read (log scale)")
    ax.set_ylabel("milliseconds per reverse step (median, log scale)")
    ax.set_title(title or text.COST_PLOT_TITLE, fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7.5, loc="upper left")
    fig.tight_layout()
    return fig


def plot_commit(timesteps, effective_n, max_weight, commit_step, num_data: int):
    """Two panels against t (T on the left, 0 on the right): each exact trajectory's effective number of
    candidates 1/Σw² (log scale) and its largest weight, with a ● where it first reaches COMMIT_WEIGHT."""
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
    top.set_ylabel("effective candidates\n1 / Σ wᵢ² (log)")
    top.set_title(f"Exact sampler: how many of the N = {num_data:,} training digits are still in play", fontsize=10)
    bottom.axhline(COMMIT_WEIGHT, color="gray", linestyle="--", linewidth=0.8, label=f"{COMMIT_WEIGHT:.0%}")
    bottom.set_ylim(0, 1.05)
    bottom.set_ylabel("largest weight\nmax wᵢ")
    bottom.set_xlabel("t of the step's input x_t (sampling runs left → right, noise → image)")
    top.set_xlim(max(timesteps) + 0.5 if timesteps else 1, min(timesteps) - 0.5 if timesteps else 0)
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
    if len(effective_n) <= 8:
        top.legend(fontsize=7, loc="lower left", ncol=2)
    bottom.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def plot_nearest_distances(heldout, exact, model):
    """A histogram of the held-out real digits' distances to their nearest training digit, with this run's exact
    and model samples as strips of ticks above it, and a line at each median."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.6, 3.4), dpi=110)
    ax = fig.add_subplot(1, 1, 1)
    heldout = np.asarray(heldout, dtype=float)
    top_value = max([float(heldout.max()), *exact, *model, 1.0])
    bins = np.linspace(0, top_value * 1.05, 40)
    counts, _, _ = ax.hist(
        heldout,
        bins=bins,
        color="C2",
        alpha=0.6,
        label=f"held-out real digits (500 never trained on), median {np.median(heldout):.2f}",
    )
    height = max(float(counts.max()), 1.0)
    for values, y, color, name in ((exact, 1.4, "C0", "exact samples"), (model, 1.2, "C1", "model samples")):
        if len(values):
            ax.plot(
                values,
                [height * y] * len(values),
                marker="|",
                markersize=14,
                linestyle="none",
                color=color,
                label=f"{name}, median {statistics.median(values):.2f}",
            )
            ax.axvline(statistics.median(values), color=color, linestyle="--", linewidth=0.8)
    ax.axvline(float(np.median(heldout)), color="C2", linestyle="--", linewidth=0.8)
    ax.set_ylim(0, height * 2.1)
    ax.set_xlim(left=-0.02 * top_value)
    ax.set_xlabel("L2 distance to the nearest training digit (32×32 pixels, [-1, 1] units)")
    ax.set_ylabel("held-out digits (count)")
    ax.legend(fontsize=7.5, loc="upper right")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def _numbers(values, limit: int) -> list[float]:
    """A list of at most `limit` finite floats from a client-sent JSON value, or ValueError."""
    if not isinstance(values, list) or len(values) > limit:
        raise ValueError("not a list")
    out = [float(v) for v in values]
    if not all(math.isfinite(v) for v in out):
        raise ValueError("not finite")
    return out


class ExactSamplerTab:
    """The exact reverse process over the training digits vs p_θ from the same seed; when it commits; the
    held-out yardstick; and its cost against N."""

    title = "Exact posterior sampler"

    def __init__(self, ctx: AppContext):
        self.ctx = ctx
        self.block = None  # the gr.Tab, set by build_demo
        self._heldout: np.ndarray | None = None
        self._heldout_lock = threading.Lock()

    def layout(self) -> None:
        ctx = self.ctx
        T = ctx.num_train_timesteps
        if not ctx.has_mnist_model:
            gr.Markdown(f"⚠️ **{ctx.mnist_notice()}**", elem_id="exact-notice")
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                gr.Markdown(text.EXACT_INTRO, latex_delimiters=text.LATEX, elem_id="exact-intro")
                seed = gr.Number(
                    0,
                    label="seed",
                    info=f"integer in [0, {MAX_SEED}]; both samplers start from the same noise",
                    precision=None,
                    elem_id="exact-seed",
                )
                num_images = unchecked(
                    gr.Slider(
                        1,
                        MAX_NUM_IMAGES,
                        value=DEFAULT_EXACT_NUM_IMAGES,
                        step=1,
                        label="num_images",
                        elem_id="exact-num-images",
                    )
                )
                steps = unchecked(
                    gr.Slider(
                        1,
                        T,
                        value=min(DEFAULT_NUM_INFERENCE_STEPS, T),
                        step=1,
                        label="num_inference_steps (K), the same for both",
                        elem_id="exact-num-steps",
                    )
                )
                button = gr.Button(
                    "Sample with both", variant="primary", elem_id="exact-button", interactive=ctx.has_mnist_model
                )
            with gr.Column(scale=3):
                caption = gr.Markdown(elem_id="exact-caption", latex_delimiters=text.LATEX)
                with gr.Row():
                    # height=None: the gallery grows with its rows (a fixed or "auto" height cut the third off).
                    exact_gallery = gr.Gallery(
                        label="exact q(x_{t−1} | x_t): sample | nearest training digit",
                        columns=2,
                        height=None,
                        format="png",
                        interactive=False,
                        object_fit="contain",
                        allow_preview=False,
                        elem_id="exact-gallery",
                        elem_classes="pixelated",
                    )
                    model_gallery = gr.Gallery(
                        label="model p_θ(x_{t−1} | x_t): sample | nearest training digit",
                        columns=2,
                        height=None,
                        format="png",
                        interactive=False,
                        object_fit="contain",
                        allow_preview=False,
                        elem_id="model-gallery",
                        elem_classes="pixelated",
                    )
                gr.Markdown(text.COMMIT_INTRO, latex_delimiters=text.LATEX, elem_id="commit-intro")
                commit_plot = gr.Plot(
                    label="effective number of candidates and largest weight against t",
                    format="png",
                    show_label=False,
                    elem_id="commit-plot",
                )
                commit_note = gr.Markdown(elem_id="commit-note", latex_delimiters=text.LATEX)
                gr.Markdown(text.DISTANCES_INTRO, latex_delimiters=text.LATEX, elem_id="distances-intro")
                distance_plot = gr.Plot(
                    label="L2 distance to the nearest training digit",
                    format="png",
                    show_label=False,
                    elem_id="distance-plot",
                )
                distance_note = gr.Markdown(elem_id="distance-note", latex_delimiters=text.LATEX)
                cost_intro = gr.Markdown(elem_id="cost-text", latex_delimiters=text.LATEX)
                cost = gr.Plot(
                    label="cost of one reverse step against the data set's size N (log–log)",
                    format="png",
                    show_label=False,
                    elem_id="cost-plot",
                )
                cost_note = gr.Markdown(elem_id="cost-note")
                with gr.Accordion(
                    "JSON summary (every number on this tab; the API's last output)",
                    open=False,
                    elem_id="exact-summary-accordion",
                ):
                    summary = gr.JSON(label="summary", elem_id="exact-summary")

        button.click(
            self.exact_sample,
            inputs=[seed, num_images, steps],
            outputs=[exact_gallery, model_gallery, caption, summary],
            api_name="exact_sample",
            concurrency_limit=ctx.sample_concurrency,
            concurrency_id="sample",
            show_progress="full",
        ).success(
            self.run_plots,
            inputs=[summary],
            outputs=[commit_plot, commit_note, distance_plot, distance_note],
            api_visibility="private",
            concurrency_limit=UI_CONCURRENCY,
            concurrency_id="ui",
        )
        # The cost plot is drawn when the tab is opened (UI only), from the app's one measurement.
        if self.block is not None and ctx.has_mnist_model:
            self.block.select(
                self.cost_view,
                outputs=[cost, cost_note, cost_intro],
                api_visibility="private",
                show_progress="minimal",
                concurrency_limit=UI_CONCURRENCY,
                concurrency_id="ui",
            )

    # -- shared numbers -------------------------------------------------------------------------------------
    def heldout_distances(self) -> np.ndarray:
        """(500,) each held-out real digit's L2 distance to its nearest train digit; computed once."""
        with self._heldout_lock:
            if self._heldout is None:
                from pipelines.data import load_mnist

                heldout = load_mnist("heldout")[0]
                self._heldout = heldout_nearest_distances(heldout, self.ctx.dataset_posterior().data).numpy()
            return self._heldout

    # -- handlers -------------------------------------------------------------------------------------------
    @user_errors
    def exact_sample(self, seed, num_images, num_inference_steps):
        """Sample with the exact q(x_{t-1} | x_t) over the training digits and with the model, same seed and steps.

        Parameters:
            seed: integer in [0, 4294967295]; both samplers start from the same x_T
            num_images: how many images from each sampler, 1 to 16
            num_inference_steps: K, the reverse steps of both samplers, 1 to T
        Returns:
            two galleries (exact, model) of "sample | nearest training digit" pictures captioned with the
            distance, a caption with the numbers, and a JSON summary: nearest indices and distances, copies,
            seconds; per exact trajectory the effective number of candidates and the largest weight at each step
            (exact.effective_n, exact.max_weight, exact.timesteps) and where it committed (exact.commit_step);
            the held-out yardstick (heldout_nearest_distance_median); and the cost of one step (cost).
        """
        ctx = self.ctx
        ctx.require_mnist_model()
        T = ctx.num_train_timesteps
        seed = check_seed(seed)
        num_images = check_int("num_images", num_images, 1, MAX_NUM_IMAGES)
        num_steps = check_int("num_inference_steps", num_inference_steps, 1, T)
        dataset_posterior = ctx.dataset_posterior()
        result = compare_samplers(
            ctx.pipe, dataset_posterior, seed=seed, num_images=num_images, num_inference_steps=num_steps
        )
        data = dataset_posterior.data
        heldout = self.heldout_distances()

        def pairs(samples, indices, distances, kind):
            items = []
            for k, (i, d) in enumerate(zip(indices.tolist(), distances.tolist())):
                picture = labelled_row(
                    [
                        to_uint8(samples[k : k + 1], model_space=True)[0],
                        to_uint8(data[i : i + 1].float(), model_space=True)[0],
                    ],
                    [f"{kind}", f"#{i}"],
                    scale=PAIR_SCALE,
                )
                items.append((picture, text.pair_caption(i, d, COPY_DISTANCE)))
            return items

        summary = {
            **result.as_dict(),
            "num_images": num_images,
            "model_id": ctx.model_id,
            "num_data": len(dataset_posterior),
            "heldout_nearest_distance_median": float(np.median(heldout)),
            "num_heldout": int(len(heldout)),
            "cost": cost_summary(step_costs(ctx)),
        }
        return (
            pairs(result.exact_samples, result.exact_nearest_indices, result.exact_nearest_distances, "exact"),
            pairs(result.model_samples, result.model_nearest_indices, result.model_nearest_distances, "model"),
            text.exact_caption(summary, num_images),
            summary,
        )

    def run_plots(self, summary):
        """UI only: the commit plot and the distance strip of the run whose summary the page shows. The summary
        comes back from the browser, so it is read defensively: anything malformed draws nothing."""
        empty = (None, "", None, "")
        try:
            exact, model = summary["exact"], summary["model"]
            T = self.ctx.num_train_timesteps
            timesteps = [int(t) for t in _numbers(exact["timesteps"], T)]
            effective_n = [_numbers(row, T) for row in exact["effective_n"][:MAX_NUM_IMAGES]]
            max_weight = [_numbers(row, T) for row in exact["max_weight"][:MAX_NUM_IMAGES]]
            commit = [None if k is None else int(k) for k in exact["commit_step"][:MAX_NUM_IMAGES]]
            exact_d = _numbers(exact["nearest_distances"], MAX_NUM_IMAGES)
            model_d = _numbers(model["nearest_distances"], MAX_NUM_IMAGES)
            if not all(len(row) == len(timesteps) for row in (*effective_n, *max_weight)):
                return empty
        except (KeyError, TypeError, ValueError, IndexError):
            return empty
        num_data = len(self.ctx.mnist_train()[0])
        clean = {
            "exact": {"commit_step": commit, "timesteps": timesteps, "nearest_distances": exact_d},
            "model": {"nearest_distances": model_d},
            "heldout_nearest_distance_median": float(np.median(self.heldout_distances())),
        }
        return (
            plot_commit(timesteps, effective_n, max_weight, commit, num_data),
            text.commit_caption(clean),
            plot_nearest_distances(self.heldout_distances(), exact_d, model_d),
            text.distances_caption(clean),
        )

    def cost_plot(self):
        """The per-step cost plot and its source note (a new Figure per call)."""
        costs = step_costs(self.ctx)
        return (
            plot_step_costs(costs),
            text.cost_note(text.cost_source_measured(QUICK_COST_REPEATS), self.ctx.model_id, costs.model_ms),
        )

    def cost_view(self):
        """UI only: the cost plot, its note and the cost text, drawn when the tab is opened."""
        figure, note = self.cost_plot()
        return (
            figure,
            note,
            text.cost_text(
                cost_summary(step_costs(self.ctx)), len(self.ctx.mnist_train()[0]), DEFAULT_NUM_INFERENCE_STEPS
            ),
        )
