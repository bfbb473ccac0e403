"""Tab "Sample from noise": pure noise to images through `PosteriorDDPMPipeline.denoise`, x_t and x̂0 streamed
while it runs; afterwards a slider scrubs every recorded step, with a filmstrip, the trajectory GIF and the
noise schedule."""

from __future__ import annotations

import math
import random
import time
from pathlib import Path

import gradio as gr
import numpy as np
import torch

from pipelines.ddpm.plots import plot_schedule
from pipelines.ddpm.scheduler import TIMESTEP_SPACINGS
from pipelines.pictures.images import display_scale, grid_uint8, make_filmstrip, make_trajectory_gif, to_uint8
from ui.base import LATEX, UI_CONCURRENCY
from ui.context import DEFAULT_NUM_INFERENCE_STEPS, AppContext
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
from ui.text import sample as text

DEFAULT_NUM_IMAGES = 16
DEFAULT_ETA = 1.0
FILMSTRIP_FRAMES = 10
GIF_MAX_FRAMES = 30  # evenly spaced; noisy frames compress badly


def analytic_curve(pipe, timesteps: list[int], eta: float) -> tuple[list[int], list[float]]:
    """(t, σ*²) of each noisy step of the chain, as the sampler uses them (`analytic_variance`), for the schedule
    plot."""
    gamma, chain = pipe.analytic_gamma(), list(zip(timesteps, timesteps[1:] + [-1]))
    values = [pipe.scheduler.analytic_variance(t, s, gamma, eta, timesteps[-1]) for t, s in chain if s >= 0]
    return [t for t, s in chain if s >= 0], values


