"""The Gradio demo: sample from noise and watch every DDPM denoising step, live.

    python app.py [--model PATH_OR_HUB_ID] [--host 127.0.0.1] [--port 7860]

Layout + event wiring + API names only. Every image comes from `PosteriorDDPMPipeline.denoise` (the one
sampling loop) and every picture from `pipelines.visualize`; there is no diffusion math in this file.

Adding a tab: write a class with a `title`, a `layout()` that builds its components and wires its handlers
(methods of the class, so the API parameter names are the methods' parameter names), and add it to `TABS`.
"""

from __future__ import annotations

import os

# Offline by default, before gradio / huggingface_hub read their settings.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DIFFUSERS_NO_ADVISORY_WARNINGS", "1")

import argparse
import atexit
import math
import numbers
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import gradio as gr
import numpy as np
import torch

from pipelines import PosteriorDDPMPipeline, PosteriorDDPMScheduler
from pipelines.scheduling_ddpm_posterior import TIMESTEP_SPACINGS
from pipelines.visualize import (
    display_scale,
    grid_uint8,
    make_filmstrip,
    make_trajectory_gif,
    plot_schedule,
    to_uint8,
)

# ---------------------------------------------------------------------------------------------- settings
DEFAULT_MODEL = "models/ddpm-mnist"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
# The one place the default step count lives: chosen so 16 images take about 5 s on 2 CPU cores.
DEFAULT_NUM_INFERENCE_STEPS = 50
DEFAULT_NUM_IMAGES = 16
MAX_NUM_IMAGES = 16
MAX_SEED = 2**32 - 1  # fits a JavaScript number exactly, so the browser never rounds a seed
DEFAULT_ETA = 1.0
VARIANCES = {"fixed_small": "β̃_t (posterior variance)", "fixed_large": "β_t"}

MAX_STREAMED_FRAMES = 50  # frames sent to the browser per run; every step is still recorded
FILMSTRIP_FRAMES = 10
GIF_MAX_FRAMES = 60
SAMPLE_CONCURRENCY = 2  # /sample runs at once; more wait in the queue
UI_CONCURRENCY = 4  # scrubbing / finishing events at once
QUEUE_MAX_SIZE = 32
DELETE_CACHE = (600, 3600)  # gradio's cached files: every 10 min, delete those older than 1 h
RUN_MAX_AGE_S = 3600  # our per-run folders (recorded steps, GIF, PNG): same age limit …
RUN_MAX_BYTES = 1 << 30  # … and at most 1 GiB in all, oldest deleted first

CSS = """
/* 32×32 digits shown large must stay crisp pixels */
.pixelated img { image-rendering: pixelated; }
"""

EXPLANATION = """
**xₜ** (left) is the noisy sample: pure Gaussian noise at t = T, an image at t = 0. Each step draws the next,
less noisy one from p_θ(xₜ₋₁ | xₜ); the picture shown is the sample just drawn.

**x̂₀** (right) is the network's one-shot guess of the final image from xₜ (Ho et al. eq. 15): a blurry average
of plausible digits early, sharp at the end. p_θ is the true posterior q(xₜ₋₁ | xₜ, x₀) with x₀ replaced by x̂₀.

**η (eta)** scales the noise added at each step: 1 = DDPM's posterior (stochastic), 0 = DDIM (deterministic:
the seed then fixes only the starting noise). With few steps, small η usually looks cleaner.

**Steps** trade time for fidelity: the run visits K of the T training timesteps (the spacing decides which);
the cost is linear in K, and the chain matches training exactly only at K = T. The **variance** is the noise
of each step: β̃ₜ (the posterior's, eq. 7) or βₜ (an upper bound; needs η = 1).
"""


class ModelError(ValueError):
    """The --model argument does not name a usable DDPM pipeline; the message says why, in one line."""


# ---------------------------------------------------------------------------------------------- model loading
def load_model(model: str, device: str = "auto") -> PosteriorDDPMPipeline:
    """Load a DDPM pipeline from a local folder or a Hub repo id; ModelError (one line) if it is not one.

    `pipelines.hub.load_pipeline` checks the folder or repo before any weights are read (exactly a UNet2DModel
    `unet` and a DDPM-family scheduler, safetensors weights). The default model is a local folder: when it is
    missing, say so rather than ask the Hub for a repo of that name."""
    from diffusers.utils import logging as diffusers_logging

    from pipelines.hub import HubError, load_pipeline

    if model == DEFAULT_MODEL and not Path(model).exists():
        raise ModelError(f"model folder {model} does not exist: train it (see README) or pass --model PATH_OR_HUB_ID")
    diffusers_logging.disable_progress_bar()  # a server log wants no "Loading pipeline components" bar
    try:
        pipe = load_pipeline(model)
    except HubError as exc:
        raise ModelError(_first_line(exc)) from None
    except Exception as exc:  # a broken folder can fail in many ways; the user needs the reason, not a traceback
        raise ModelError(f"cannot load {model}: {type(exc).__name__}: {_first_line(exc)}") from None
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else repr(exc)


