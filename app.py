"""The Gradio demo: sample from noise and watch every DDPM denoising step, live; then see why p_θ is learned
(tractable vs exact data-set vs learned reverse step, and the exact sampler that can only copy its data).

    python app.py [--model PATH_OR_HUB_ID] [--host 127.0.0.1] [--port 7860]

Layout + event wiring + API names only. Every sample comes from `PosteriorDDPMPipeline.denoise` (the one
sampling loop) or, on the posterior tabs, from `pipelines.exact_posterior`; every picture from
`pipelines.visualize`; there is no diffusion math in this file.

Adding a tab: write a class with a `title`, a `layout()` that builds its components and wires its handlers
(methods of the class, so the API parameter names are the methods' parameter names), and add it to `TABS`.
`build_demo` sets `tab.block` (its gr.Tab) before calling `layout()`, so a tab may react to being opened.
"""

from __future__ import annotations

import os

# Offline by default, before gradio / huggingface_hub read their settings.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DIFFUSERS_NO_ADVISORY_WARNINGS", "1")

import argparse
import atexit
import heapq
import json
import math
import numbers
import random
import shutil
import signal
import statistics
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

from pipelines import DatasetPosterior, PosteriorDDPMPipeline, PosteriorDDPMScheduler
from pipelines.exact_posterior import (
    COPY_DISTANCE,
    ESTIMATE_NAMES,
    compare_estimates,
    compare_samplers,
    explain_comparison,
    measure_step_cost,
    plot_step_cost,
    prepare_digit,
)
from pipelines.scheduling_ddpm_posterior import TIMESTEP_SPACINGS
from pipelines.visualize import (
    display_scale,
    grid_uint8,
    labelled_row,
    make_filmstrip,
    make_trajectory_gif,
    plot_schedule,
    to_uint8,
)

# ---------------------------------------------------------------------------------------------- settings
DEFAULT_MODEL = "models/ddpm-mnist"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
# The one place the default step count lives. For the default model (models/ddpm-mnist, its card has the table):
# 40 DDPM steps draw 16 digits in 2.2 s on 2 cores (bench/bench_quality.py; 60 steps 3.2 s) and, on 1,000
# samples × 3 seeds, match 1000-step quality: FID 2.04× its floor on average (1000 steps: 2.03×), 0.908 confident.
DEFAULT_NUM_INFERENCE_STEPS = 40
DEFAULT_NUM_IMAGES = 16
MAX_NUM_IMAGES = 16
MAX_SEED = 2**32 - 1  # fits a JavaScript number exactly, so the browser never rounds a seed
DEFAULT_ETA = 1.0
VARIANCES = {"fixed_small": "β̃_t (posterior variance)", "fixed_large": "β_t"}

# The live view sends a frame at most every FRAME_INTERVAL_S (and always the first step), and only while the
# frames so far cost at most FRAME_BUDGET of the run's time: each frame is two PNGs encoded, cached and sent to
# every viewer, so a fast model streaming every step spends more time showing than sampling
# (bench/bench_streaming.py). Every step is still recorded for the slider and the GIF.
FRAME_INTERVAL_S = 0.25
FRAME_BUDGET = 0.05
FILMSTRIP_FRAMES = 10
GIF_MAX_FRAMES = 30  # evenly spaced; noisy frames compress badly (16 images × 60 frames: ~5 MB)
SAMPLE_CONCURRENCY = 2  # /sample runs at once; more wait in the queue
UI_CONCURRENCY = 4  # scrubbing / finishing events at once
QUEUE_MAX_SIZE = 32
DELETE_CACHE = (600, 3600)  # gradio's cached files: every 10 min, delete those older than 1 h
RUN_MAX_AGE_S = 3600  # our per-run folders (recorded steps, GIF, PNG): same age limit …
DEFAULT_MAX_TEMP_MB = 1024  # … and a size bound on all temporary files (half runs, half served files)

# The two posterior tabs: the exact posterior runs over the mnist train digits, so they need an MNIST-shaped model.
MNIST_SHAPE = (1, 32, 32)
POSTERIOR_CONCURRENCY = 2  # /posterior is one UNet call and one pass over the data: cheap, but not free
DEFAULT_POSTERIOR_T = 300
GALLERY_PER_CLASS = 2  # the "pick a training digit" gallery: the first 2 train digits of each class
DEFAULT_EXACT_NUM_IMAGES = 8
# Uploads are checked from the file's size and header before any pixel is decoded. A digit needs few pixels.
MAX_UPLOAD_BYTES = 2 << 20
MAX_UPLOAD_SIDE = 1024
MIN_UPLOAD_SIDE = 8
UPLOAD_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "WEBP": "WebP", "BMP": "BMP", "GIF": "GIF"}
# gradio's own limit on any upload, above ours, so that ours (which names the input) is the one users meet.
SERVER_MAX_FILE_SIZE = "10mb"
SKETCH_CANVAS = (280, 280)  # 10× a 28×28 MNIST digit
DISPLAY_SCALE = 4  # 32×32 digits shown at 128×128
COST_BENCH_JSON = Path(__file__).resolve().parent / "bench" / "results" / "exact_posterior.json"
QUICK_COST_SIZES = (100, 500, 1000, 2000, 4500)  # when the benchmark's JSON is missing: measured at first use
QUICK_COST_REPEATS = 3

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
    if torch.device(device).type == "cpu":
        pipe.use_channels_last()  # ~10 % less UNet time on CPU (bench/bench_sampling.py)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else repr(exc)


