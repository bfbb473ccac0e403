"""Tab "2-D world": the whole answer where every density can be drawn. The exact reverse step q(x_{t-Δ} | x_t)
over N points against p_θ's Gaussian (and the best Gaussian) for a chosen x_t, t and stride; the exact and the
learned samplers from the same noise (copies vs new points); and training p_θ live, for this session only.

The library computes (`pipelines.toy2d`: data, ε-MLP, training, reverse-step numbers; `compare_samplers` and
`DatasetPosterior` as for the digits); this module checks inputs, keeps the per-session model and lays out.
What it reuses between clicks (posteriors, shipped models, Γ_t, the shipped models' sampler answers) is
`ui.toy_cache`."""

from __future__ import annotations

import statistics
import time

import gradio as gr
import torch

from pipelines import toy2d
from pipelines.exact.comparisons import compare_samplers
from pipelines.exact.neighbours import COPY_DISTANCE, COPY_RULE
from pipelines.toy2d.plot_cache import draw_toy_plane, draw_toy_step
from pipelines.toy2d.plots import PLANE_LIMIT, pixel_to_plane, plot_toy_samplers, plot_toy_training
from pipelines.toy2d.step_view import DEFAULT_STRIDE, DEFAULT_T, DEFAULT_X_T
from ui.base import LATEX, LOCAL, STREAM_INTERVAL_S, TRAINING_QUEUE, UI_QUEUE, eager_pictures, picture
from ui.context import AppContext
from ui.figures import drawn
from ui.inputs import (
    MAX_SEED,
    api_outputs,
    check_choice,
    check_float,
    check_int,
    check_seed,
    integer_input,
    number_input,
    unchecked,
    user_errors,
)
from ui.tabs.variance import default_chain_reading
from ui.text import toy as text
from ui.toy_cache import SHIPPED, ToyCache, shipped_info
from ui.training_thread import on_click_threads, on_training_thread

# Limits that protect the demo.
MAX_TOY_SAMPLES = 2000
DEFAULT_TOY_SAMPLES = 500
DEFAULT_TOY_STEPS = 100  # K of the samplers view
DEFAULT_X, DEFAULT_Y = DEFAULT_X_T  # the library's default step: one that splits into two modes
NUM_TRAJECTORIES = 4
FRAME_SHARE = 0.1  # live training spends at most about this share of its time making pictures
PREVIEW_SAMPLES, PREVIEW_STEPS = 300, 50  # the live training's sample scatter
EAGER_PICTURES = eager_pictures("toy-samplers", "toy-training")  # those drawn on opening load at once