class SampleTab:
    """Sample from pure noise and watch x_t and x̂0 at every step; scrub, filmstrip, GIF, schedule plot."""

    title = "Sample from noise"

    def __init__(self, ctx: AppContext):
        self.ctx = ctx

    # -- layout ---------------------------------------------------------------------------------------------
    def layout(self) -> None:
        ctx = self.ctx
        config = ctx.pipe.scheduler.config
        T = ctx.num_train_timesteps
        default_variance = config.variance_type if config.variance_type in text.VARIANCES else "fixed_small"
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                with gr.Row(equal_height=True):
                    seed = integer_input(
                        gr.Number(
                            0, label="seed", info=f"integer in [0, {MAX_SEED}]", precision=None, elem_id="seed", scale=4
                        ),
                        0,
                        MAX_SEED,
                    )
                    dice = gr.Button("random", elem_id="random-seed", scale=1, min_width=60)
                num_images = integer_input(
                    gr.Slider(
                        1, MAX_NUM_IMAGES, value=DEFAULT_NUM_IMAGES, step=1, label="num_images", elem_id="num-images"
                    )
                )
                steps = integer_input(
                    gr.Slider(
                        1,
                        T,
                        value=min(DEFAULT_NUM_INFERENCE_STEPS, T),
                        step=1,
                        label="num_inference_steps (K)",
                        elem_id="num-steps",
                    )
                )
                eta = number_input(
                    gr.Slider(
                        0.0,
                        1.0,
                        value=DEFAULT_ETA,
                        step=0.05,
                        label="eta (η): 0 = DDIM, deterministic … 1 = DDPM posterior",
                        elem_id="eta",
                    )
                )
                spacing = unchecked(
                    gr.Radio(
                        list(TIMESTEP_SPACINGS),
                        value=config.timestep_spacing,
                        label="timestep spacing",
                        elem_id="spacing",
                    )
                )
                variance = unchecked(
                    gr.Radio(
                        [(label, key) for key, label in text.VARIANCES.items()],
                        value=default_variance,
                        label="variance of each step",
                        elem_id="variance",
                    )
                )
                button = gr.Button("Sample", variant="primary", elem_id="sample-button")
                gr.Markdown(text.SAMPLE_EXPLANATION, latex_delimiters=LATEX)
            with gr.Column(scale=3):
                status = gr.Textbox(
                    label="step",
                    info="the step whose xₜ and x̂₀ are shown, a few frames a second while it runs",
                    interactive=False,
                    elem_id="status",
                    placeholder="press Sample: the steps appear here as they happen",
                )
                # Titles as Markdown above the pictures: gradio's label badge sat on the pictures' top-left corner.
                with gr.Row():
                    with gr.Column(min_width=200):
                        gr.Markdown(text.XT_TITLE, elem_id="xt-title")
                        xt = gr.Image(
                            label="xₜ: the noisy sample",
                            show_label=False,
                            type="pil",
                            format="png",
                            interactive=False,
                            elem_id="xt-image",
                            elem_classes="pixelated",
                            height=300,
                        )
                    with gr.Column(min_width=200):
                        gr.Markdown(text.X0_TITLE, elem_id="x0-title")
                        x0 = gr.Image(
                            label="x̂₀: the model's guess of the clean image",
                            show_label=False,
                            type="pil",
                            format="png",
                            interactive=False,
                            elem_id="x0-image",
                            elem_classes="pixelated",
                            height=300,
                        )
                step_slider = gr.Slider(
                    1,
                    2,
                    value=1,
                    step=1,
                    label="scrub the recorded steps (after a run)",
                    interactive=False,
                    elem_id="step-slider",
                )
                schedule = gr.Plot(
                    plot_output(plot_schedule, ctx.pipe.scheduler),
                    label="the noise schedule",
                    show_label=False,  # the figure has its own titles; the badge sat on its corner
                    elem_id="schedule-plot",
                    format="png",
                )
                # Alone in its row, as tall as its rows: beside the trajectory it was stretched to that image's
                # height and showed one row of images above an empty area.
                gr.Markdown(text.FINAL_IMAGES_TITLE, elem_id="final-images-title")
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
                # Its title is Markdown: gradio's label badge sat over the frame's own title ("step 1 / 40, …"). No
                # fixed height: scaled down, the pixelated view dropped rows of the captions' letters.
                gr.Markdown(text.TRAJECTORY_TITLE, elem_id="animation-title")
                with gr.Row():
                    animation_view = gr.Image(
                        label="trajectory",
                        show_label=False,
                        type="filepath",
                        interactive=False,
                        elem_id="animation",
                        elem_classes="pixelated",
                    )
                gr.Markdown(text.filmstrip_caption(FILMSTRIP_FRAMES))
                # No label: it would sit on top of the strip's first caption.
                filmstrip = gr.Image(
                    show_label=False,
                    type="pil",
                    format="png",
                    interactive=False,
                    elem_id="filmstrip",
                    elem_classes="pixelated",
                )
                with gr.Row():
                    animation_file = gr.File(label="trajectory animation (GIF)", elem_id="animation-file")
                    grid_file = gr.File(label="final images (PNG grid)", elem_id="grid-file")
                with gr.Accordion("JSON summary (the API's last output)", open=False):
                    summary = gr.JSON(label="summary", elem_id="summary")
        record = gr.State(None)

        dice.click(lambda: random.randint(0, MAX_SEED), outputs=seed, api_visibility="private", queue=False)
        run = button.click(
            self.sample,
            inputs=[seed, num_images, steps, eta, spacing, variance],
            # The API's names of its outputs (README, view_api()); the State is not part of the API.
            outputs=[
                *api_outputs(
                    x_t=xt,
                    x0_hat=x0,
                    step=status,
                    images=gallery,
                    animation=animation_file,
                    grid=grid_file,
                    summary=summary,
                ),
                record,
            ],
            api_name="sample",
            concurrency_limit=ctx.sample_concurrency,
            concurrency_id="sample",
            # One step counter on the page, the status box: the overlay where the result will be shows only the
            # queue position and the time (a second, bar counter ran ahead of or behind the pictures).
            show_progress="full",
            show_progress_on=[gallery],  # never over the streamed images
        )
        # UI-only events (not in the API): cheap, but they draw plots, so a few at a time, apart from /sample.
        run.success(
            self.finish,
            inputs=[record],
            outputs=[step_slider, filmstrip, animation_view, schedule],
            api_visibility="private",
            show_progress="hidden",
            concurrency_limit=UI_CONCURRENCY,
            concurrency_id="ui",
        )
        step_slider.change(
            self.scrub,
            inputs=[step_slider, record],
            outputs=[xt, x0, status, schedule],
            api_visibility="private",
            show_progress="hidden",
            trigger_mode="always_last",
            concurrency_limit=UI_CONCURRENCY,
            concurrency_id="ui",
        )

    # -- handlers -------------------------------------------------------------------------------------------
    @user_errors
    def sample(self, seed, num_images, num_inference_steps, eta, timestep_spacing, variance):
        """Sample images from pure noise, streaming x_t and x̂0 every few steps.

        Parameters:
            seed: integer in [0, 4294967295]; the same seed gives the same images, bit for bit
            num_images: how many images, 1 to 16
            num_inference_steps: K, the number of reverse steps, 1 to T (the model's training steps)
            eta: 0 (deterministic DDIM) to 1 (the DDPM posterior)
            timestep_spacing: which K of the T timesteps to visit: leading, linspace or trailing
            variance: the noise of each step: fixed_small (β̃_t), fixed_large (β_t, needs eta = 1) or analytic
                (Bao et al.'s optimal σ*², from the model folder's analytic_variance.json)
        Returns:
            x_t, x0_hat (grids) and step ("step k / K, t = …") in every update; images, animation, grid and
            summary are empty while it runs (images [], the others None) and, in the final update, the final
            images, the trajectory GIF, a PNG grid of the images and a JSON summary (seed, steps, eta,
            timesteps, seconds).
        """
        ctx = self.ctx
        T = ctx.num_train_timesteps
        seed = check_seed(seed)
        num_images = check_int("num_images", num_images, 1, MAX_NUM_IMAGES)
        num_steps = check_int("num_inference_steps", num_inference_steps, 1, T)
        eta = check_float("eta", eta, 0.0, 1.0, " (0 = deterministic DDIM, 1 = DDPM posterior)")
        spacing = check_choice("timestep_spacing", timestep_spacing, TIMESTEP_SPACINGS)
        variance = check_choice("variance", variance, tuple(text.VARIANCES))
        timesteps = ctx.timestep_plan(spacing, num_steps)
        chain = list(zip(timesteps, timesteps[1:] + [-1]))
        C, H, W = ctx.pipe.image_shape
        # Every step is recorded, as uint8: at most 16 images × 1000 steps × C×H×W bytes, twice.
        xt_steps = np.empty((num_steps, num_images, H, W, C), dtype=np.uint8)
        x0_steps = np.empty_like(xt_steps)
        scale = display_scale(xt_steps[0])
        # A generator per request, seeded: concurrent requests never share random state.
        generator = torch.Generator().manual_seed(seed)

        with ctx.store.run() as folder:
            start = time.perf_counter()
            steps = ctx.pipe.denoise(
                batch_size=num_images,
                generator=generator,
                timesteps=timesteps,
                eta=eta,
                variance_type=variance,
                progress=False,
            )
            first, last_frame, frame_seconds = True, -math.inf, 0.0
            for step in steps:
                k = step.index
                xt_steps[k] = to_uint8(step.sample, model_space=True)
                x0_steps[k] = to_uint8(step.pred_original_sample, model_space=True)
                now = time.perf_counter()
                if (
                    k < num_steps - 1
                    and now - last_frame >= ctx.frame_interval_s
                    and (first or frame_seconds <= ctx.frame_budget * (now - start))
                ):
                    last_frame = now
                    # Every frame is a complete update: the results are empty until the final one (None; a
                    # client sees [] for the gallery). gr.skip() here would reach API clients as
                    # {"__type__": "update"} placeholders.
                    yield (
                        grid_uint8(xt_steps[k], scale=scale),
                        grid_uint8(x0_steps[k], scale=scale),
                        text.step_label(k + 1, num_steps, *chain[k]),
                        None,
                        None,
                        None,
                        None,
                        None,
                    )
                    first = False
                    # what the frame cost this run: encoding, caching and sending happen before the generator
                    # resumes
                    frame_seconds += time.perf_counter() - now
            seconds = time.perf_counter() - start

            captions = [f"step {k + 1} / {num_steps}, t = {t}" for k, (t, _) in enumerate(chain)]
            np.save(folder / "xt.npy", xt_steps)
            np.save(folder / "x0.npy", x0_steps)
            grid_path = folder / f"ddpm-seed{seed}.png"
            grid_uint8(xt_steps[-1]).save(grid_path)
            gif_path = make_trajectory_gif(
                xt_steps,
                x0_steps,
                captions,
                folder / f"ddpm-seed{seed}-trajectory.gif",
                max_frames=GIF_MAX_FRAMES,
                scale=2,
            )
        images = [(grid_uint8(xt_steps[-1, i : i + 1], padding=0), f"#{i}") for i in range(num_images)]
        summary = {
            "seed": seed,
            "num_images": num_images,
            "num_inference_steps": num_steps,
            "eta": eta,
            "timestep_spacing": spacing,
            "variance": variance,
            "timesteps": timesteps,
            "seconds": round(seconds, 3),
            "model": ctx.model_id,
            "image_shape": [C, H, W],
        }
        record = {"folder": str(folder), "timesteps": timesteps, "captions": captions, "gif": str(gif_path)}
        if variance == "analytic":  # the schedule plot marks each step's σ*²
            record["sigma_star"] = analytic_curve(ctx.pipe, timesteps, eta)
        final = f"{text.step_label(num_steps, num_steps, *chain[-1])} · done in {seconds:.2f} s"
        yield (
            grid_uint8(xt_steps[-1], scale=scale),
            grid_uint8(x0_steps[-1], scale=scale),
            final,
            images,
            str(gif_path),
            str(grid_path),
            summary,
            record,
        )

    def _load_step(self, record: dict, k: int) -> tuple[np.ndarray, np.ndarray] | None:
        folder = Path(record["folder"])
        try:
            # mmap: scrubbing reads one step, not the whole recording
            return np.load(folder / "xt.npy", mmap_mode="r")[k], np.load(folder / "x0.npy", mmap_mode="r")[k]
        except (OSError, ValueError, IndexError):
            gr.Warning("The recorded steps of this run were cleaned up; press Sample again.")
            return None

    def finish(self, record):
        """After a run: enable the step slider, draw the filmstrip, play the GIF, mark the final t."""
        if not record:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        K = len(record["timesteps"])
        folder = Path(record["folder"])
        try:
            xt_steps = np.load(folder / "xt.npy", mmap_mode="r")
            x0_steps = np.load(folder / "x0.npy", mmap_mode="r")
            captions = [f"t = {t}" for t in record["timesteps"]]
            filmstrip = make_filmstrip(xt_steps, x0_steps, captions, num_frames=FILMSTRIP_FRAMES)
        except OSError:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        slider = gr.Slider(
            minimum=1, maximum=max(K, 2), value=K, step=1, interactive=K > 1, label=f"scrub the recorded steps: 1 … {K}"
        )
        plot = plot_output(
            plot_schedule,
            self.ctx.pipe.scheduler,
            t=record["timesteps"][-1],
            timesteps=record["timesteps"],
            sigma_star=record.get("sigma_star"),
        )
        return slider, filmstrip, record["gif"], plot

    def scrub(self, step, record):
        """Show recorded step `step` (1 … K): its x_t, x̂0, label, and its t on the schedule plot."""
        if not record:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        timesteps = record["timesteps"]
        K = len(timesteps)
        k = min(max(int(round(float(step))), 1), K)
        loaded = self._load_step(record, k - 1)
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