# ---------------------------------------------------------------------------------------------- per-run files
class RunStore:
    """Per-run folders under gradio's cache folder, deleted by age and total size so they never pile up.

    Each /sample run writes its recorded steps, GIF and PNG into its own folder; folders of runs still in
    progress are never deleted. Gradio copies every file it serves (each streamed frame, each result) into its
    own cache and `delete_cache` removes them only by age; `served` (a ServedFiles, set by build_demo) lets
    `prune` bound their total size as well, so the temporary files of a busy server stay under
    `max_bytes + max_served_bytes` whatever the traffic."""

    def __init__(self, root: Path | None = None, max_age_s: float = RUN_MAX_AGE_S,
                 max_bytes: int = DEFAULT_MAX_TEMP_MB << 19, max_served_bytes: int = DEFAULT_MAX_TEMP_MB << 19):
        base = Path(gr.utils.get_upload_folder()) / "ddpm-demo"
        self.root = root or base / f"runs-{os.getpid()}"
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_age_s = max_age_s
        self.max_bytes = max_bytes
        self.max_served_bytes = max_served_bytes
        self.served: ServedFiles | None = None  # set by build_demo
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
        if self.served is not None:
            self.served.prune()


class ServedFiles:
    """Gradio's cache folder kept under `max_bytes`: the oldest files are deleted first.

    Gradio writes each image it sends (every streamed frame, every gallery image) into a folder of its own under
    its cache, and tracks only some of them for its age-based `delete_cache`: so the app bounds the cache itself.
    Never deleted: the folder `keep` (the run store, bounded on its own) and the components' `keep_in_cache` files
    (their initial values, e.g. the digit gallery).

    `prune` runs on every request, so it must not walk the whole cache (4,000 cached files took 0.5 s a request,
    bench_streaming.py): the index is incremental. Each prune lists the cache's top level (one scandir, no stat
    per entry), reads only the folders it has not seen, and drops the ones that vanished; a full rescan every
    RESCAN_S seconds also catches files added to or removed from folders it knows. A prune already running in
    another thread is not waited for."""

    RESCAN_S = 300.0

    def __init__(self, blocks: gr.Blocks, max_bytes: int, keep: Path):
        self.blocks = blocks
        self.max_bytes = max_bytes
        self.cache = os.path.realpath(gr.utils.get_upload_folder())
        keep = os.path.realpath(keep)
        self.keep_name = os.path.basename(keep) if os.path.dirname(keep) == self.cache else None
        self._folders: dict[str, tuple[int, int, list[str]]] = {}  # name → (generation, bytes, its files)
        self._oldest: list[tuple[float, int, str]] = []  # heap of (mtime, generation, name)
        self._kept: set[str] = set()
        self._total = 0
        self._generation = 0
        self._last_rescan = -math.inf
        self._lock = threading.Lock()

    @property
    def total_bytes(self) -> int:
        """The bytes of the cached files the index knows (after the last prune)."""
        return self._total

    def prune(self) -> None:
        """Update the index, then delete the oldest folders' files until the total is at most max_bytes."""
        if not self._lock.acquire(blocking=False):
            return
        try:
            self._update()
            while self._total > self.max_bytes and self._oldest:
                _, generation, name = heapq.heappop(self._oldest)
                entry = self._folders.get(name)
                if entry is None or entry[0] != generation:
                    continue  # vanished or re-indexed since it was pushed
                del self._folders[name]
                self._total -= entry[1]
                for path in entry[2]:
                    try:
                        os.remove(path)
                    except OSError:
                        pass  # already gone
                try:
                    os.rmdir(os.path.join(self.cache, name))  # once empty (a kept file stays)
                except OSError:
                    pass
        finally:
            self._lock.release()

    def _update(self) -> None:
        now = time.monotonic()
        if now - self._last_rescan >= self.RESCAN_S:
            self._last_rescan = now
            self._folders.clear()
            self._oldest.clear()
            self._total = 0
            self._kept = {os.path.realpath(path) for component in self.blocks.blocks.values()
                          for path in getattr(component, "keep_in_cache", ())}
        try:
            names = {entry.name for entry in os.scandir(self.cache) if entry.is_dir(follow_symlinks=False)}
        except OSError:
            return
        names.discard(self.keep_name)
        for name in self._folders.keys() - names:  # deleted by gradio's delete_cache, or by hand
            self._total -= self._folders.pop(name)[1]
        for name in names - self._folders.keys():
            self._index(name)

    def _index(self, name: str) -> None:
        files, size, newest = [], 0, 0.0
        try:
            for entry in os.scandir(os.path.join(self.cache, name)):
                if entry.is_file(follow_symlinks=False) and entry.path not in self._kept:
                    stat = entry.stat(follow_symlinks=False)
                    files.append(entry.path)
                    size += stat.st_size
                    newest = max(newest, stat.st_mtime)
        except OSError:
            return  # deleted meanwhile
        if not files:
            return  # being written right now (gradio makes the folder, then the file), or kept files only: next time
        self._generation += 1
        self._folders[name] = (self._generation, size, files)
        self._total += size
        heapq.heappush(self._oldest, (newest, self._generation, name))


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
def short_repr(value, limit: int = 60) -> str:
    """repr(value) for a message, cut to `limit` characters: a request can send a megabyte-long string or list,
    and the error must stay one short line."""
    try:
        text = repr(value)
    except ValueError:  # an int past Python's 4300-digit repr limit
        return f"an integer of {value.bit_length()} bits"
    return text if len(text) <= limit else f"{text[:limit - 1]}… ({len(text):,} characters)"