# ---------------------------------------------------------------------------------------------- per-run files
class RunStore:
    """Per-run folders under gradio's cache folder, deleted by age and total size so they never pile up.

    Each /sample run writes its recorded steps, GIF and PNG into its own folder; folders of runs still in
    progress are never deleted. Gradio copies the files it serves into its own cache, which `delete_cache`
    cleans."""

    def __init__(self, root: Path | None = None, max_age_s: float = RUN_MAX_AGE_S, max_bytes: int = RUN_MAX_BYTES):
        base = Path(gr.utils.get_upload_folder()) / "ddpm-demo"
        self.root = root or base / f"runs-{os.getpid()}"
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_age_s = max_age_s
        self.max_bytes = max_bytes
        self._active: set[Path] = set()
        self._lock = threading.Lock()
        if root is None:
            _remove_dead_siblings(base, self.root)
            atexit.register(shutil.rmtree, self.root, True)

    @contextmanager
    def run(self) -> Iterator[Path]:
        """A fresh folder for one run; protected from pruning until the run ends."""
        self.prune()
        folder = Path(tempfile.mkdtemp(prefix="run-", dir=self.root))
        with self._lock:
            self._active.add(folder)
        try:
            yield folder
        finally:
            with self._lock:
                self._active.discard(folder)

    def prune(self) -> None:
        """Delete finished runs older than max_age_s, then the oldest until the total is under max_bytes."""
        with self._lock:
            active = set(self._active)
        runs = []
        for folder in self.root.glob("run-*"):
            try:
                size = sum(f.stat().st_size for f in folder.iterdir())
                runs.append((folder.stat().st_mtime, size, folder))
            except OSError:
                continue  # deleted by a concurrent prune
        runs.sort()
        total = sum(size for _, size, _ in runs)
        now = time.time()
        for mtime, size, folder in runs:
            if folder in active:
                continue
            if now - mtime > self.max_age_s or total > self.max_bytes:
                shutil.rmtree(folder, ignore_errors=True)
                total -= size


def _remove_dead_siblings(base: Path, own: Path) -> None:
    """Run folders left by app processes that no longer exist (killed before their atexit ran)."""
    for folder in base.glob("runs-*"):
        try:
            pid = int(folder.name.split("-", 1)[1])
        except ValueError:
            continue
        if folder == own:
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            pass  # alive but not ours


# ---------------------------------------------------------------------------------------------- input checks
def check_int(name: str, value, low: int, high: int) -> int:
    """An integer (or an integral float, as JSON numbers arrive) in [low, high]; gr.Error naming `name` else."""
    message = f"{name} must be an integer in [{low}, {high}], got {value!r}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise gr.Error(message, print_exception=False)
    if not isinstance(value, numbers.Integral):
        if not math.isfinite(value) or not float(value).is_integer():
            raise gr.Error(message, print_exception=False)
        value = int(value)
    if not low <= value <= high:
        raise gr.Error(message, print_exception=False)
    return int(value)


