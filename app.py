"""The Gradio demo: sample from noise and watch every DDPM denoising step, live; then see why p_θ is learned
(tractable vs exact data-set vs learned reverse step, and the exact sampler that can only copy its data).

    python app.py [--model PATH_OR_HUB_ID] [--data PATH_OR_ID] [--host 127.0.0.1] [--port 7860]

This file is the entry point only: the command line, loading the model, `build_demo` and launch. The page is the
`ui` package (one module per tab, listed in `ui.TABS`); every number on it comes from the library `pipelines`.

Adding a tab: write `ui/tabs/NAME.py` (its words in `ui/text/NAME.py`) with a class that has a `title`, a `layout()`
that builds its components and wires its handlers (methods of the class, so the API parameter names are the methods'
parameter names; whole numbers typed with `ui.inputs.integer_input`, outputs named with `ui.inputs.api_outputs`), add
it to `ui.TABS` and its endpoints to the README's "Calling it from Python" tables (tests/app/test_api.py holds them
equal). `build_demo` sets `tab.block` (its gr.Tab) before calling `layout()`, so a tab may react to being opened.
"""

from __future__ import annotations

import os

# Offline by default, before gradio / huggingface_hub read their settings.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DIFFUSERS_NO_ADVISORY_WARNINGS", "1")
# Before torch loads OpenMP: threads that wait sleep instead of spinning. Concurrent requests each run their own
# OpenMP team; on a 2-vCPU Space spinning teams starve each other and one small UNet call slows by an order of
# magnitude (docs/performance.md). Set OMP_WAIT_POLICY=ACTIVE to get the spinning back.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import signal
import sys
from pathlib import Path

import gradio as gr
import torch

from pipelines import PosteriorDDPMPipeline
from pipelines.checks import OneLineParser, first_line, non_empty
from ui import TABS
from ui.base import BOLD_FACE_CSS, CSS, LATEX
from ui.context import DEFAULT_MODEL, FRAME_BUDGET, FRAME_INTERVAL_S, AppContext
from ui.files import DEFAULT_MAX_TEMP_MB, RunStore, ServedFiles
from ui.inputs import name_api_outputs
from ui.text import page as text

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
QUEUE_MAX_SIZE = 32
DELETE_CACHE = (600, 3600)  # gradio's cached files: every 10 min, delete those older than 1 h
# gradio's own limit on any upload, above ours, so that ours (which names the input) is the one users meet.
SERVER_MAX_FILE_SIZE = "10mb"


# ---------------------------------------------------------------------------------------------- model loading
class ModelError(ValueError):
    """The --model argument does not name a usable DDPM pipeline; the message says why, in one line."""


def load_model(model: str, device: str = "auto") -> PosteriorDDPMPipeline:
    """Load a DDPM pipeline from a local folder or a Hub repo id; ModelError (one line) if it is not one.

    `pipelines.hub.loading.load_pipeline` checks the folder or repo before any weights are read (exactly a UNet2DModel
    `unet` and a DDPM-family scheduler, safetensors weights). The default model is a local folder: when it is
    missing, say so rather than ask the Hub for a repo of that name."""
    from diffusers.utils import logging as diffusers_logging

    from pipelines.hub.errors import HubError
    from pipelines.hub.loading import load_pipeline

    if model == DEFAULT_MODEL and not Path(model).exists():
        raise ModelError(f"model folder {model} does not exist: train it (see README) or pass --model PATH_OR_HUB_ID")
    diffusers_logging.disable_progress_bar()  # a server log wants no "Loading pipeline components" bar
    try:
        pipe = load_pipeline(model)
    except HubError as exc:
        raise ModelError(first_line(exc)) from None
    except Exception as exc:  # a broken folder can fail in many ways; the user needs the reason, not a traceback
        raise ModelError(f"cannot load {model}: {type(exc).__name__}: {first_line(exc)}") from None
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    pipe.to(device)
    if torch.device(device).type == "cpu":
        pipe.use_channels_last()  # less UNet time on CPU (bench/bench_sampling.py)
    pipe.set_progress_bar_config(disable=True)
    return pipe


# ---------------------------------------------------------------------------------------------- app
def build_demo(ctx: AppContext, tabs: list[type] | None = None, queue_max_size: int = QUEUE_MAX_SIZE) -> gr.Blocks:
    """The Blocks app: a header, then one tab per class in `tabs` (default TABS), queued: at most
    `queue_max_size` requests wait; more are refused at once (gradio's "queue is full", which the browser shows as
    "this application is currently busy")."""
    with gr.Blocks(title="DDPM, step by step", analytics_enabled=False, delete_cache=DELETE_CACHE) as demo:
        gr.Markdown(
            text.header(
                ctx.model_id, ctx.pipe.image_shape, ctx.num_train_timesteps, ctx.pipe.scheduler.config.prediction_type
            ),
            latex_delimiters=LATEX,
        )
        with gr.Tabs():
            for tab_class in tabs or TABS:
                tab = tab_class(ctx)
                with gr.Tab(tab.title) as block:
                    tab.block = block  # a tab may wire its own select event (e.g. draw a plot when opened)
                    tab.layout()
    name_api_outputs(demo)  # the outputs' API names (ui.inputs.api_outputs), in view_api() and the README
    demo.queue(max_size=queue_max_size, default_concurrency_limit=1)
    ctx.store.served = ServedFiles(demo, ctx.store.max_served_bytes, keep=ctx.store.root.parent)
    return demo