def check_int(name: str, value, low: int, high: int) -> int:
    """An integer (or an integral float, as JSON numbers arrive) in [low, high]; gr.Error naming `name` else."""
    message = f"{name} must be an integer in [{low}, {high}], got {short_repr(value)}"
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
        raise gr.Error(f"{name} must be a number in [{low:g}, {high:g}]{meaning}, got {short_repr(value)}",
                       print_exception=False)
    return float(value)


def check_choice(name: str, value, choices) -> str:
    if not isinstance(value, str) or value not in choices:
        raise gr.Error(f"{name} must be one of {', '.join(choices)}; got {short_repr(value)}",
                       print_exception=False)
    return value


def unchecked(component: gr.components.Component) -> gr.components.Component:
    """Let the component's value reach the handler as sent, so that the handler's check names the input and its
    range (gradio's own check says only "Value 0 is less than minimum value 1"). For a valid value, a Slider's
    or Radio's preprocess returns it unchanged anyway. Set on the instance: subclassing a component makes
    gradio write a .pyi file next to this one."""
    component.preprocess = lambda payload: payload
    if getattr(component, "data_model", None) is not None:
        component.data_model = _lenient_data_model(component.data_model)
    return component


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line (no usage block): `app.py: error: …`, exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def non_empty(value: str) -> str:
    """An argparse type: the string as given, refused when blank (an empty --model would load the current folder,
    an empty --host would listen on every interface). argparse prefixes the message with "argument --flag: "."""
    if not value.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return value


NOT_A_FILE = "not_a_file"  # the key in a payload's meta that carries what was sent instead of a file


def _lenient_data_model(model):
    """`model` (e.g. gr.Image's ImageData), but a value that does not fit it (a bare path string, a number, a
    list) reaches the handler, marked, instead of failing gradio's validation with no message at all (the server
    runs with show_error=False). Same fields and schema title, so the API description does not change."""
    from pydantic import ConfigDict, ValidationError, model_validator

    class Lenient(model):
        model_config = ConfigDict(title=model.__name__)

        @model_validator(mode="before")
        @classmethod
        def _mark_what_does_not_fit(cls, value):
            try:
                model.model_validate(value)
            except ValidationError:
                sent = f"{short_repr(value)} ({type(value).__name__})"
                return {"meta": {"_type": "gradio.FileData", NOT_A_FILE: sent}}
            return value

    return Lenient


def _inside(path: str, folders) -> bool:
    """Whether `path`, links resolved, lies inside one of `folders` (nothing is read from the file itself)."""
    real = Path(os.path.realpath(path))
    return any(real.is_relative_to(os.path.realpath(folder)) for folder in folders)


