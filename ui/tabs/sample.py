"""Tab "Sample from noise": pure noise to images through `PosteriorDDPMPipeline.denoise`, x_t and x̂0 streamed
while it runs; afterwards a slider scrubs every recorded step, with a filmstrip, the trajectory GIF and the
noise schedule. Before any click the tab shows a run at its defaults, recorded on the first page load.

This module lays out, samples and streams; what a run leaves behind (its files, its final update, reading a step back)
is `ui.sample_run`."""

from __future__ import annotations

import math
import random
import threading
import time
from types import SimpleNamespace

import gradio as gr
import numpy as np
import torch

from pipelines.ddpm.plots import plot_schedule
from pipelines.ddpm.scheduler import TIMESTEP_SPACINGS
from pipelines.pictures.images import display_scale, grid_uint8, to_uint8
from ui.base import LATEX, LOCAL, UI_QUEUE, VARIANCE_LABELS, picture, sample_queue
from ui.context import AppContext
from ui.figures import plot_output
from ui.inputs import (
    MAX_NUM_IMAGES,
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
from ui.sample_run import (
    FILMSTRIP_FRAMES,
    FILMSTRIP_IMAGES,
    GIF_MAX_FRAMES,
    Run,
    filmstrip,
    final_update,
    load_step,
    save_run,
)
from ui.text import sample as text

DEFAULT_NUM_IMAGES = 16
DEFAULT_ETA = 1.0
# The page's default sampler: the fewest steps whose FID (the project's judge) reaches the 1000-step DDPM's, by
# bench/results/samplers-1000.json: the DDPM posterior (η = 1, β̃_t) with the order-3 multistep x̂_0, trailing spacing.
DEFAULT_STEPS = 10
DEFAULT_SPACING = "trailing"
DEFAULT_ORDER = 3
ORDERS = (1, 2, 3)
# The live view skips a frame the final update would replace within this many frame intervals (ctx.frame_interval_s):
# each frame is two PNGs encoded, cached and fetched by every viewer (gradio_client fetches each file on a fresh
# connection), and a default run of 10 steps is over in about half a second. With an interval of 0 every step streams.
FINAL_SOON_INTERVALS = 2
FIRST_LOOK_SEED = 0  # the run the tab shows before any click: its defaults, this seed


def _result(generator):
    """Run a generator to its end, dropping what it yields; its return value."""
    while True:
        try:
            next(generator)
        except StopIteration as stop:
            return stop.value


def _titled_image(title: str, title_id: str, label: str, elem_id: str) -> gr.Image:
    """A live picture (x_t or x̂0) under its Markdown title, 300 pixels tall, pixelated."""
    gr.Markdown(title, elem_id=title_id, latex_delimiters=LATEX)
    return picture(label, elem_id, elem_classes="pixelated", height=300)


class SampleTab:
    """Sample from pure noise and watch x_t and x̂0 at every step; scrub, filmstrip, GIF, schedule plot."""

    title = "Sample from noise"

    def __init__(self, ctx: AppContext):
        self.ctx = ctx
        self._first_look: tuple | None = None
        self._first_look_lock = threading.Lock()

    # -- layout ---------------------------------------------------------------------------------------------
    def layout(self) -> None:
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                controls = self._controls()
            with gr.Column(scale=3):
                views = self._views()
        self._wire(controls, views, record=gr.State(None))

    def _controls(self) -> SimpleNamespace:
        """The left column: seed (with a dice), num_images, K, the button, the sampler's settings, how to read it."""
        T = self.ctx.num_train_timesteps
        with gr.Row(equal_height=True):
            seed = integer_input(
                gr.Number(0, label="seed", info=f"integer in [0, {MAX_SEED}]", precision=None, elem_id="seed", scale=4),
                0,
                MAX_SEED,
            )
            dice = gr.Button("random", elem_id="random-seed", scale=1, min_width=60)
        num_images = integer_input(
            gr.Slider(
                1, MAX_NUM_IMAGES, value=DEFAULT_NUM_IMAGES, step=1, label="number of images", elem_id="num-images"
            )
        )
        steps = integer_input(
            gr.Slider(
                1,
                T,
                value=min(DEFAULT_STEPS, T),
                step=1,
                label="K, the number of steps",
                info=text.STEPS_INFO,
                elem_id="num-steps",
            )
        )
        # the button above the sampler's settings and their sentences: pressing it keeps the pictures in view
        button = gr.Button("Sample", variant="primary", elem_id="sample-button")
        sampler = self._sampler_controls()
        gr.Markdown(text.sample_explanation(self.ctx.noun), latex_delimiters=LATEX)
        return SimpleNamespace(seed=seed, dice=dice, num_images=num_images, steps=steps, button=button, **sampler)

    def _sampler_controls(self) -> dict:
        """The sampler: the order of its x̂0 (with the sentence on what it changes), η, the spacing, the variance."""
        config = self.ctx.pipe.scheduler.config
        order = integer_input(
            gr.Radio(
                list(ORDERS), value=DEFAULT_ORDER, label="order of the x̂₀ guess", info=text.ORDER_INFO, elem_id="order"
            ),
            ORDERS[0],
            ORDERS[-1],
        )
        gr.Markdown(text.ORDER_SENTENCE, latex_delimiters=LATEX, elem_id="order-sentence")
        eta = number_input(
            gr.Slider(
                0.0,
                1.0,
                value=DEFAULT_ETA,
                step=0.05,
                label="η: 0 = DDIM, deterministic … 1 = DDPM posterior",
                info=text.ETA_INFO,
                elem_id="eta",
            )
        )
        spacing = unchecked(
            gr.Radio(
                list(TIMESTEP_SPACINGS),
                value=DEFAULT_SPACING,
                label="timestep spacing",
                info=text.SPACING_INFO,
                elem_id="spacing",
            )
        )
        variance = unchecked(
            gr.Radio(
                [(text.VARIANCE_OPTIONS[key], key) for key in VARIANCE_LABELS],
                value=config.variance_type if config.variance_type in VARIANCE_LABELS else "fixed_small",
                label="variance of each step",
                info=text.VARIANCE_INFO,
                elem_id="variance",
            )
        )
        return dict(order=order, eta=eta, spacing=spacing, variance=variance)

    def _views(self) -> SimpleNamespace:
        """The right column: the live step, x_t and x̂0, the scrubber, the schedule, then the run's results."""
        status = gr.Textbox(
            label="step",
            info="the step t → s shown: xₛ, the sample it drew (left), and x̂₀ from xₜ (right); a few frames a second",
            interactive=False,
            elem_id="status",
            placeholder="press Sample: the steps appear here as they happen",
        )
        # Titles as Markdown above the pictures: gradio's label badge sat on the pictures' top-left corner.
        with gr.Row():
            with gr.Column(min_width=200):
                xt = _titled_image(text.XT_TITLE, "xt-title", "xₜ: the noisy sample", "xt-image")
            with gr.Column(min_width=200):
                x0 = _titled_image(text.X0_TITLE, "x0-title", "x̂₀: the model's guess of the clean image", "x0-image")
        K = max(min(DEFAULT_STEPS, self.ctx.num_train_timesteps), 2)
        step_slider = gr.Slider(
            1,
            K,
            value=K,
            step=1,
            label=text.SLIDER_WAITING,
            interactive=False,
            elem_id="step-slider",
        )
        schedule = gr.Plot(
            plot_output(plot_schedule, self.ctx.pipe.scheduler),
            label="the noise schedule",
            show_label=False,  # the figure has its own titles; the badge sat on its corner
            elem_id="schedule-plot",
            format="png",
        )
        return SimpleNamespace(
            status=status, xt=xt, x0=x0, step_slider=step_slider, schedule=schedule, **self._results()
        )

    def _results(self) -> dict:
        """Below the live view: the final images, the trajectory, the filmstrip, the files and the JSON summary."""
        # Alone in its row, as tall as its rows: beside the trajectory it was stretched to that image's height and
        # showed one row of images above an empty area.
        gr.Markdown(text.FINAL_IMAGES_TITLE, elem_id="final-images-title", latex_delimiters=LATEX)
        gallery = gr.Gallery(
            label="final images",
            show_label=False,
            columns=8,
            height="auto",
            format="png",
            elem_id="final-images",
            elem_classes="pixelated",
            interactive=False,
        )
        # Its title is Markdown: gradio's label badge sat over the frame's own title ("step 1 / 40, …"). No fixed
        # height: scaled down, the pixelated view dropped rows of the captions' letters.
        gr.Markdown(text.trajectory_title(GIF_MAX_FRAMES), elem_id="animation-title", latex_delimiters=LATEX)
        with gr.Row():
            animation_view = gr.Image(
                label="trajectory",
                show_label=False,
                type="filepath",
                interactive=False,
                elem_id="animation",
                elem_classes="pixelated",
            )
        gr.Markdown(text.filmstrip_caption(FILMSTRIP_FRAMES, FILMSTRIP_IMAGES), latex_delimiters=LATEX)
        # No label: it would sit on top of the strip's first caption.
        filmstrip = picture(None, "filmstrip", elem_classes="pixelated")
        with gr.Row():
            animation_file = gr.File(label="trajectory animation (GIF)", elem_id="animation-file")
            grid_file = gr.File(label="final images (PNG grid)", elem_id="grid-file")
        with gr.Accordion("JSON summary (as a program calling the demo gets it)", open=False):
            summary = gr.JSON(label="summary", elem_id="summary")
        return dict(
            gallery=gallery,
            animation_view=animation_view,
            filmstrip=filmstrip,
            animation_file=animation_file,
            grid_file=grid_file,
            summary=summary,
        )

    def _wire(self, c: SimpleNamespace, v: SimpleNamespace, record: gr.State) -> None:
        """/sample (streamed, in the sampling queue); then, UI only, finishing the run and scrubbing its steps."""
        c.dice.click(lambda: random.randint(0, MAX_SEED), outputs=c.seed, **LOCAL)
        run = c.button.click(
            self.sample,
            inputs=[c.seed, c.num_images, c.steps, c.eta, c.spacing, c.variance, c.order],
            # The API's names of its outputs (README, view_api()); the State is not part of the API.
            outputs=[
                *api_outputs(
                    x_t=v.xt,
                    x0_hat=v.x0,
                    step=v.status,
                    images=v.gallery,
                    animation=v.animation_file,
                    grid=v.grid_file,
                    summary=v.summary,
                ),
                record,
            ],
            api_name="sample",
            **sample_queue(self.ctx.sample_concurrency),
            # One step counter on the page, the status box: the overlay where the result will be shows only the
            # queue position and the time (a second, bar counter ran ahead of or behind the pictures).
            show_progress="full",
            show_progress_on=[v.gallery],  # never over the streamed images
        )
        # UI-only events (not in the API): cheap, but they draw plots, so a few at a time, apart from /sample.
        run.success(
            self.finish,
            inputs=[record],
            outputs=[v.step_slider, v.filmstrip, v.animation_view, v.schedule],
            api_visibility="private",
            show_progress="hidden",
            **UI_QUEUE,
        )
        # The first look: a run at the defaults, recorded on the first page load and shown to every later one (the
        # slider scrubs it), so a newcomer does not meet seven empty boxes. Not a /sample run: nothing streams.
        root = gr.context.Context.root_block
        if root is not None:
            root.load(
                self.first_view,
                outputs=[
                    v.xt,
                    v.x0,
                    v.status,
                    v.gallery,
                    v.animation_file,
                    v.grid_file,
                    v.summary,
                    record,
                    v.step_slider,
                    v.filmstrip,
                    v.animation_view,
                    v.schedule,
                ],
                api_visibility="private",
                show_progress="full",
                show_progress_on=[v.gallery],
                **UI_QUEUE,
            )
        # .input: moved by the user only (a run's finish or the first look setting it would redraw what they drew)
        v.step_slider.input(
            self.scrub,
            inputs=[v.step_slider, record],
            outputs=[v.xt, v.x0, v.status, v.schedule],
            api_visibility="private",
            show_progress="hidden",
            trigger_mode="always_last",
            **UI_QUEUE,
        )

    # -- handlers -------------------------------------------------------------------------------------------
    @user_errors
    def sample(self, seed, num_images, num_inference_steps, eta, timestep_spacing, variance, order=1):
        """Sample images from pure noise, streaming x_t and x̂0 every few steps.

        Parameters:
            seed: integer in [0, 4294967295]; the same seed gives the same images, bit for bit
            num_images: how many images, 1 to 16
            num_inference_steps: K, the number of reverse steps, 1 to T (the model's training steps)
            eta: 0 (deterministic DDIM) to 1 (the DDPM posterior)
            timestep_spacing: which K of the T timesteps to visit: leading, linspace or trailing
            variance: the noise of each step t → s: fixed_small (β̃_{t|s}, the posterior's; β̃_t for one step),
                fixed_large (β_{t|s} = 1 − ᾱ_t/ᾱ_s, the forward process's; needs eta = 1) or analytic (Bao et al.'s
                optimal σ*², from the model folder's analytic_variance.json)
            order: 1, 2 or 3: the x̂0 each step's posterior is built from: 1 = the model's, 2 and 3 = extrapolated
                from the last steps' x̂0 (DPM-Solver++ multistep; at η = 1, order 2 is SDE-DPM-Solver++ 2M)
        Returns:
            x_t, x0_hat (grids) and step ("step k / K, t = …") in every update; images, animation, grid and
            summary are empty while it runs (images [], the others None) and, in the final update, the final
            images, the trajectory GIF, a PNG grid of the images and a JSON summary (seed, steps, eta,
            timesteps, seconds).
        """
        seed = check_seed(seed)
        num_images = check_int("num_images", num_images, 1, MAX_NUM_IMAGES)
        num_steps = check_int("num_inference_steps", num_inference_steps, 1, self.ctx.num_train_timesteps)
        eta = check_float("eta", eta, 0.0, 1.0, " (0 = deterministic DDIM, 1 = DDPM posterior)")
        spacing = check_choice("timestep_spacing", timestep_spacing, TIMESTEP_SPACINGS)
        variance = check_choice("variance", variance, tuple(VARIANCE_LABELS))
        order = check_int("order", order, ORDERS[0], ORDERS[-1])
        if variance == "fixed_large" and eta != 1.0:  # the library refuses it too, in its own terms
            raise ValueError(text.ETA_NEEDS_ONE)
        run = Run(seed, num_images, eta, spacing, variance, self.ctx.timestep_plan(spacing, num_steps), order)
        with self.ctx.store.run() as folder:
            xt_steps, x0_steps, seconds = yield from self._denoise(run)
            gif_path, grid_path = save_run(folder, run, xt_steps, x0_steps)
        yield final_update(self.ctx, run, xt_steps, x0_steps, seconds, folder, gif_path, grid_path)

    def _denoise(self, run: Run, live: bool = True):
        """Run the sampling loop, recording every step (uint8) and, when `live`, yielding a live update now and then;
        returns (x_t of every step, x̂0 of every step, seconds). The live view shows the first step at once, then at
        most one frame per ctx.frame_interval_s, as long as the frames cost at most ctx.frame_budget of the run's time
        and the run is not expected to end within FINAL_SOON_INTERVALS intervals (its final update shows it all)."""
        ctx, num_steps, chain = self.ctx, len(run.timesteps), run.chain
        C, H, W = ctx.pipe.image_shape
        # Every step is recorded, as uint8: at most 16 images × 1000 steps × C×H×W bytes, twice.
        xt_steps = np.empty((num_steps, run.num_images, H, W, C), dtype=np.uint8)
        x0_steps = np.empty_like(xt_steps)
        scale = display_scale(xt_steps[0])
        # A generator per request, seeded: concurrent requests never share random state.
        generator = torch.Generator().manual_seed(run.seed)
        start = time.perf_counter()
        steps = ctx.pipe.denoise(
            batch_size=run.num_images,
            generator=generator,
            timesteps=run.timesteps,
            eta=run.eta,
            variance_type=run.variance,
            progress=False,
            order=run.order,
        )
        first, last_frame, frame_seconds = True, -math.inf, 0.0
        for step in steps:
            k = step.index
            xt_steps[k] = to_uint8(step.sample, model_space=True)
            x0_steps[k] = to_uint8(step.pred_original_sample, model_space=True)
            now = time.perf_counter()
            remaining_s = (now - start) / (k + 1) * (num_steps - k - 1)  # at this run's pace so far
            if (
                live
                and k < num_steps - 1
                and now - last_frame >= ctx.frame_interval_s
                and (first or frame_seconds <= ctx.frame_budget * (now - start))
                and (first or remaining_s >= FINAL_SOON_INTERVALS * ctx.frame_interval_s)
            ):
                last_frame, first = now, False
                # Every frame is a complete update: the results are empty until the final one (None; a client sees
                # [] for the gallery). gr.skip() here would reach API clients as {"__type__": "update"} placeholders.
                label = text.step_label(k + 1, num_steps, *chain[k])
                yield grid_uint8(xt_steps[k], scale=scale), grid_uint8(x0_steps[k], scale=scale), label, *[None] * 5
                # what the frame cost this run: encoding, caching and sending happen before the generator resumes
                frame_seconds += time.perf_counter() - now
        return xt_steps, x0_steps, time.perf_counter() - start

    def _default_run(self) -> Run:
        """The run the controls' defaults describe, at FIRST_LOOK_SEED."""
        T, config = self.ctx.num_train_timesteps, self.ctx.pipe.scheduler.config
        variance = config.variance_type if config.variance_type in VARIANCE_LABELS else "fixed_small"
        timesteps = self.ctx.timestep_plan(DEFAULT_SPACING, min(DEFAULT_STEPS, T))
        return Run(
            FIRST_LOOK_SEED, DEFAULT_NUM_IMAGES, DEFAULT_ETA, DEFAULT_SPACING, variance, timesteps, DEFAULT_ORDER
        )

    def first_view(self) -> tuple:
        """The tab's first look (on page load): a run at the defaults, as a finished run shows it — x_t, x̂0, the
        step box, images, files, summary, the record, and what `finish` draws (slider, filmstrip, GIF, schedule).
        Sampled once, on the first load, into a folder of its own (never pruned: the slider keeps working)."""
        with self._first_look_lock:
            if self._first_look is None:
                run = self._default_run()
                folder = self.ctx.store.root / "first-look"
                folder.mkdir(parents=True, exist_ok=True)
                xt_steps, x0_steps, seconds = _result(self._denoise(run, live=False))
                gif_path, grid_path = save_run(folder, run, xt_steps, x0_steps)
                xt, x0, _, *results = final_update(
                    self.ctx, run, xt_steps, x0_steps, seconds, folder, gif_path, grid_path
                )
                label = text.first_look_label(run.seed, len(run.timesteps), *run.chain[-1])
                self._first_look = (xt, x0, label, *results, *self.finish(results[-1]))
            return self._first_look

    def finish(self, record):
        """After a run: enable the step slider, draw the filmstrip, play the GIF, mark the final t."""
        if not record:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        K = len(record["timesteps"])
        try:
            strip = filmstrip(record)
        except OSError:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        slider = gr.Slider(minimum=1, maximum=max(K, 2), value=K, step=1, interactive=K > 1, label=text.slider_label(K))
        plot = plot_output(
            plot_schedule,
            self.ctx.pipe.scheduler,
            t=record["timesteps"][-1],
            timesteps=record["timesteps"],
            sigma_star=record.get("sigma_star"),
        )
        return slider, strip, record["gif"], plot

    def scrub(self, step, record):
        """Show recorded step `step` (1 … K): its x_t, x̂0, label, and its t on the schedule plot."""
        if not record:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        timesteps = record["timesteps"]
        K = len(timesteps)
        k = min(max(int(round(float(step))), 1), K)
        loaded = load_step(record, k - 1)
        if loaded is None:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        xt, x0 = (np.ascontiguousarray(a) for a in loaded)
        scale = display_scale(xt)
        prev_t = timesteps[k] if k < K else -1
        plot = plot_output(
            plot_schedule,
            self.ctx.pipe.scheduler,
            t=timesteps[k - 1],
            timesteps=timesteps,
            sigma_star=record.get("sigma_star"),
        )
        return (
            grid_uint8(xt, scale=scale),
            grid_uint8(x0, scale=scale),
            text.step_label(k, K, timesteps[k - 1], prev_t),
            plot,
        )
