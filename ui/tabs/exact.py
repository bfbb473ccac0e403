"""Tab "Exact posterior sampler": the exact reverse process over the model's training images (MNIST digits by
default) and p_θ from the same noise — the exact one can only copy; when each exact trajectory commits to one image;
how far real unseen images are from the training set (the yardstick for "new"); and what one exact step costs
against the data set's size N.

Also the app's one cost protocol (`step_costs`): both posterior tabs and their API summaries quote the same
measurement (`pipelines.exact.costs.measure_step_costs`), taken once per process at first use."""

from __future__ import annotations

import math
import threading
import weakref
from types import SimpleNamespace

import gradio as gr
import numpy as np

from pipelines.exact.comparisons import COMMIT_WEIGHT, compare_samplers, heldout_nearest_distances
from pipelines.exact.costs import StepCosts, measure_step_costs
from pipelines.exact.index import MEASURED_INDEX_BATCH, MEASURED_INDEX_COSTS
from pipelines.exact.plots import plot_commit, plot_nearest_distances, plot_step_costs
from pipelines.pictures.images import labelled_row, to_uint8
from ui.base import LATEX, UI_QUEUE, sample_queue
from ui.context import AppContext
from ui.figures import plot_output
from ui.inputs import MAX_NUM_IMAGES, MAX_SEED, api_outputs, check_int, check_seed, integer_input, user_errors
from ui.text import exact as text
from ui.text.page import model_name

DEFAULT_EXACT_NUM_IMAGES = 8
# 20 steps, not the page's 40: the model's half of a click is one UNet pass per step (1.0 of the 1.4 s of a 40-step,
# 8-image click on 2 cores), and the exact sampler copies at any K, so the default click stays under a second.
DEFAULT_EXACT_NUM_STEPS = 20
# At scale (data on disk beyond the memory bound) each exact step is one pass of the index over all N images, so
# the view drawn when the tab opens is smaller: 2 images, 10 steps (bench/results/app-200k.json: about 4 minutes at
# N = 200,000 on 2 busy cores).
SCALE_NUM_IMAGES = 2
SCALE_NUM_STEPS = 10
# The one cost protocol: exact steps over the first N train digits for each N, and the model's step, batch 1;
# at least QUICK_COST_REPEATS timed steps and QUICK_COST_MIN_SECONDS per point (about a second in all on 2 cores).
QUICK_COST_SIZES = (250, 500, 1000, 2000, 4500)
QUICK_COST_REPEATS = 3
QUICK_COST_MIN_SECONDS = 0.05
PAIR_SCALE = 3  # each digit of a "sample | nearest" pair shown 3×
MAX_KEPT_RUNS = 4  # answers of the view drawn when the tab opens, kept

_costs: dict[tuple, StepCosts] = {}
_costs_lock = threading.Lock()