def open_upload(payload, name: str = "image", allowed_dirs=None):
    """An uploaded image as a decoded PIL image, or None when nothing was sent; gr.Error naming `name` else.

    The file's size, format and pixel dimensions are checked from its header (PIL opens lazily) before a pixel
    is decoded, so a non-image or an oversized image costs nothing. `payload` is what gradio hands an unchecked
    gr.Image: a FileData (a path in gradio's cache, or a data: URL), a dict of its fields, or a path. A path is
    opened only inside `allowed_dirs` (default: gradio's upload folder): an API caller can send any path, and
    the server must not read (or say whether it has) files nobody uploaded."""
    from PIL import Image, UnidentifiedImageError

    if payload is None:
        return None
    *most, last = UPLOAD_FORMATS.values()
    formats = f"{', '.join(most)} or {last}"
    limit = f"{MAX_UPLOAD_BYTES / 2**20:g} MiB"
    if isinstance(payload, dict):
        path, url, orig_name, meta = (payload.get(key) for key in ("path", "url", "orig_name", "meta"))
    elif isinstance(payload, (str, os.PathLike)):
        path, url, orig_name, meta = os.fspath(payload), None, None, None
    else:
        path, url, orig_name, meta = (getattr(payload, key, None) for key in ("path", "url", "orig_name", "meta"))
    if isinstance(meta, dict) and NOT_A_FILE in meta:
        raise gr.Error(f"{name} must be an uploaded image file ({formats}), got {meta[NOT_A_FILE]}; with "
                       "gradio_client, pass handle_file(path)", print_exception=False)
    shown = short_repr(orig_name or (Path(path).name if path else "the upload"))
    if path:
        folders = (gr.utils.get_upload_folder(),) if allowed_dirs is None else tuple(allowed_dirs)
        if not _inside(path, folders):
            raise gr.Error(f"{name} must be a file uploaded to this app (with gradio_client, pass "
                           f"handle_file(path)); {shown} was not uploaded", print_exception=False)
        try:
            size = os.path.getsize(path)
        except OSError:
            raise gr.Error(f"{name} must be an image file ({formats}); {shown} cannot be read",
                           print_exception=False) from None
        if size > MAX_UPLOAD_BYTES:
            raise gr.Error(f"{name} must be at most {limit}, got {size / 2**20:.1f} MiB ({shown})",
                           print_exception=False)
        source = path
    elif isinstance(url, str) and url.startswith("data:") and "," in url:
        import base64
        import binascii
        import io

        encoded = url.split(",", 1)[1]
        if len(encoded) * 3 // 4 > MAX_UPLOAD_BYTES:  # the decoded size, known before decoding
            raise gr.Error(f"{name} must be at most {limit}, got {len(encoded) * 3 / 4 / 2**20:.1f} MiB",
                           print_exception=False)
        try:
            source = io.BytesIO(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            raise gr.Error(f"{name} must be an image file ({formats}); got a malformed data URL",
                           print_exception=False) from None
    elif isinstance(url, str) and url:
        # Links are not fetched: the server would download whatever an API caller names (SSRF).
        raise gr.Error(f"{name} must be an uploaded image file ({formats}); links are not fetched, got "
                       f"{short_repr(url)}", print_exception=False)
    else:
        raise gr.Error(f"{name} must be an uploaded image file ({formats}); got a value with neither a path nor "
                       "a data: URL", print_exception=False)
    try:
        image = Image.open(source)  # lazy: reads the header only
    except (UnidentifiedImageError, OSError, ValueError):
        raise gr.Error(f"{name} must be an image file ({formats}); {shown} is not one", print_exception=False) from None
    if image.format not in UPLOAD_FORMATS and image.format != "MPO":  # MPO: how PIL reads many cameras' JPEGs
        image.close()
        raise gr.Error(f"{name} must be an image file ({formats}); {shown} is {image.format}",
                       print_exception=False)
    width, height = image.size
    if not (MIN_UPLOAD_SIDE <= width <= MAX_UPLOAD_SIDE and MIN_UPLOAD_SIDE <= height <= MAX_UPLOAD_SIDE):
        image.close()
        raise gr.Error(f"{name} must be from {MIN_UPLOAD_SIDE}×{MIN_UPLOAD_SIDE} to {MAX_UPLOAD_SIDE}×"
                       f"{MAX_UPLOAD_SIDE} pixels (a 28×28 digit is best), got {width}×{height}",
                       print_exception=False)
    try:
        image.load()
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise gr.Error(f"{name}: {shown} could not be decoded: {_first_line(exc)}", print_exception=False) from None
    return image


# ---------------------------------------------------------------------------------------------- shared state
@dataclass
class AppContext:
    """What every tab shares: the one pipeline (loaded once; safe to share, its scheduler is stateless) and the
    run store. `schedulers` holds one scheduler per timestep spacing, used only to plan timesteps. The mnist
    train digits and the `DatasetPosterior` over them are built on first use (thread-safe) and shared."""

    pipe: PosteriorDDPMPipeline
    model_id: str
    store: RunStore = field(default_factory=RunStore)
    sample_concurrency: int = SAMPLE_CONCURRENCY
    schedulers: dict[str, PosteriorDDPMScheduler] = field(init=False)
    _mnist_train: tuple[torch.Tensor, torch.Tensor] | None = field(default=None, init=False, repr=False)
    _dataset_posterior: DatasetPosterior | None = field(default=None, init=False, repr=False)
    # Re-entrant: dataset_posterior() calls mnist_train() while holding it.
    _lazy_lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)

    def __post_init__(self):
        config = self.pipe.scheduler.config
        self.schedulers = {s: PosteriorDDPMScheduler.from_config(config, timestep_spacing=s) for s in TIMESTEP_SPACINGS}

    @property
    def num_train_timesteps(self) -> int:
        return int(self.pipe.scheduler.config.num_train_timesteps)

    def timestep_plan(self, spacing: str, num_inference_steps: int) -> list[int]:
        """The descending timesteps of a K-step run with this spacing (the scheduler's rule, not ours)."""
        return self.schedulers[spacing].timestep_plan(num_inference_steps).tolist()

    # -- the mnist train digits and the exact posterior over them, built once, on first use, by one thread --
    @property
    def has_mnist_model(self) -> bool:
        """Whether the model draws 1×32×32 images, the shape of the mnist digits the exact posterior runs over."""
        return tuple(self.pipe.image_shape) == MNIST_SHAPE

    def mnist_notice(self) -> str:
        C, H, W = self.pipe.image_shape
        return (f"This tab needs a 1-channel 32×32 MNIST model (such as {DEFAULT_MODEL}): it compares the model "
                f"with the exact posterior over the 4,500 MNIST training digits. The loaded model {self.model_id} "
                f"draws {C}×{H}×{W} images; start the app with --model {DEFAULT_MODEL}.")

    def require_mnist_model(self) -> None:
        if not self.has_mnist_model:
            raise gr.Error(self.mnist_notice(), print_exception=False)

    def mnist_train(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The mnist train split: images (4500, 1, 32, 32) in [-1, 1] and labels (4500,), loaded once."""
        with self._lazy_lock:
            if self._mnist_train is None:
                from pipelines.data import load_mnist

                self._mnist_train = load_mnist("train")
            return self._mnist_train

    def dataset_posterior(self) -> DatasetPosterior:
        """The exact q(x_{t-1} | x_t) over the mnist train digits, with the model's noise schedule; built once
        and shared (it is read-only after construction, so concurrent requests may use it)."""
        with self._lazy_lock:
            if self._dataset_posterior is None:
                self._dataset_posterior = DatasetPosterior(self.mnist_train()[0], self.pipe.scheduler)
            return self._dataset_posterior


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
        # A generator per request, seeded: concurrent requests never share random state.
        generator = torch.Generator().manual_seed(seed)
        skip = gr.skip()

        with ctx.store.run() as folder:
            start = time.perf_counter()
            try:
                steps = ctx.pipe.denoise(batch_size=num_images, generator=generator, timesteps=timesteps, eta=eta,
                                         variance_type=variance, progress=False)
                first, last_frame, frame_seconds = True, -math.inf, 0.0
                for step in steps:
                    k = step.index
                    xt_steps[k] = to_uint8(step.sample, model_space=True)
                    x0_steps[k] = to_uint8(step.pred_original_sample, model_space=True)
                    progress((k + 1, num_steps), desc=step_label(k + 1, num_steps, *chain[k]), unit="steps")
                    now = time.perf_counter()
                    if (k < num_steps - 1 and now - last_frame >= FRAME_INTERVAL_S
                            and (first or frame_seconds <= FRAME_BUDGET * (now - start))):
                        last_frame = now
                        # The first frame clears the previous run's results; later ones leave them alone.
                        done = None if first else skip
                        yield (grid_uint8(xt_steps[k], scale=scale), grid_uint8(x0_steps[k], scale=scale),
                               step_label(k + 1, num_steps, *chain[k]), done, done, done, done, None if first else skip)
                        first = False
                        # what the frame cost this run: encoding, caching and sending happen before the generator
                        # resumes
                        frame_seconds += time.perf_counter() - now
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


# ---------------------------------------------------------------------------------------------- tab: why p_θ
POSTERIOR_INTRO = """
**The question.** The forward process has a closed-form reverse step, q(xₜ₋₁ | xₜ, x₀) (Ho et al. eq. 6–7).
Why learn p_θ(xₜ₋₁ | xₜ) at all? Pick a digit x₀ and a step t, draw xₜ ~ q(xₜ | x₀), and compare three ways to
answer "where does xₜ go next?" — and what each one needs.
"""


def _md(text: str) -> str:
    """Plain text for a gr.Markdown: escape what markdown would read as markup."""
    return text.replace("\\", "\\\\").replace("*", "\\*")


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.0f} µs"


def _l2(a: torch.Tensor, b: torch.Tensor) -> float:
    """L2 distance over all pixels (model space), the metric of every distance on these tabs."""
    return float((a.double() - b.double()).norm())


def _digit_image(x: torch.Tensor, scale: int = DISPLAY_SCALE):
    """(1, 1, H, W) in [-1, 1] → a PIL image, upscaled with crisp pixels."""
    return grid_uint8(to_uint8(x, model_space=True), padding=0, scale=scale)


class PosteriorTab:
    """Tractable q(x_{t-1}|x_t,x0) vs the exact data-set posterior q(x_{t-1}|x_t) vs the model's p_θ(x_{t-1}|x_t)."""

    title = "Why do we need p_θ?"

    def __init__(self, ctx: AppContext):
        self.ctx = ctx
        self.block = None  # the gr.Tab, set by build_demo

    # -- layout ---------------------------------------------------------------------------------------------
    def gallery_digits(self) -> tuple[list[int], list]:
        """The first GALLERY_PER_CLASS train digits of each class: their indices and (image, caption) items."""
        images, labels = self.ctx.mnist_train()
        indices = sorted(int(i) for digit in range(10)
                         for i in torch.nonzero(labels == digit).flatten()[:GALLERY_PER_CLASS])
        items = [(_digit_image(images[i:i + 1], scale=1), f"#{i}") for i in indices]
        return indices, items

    def layout(self) -> None:
        ctx = self.ctx
        T = ctx.num_train_timesteps
        self.gallery_indices, items = self.gallery_digits()
        num_train = len(ctx.mnist_train()[1])
        if not ctx.has_mnist_model:
            gr.Markdown(f"⚠️ **{ctx.mnist_notice()}**", elem_id="posterior-notice")
        gr.Markdown(POSTERIOR_INTRO)
        gallery = gr.Gallery(items, label="pick a training digit (click one)", columns=len(items) // 2,
                             height=260, allow_preview=False, format="png", interactive=False,
                             elem_id="digit-gallery", elem_classes="pixelated")
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                digit_index = gr.Number(0, label="digit_index", precision=None, elem_id="digit-index",
                                        info=f"which training digit, 0 … {num_train - 1} (unless an image is given)")
                with gr.Accordion("… or upload or draw your own digit", open=False):
                    image = unchecked(gr.Image(
                        label="image: an uploaded digit, used instead of digit_index", type="filepath",
                        sources=["upload", "clipboard"], format="png", height=160, elem_id="digit-image",
                        elem_classes="pixelated"))
                    sketch = gr.Sketchpad(label="draw a digit (white ink on dark is what MNIST looks like; "
                                                "any ink works)", canvas_size=SKETCH_CANVAS, type="numpy",
                                          elem_id="digit-sketch")
                    use_sketch = gr.Button("use my drawing", elem_id="use-sketch")
                t = unchecked(gr.Slider(1, T - 1, value=min(DEFAULT_POSTERIOR_T, T - 1), step=1,
                                        label=f"t: how noisy x_t is (1 … {T - 1})", elem_id="posterior-t"))
                seed = gr.Number(0, label="seed", info=f"integer in [0, {MAX_SEED}]: fixes the noise of x_t",
                                 precision=None, elem_id="posterior-seed")
                button = gr.Button("Compare", variant="primary", elem_id="posterior-button",
                                   interactive=ctx.has_mnist_model)
            with gr.Column(scale=3):
                with gr.Row():
                    x0_view = gr.Image(label="x0: the digit", type="pil", format="png", interactive=False,
                                       elem_id="posterior-x0", elem_classes="pixelated", height=180)
                    xt_view = gr.Image(label="x_t ~ q(x_t | x0)", type="pil",
                                       format="png", interactive=False, elem_id="posterior-xt",
                                       elem_classes="pixelated", height=180)
                    candidates = gr.Gallery(label="q(x0ⁱ | x_t): the training digits the exact posterior weighs "
                                                  "most", columns=5, height=180, format="png", interactive=False,
                                            allow_preview=False, object_fit="contain", elem_id="posterior-candidates",
                                            scale=3, elem_classes="pixelated")
                views, texts = [], []
                with gr.Row(equal_height=False):
                    for name, label in zip(ESTIMATE_NAMES, ("tractable μ̃(x_t, x0)", "exact E[x_{t−1} | x_t]",
                                                            "model μ_θ(x_t, t)")):
                        with gr.Column(min_width=220):
                            views.append(gr.Image(label=f"{label}: x_{{t−1}} and x̂0", type="pil", format="png",
                                                  interactive=False, elem_id=f"estimate-{name}",
                                                  elem_classes="pixelated", height=180))
                            texts.append(gr.Markdown(elem_id=f"estimate-{name}-text"))
                answer = gr.Markdown(elem_id="posterior-answer")
                summary = gr.JSON(label="summary", elem_id="posterior-summary")

        inputs = [digit_index, t, seed, image]
        outputs = [x0_view, xt_view, candidates, *views, *texts, answer, summary]
        shared = dict(concurrency_limit=POSTERIOR_CONCURRENCY, concurrency_id="posterior")
        button.click(self.posterior, inputs=inputs, outputs=outputs, api_name="posterior", **shared)
        # UI-only ways in (not in the API): a gallery click, an upload, a drawing; each then runs the comparison.
        gallery.select(self.pick_digit, outputs=[digit_index, image], api_visibility="private", queue=False
                       ).success(self.posterior, inputs=inputs, outputs=outputs, api_visibility="private", **shared)
        image.upload(self.posterior, inputs=inputs, outputs=outputs, api_visibility="private", **shared)
        use_sketch.click(self.use_drawing, inputs=[sketch], outputs=[image], api_visibility="private",
                         concurrency_limit=UI_CONCURRENCY, concurrency_id="ui"
                         ).success(self.posterior, inputs=inputs, outputs=outputs, api_visibility="private",
                                   **shared)

    # -- handlers -------------------------------------------------------------------------------------------
    def pick_digit(self, evt: gr.SelectData):
        """A click on the gallery: that digit's index, and no uploaded image (which would win over the index)."""
        return self.gallery_indices[evt.index], None

    def use_drawing(self, sketch):
        """The sketchpad's drawing → a 28×28 PNG for the image input, so the comparison uses it."""
        composite = sketch.get("composite") if isinstance(sketch, dict) else None
        if composite is None or getattr(composite, "size", 0) == 0:
            raise gr.Error("sketch is empty: draw a digit first", print_exception=False)
        try:
            digit = prepare_digit(composite)  # (1, 1, 32, 32): the drawing made 28×28 and padded like MNIST
        except ValueError as exc:
            raise gr.Error(f"sketch: {exc}", print_exception=False) from None
        if float(digit.max()) <= -1.0 + 1e-6:
            raise gr.Error("sketch is empty: draw a digit first", print_exception=False)
        # Without the 2-pixel padding: the 28×28 digit, which the image input pads back exactly.
        pixels = to_uint8(digit[:, :, 2:-2, 2:-2], model_space=True)
        with self.ctx.store.run() as folder:
            path = folder / "drawing.png"
            grid_uint8(pixels, padding=0).save(path)
        return str(path)

    def posterior(self, digit_index, t, seed, image=None):
        """Three estimates of the reverse step x_t → x_{t-1} for one digit x0, and what each one needs.

        Parameters:
            digit_index: which mnist training digit is x0, 0 to 4499 (ignored when image is given)
            t: the noise level of x_t, 1 to T − 1 (the step shown is t → t − 1)
            seed: integer in [0, 4294967295]: fixes the draw of x_t (and of the model's step)
            image: optional: an uploaded digit (PNG, JPEG, WebP, BMP or GIF, at most 2 MiB and 1024×1024;
                28×28 like MNIST is best) used as x0 instead of digit_index
        Returns:
            x0, x_t, the training digits the exact posterior weighs most, one picture per estimate (its x_{t-1}
            mean and its x̂0), one text per estimate (formula, input, time, distances), the answer in words, and
            a JSON summary with every number shown.
        """
        ctx = self.ctx
        ctx.require_mnist_model()
        T = ctx.num_train_timesteps
        images, labels = ctx.mnist_train()
        digit_index = check_int("digit_index", digit_index, 0, len(images) - 1)
        t = check_int("t", t, 1, T - 1)
        seed = check_int("seed", seed, 0, MAX_SEED)
        # Uploads live in gradio's upload folder; drawings (use_drawing) in this app's run store.
        upload = open_upload(image, "image", allowed_dirs=(gr.utils.get_upload_folder(), ctx.store.root))
        if upload is None:
            x0 = images[digit_index:digit_index + 1]
            source = {"source": "digit_index", "digit_index": digit_index, "label": int(labels[digit_index])}
        else:
            try:
                x0 = prepare_digit(upload, MNIST_SHAPE)
            except ValueError as exc:  # e.g. an image of an odd mode; prepare_digit's words name `image`
                raise gr.Error(str(exc), print_exception=False) from None
            finally:
                upload.close()
            source = {"source": "image"}
        dataset_posterior = ctx.dataset_posterior()
        try:
            comparison = compare_estimates(x0, t, ctx.pipe, dataset_posterior,
                                           generator=torch.Generator().manual_seed(seed))
        except ValueError as exc:
            raise gr.Error(str(exc), print_exception=False) from None

        estimates = comparison.estimates
        x0_cpu = comparison.x0
        distance_to_x0 = {n: _l2(e.mean, x0_cpu) for n, e in estimates.items()}
        x0_error = {n: _l2(e.pred_original_sample, x0_cpu) for n, e in estimates.items()}
        views = [labelled_row([to_uint8(e.mean, model_space=True)[0],
                               to_uint8(e.pred_original_sample, model_space=True)[0]],
                              ["x_t-1", "x̂0"], scale=DISPLAY_SCALE) for e in estimates.values()]
        texts = [self._estimate_text(comparison, name, distance_to_x0[name]) for name in estimates]
        data = dataset_posterior.data
        candidates = [(_digit_image(data[i:i + 1].float(), scale=1), f"#{i}: {w:.1%}")
                      for i, w in zip(comparison.top_indices, comparison.top_weights)]
        summary = {**source, "seed": seed, **comparison.as_dict(), "distance_to_x0": distance_to_x0,
                   "x0_error": x0_error, "model_id": ctx.model_id}
        return (_digit_image(x0_cpu), _digit_image(comparison.x_t), candidates, *views, *texts,
                explain_comparison(comparison), summary)

    @staticmethod
    def _estimate_text(comparison, name: str, distance_to_x0: float) -> str:
        estimate = comparison.estimates[name]
        others = [n for n in ESTIMATE_NAMES if n != name]
        means = " · ".join(f"{n} {comparison.mean_distances[name][n]:.3f}" for n in others)
        x0s = " · ".join(f"{n} {comparison.x0_distances[name][n]:.3f}" for n in others)
        return (f"**{_md(estimate.title)}**\n\n`{estimate.formula}`\n\n"
                f"- **needs:** {_md(estimate.needs)}\n"
                f"- **took:** {_ms(estimate.seconds)}\n"
                f"- **its x_{{t−1}} is from:** {means} · x0 {distance_to_x0:.3f}\n"
                f"- **its x̂0 is from:** {x0s}")


# ---------------------------------------------------------------------------------------------- tab: exact sampler
EXACT_INTRO = """
With a finite data set the true reverse step is known exactly: q(xₜ₋₁ | xₜ) = Σᵢ q(x₀ⁱ | xₜ) q(xₜ₋₁ | xₜ, x₀ⁱ),
a mixture over all N training digits. Sample with it from pure noise and every chain ends **on a training digit,
exactly**: it can only copy. The model p_θ, from the same noise and the same steps, draws digits of its own.
Each sample is shown beside its nearest training digit (L2 distance over all 32×32 pixels, in [-1, 1] units).
"""


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
                gr.Markdown(EXACT_INTRO)
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
        seed = check_int("seed", seed, 0, MAX_SEED)
        num_images = check_int("num_images", num_images, 1, MAX_NUM_IMAGES)
        num_steps = check_int("num_inference_steps", num_inference_steps, 1, T)
        dataset_posterior = ctx.dataset_posterior()
        try:
            result = compare_samplers(ctx.pipe, dataset_posterior, seed=seed, num_images=num_images,
                                      num_inference_steps=num_steps)
        except ValueError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        data = dataset_posterior.data

        def pairs(samples, indices, distances, kind):
            items = []
            for k, (i, d) in enumerate(zip(indices.tolist(), distances.tolist())):
                picture = labelled_row([to_uint8(samples[k:k + 1], model_space=True)[0],
                                        to_uint8(data[i:i + 1].float(), model_space=True)[0]],
                                       [f"{kind}", f"#{i}"], scale=3)
                what = "copy of" if d < COPY_DISTANCE else "nearest"
                items.append((picture, f"{what} #{i}, d = {d:.2f}"))
            return items

        summary = {**result.as_dict(), "num_images": num_images, "model_id": ctx.model_id}
        return (pairs(result.exact_samples, result.exact_nearest_indices, result.exact_nearest_distances, "exact"),
                pairs(result.model_samples, result.model_nearest_indices, result.model_nearest_distances, "model"),
                self._caption(summary, num_images), summary)

    @staticmethod
    def _caption(summary: dict, num_images: int) -> str:
        exact, model = summary["exact"], summary["model"]
        exact_d, model_d = exact["nearest_distances"], model["nearest_distances"]
        steps = summary["num_inference_steps"]
        return (
            f"Same seed ({summary['seed']}), same {steps} step{'s' if steps > 1 else ''}, same starting noise.\n\n"
            f"- **exact q(x_{{t−1}} | x_t):** {exact['copies']}/{num_images} samples are copies of training "
            f"digits (largest distance to the nearest {max(exact_d):.2f}), in {exact['seconds']:.2f} s\n"
            f"- **model p_θ:** {model['copies']}/{num_images} copies; distance to the nearest training digit: "
            f"median {statistics.median(model_d):.2f}, smallest {min(model_d):.2f}, in {model['seconds']:.2f} s\n\n"
            f"A copy is a sample within {summary['copy_distance']:g} of a training digit. The exact sampler can only "
            "give back what it was shown; a model that generalises draws new digits."
        )

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
            source = (f"exact step: bench/results/exact_posterior.json (bench/bench_exact_posterior.py on "
                      f"{machine.get('cpu_model', 'unknown CPU')}, {machine.get('torch_threads', '?')} torch "
                      f"thread(s), median of {result.get('repeats', '?')})")
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            series = None
        if series is None:
            rows = measure_step_cost(self.ctx.mnist_train()[0], sizes=QUICK_COST_SIZES, repeats=QUICK_COST_REPEATS,
                                     scheduler=self.ctx.pipe.scheduler)
            series = {"float64": rows}
            source = (f"exact step: measured in this app at first use ({QUICK_COST_REPEATS} repeats per N; run "
                      "bench/bench_exact_posterior.py for steadier numbers)")
        return series, self._model_step_ms(), source

    def _model_step_ms(self, repeats: int = 3) -> float | None:
        """Median milliseconds of one p_θ step of the app's model (one UNet call + scheduler.step), batch 1."""
        pipe = self.ctx.pipe
        try:
            device, dtype = pipe.unet.device, pipe.unet.dtype
            x = torch.randn((1, *pipe.image_shape), generator=torch.Generator().manual_seed(0)).to(device, dtype)
            t = self.ctx.num_train_timesteps // 2
            timestep = torch.tensor(t, dtype=torch.int64, device=device)
            times = []
            with torch.inference_mode():
                for i in range(repeats + 1):
                    start = time.perf_counter()
                    out = pipe.unet(x, timestep).sample
                    pipe.scheduler.step(out, t, x, prev_timestep=t - 1)
                    if device.type == "cuda":
                        torch.cuda.synchronize()
                    if i:  # the first call is a warm-up
                        times.append(time.perf_counter() - start)
            return statistics.median(times) * 1e3
        except Exception:  # the plot is useful without the model's line
            return None

    def cost_plot(self):
        """The per-step cost plot (a new Figure per call: figures are not shared between threads)."""
        series, model_ms, source = self.cost_series()
        figure = plot_step_cost(series, model_ms,
                                title="Exact reverse step: its cost grows with N")
        note = f"{source}. Model line: {self.ctx.model_id}, one UNet call + step, batch 1, measured in this app."
        return figure, note if model_ms is not None else source + "."


TABS: list[type] = [SampleTab, PosteriorTab, ExactSamplerTab]


# ---------------------------------------------------------------------------------------------- app
def build_demo(ctx: AppContext, tabs: list[type] | None = None, queue_max_size: int = QUEUE_MAX_SIZE) -> gr.Blocks:
    """The Blocks app: a header, then one tab per class in `tabs` (default TABS), queued: at most
    `queue_max_size` requests wait; more are refused at once (gradio's "queue is full", which the browser shows as
    "this application is currently busy")."""
    C, H, W = ctx.pipe.image_shape
    with gr.Blocks(title="DDPM, step by step", analytics_enabled=False, delete_cache=DELETE_CACHE) as demo:
        gr.Markdown(
            f"# DDPM, step by step\nModel **{ctx.model_id}**: {C}×{H}×{W} images, "
            f"T = {ctx.num_train_timesteps} training steps, "
            f"{ctx.pipe.scheduler.config.prediction_type} prediction. "
            "Every sample below comes from the same sampling loop (`PosteriorDDPMPipeline.denoise`); the last two "
            "tabs ask why that loop needs a learned p_θ at all."
        )
        with gr.Tabs():
            for tab_class in tabs or TABS:
                tab = tab_class(ctx)
                with gr.Tab(tab.title) as block:
                    tab.block = block  # a tab may wire its own select event (e.g. draw a plot when opened)
                    tab.layout()
    demo.queue(max_size=queue_max_size, default_concurrency_limit=1)
    ctx.store.served = ServedFiles(demo, ctx.store.max_served_bytes, keep=ctx.store.root.parent)
    return demo


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = OneLineParser(prog="app.py", description="DDPM demo: watch every denoising step.")
    parser.add_argument("--model", default=os.environ.get("DDPM_MODEL", DEFAULT_MODEL), type=non_empty,
                        help=f"model folder or Hub repo id (env DDPM_MODEL; default {DEFAULT_MODEL})")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", DEFAULT_HOST),
                        type=non_empty,
                        help=f"address to listen on (env GRADIO_SERVER_NAME; default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=None,
                        help=f"port (env GRADIO_SERVER_PORT; default {DEFAULT_PORT})")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                        help="where the UNet runs (auto: cuda when available)")
    parser.add_argument("--queue-max-size", type=int, default=None,
                        help=f"requests that may wait; more are refused as busy (env DDPM_QUEUE_MAX_SIZE; default "
                             f"{QUEUE_MAX_SIZE})")
    parser.add_argument("--max-temp-mb", type=int, default=None,
                        help="size bound on the temporary files (recorded runs and served images), oldest deleted "
                             f"first (env DDPM_MAX_TEMP_MB; default {DEFAULT_MAX_TEMP_MB})")
    args = parser.parse_args(argv)
    for flag, env, default, low, high in (("queue_max_size", "DDPM_QUEUE_MAX_SIZE", QUEUE_MAX_SIZE, 1, 10_000),
                                          ("max_temp_mb", "DDPM_MAX_TEMP_MB", DEFAULT_MAX_TEMP_MB, 1, 1 << 20)):
        option = "--" + flag.replace("_", "-")
        if getattr(args, flag) is None:
            value = os.environ.get(env, str(default))
            try:
                setattr(args, flag, int(value))
            except ValueError:
                parser.error(f"{env} must be an integer in [{low}, {high}], got {value!r}")
            option = env
        if not low <= getattr(args, flag) <= high:
            parser.error(f"{option} must be in [{low}, {high}], got {getattr(args, flag)}")
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
    half = args.max_temp_mb << 19  # MB / 2, in bytes
    store = RunStore(max_bytes=half, max_served_bytes=half)
    demo = build_demo(AppContext(pipe=pipe, model_id=args.model, store=store), queue_max_size=args.queue_max_size)
    # SIGTERM (docker, Spaces, CI) shuts down like Ctrl-C: the server closes and the run folders are removed.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        demo.launch(server_name=args.host, server_port=args.port, theme=gr.themes.Default(), css=CSS,
                    ssr_mode=False, show_error=False, max_file_size=SERVER_MAX_FILE_SIZE)
    except OSError as exc:  # e.g. the port is taken
        print(f"app.py: error: cannot serve on {args.host}:{args.port}: {_first_line(exc)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