def check_float(name: str, value, low: float, high: float, meaning: str = "") -> float:
    """A finite number in [low, high]; gr.Error naming `name` else."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value)
            or not low <= value <= high):
        raise gr.Error(f"{name} must be a number in [{low:g}, {high:g}]{meaning}, got {value!r}",
                       print_exception=False)
    return float(value)


def check_choice(name: str, value, choices) -> str:
    if not isinstance(value, str) or value not in choices:
        raise gr.Error(f"{name} must be one of {', '.join(choices)}; got {value!r}", print_exception=False)
    return value


def unchecked(component: gr.components.Component) -> gr.components.Component:
    """Let the component's value reach the handler as sent, so that the handler's check names the input and its
    range (gradio's own check says only "Value 0 is less than minimum value 1"). For a valid value, a Slider's
    or Radio's preprocess returns it unchanged anyway. Set on the instance: subclassing a component makes
    gradio write a .pyi file next to this one."""
    component.preprocess = lambda payload: payload
    return component


# ---------------------------------------------------------------------------------------------- shared state
@dataclass
class AppContext:
    """What every tab shares: the one pipeline (loaded once; safe to share, its scheduler is stateless) and the
    run store. `schedulers` holds one scheduler per timestep spacing, used only to plan timesteps."""

    pipe: PosteriorDDPMPipeline
    model_id: str
    store: RunStore = field(default_factory=RunStore)
    sample_concurrency: int = SAMPLE_CONCURRENCY
    schedulers: dict[str, PosteriorDDPMScheduler] = field(init=False)

    def __post_init__(self):
        config = self.pipe.scheduler.config
        self.schedulers = {s: PosteriorDDPMScheduler.from_config(config, timestep_spacing=s) for s in TIMESTEP_SPACINGS}

    @property
    def num_train_timesteps(self) -> int:
        return int(self.pipe.scheduler.config.num_train_timesteps)

    def timestep_plan(self, spacing: str, num_inference_steps: int) -> list[int]:
        """The descending timesteps of a K-step run with this spacing (the scheduler's rule, not ours)."""
        return self.schedulers[spacing].timestep_plan(num_inference_steps).tolist()


def step_label(k: int, num_steps: int, t: int, prev_t: int) -> str:
    """"step k / K, t = 779 → 759": step k took x at t to the sample shown (x₀ on the last step)."""
    return f"step {k} / {num_steps}, t = {t} → {prev_t if prev_t >= 0 else 'x₀'}"


# ---------------------------------------------------------------------------------------------- tab: sample
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
        default_variance = config.variance_type if config.variance_type in VARIANCES else "fixed_small"
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                with gr.Row(equal_height=True):
                    seed = gr.Number(0, label="seed", info=f"integer in [0, {MAX_SEED}]", precision=None,
                                     elem_id="seed", scale=4)
                    dice = gr.Button("random", elem_id="random-seed", scale=1, min_width=60)
                num_images = unchecked(gr.Slider(1, MAX_NUM_IMAGES, value=DEFAULT_NUM_IMAGES, step=1,
                                                 label="num_images", elem_id="num-images"))
                steps = unchecked(gr.Slider(1, T, value=min(DEFAULT_NUM_INFERENCE_STEPS, T), step=1,
                                            label="num_inference_steps (K)", elem_id="num-steps"))
                eta = unchecked(gr.Slider(0.0, 1.0, value=DEFAULT_ETA, step=0.05,
                                          label="eta (η): 0 = DDIM, deterministic … 1 = DDPM posterior",
                                          elem_id="eta"))
                spacing = unchecked(gr.Radio(list(TIMESTEP_SPACINGS), value=config.timestep_spacing,
                                             label="timestep spacing", elem_id="spacing"))
                variance = unchecked(gr.Radio([(label, key) for key, label in VARIANCES.items()],
                                              value=default_variance, label="variance of each step",
                                              elem_id="variance"))
                button = gr.Button("Sample", variant="primary", elem_id="sample-button")
                gr.Markdown(EXPLANATION)
            with gr.Column(scale=3):
                status = gr.Textbox(label="step", interactive=False, elem_id="status",
                                    placeholder="press Sample: the steps appear here as they happen")
                with gr.Row():
                    xt = gr.Image(label="x_t: the noisy sample", type="pil", format="png", interactive=False,
                                  elem_id="xt-image", elem_classes="pixelated", height=300)
                    x0 = gr.Image(label="x̂0: the model's guess of the clean image", type="pil", format="png",
                                  interactive=False, elem_id="x0-image", elem_classes="pixelated", height=300)
                step_slider = gr.Slider(1, 2, value=1, step=1, label="scrub the recorded steps (after a run)",
                                        interactive=False, elem_id="step-slider")
                schedule = gr.Plot(plot_schedule(ctx.pipe.scheduler), label="the noise schedule",
                                   elem_id="schedule-plot", format="png")
                with gr.Row():
                    gallery = gr.Gallery(label="final images", columns=8, height="auto", format="png",
                                         elem_id="final-images", elem_classes="pixelated", interactive=False)
                    animation_view = gr.Image(label="trajectory", type="filepath", interactive=False,
                                              elem_id="animation", elem_classes="pixelated", height=300)
                gr.Markdown(f"**Filmstrip**: {FILMSTRIP_FRAMES} evenly spaced steps of the run, noise (left) to "
                            "image (right); for each of the first images, x_t above x̂0.")
                # No label: it would sit on top of the strip's first caption.
                filmstrip = gr.Image(show_label=False, type="pil", format="png", interactive=False,
                                     elem_id="filmstrip", elem_classes="pixelated")
                with gr.Row():
                    animation_file = gr.File(label="trajectory animation (GIF)", elem_id="animation-file")
                    grid_file = gr.File(label="final images (PNG grid)", elem_id="grid-file")
                summary = gr.JSON(label="summary", elem_id="summary")
        record = gr.State(None)

        dice.click(lambda: random.randint(0, MAX_SEED), outputs=seed, api_visibility="private", queue=False)
        run = button.click(
            self.sample,
            inputs=[seed, num_images, steps, eta, spacing, variance],
            outputs=[xt, x0, status, gallery, animation_file, grid_file, summary, record],
            api_name="sample",
            concurrency_limit=ctx.sample_concurrency,
            concurrency_id="sample",
            show_progress="full",
            show_progress_on=[gallery],  # the bar goes where the result will be, never over the streamed images
        )
        # UI-only events (not in the API): cheap, but they draw plots, so a few at a time, apart from /sample.
        run.success(self.finish, inputs=[record], outputs=[step_slider, filmstrip, animation_view, schedule],
                    api_visibility="private", show_progress="hidden", concurrency_limit=UI_CONCURRENCY,
                    concurrency_id="ui")
        step_slider.change(self.scrub, inputs=[step_slider, record], outputs=[xt, x0, status, schedule],
                           api_visibility="private", show_progress="hidden", trigger_mode="always_last",
                           concurrency_limit=UI_CONCURRENCY, concurrency_id="ui")

    # -- handlers -------------------------------------------------------------------------------------------
    def sample(self, seed, num_images, num_inference_steps, eta, timestep_spacing, variance,
               progress=gr.Progress()):
        """Sample images from pure noise, streaming x_t and x̂0 every few steps.

        Parameters:
            seed: integer in [0, 4294967295]; the same seed gives the same images, bit for bit
            num_images: how many images, 1 to 16
            num_inference_steps: K, the number of reverse steps, 1 to T (the model's training steps)
            eta: 0 (deterministic DDIM) to 1 (the DDPM posterior)
            timestep_spacing: which K of the T timesteps to visit: leading, linspace or trailing
            variance: the noise of each step: fixed_small (β̃_t) or fixed_large (β_t, needs eta = 1)
        Returns:
            x_t grid, x̂0 grid and "step k / K, t = …" while running; when done also the final images, the
            trajectory GIF, a PNG grid of the images and a JSON summary (seed, steps, eta, timesteps, seconds).
        """
        ctx = self.ctx
        T = ctx.num_train_timesteps
        seed = check_int("seed", seed, 0, MAX_SEED)
        num_images = check_int("num_images", num_images, 1, MAX_NUM_IMAGES)
        num_steps = check_int("num_inference_steps", num_inference_steps, 1, T)
        eta = check_float("eta", eta, 0.0, 1.0, " (0 = deterministic DDIM, 1 = DDPM posterior)")
        spacing = check_choice("timestep_spacing", timestep_spacing, TIMESTEP_SPACINGS)
        variance = check_choice("variance", variance, tuple(VARIANCES))
        if variance == "fixed_large" and eta != 1.0:
            raise gr.Error(f"variance fixed_large (β_t) needs eta = 1, got eta = {eta:g}: η < 1 is defined for "
                           "the posterior variance β̃_t (fixed_small) only", print_exception=False)
        timesteps = ctx.timestep_plan(spacing, num_steps)
        chain = list(zip(timesteps, timesteps[1:] + [-1]))
        C, H, W = ctx.pipe.image_shape
        # Every step is recorded, as uint8: at most 16 images × 1000 steps × C×H×W bytes, twice.
        xt_steps = np.empty((num_steps, num_images, H, W, C), dtype=np.uint8)
        x0_steps = np.empty_like(xt_steps)
        scale = display_scale(xt_steps[0])
        stride = math.ceil(num_steps / MAX_STREAMED_FRAMES)
        # A generator per request, seeded: concurrent requests never share random state.
        generator = torch.Generator().manual_seed(seed)
        skip = gr.skip()

        with ctx.store.run() as folder:
            start = time.perf_counter()
            try:
                steps = ctx.pipe.denoise(batch_size=num_images, generator=generator, timesteps=timesteps, eta=eta,
                                         variance_type=variance, progress=False)
                first = True
                for step in steps:
                    k = step.index
                    xt_steps[k] = to_uint8(step.sample, model_space=True)
                    x0_steps[k] = to_uint8(step.pred_original_sample, model_space=True)
                    progress((k + 1, num_steps), desc=step_label(k + 1, num_steps, *chain[k]), unit="steps")
                    if k % stride == 0 and k < num_steps - 1:
                        # The first frame clears the previous run's results; later ones leave them alone.
                        done = None if first else skip
                        yield (grid_uint8(xt_steps[k], scale=scale), grid_uint8(x0_steps[k], scale=scale),
                               step_label(k + 1, num_steps, *chain[k]), done, done, done, done, None if first else skip)
                        first = False
            except ValueError as exc:  # the pipeline's own checks, e.g. a scheduler that refuses a plan
                raise gr.Error(str(exc), print_exception=False) from None
            seconds = time.perf_counter() - start

            captions = [f"step {k + 1} / {num_steps}, t = {t}" for k, (t, _) in enumerate(chain)]
            np.save(folder / "xt.npy", xt_steps)
            np.save(folder / "x0.npy", x0_steps)
            grid_path = folder / f"ddpm-seed{seed}.png"
            grid_uint8(xt_steps[-1]).save(grid_path)
            gif_path = make_trajectory_gif(xt_steps, x0_steps, captions, folder / f"ddpm-seed{seed}-trajectory.gif",
                                           max_frames=GIF_MAX_FRAMES, scale=2)
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
        final = f"{step_label(num_steps, num_steps, *chain[-1])} · done in {seconds:.2f} s"
        yield (grid_uint8(xt_steps[-1], scale=scale), grid_uint8(x0_steps[-1], scale=scale), final, images,
               str(gif_path), str(grid_path), summary, record)

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
        slider = gr.Slider(minimum=1, maximum=max(K, 2), value=K, step=1, interactive=K > 1,
                           label=f"scrub the recorded steps: 1 … {K}")
        plot = plot_schedule(self.ctx.pipe.scheduler, t=record["timesteps"][-1], timesteps=record["timesteps"])
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
        plot = plot_schedule(self.ctx.pipe.scheduler, t=timesteps[k - 1], timesteps=timesteps)
        return (grid_uint8(xt, scale=scale), grid_uint8(x0, scale=scale),
                step_label(k, K, timesteps[k - 1], prev_t), plot)


TABS: list[type] = [SampleTab]


# ---------------------------------------------------------------------------------------------- app
def build_demo(ctx: AppContext, tabs: list[type] | None = None) -> gr.Blocks:
    """The Blocks app: a header, then one tab per class in `tabs` (default TABS), queued."""
    C, H, W = ctx.pipe.image_shape
    with gr.Blocks(title="DDPM, step by step", analytics_enabled=False, delete_cache=DELETE_CACHE) as demo:
        gr.Markdown(
            f"# DDPM, step by step\nModel **{ctx.model_id}**: {C}×{H}×{W} images, "
            f"T = {ctx.num_train_timesteps} training steps, "
            f"{ctx.pipe.scheduler.config.prediction_type} prediction. "
            "Every image below is one step of the same sampling loop (`PosteriorDDPMPipeline.denoise`)."
        )
        with gr.Tabs():
            for tab_class in tabs or TABS:
                tab = tab_class(ctx)
                with gr.Tab(tab.title):
                    tab.layout()
    demo.queue(max_size=QUEUE_MAX_SIZE, default_concurrency_limit=1)
    return demo


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="DDPM demo: watch every denoising step.")
    parser.add_argument("--model", default=os.environ.get("DDPM_MODEL", DEFAULT_MODEL),
                        help=f"model folder or Hub repo id (env DDPM_MODEL; default {DEFAULT_MODEL})")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", DEFAULT_HOST),
                        help=f"address to listen on (env GRADIO_SERVER_NAME; default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=None,
                        help=f"port (env GRADIO_SERVER_PORT; default {DEFAULT_PORT})")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                        help="where the UNet runs (auto: cuda when available)")
    args = parser.parse_args(argv)
    if args.port is None:
        env_port = os.environ.get("GRADIO_SERVER_PORT", str(DEFAULT_PORT))
        try:
            args.port = int(env_port)
        except ValueError:
            parser.error(f"GRADIO_SERVER_PORT must be an integer port, got {env_port!r}")
    if not 0 < args.port < 65536:
        parser.error(f"--port must be in [1, 65535], got {args.port}")
    return args


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        pipe = load_model(args.model, args.device)
    except ModelError as exc:
        print(f"app.py: error: --model {args.model}: {exc}", file=sys.stderr)
        sys.exit(2)
    demo = build_demo(AppContext(pipe=pipe, model_id=args.model))
    # SIGTERM (docker, Spaces, CI) shuts down like Ctrl-C: the server closes and the run folders are removed.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        demo.launch(server_name=args.host, server_port=args.port, theme=gr.themes.Default(), css=CSS,
                    ssr_mode=False, show_error=False)
    except OSError as exc:  # e.g. the port is taken
        print(f"app.py: error: cannot serve on {args.host}:{args.port}: {_first_line(exc)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