def step_costs(ctx: AppContext) -> StepCosts:
    """The app's cost measurement for this context: one exact step over the first N training images (each N in
    QUICK_COST_SIZES, at most all of them) and one model step, under one protocol
    (`measure_step_costs`). Measured once per context and settings, at first use, by one thread; later calls
    (from either tab) get the same numbers."""
    data = ctx.train_images()
    if ctx.at_scale:  # the brute-force step is measured on the first images, in memory, and fitted (c·N·D)
        data = data[: max(QUICK_COST_SIZES)]
    n = len(data)
    sizes = {min(int(size), n) for size in QUICK_COST_SIZES} | {n}
    if len(sizes) < 3:  # a small data set: a quarter, half and all of it, so the fit has three points
        sizes |= {max(1, n // 4), max(1, n // 2)}
    sizes = tuple(sorted(sizes))
    key = (id(ctx), sizes, QUICK_COST_REPEATS, QUICK_COST_MIN_SECONDS)
    with _costs_lock:
        if key not in _costs:
            _costs[key] = measure_step_costs(
                ctx.pipe,
                data,
                sizes=sizes,
                t=min(500, ctx.num_train_timesteps // 2),  # mid-chain (500 of the usual 1,000 steps)
                repeats=QUICK_COST_REPEATS,
                min_seconds=QUICK_COST_MIN_SECONDS,
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


def scale_summary(bounds: dict, timesteps: list[int]) -> dict:
    """summary["at_scale"] of /exact_sample on data beyond the memory bound: k, N, the index, its recall@2 when
    measured, the rest bound ε of each step (per search, in the order of the chain: the sampler's steps, then the
    copy rule's two searches, which have none) and the largest."""
    per_step = bounds.pop("per_search")[: len(timesteps)]
    first_small = next((t for t, b in zip(timesteps, per_step) if b < SMALL_REST), None)
    return {**bounds, "rest_bound_per_step": per_step, "timesteps": timesteps, "rest_below_0.01_from_t": first_small}


SMALL_REST = 0.01  # the rest bound from which the restriction to the k nearest is said to be harmless


def data_line(ctx: AppContext) -> str:
    """Which images the tab compares the model with (one line above its controls)."""
    data = ctx.require_data()
    description = data.description.replace("from mnist", "from MNIST")  # the data set as the page names it
    shape = "×".join(map(str, ctx.image_shape))
    return f"**Data:** {description}; the model ({model_name(ctx.model_id)}) draws {shape} images."


def pair_gallery(label: str, elem_id: str, title: str | None = None) -> gr.Gallery:
    """A gallery of "sample | nearest training image" pictures, two a row, titled by a Markdown line above it (the
    label badge sat on the first pictures; `title`, Markdown + LaTeX, else the plain label in bold). height=None: it
    grows with its rows (a fixed or "auto" height cut the third row off)."""
    gr.Markdown(title or f"**{label}**", latex_delimiters=LATEX, elem_id=f"{elem_id}-title")
    return gr.Gallery(
        label=label,
        show_label=False,
        columns=2,
        height=None,
        format="png",
        interactive=False,
        object_fit="contain",
        allow_preview=False,
        elem_id=elem_id,
        elem_classes="pixelated",
    )


def _plot(label: str, elem_id: str) -> gr.Plot:
    """A PNG plot whose figure carries its own titles (no label badge over it)."""
    return gr.Plot(label=label, format="png", show_label=False, elem_id=elem_id)


def _numbers(values, limit: int) -> list[float]:
    """A list of at most `limit` finite floats from a client-sent JSON value, or ValueError."""
    if not isinstance(values, list) or len(values) > limit:
        raise ValueError("not a list")
    out = [float(v) for v in values]
    if not all(math.isfinite(v) for v in out):
        raise ValueError("not finite")
    return out


class ExactSamplerTab:
    """The exact reverse process over the training images vs p_θ from the same seed; when it commits; the
    held-out yardstick; and its cost against N."""

    title = "Exact posterior sampler"

    def __init__(self, ctx: AppContext):
        self.ctx = ctx
        self.block = None  # the gr.Tab, set by build_demo
        self._heldout: np.ndarray | None = None
        self._heldout_lock = threading.Lock()
        self._runs: dict[tuple, tuple] = {}  # (seed, num_images, K) → opening_sample's answer
        self._runs_lock = threading.Lock()

    # -- layout ---------------------------------------------------------------------------------------------
    def layout(self) -> None:
        ctx = self.ctx
        if not ctx.has_data:
            gr.Markdown(f"⚠️ **{ctx.data_notice()}**", elem_id="exact-notice")
        else:
            gr.Markdown(data_line(ctx), elem_id="exact-data")
            if ctx.at_scale:
                gr.Markdown(ctx.scale_notice(), latex_delimiters=LATEX, elem_id="exact-scale")
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                controls = self._controls()
            with gr.Column(scale=3):
                views = self._views()
        self._wire(controls, views)

    def _controls(self) -> SimpleNamespace:
        """The left column: what the tab shows, then seed, num_images, K and the button."""
        ctx, T = self.ctx, self.ctx.num_train_timesteps
        gr.Markdown(text.exact_intro(ctx.noun, ctx.image_shape), latex_delimiters=LATEX, elem_id="exact-intro")
        seed = integer_input(
            gr.Number(
                0,
                label="seed",
                info=f"integer in [0, {MAX_SEED}]; both samplers start from the same noise",
                precision=None,
                elem_id="exact-seed",
            ),
            0,
            MAX_SEED,
        )
        num_images = integer_input(
            gr.Slider(
                1,
                MAX_NUM_IMAGES,
                value=SCALE_NUM_IMAGES if ctx.at_scale else DEFAULT_EXACT_NUM_IMAGES,
                step=1,
                label="images per sampler",
                elem_id="exact-num-images",
            )
        )
        steps = integer_input(
            gr.Slider(
                1,
                T,
                value=min(SCALE_NUM_STEPS if ctx.at_scale else DEFAULT_EXACT_NUM_STEPS, T),
                step=1,
                label="K, steps of both samplers",
                info=self._spacing_info(),
                elem_id="exact-num-steps",
            )
        )
        button = gr.Button("Sample with both", variant="primary", elem_id="exact-button", interactive=ctx.has_data)
        return SimpleNamespace(seed=seed, num_images=num_images, steps=steps, button=button)

    def _spacing_info(self) -> str:
        """Which timesteps both samplers visit at the default K (the model's own spacing) against the Sample tab's."""
        ctx = self.ctx
        K = min(DEFAULT_EXACT_NUM_STEPS, ctx.num_train_timesteps)
        spacing = ctx.pipe.scheduler.config.timestep_spacing
        return text.spacing_info(ctx.timestep_plan(spacing, K), spacing, ctx.timestep_plan("trailing", K))

    def _views(self) -> SimpleNamespace:
        """The right column: the run's caption and galleries, the commit plot, the distance strip, the cost plot and
        the JSON summary; the Markdown intros between them."""
        noun = self.ctx.noun
        caption = gr.Markdown(elem_id="exact-caption", latex_delimiters=LATEX)
        with gr.Row():
            # Plain-text labels (a gallery's label is not Markdown): Unicode, not TeX; the titles shown: LaTeX.
            with gr.Column():
                exact_gallery = pair_gallery(
                    text.gallery_label("exact", noun), "exact-gallery", text.gallery_title("exact", noun)
                )
            with gr.Column():
                model_gallery = pair_gallery(
                    text.gallery_label("model", noun), "model-gallery", text.gallery_title("model", noun)
                )
        gr.Markdown(text.commit_intro(noun), latex_delimiters=LATEX, elem_id="commit-intro")
        commit_plot = _plot("effective number of candidates and largest weight against t", "commit-plot")
        commit_note = gr.Markdown(elem_id="commit-note", latex_delimiters=LATEX)
        gr.Markdown(text.distances_intro(noun), latex_delimiters=LATEX, elem_id="distances-intro")
        distance_plot = _plot(text.distance_plot_label(noun), "distance-plot")
        distance_note = gr.Markdown(elem_id="distance-note", latex_delimiters=LATEX)
        cost_intro = gr.Markdown(elem_id="cost-text", latex_delimiters=LATEX)
        cost = _plot("cost of one reverse step against the data set's size N (log–log)", "cost-plot")
        cost_note = gr.Markdown(elem_id="cost-note", latex_delimiters=LATEX)
        with gr.Accordion(
            "JSON summary (every number on this tab; as a program calling the demo gets it)",
            open=False,
            elem_id="exact-summary-accordion",
        ):
            summary = gr.JSON(label="summary", elem_id="exact-summary")
        return SimpleNamespace(
            caption=caption, exact_gallery=exact_gallery, model_gallery=model_gallery, commit_plot=commit_plot,
            commit_note=commit_note, distance_plot=distance_plot, distance_note=distance_note, cost_intro=cost_intro,
            cost=cost, cost_note=cost_note, summary=summary,
        )  # fmt: skip

    def _wire(self, c: SimpleNamespace, v: SimpleNamespace) -> None:
        """/exact_sample (in the sampling queue), then its plots; when the tab is opened (UI only) the cost view and
        the default run (kept once made: a seed fixes every image)."""
        run = dict(
            inputs=[c.seed, c.num_images, c.steps],
            outputs=api_outputs(exact=v.exact_gallery, model=v.model_gallery, caption=v.caption, summary=v.summary),
            **sample_queue(self.ctx.sample_concurrency),
            show_progress="full",
        )
        plots = dict(
            fn=self.run_plots,
            inputs=[v.summary],
            outputs=[v.commit_plot, v.commit_note, v.distance_plot, v.distance_note],
            api_visibility="private",
            **UI_QUEUE,
        )
        c.button.click(self.exact_sample, api_name="exact_sample", **run).success(**plots)
        if self.block is not None and self.ctx.has_data:
            self.block.select(self.opening_sample, api_visibility="private", **run).success(**plots)
        # The cost plot is drawn when the tab is opened (UI only), from the app's one measurement.
        if self.block is not None and self.ctx.has_data:
            self.block.select(
                self.cost_view,
                outputs=[v.cost, v.cost_note, v.cost_intro],
                api_visibility="private",
                show_progress="minimal",
                **UI_QUEUE,
            )

    # -- shared numbers -------------------------------------------------------------------------------------
    def heldout_distances(self) -> np.ndarray:
        """(M,) each held-out real image's L2 distance to its nearest training image (500 for MNIST; M = 0 when the
        data holds none out); computed once."""
        with self._heldout_lock:
            if self._heldout is None:
                heldout = self.ctx.heldout_images()
                if not len(heldout):
                    self._heldout = np.zeros(0)
                elif self.ctx.at_scale:  # through the index (the held-out images are a sample of at most 500)
                    self._heldout = self.ctx.dataset_posterior().nearest_neighbours(heldout, 1)[0][:, 0].numpy()
                else:
                    self._heldout = heldout_nearest_distances(heldout, self.ctx.dataset_posterior().data).numpy()
            return self._heldout

    # -- handlers -------------------------------------------------------------------------------------------
    @user_errors
    def exact_sample(self, seed, num_images, num_inference_steps):
        """Sample with the exact q(x_{t-1} | x_t) over the training digits and with the model, same seed and steps.

        Parameters:
            seed: integer in [0, 4294967295]; both samplers start from the same pure noise (at the first t of the plan)
            num_images: how many images from each sampler, 1 to 16
            num_inference_steps: K, the reverse steps of both samplers, 1 to T
        Returns:
            two galleries (exact, model) of "sample | nearest training digit" pictures captioned with the
            distance, a caption with the numbers, and a JSON summary: nearest indices and distances, copies,
            seconds; per exact trajectory the effective number of candidates and the largest weight at each step
            (exact.effective_n, exact.max_weight, exact.timesteps) and where it committed (exact.commit_step);
            the held-out yardstick (heldout_nearest_distance_median); and the cost of one step (cost).
        """
        return self._exact_sample(*self._checked(seed, num_images, num_inference_steps))

    @user_errors
    def opening_sample(self, seed, num_images, num_inference_steps):
        """UI only: `exact_sample` for the view drawn when the tab opens; its answer is kept (a seed fixes every
        image), so later visitors see it at once. The API always samples."""
        key = self._checked(seed, num_images, num_inference_steps)
        with self._runs_lock:
            if key in self._runs:
                return self._runs[key]
        answer = self._exact_sample(*key)
        with self._runs_lock:
            self._runs[key] = answer
            while len(self._runs) > MAX_KEPT_RUNS:
                self._runs.pop(next(iter(self._runs)))
        return answer

    def _checked(self, seed, num_images, num_inference_steps) -> tuple[int, int, int]:
        """(seed, num_images, K), checked (ValueError naming the parameter)."""
        seed = check_seed(seed)
        num_images = check_int("num_images", num_images, 1, MAX_NUM_IMAGES)
        return seed, num_images, check_int("num_inference_steps", num_inference_steps, 1, self.ctx.num_train_timesteps)

    def _exact_sample(self, seed: int, num_images: int, num_steps: int):
        """`exact_sample` once its inputs are checked."""
        ctx = self.ctx
        data = ctx.require_data()
        dataset_posterior = ctx.dataset_posterior()
        if ctx.at_scale:
            dataset_posterior.reset_bounds()
        r = compare_samplers(
            ctx.pipe, dataset_posterior, seed=seed, num_images=num_images, num_inference_steps=num_steps
        )
        scale = scale_summary(dataset_posterior.rest_bounds(), r.timesteps) if ctx.at_scale else None
        heldout = self.heldout_distances()
        heldout_median = float(np.median(heldout)) if len(heldout) else None
        summary = {
            **r.as_dict(),
            "num_images": num_images,
            "model_id": ctx.model_id,
            "num_data": len(dataset_posterior),
            "data": data.description,
            "heldout_nearest_distance_median": heldout_median,
            "num_heldout": int(len(heldout)),
            "cost": cost_summary(step_costs(ctx)),
        }
        if scale is not None:
            summary["at_scale"] = scale
        return (
            self._pairs(
                "exact", r.exact_samples, r.exact_nearest_indices, r.exact_nearest_distances, r.exact_second_distances
            ),
            self._pairs(
                "model", r.model_samples, r.model_nearest_indices, r.model_nearest_distances, r.model_second_distances
            ),
            text.exact_caption(r, heldout_median, len(heldout), ctx.noun)
            + (text.scale_caption(scale, ctx.noun) if scale is not None else ""),
            summary,
        )

    def _pairs(self, kind: str, samples, indices, distances, second_distances) -> list[tuple]:
        """One sampler's gallery: per sample (B, C, H, W) a "sample | nearest training image" picture, the index
        drawn above the nearest and the copy verdict with d₁ and d₁/d₂ above both; its caption (hidden on the page,
        the API's) says the same (d₂: second_distances, or None)."""
        seconds = [None] * len(distances) if second_distances is None else second_distances.tolist()
        items = []
        for k, (i, d, d2) in enumerate(zip(indices.tolist(), distances.tolist(), seconds)):
            pictures = [
                to_uint8(samples[k : k + 1], model_space=True)[0],
                to_uint8(self.ctx.training_image(i), model_space=True)[0],
            ]
            title = text.pair_title(d, d2)  # the verdict and distances, drawn over the pair
            picture = labelled_row(pictures, [kind, text.pair_label(i)], scale=PAIR_SCALE, title=title)
            items.append((picture, text.pair_caption(i, d, d2)))
        return items

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
        if not self.ctx.has_data:
            return empty
        num_data = len(self.ctx.train_images())
        heldout = self.heldout_distances()
        heldout_median = float(np.median(heldout)) if len(heldout) else None
        noun, shape = self.ctx.noun, self.ctx.image_shape
        return (
            plot_output(
                plot_commit,
                timesteps,
                effective_n,
                max_weight,
                commit,
                num_data,
                commit_weight=COMMIT_WEIGHT,
                noun=noun,
            ),
            text.commit_caption(commit, timesteps, noun),
            plot_output(plot_nearest_distances, heldout, exact_d, model_d, noun=noun, image_shape=shape),
            text.distances_caption(exact_d, model_d, heldout_median, noun),
        )

    def cost_plot(self):
        """The per-step cost plot and its source note (a new Figure per call)."""
        ctx = self.ctx
        costs = step_costs(ctx)
        params = sum(p.numel() for p in ctx.pipe.unet.parameters())
        return (
            plot_output(
                plot_step_costs,
                costs,
                title=text.COST_PLOT_TITLE,
                mark=text.data_mark(ctx.noun, costs, len(ctx.train_images())),
                index_costs=MEASURED_INDEX_COSTS,
                model_label=text.model_line_label(ctx.model_id, params, ctx.image_shape, costs.model_ms),
            ),
            text.cost_note(text.cost_source_measured(QUICK_COST_REPEATS), self.ctx.model_id, costs.model_ms),
        )

    def cost_view(self):
        """UI only: the cost plot, its note and the cost text, drawn when the tab is opened."""
        ctx = self.ctx
        figure, note = self.cost_plot()
        costs, num_data = step_costs(ctx), len(ctx.train_images())
        words = text.cost_text(
            costs,
            exact_step_ms(costs, num_data),
            num_data,
            ctx.noun,
            ctx.image_shape,
            DEFAULT_EXACT_NUM_STEPS,
            at_scale=ctx.at_scale,
        )
        index = text.index_text(MEASURED_INDEX_COSTS, costs, ctx.noun, MEASURED_INDEX_BATCH)
        return figure, note, words + ("\n\n" + index if index else "")