ENV_BOUNDED_FLAGS = (
    ("queue_max_size", "DDPM_QUEUE_MAX_SIZE", QUEUE_MAX_SIZE, 1, 10_000),
    ("max_temp_mb", "DDPM_MAX_TEMP_MB", DEFAULT_MAX_TEMP_MB, 1, 1 << 20),
    ("frame_interval_s", "DDPM_FRAME_INTERVAL_S", FRAME_INTERVAL_S, 0, 60),
    ("frame_budget", "DDPM_FRAME_BUDGET", FRAME_BUDGET, 0, 1),
)
FLAG_HELP = {
    "queue_max_size": "requests that may wait; more are refused as busy ({origin})",
    "max_temp_mb": "size bound on the temporary files (recorded runs and served images), oldest deleted first "
    "({origin})",
    "frame_interval_s": "the live view of /sample sends a frame at most every this many seconds ({origin})",
    "frame_budget": "the live view sends frames only while they cost at most this fraction of the run's time "
    "({origin}); with --frame-interval-s 0 --frame-budget 1, every step's frame",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, each bounded flag falling back to its environment variable (see --help)."""
    parser = _parser()
    args = parser.parse_args(argv)
    _fill_from_env(parser, args)
    return args


def _parser() -> OneLineParser:
    parser = OneLineParser(prog="app.py", description="DDPM demo: watch every denoising step.")
    parser.add_argument(
        "--model",
        default=os.environ.get("DDPM_MODEL", DEFAULT_MODEL),
        type=non_empty,
        help=f"model folder or Hub repo id (env DDPM_MODEL; default {DEFAULT_MODEL})",
    )
    parser.add_argument(
        "--data",
        default=os.environ.get("DDPM_DATA") or None,
        type=non_empty,
        help="the images the model was trained on, for the posterior tabs: a folder, a 🤗 data set id or mnist (env "
        "DDPM_DATA; default: what the model folder records, or the bundled MNIST digits for a 1×32×32 model)",
    )
    parser.add_argument(
        "--host",
        default=os.environ.get("GRADIO_SERVER_NAME", DEFAULT_HOST),
        type=non_empty,
        help=f"address to listen on (env GRADIO_SERVER_NAME; default {DEFAULT_HOST})",
    )
    parser.add_argument("--port", type=int, default=None, help=f"port (env GRADIO_SERVER_PORT; default {DEFAULT_PORT})")
    parser.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda"),
        help="where the UNet runs (auto: cuda when available)",
    )
    for flag, env, default, _, _ in ENV_BOUNDED_FLAGS:
        help_text = FLAG_HELP[flag].format(origin=f"env {env}; default {default}")
        parser.add_argument("--" + flag.replace("_", "-"), type=type(default), default=None, help=help_text)
    return parser


def _fill_from_env(parser: OneLineParser, args: argparse.Namespace) -> None:
    """Each of ENV_BOUNDED_FLAGS (flag, env, default, low, high) and --port (GRADIO_SERVER_PORT, DEFAULT_PORT) from its
    flag, else its environment variable, else its default; in its range."""
    for flag, env, default, low, high in ENV_BOUNDED_FLAGS:
        option = "--" + flag.replace("_", "-")
        if getattr(args, flag) is None:
            value = os.environ.get(env, str(default))
            kind, what = (float, "a number") if isinstance(default, float) else (int, "an integer")
            try:
                setattr(args, flag, kind(value))
            except ValueError:
                parser.error(f"{env} must be {what} in [{low}, {high}], got {value!r}")
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
    ctx = AppContext(
        pipe=pipe,
        model_id=args.model,
        store=store,
        frame_interval_s=args.frame_interval_s,
        frame_budget=args.frame_budget,
        data=args.data,
    )
    try:
        data = ctx.load_data()  # at start: a bad --data stops here; no data at all leaves the tabs a notice
    except ValueError as exc:
        message = first_line(exc)
        if not message.startswith("--data"):
            message = f"--data {args.data}: {message}"
        print(f"app.py: error: {message}", file=sys.stderr)
        sys.exit(2)
    print(f"app.py: posterior tabs: {data.description if data else ctx.data_notice()}", file=sys.stderr)
    demo = build_demo(ctx, queue_max_size=args.queue_max_size)
    # SIGTERM (docker, Spaces, CI) shuts down like Ctrl-C: the server closes and the run folders are removed.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        demo.launch(
            server_name=args.host,
            server_port=args.port,
            theme=gr.themes.Default(),
            css=CSS + BOLD_FACE_CSS,
            ssr_mode=False,
            show_error=False,
            max_file_size=SERVER_MAX_FILE_SIZE,
        )
    except OSError as exc:  # e.g. the port is taken
        print(f"app.py: error: cannot serve on {args.host}:{args.port}: {first_line(exc)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