class ToyTab:
    """The 2-D world: reverse step, samplers, live training."""

    title = "2-D world"

    def __init__(self, ctx: AppContext):
        self.ctx = ctx
        self.block = None
        self.scheduler = toy2d.toy_scheduler()
        self.cache = ToyCache(self.scheduler)  # posteriors, shipped models, Γ_t and shipped answers, kept

    # -- shared pieces --------------------------------------------------------------------------------------
    def _common(self, dataset, num_points, seed) -> tuple[str, int, int]:
        dataset = check_choice("dataset", dataset, toy2d.DATASETS)
        num_points = check_int("num_points", num_points, toy2d.MIN_POINTS, toy2d.MAX_POINTS)
        return dataset, num_points, check_seed(seed)

    # -- handlers -------------------------------------------------------------------------------------------
    @user_errors
    def toy_step(self, dataset, num_points, t, stride, x, y, seed, state=None):
        """One reverse step x_t → x_{t−stride} in 2-D: the exact density over the N points against p_θ.

        Parameters:
            dataset: two_moons, eight_gaussians or spiral
            num_points: N, the training points (the first N of the data set's fixed 4,000), 4 to 4000
            t: the step's start, 1 to T − 1
            stride: Δ, the step goes t → t − Δ; 1 to t
            x: first coordinate of x_t, −2 to 2
            y: second coordinate of x_t, −2 to 2
            seed: integer in [0, 4294967295], fixes the Monte-Carlo draws of the KL estimates
        Returns:
            the plane (training points, x_t, the mixture's component means by weight, both means), the zoomed
            step (exact density, p_θ's and the moment-matched Gaussian's 1σ/2σ ellipses, the tractable posterior
            of the heaviest x_0), a text with the numbers, and a JSON summary (see README).
        """
        dataset, num_points, seed = self._common(dataset, num_points, seed)
        t = check_int("t", t, 1, self.scheduler.config.num_train_timesteps - 1)
        stride = toy2d.check_stride(stride, t, integral_floats=True)
        x = check_float("x", x, -PLANE_LIMIT, PLANE_LIMIT, " (first coordinate of xₜ)")
        y = check_float("y", y, -PLANE_LIMIT, PLANE_LIMIT, " (second coordinate of xₜ)")
        model, model_info = self.cache.model_for(state, dataset)
        posterior = self.cache.posterior(dataset, num_points)
        gamma_t = self.cache.gamma(model, dataset, num_points, posterior, t, seed)
        view = toy2d.toy_step_view(posterior, model, (x, y), t, stride, seed, gamma_t=gamma_t)
        summary = {"dataset": dataset, "model": model_info, **view.as_dict()}
        one_step_beta = float(self.scheduler.betas[t])  # Ho et al.'s β_t, beside the stride's β_{t|s}
        words = text.toy_step_text(view, model_info, default_chain_reading(self.ctx), one_step_beta=one_step_beta)
        return drawn(draw_toy_plane, view), drawn(draw_toy_step, view), words, summary

    @user_errors
    @on_click_threads
    def toy_sample(self, dataset, num_points, num_samples, num_inference_steps, seed, state=None):
        """M points with the exact reverse process over the N points and with p_θ, from the same noise.

        Parameters:
            dataset: two_moons, eight_gaussians or spiral
            num_points: N, the training points, 4 to 4000
            num_samples: M, points drawn by each sampler, 1 to 2000
            num_inference_steps: K, the reverse steps of both samplers, 1 to T
            seed: integer in [0, 4294967295]; both samplers start from the same pure noise (at the first t of the plan)
        Returns:
            a picture (both scatters over the training points with a few trajectories, and the histogram of
            nearest-training-point distances), a text with the numbers, and a JSON summary (see README).
        """
        return self._sample(dataset, num_points, num_samples, num_inference_steps, seed, state, keep=False)

    @user_errors
    @on_click_threads
    def redraw_samples(self, dataset, num_points, num_samples, num_inference_steps, seed, state=None):
        """UI only: `toy_sample` for the view drawn on opening, after a training and on going back. The shipped
        models' answers are kept (a seed fixes every point): later visitors see them at once."""
        return self._sample(dataset, num_points, num_samples, num_inference_steps, seed, state, keep=True)

    def _sample(self, dataset, num_points, num_samples, num_inference_steps, seed, state, keep: bool):
        dataset, num_points, seed = self._common(dataset, num_points, seed)
        num_samples = check_int("num_samples", num_samples, 1, MAX_TOY_SAMPLES)
        num_steps = check_int("num_inference_steps", num_inference_steps, 1, self.scheduler.config.num_train_timesteps)
        model, model_info = self.cache.model_for(state, dataset)
        key, keep = (dataset, num_points, num_samples, num_steps, seed), keep and model_info["source"] == SHIPPED
        if keep and (kept := self.cache.shipped_run(key)) is not None:
            return kept
        answer = self._toy_sample(dataset, num_points, num_samples, num_steps, seed, model, model_info)
        if keep:
            self.cache.keep_shipped_run(key, answer)
        return answer

    def _toy_sample(self, dataset, num_points, num_samples, num_steps, seed, model, model_info):
        """`toy_sample` once its inputs are checked: both samplers, the picture, the words and the summary."""
        posterior = self.cache.posterior(dataset, num_points)
        result = compare_samplers(
            toy2d.toy_pipeline(model, self.scheduler),
            posterior,
            seed=seed,
            num_images=num_samples,
            num_inference_steps=num_steps,
            num_trajectories=min(NUM_TRAJECTORIES, num_samples),
        )
        points = toy2d.as_points(posterior.data).float()
        copies = result.as_dict()  # the one copy rule's counts (pipelines.exact.neighbours.copy_summary)
        summary = {
            "dataset": dataset,
            "num_points": num_points,
            "num_samples": num_samples,
            "num_inference_steps": num_steps,
            "timesteps": list(result.timesteps),  # the K steps' t, as both samplers took them
            "seed": seed,
            "model": model_info,
            "exact_distinct_points": copies["exact"]["distinct_copies"],
            "copy_rule": COPY_RULE,
            "copy_distance": COPY_DISTANCE,
            "training_spacing_median": float(toy2d.nearest_other_distances(points).median()),
            "exact_seconds": result.exact_seconds,
            "model_seconds": result.model_seconds,
        }
        for who in ("exact", "model"):  # each sampler's points, distances and copies, under the same key names
            summary[f"{who}_samples"] = toy2d.as_points(getattr(result, f"{who}_samples")).tolist()
            for part in ("nearest", "second"):
                summary[f"{who}_{part}_distances"] = getattr(result, f"{who}_{part}_distances").tolist()
            summary.update({f"{who}_{key}": copies[who][key] for key in ("copy_fraction", "pixel_copies")})
        medians = [statistics.median(summary[f"{who}_nearest_distances"]) for who in ("exact", "model")]
        return drawn(plot_toy_samplers, points, result), text.toy_sample_text(summary, *medians), summary

    @user_errors
    @on_training_thread
    def toy_train(self, dataset, num_points, train_steps, seed, state=None):
        """Train a new p_θ on the N points, streaming the loss curve and samples; it then drives this session's
        views of that data set (other users keep theirs). One training at a time on the server; others queue.

        Parameters:
            dataset: two_moons, eight_gaussians or spiral
            num_points: N, the training points, 4 to 4000
            train_steps: optimizer updates, 100 to 20000 (batch 256, Adam, cosine learning-rate decay)
            seed: integer in [0, 4294967295]; fixes the initial weights and every batch
        Returns (streamed: at once, then every ~0.5 s):
            a picture (loss curve, current samples), a status text and a JSON summary; the last one has every
            update's loss (losses) and done = true.
        """
        dataset, num_points, seed = self._common(dataset, num_points, seed)
        train_steps = check_int("train_steps", train_steps, toy2d.MIN_TRAIN_STEPS, toy2d.MAX_TRAIN_STEPS)
        state = dict(state or {})
        points = toy2d.load_points(dataset, num_points)
        model = toy2d.new_toy_model(seed)
        pipe = toy2d.toy_pipeline(model, self.scheduler)
        losses: list[float] = []
        start = time.perf_counter()

        def update(done: bool, new_state: dict):
            preview = pipe(PREVIEW_SAMPLES, torch.Generator().manual_seed(seed), PREVIEW_STEPS, output_type="pt")
            samples = toy2d.as_points(preview.images * 2 - 1)
            summary = {
                "dataset": dataset,
                "num_points": num_points,
                "train_steps": train_steps,
                "seed": seed,
                "step": len(losses),
                "done": done,
                "seconds": time.perf_counter() - start,
                "loss": losses[-1] if losses else None,
                "final_loss": final_loss(losses),
                "losses": list(losses) if done else None,
            }
            figure = drawn(
                plot_toy_training, losses, points, samples.tolist(), len(losses), train_steps, toy2d.TRAIN_BATCH_SIZE
            )
            return figure, text.toy_train_text(summary), summary, new_state

        # The first picture at once (the untrained model), then one every STREAM_INTERVAL_S — or, on a busy
        # machine, every FRAME_SHARE⁻¹ times what the last picture took to make, so pictures never slow training
        # by more than about that share.
        made = time.perf_counter()
        yield update(False, state)
        last = time.perf_counter()
        wait = max(STREAM_INTERVAL_S, (last - made) / FRAME_SHARE)
        for progress in toy2d.train_toy(model, points, train_steps, seed, self.scheduler):
            losses.append(progress.loss)
            if time.perf_counter() - last >= wait and progress.update < train_steps:
                made = time.perf_counter()
                yield update(False, state)
                last = time.perf_counter()
                wait = max(STREAM_INTERVAL_S, (last - made) / FRAME_SHARE)
        state[dataset] = {
            "model": model,
            "source": "trained in this session",
            "dataset": dataset,
            "num_points": num_points,
            "train_steps": train_steps,
            "seed": seed,
            "final_loss": final_loss(losses),
        }
        yield update(True, state)

    @user_errors
    @on_click_threads
    def train_preview(self, dataset, num_points, train_steps, seed):
        """UI only: the live training's first picture before any training (update 0: the untrained network's
        samples over the N points) and its status line."""
        dataset, num_points, seed = self._common(dataset, num_points, seed)
        train_steps = check_int("train_steps", train_steps, toy2d.MIN_TRAIN_STEPS, toy2d.MAX_TRAIN_STEPS)
        points = toy2d.load_points(dataset, num_points)
        pipe = toy2d.toy_pipeline(toy2d.new_toy_model(seed), self.scheduler)
        preview = pipe(PREVIEW_SAMPLES, torch.Generator().manual_seed(seed), PREVIEW_STEPS, output_type="pt")
        samples = toy2d.as_points(preview.images * 2 - 1).tolist()
        figure = drawn(plot_toy_training, [], points, samples, 0, train_steps, toy2d.TRAIN_BATCH_SIZE)
        summary = dict(dataset=dataset, num_points=num_points, train_steps=train_steps, seed=seed, step=0, done=False)
        return figure, text.toy_train_text({**summary, "loss": None, "preview": True})

    def forget(self, dataset, state):
        """UI only: back to the shipped p_θ for this data set."""
        state = dict(state or {})
        state.pop(dataset, None)
        return state, text.toy_model_line(self.cache.model_for(state, dataset)[1]) if dataset in toy2d.DATASETS else ""

    def model_line(self, dataset, state):
        """UI only: which p_θ drives the views of this data set."""
        if dataset not in toy2d.DATASETS:
            return ""
        return text.toy_model_line(self.cache.model_for(state, dataset)[1])

    @staticmethod
    def clicked(evt: gr.SelectData):
        """UI only: a click on the plane picture → the point (x, y) it shows, rounded to 0.01."""
        column, row = evt.index
        x, y = pixel_to_plane(float(column), float(row))
        clamp = lambda v: round(min(max(v, -PLANE_LIMIT), PLANE_LIMIT), 2)  # noqa: E731
        return clamp(x), clamp(y)

    # -- layout ---------------------------------------------------------------------------------------------
    def layout(self) -> None:
        state = gr.State({}, time_to_live=3600)
        gr.Markdown(text.TOY_INTRO, latex_delimiters=LATEX, elem_id="toy-intro")
        with gr.Row():
            dataset = unchecked(  # our check names the parameter and lists the choices
                gr.Dropdown(
                    [(text.dataset_name(name), name) for name in toy2d.DATASETS],
                    value=toy2d.DEFAULT_DATASET,
                    label="data set",
                    elem_id="toy-dataset",
                )
            )
            num_points = integer_input(
                gr.Slider(
                    toy2d.MIN_POINTS,
                    toy2d.MAX_POINTS,
                    value=toy2d.DEFAULT_NUM_POINTS,
                    step=1,
                    label="N, the number of training points",
                    elem_id="toy-num-points",
                )
            )
            seed = integer_input(
                gr.Number(0, label="seed", info=f"integer in [0, {MAX_SEED}]", precision=None, elem_id="toy-seed"),
                0,
                MAX_SEED,
            )
        model_line = gr.Markdown(
            text.toy_model_line(shipped_info(toy2d.DEFAULT_DATASET)),
            elem_id="toy-model-line",
            latex_delimiters=LATEX,
        )
        redraw_step = self._step_section(dataset, num_points, seed, state)
        redraw_samples = self._sample_section(dataset, num_points, seed, state)
        self._train_section(dataset, num_points, seed, state, model_line, (redraw_step, redraw_samples))
        dataset.change(self.model_line, [dataset, state], model_line, **LOCAL)

    def _step_section(self, dataset, num_points, seed, state) -> dict:
        """1. One reverse step: the plane (a click places x_t), the zoomed step, the numbers; drawn on opening."""
        T = self.scheduler.config.num_train_timesteps
        gr.Markdown(text.TOY_STEP_INTRO, latex_delimiters=LATEX, elem_id="toy-step-intro")
        with gr.Row():
            t = integer_input(gr.Slider(1, T - 1, value=DEFAULT_T, step=1, label="t", elem_id="toy-t"))
            stride = integer_input(
                gr.Slider(
                    1,
                    T - 1,
                    value=DEFAULT_STRIDE,
                    step=1,
                    label="stride (Δ: the step goes t → t − Δ)",
                    elem_id="toy-stride",
                )
            )
            x = number_input(
                gr.Slider(
                    -PLANE_LIMIT,
                    PLANE_LIMIT,
                    value=DEFAULT_X,
                    step=0.01,
                    label="x (first coordinate of xₜ)",
                    elem_id="toy-x",
                )
            )
            y = number_input(
                gr.Slider(
                    -PLANE_LIMIT,
                    PLANE_LIMIT,
                    value=DEFAULT_Y,
                    step=0.01,
                    label="y (second coordinate of xₜ)",
                    elem_id="toy-y",
                )
            )
        step_button = gr.Button("Draw the reverse step", variant="primary", elem_id="toy-step-button")
        with gr.Row():
            plane = picture("the plane: click to place xₜ", "toy-plane")
            zoom = picture("the step, zoomed", "toy-zoom")
        step_text = gr.Markdown(elem_id="toy-step-text", latex_delimiters=LATEX)
        with gr.Accordion("JSON summary of the step (as a program calling the demo gets it)", open=False):
            step_summary = gr.JSON(label="summary", elem_id="toy-step-summary")
        step_inputs = [dataset, num_points, t, stride, x, y, seed, state]
        step_outputs = api_outputs(plane=plane, step=zoom, text=step_text, summary=step_summary)
        step_button.click(self.toy_step, step_inputs, step_outputs, api_name="toy_step", **UI_QUEUE)
        plane.select(self.clicked, None, [x, y], **LOCAL).then(
            self.toy_step, step_inputs, step_outputs, api_visibility="private", **UI_QUEUE
        )
        redraw = dict(fn=self.toy_step, inputs=step_inputs, outputs=step_outputs, api_visibility="private", **UI_QUEUE)
        if self.block is not None:  # the first picture when the tab is opened, with the shipped weights
            self.block.select(**redraw)
        return redraw

    def _sample_section(self, dataset, num_points, seed, state) -> dict:
        """2. The exact sampler and p_θ from the same noise."""
        T = self.scheduler.config.num_train_timesteps
        gr.Markdown(text.TOY_SAMPLE_INTRO, latex_delimiters=LATEX, elem_id="toy-sample-intro")
        with gr.Row():
            num_samples = integer_input(
                gr.Slider(
                    1,
                    MAX_TOY_SAMPLES,
                    value=DEFAULT_TOY_SAMPLES,
                    step=1,
                    label="M, the number of points each sampler draws",
                    elem_id="toy-num-samples",
                )
            )
            num_steps = integer_input(
                gr.Slider(
                    1,
                    T,
                    value=DEFAULT_TOY_STEPS,
                    step=1,
                    label="K, the number of reverse steps of each sampler (stride Δ = 1000 / K)",
                    elem_id="toy-steps",
                )
            )
        sample_button = gr.Button("Sample with both", variant="primary", elem_id="toy-sample-button")
        samplers = picture("exact vs p_θ from the same noise", "toy-samplers")
        sample_text = gr.Markdown(elem_id="toy-sample-text", latex_delimiters=LATEX)
        with gr.Accordion(
            "JSON summary of the samplers (as a program calling the demo gets it)",
            open=False,
        ):
            sample_summary = gr.JSON(label="summary", elem_id="toy-sample-summary")
        inputs = [dataset, num_points, num_samples, num_steps, seed, state]
        outputs = api_outputs(picture=samplers, text=sample_text, summary=sample_summary)
        sample_button.click(self.toy_sample, inputs, outputs, api_name="toy_sample", **UI_QUEUE)
        redraw = dict(fn=self.redraw_samples, inputs=inputs, outputs=outputs, api_visibility="private", **UI_QUEUE)
        if self.block is not None:  # the default run when the tab is opened (the shipped model's runs are kept)
            self.block.select(**redraw).then(None, js=EAGER_PICTURES, **LOCAL)
        return redraw

    def _train_section(self, dataset, num_points, seed, state, model_line, redraws) -> None:
        """3. Train p_θ live (streamed, nothing covering the picture); it then drives this session's views, which are
        redrawn with it (`redraws`: the step's and the samplers' events), and again with the shipped one on
        "Use the shipped p_θ again". Before any training: update 0, the untrained network's samples."""
        gr.Markdown(text.TOY_TRAIN_INTRO, latex_delimiters=LATEX, elem_id="toy-train-intro")
        with gr.Row():
            train_steps = integer_input(
                gr.Slider(
                    toy2d.MIN_TRAIN_STEPS,
                    toy2d.MAX_TRAIN_STEPS,
                    value=toy2d.DEFAULT_TRAIN_STEPS,
                    step=100,
                    label="optimizer updates (batches of 256 points)",
                    elem_id="toy-train-steps",
                )
            )
            train_button = gr.Button("Train p_θ", variant="primary", elem_id="toy-train-button")
            forget_button = gr.Button("Use the shipped p_θ again", elem_id="toy-forget-button")
        training = picture("training p_θ", "toy-training")
        train_text = gr.Markdown(elem_id="toy-train-text", latex_delimiters=LATEX)
        with gr.Accordion(
            "JSON summary of the training (as a program calling the demo gets it)",
            open=False,
        ):
            train_summary = gr.JSON(label="summary", elem_id="toy-train-summary")
        train_button.click(
            self.toy_train,
            [dataset, num_points, train_steps, seed, state],
            [*api_outputs(picture=training, text=train_text, summary=train_summary), state],
            api_name="toy_train",
            show_progress="hidden",  # the streamed picture and its status line are the progress: nothing covers them
            **TRAINING_QUEUE,
        ).then(self.model_line, [dataset, state], model_line, **LOCAL).then(**redraws[0]).then(**redraws[1])
        forget_button.click(self.forget, [dataset, state], [state, model_line], **LOCAL).then(**redraws[0]).then(
            **redraws[1]
        )
        if self.block is not None:
            self.block.select(
                self.train_preview,
                [dataset, num_points, train_steps, seed],
                [training, train_text],
                api_visibility="private",
                **UI_QUEUE,
            ).then(None, js=EAGER_PICTURES, **LOCAL)


def final_loss(losses: list[float]) -> float | None:
    """The live training's loss as the page names it: the mean over its last LOSS_WINDOW updates (None before the
    first)."""
    window = losses[-text.LOSS_WINDOW :]
    return sum(window) / len(window) if window else None
