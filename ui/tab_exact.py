"""Tab "Exact posterior sampler": the exact reverse process over the training digits and p_θ from the same
noise — the exact one can only copy; and what one exact step costs against the data set's size N."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import gradio as gr

from pipelines.exact_posterior import COPY_DISTANCE, compare_samplers, measure_model_step_cost, measure_step_cost
from pipelines.visualize import labelled_row, plot_step_cost, to_uint8

from . import text
from .context import DEFAULT_NUM_INFERENCE_STEPS, UI_CONCURRENCY, AppContext
from .inputs import MAX_NUM_IMAGES, MAX_SEED, check_int, check_seed, unchecked, user_errors

DEFAULT_EXACT_NUM_IMAGES = 8
COST_BENCH_JSON = Path(__file__).resolve().parent.parent / "bench" / "results" / "exact_posterior.json"
QUICK_COST_SIZES = (100, 500, 1000, 2000, 4500)  # when the benchmark's JSON is missing: measured at first use
QUICK_COST_REPEATS = 3


class ExactSamplerTab:
    """The exact reverse process over the training digits vs p_θ from the same seed; and its cost against N."""

    title = "Exact posterior sampler"

    def __init__(self, ctx: AppContext):
        self.ctx = ctx
        self.block = None  # the gr.Tab, set by build_demo
        self._cost: tuple[dict, float | None, str] | None = None
        self._cost_lock = threading.Lock()

    def layout(self) -> None:
        ctx = self.ctx
        T = ctx.num_train_timesteps
        if not ctx.has_mnist_model:
            gr.Markdown(f"⚠️ **{ctx.mnist_notice()}**", elem_id="exact-notice")
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                gr.Markdown(text.EXACT_INTRO)
                seed = gr.Number(0, label="seed", info=f"integer in [0, {MAX_SEED}]; both samplers start from "
                                                        "the same noise", precision=None, elem_id="exact-seed")
                num_images = unchecked(gr.Slider(1, MAX_NUM_IMAGES, value=DEFAULT_EXACT_NUM_IMAGES, step=1,
                                                 label="num_images", elem_id="exact-num-images"))
                steps = unchecked(gr.Slider(1, T, value=min(DEFAULT_NUM_INFERENCE_STEPS, T), step=1,
                                            label="num_inference_steps (K), the same for both",
                                            elem_id="exact-num-steps"))
                button = gr.Button("Sample with both", variant="primary", elem_id="exact-button",
                                   interactive=ctx.has_mnist_model)
            with gr.Column(scale=3):
                caption = gr.Markdown(elem_id="exact-caption")
                with gr.Row():
                    exact_gallery = gr.Gallery(label="exact q(x_{t−1} | x_t): sample | nearest training digit",
                                               columns=2, height="auto", format="png", interactive=False,
                                               object_fit="contain",
                                               elem_id="exact-gallery", elem_classes="pixelated")
                    model_gallery = gr.Gallery(label="model p_θ(x_{t−1} | x_t): sample | nearest training digit",
                                               columns=2, height="auto", format="png", interactive=False,
                                               object_fit="contain",
                                               elem_id="model-gallery", elem_classes="pixelated")
                summary = gr.JSON(label="summary", elem_id="exact-summary")
                cost = gr.Plot(label="cost of one reverse step against the data set's size N", format="png",
                               elem_id="cost-plot")
                cost_note = gr.Markdown(elem_id="cost-note")

        button.click(self.exact_sample, inputs=[seed, num_images, steps],
                     outputs=[exact_gallery, model_gallery, caption, summary], api_name="exact_sample",
                     concurrency_limit=ctx.sample_concurrency, concurrency_id="sample", show_progress="full")
        # The cost plot is drawn when the tab is opened (UI only): from the benchmark's JSON, or measured once.
        if self.block is not None:
            self.block.select(self.cost_plot, outputs=[cost, cost_note], api_visibility="private",
                              show_progress="minimal", concurrency_limit=UI_CONCURRENCY, concurrency_id="ui")

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
            distance, a caption with the numbers, and a JSON summary (nearest indices and distances, copies,
            seconds).
        """
        ctx = self.ctx
        ctx.require_mnist_model()
        T = ctx.num_train_timesteps
        seed = check_seed(seed)
        num_images = check_int("num_images", num_images, 1, MAX_NUM_IMAGES)
        num_steps = check_int("num_inference_steps", num_inference_steps, 1, T)
        dataset_posterior = ctx.dataset_posterior()
        result = compare_samplers(ctx.pipe, dataset_posterior, seed=seed, num_images=num_images,
                                  num_inference_steps=num_steps)
        data = dataset_posterior.data

        def pairs(samples, indices, distances, kind):
            items = []
            for k, (i, d) in enumerate(zip(indices.tolist(), distances.tolist())):
                picture = labelled_row([to_uint8(samples[k:k + 1], model_space=True)[0],
                                        to_uint8(data[i:i + 1].float(), model_space=True)[0]],
                                       [f"{kind}", f"#{i}"], scale=3)
                items.append((picture, text.pair_caption(i, d, COPY_DISTANCE)))
            return items

        summary = {**result.as_dict(), "num_images": num_images, "model_id": ctx.model_id}
        return (pairs(result.exact_samples, result.exact_nearest_indices, result.exact_nearest_distances, "exact"),
                pairs(result.model_samples, result.model_nearest_indices, result.model_nearest_distances, "model"),
                text.exact_caption(summary, num_images), summary)

    def cost_series(self) -> tuple[dict, float | None, str]:
        """(series per dtype of rows {n, median_ms, …}, the model's ms per step, where the numbers come from);
        the benchmark's JSON when present, else a quick measurement; computed once."""
        with self._cost_lock:
            if self._cost is None:
                self._cost = self._load_or_measure_cost()
            return self._cost

    def _load_or_measure_cost(self) -> tuple[dict, float | None, str]:
        series, source = None, ""
        try:
            result = json.loads(COST_BENCH_JSON.read_text())
            series = {str(k): [dict(r) for r in rows] for k, rows in result["series"].items()}
            if not series or not all(rows and all("n" in r and "median_ms" in r for r in rows)
                                     for rows in series.values()):
                series = None
            machine = result.get("machine", {})
            source = text.cost_source_bench(machine, result.get("repeats", "?"))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            series = None
        if series is None:
            rows = measure_step_cost(self.ctx.mnist_train()[0], sizes=QUICK_COST_SIZES, repeats=QUICK_COST_REPEATS,
                                     scheduler=self.ctx.pipe.scheduler)
            series = {"float64": rows}
            source = text.cost_source_measured(QUICK_COST_REPEATS)
        try:
            model_ms = measure_model_step_cost(self.ctx.pipe)["median_ms"]
        except Exception:  # noqa: BLE001 - the plot is useful without the model's line
            model_ms = None
        return series, model_ms, source

    def cost_plot(self):
        """The per-step cost plot (a new Figure per call: figures are not shared between threads)."""
        series, model_ms, source = self.cost_series()
        figure = plot_step_cost(series, model_ms, title=text.COST_PLOT_TITLE)
        return figure, text.cost_note(source, self.ctx.model_id, model_ms)
