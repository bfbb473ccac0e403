"""Helpers for the app tests: a tiny model folder, and `python app.py` served on a free loopback port in a
subprocess (the way users start it), stopped cleanly afterwards."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 300
# The app's named API endpoints, in the page's order: what gradio_client users can call (everything else is private).
PUBLIC_ENDPOINTS = [
    "/sample",
    "/posterior",
    "/exact_sample",
    "/variance",
    "/toy_step",
    "/toy_sample",
    "/toy_train",
    "/transition",
    "/transition_pair",
    "/transition_train",
    "/denoiser_fields",
    "/loss_gap",
    "/training_dynamics",
    "/local_posterior",
]  # importing torch + gradio on a busy 2-core CI box can take a minute or more


def write_stable_diffusion_index(folder: Path) -> Path:
    """A folder whose model_index.json names a Stable Diffusion pipeline: a diffusers folder that is not DDPM."""
    import json

    (folder / "unet").mkdir(parents=True)
    (folder / "model_index.json").write_text(
        json.dumps(
            {
                "_class_name": "StableDiffusionPipeline",
                "unet": ["diffusers", "UNet2DConditionModel"],
                "vae": ["diffusers", "AutoencoderKL"],
                "scheduler": ["diffusers", "PNDMScheduler"],
            }
        )
    )
    return folder


class ServedApp(str):
    """The app's URL, plus the server process's pid (for tests that watch its memory)."""

    pid: int


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_env() -> dict[str, str]:
    """The environment the app runs in: offline, one thread per op (tiny models; and CI boxes are small)."""
    env = dict(os.environ)
    env.update(
        GRADIO_ANALYTICS_ENABLED="False",
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_OFFLINE="1",
        OMP_NUM_THREADS="1",
        PYTHONUNBUFFERED="1",
    )
    env.pop("GRADIO_SERVER_PORT", None)
    env.pop("GRADIO_SERVER_NAME", None)
    return env


def run_app(*args: str, timeout: float = STARTUP_TIMEOUT_S) -> subprocess.CompletedProcess:
    """`python app.py ARGS` to completion (for start-up errors)."""
    return subprocess.run(
        [sys.executable, "app.py", *args], cwd=REPO, env=app_env(), capture_output=True, text=True, timeout=timeout
    )


@contextmanager
def serve_app(
    model: Path | str, *args: str, log_path: Path | None = None, env: dict | None = None, cwd: Path | None = None
) -> Iterator[ServedApp]:
    """Start `python app.py --model MODEL` on a free loopback port; yield its URL once it answers; stop it.

    The server's output goes to `log_path` (a temp file by default) and is included in the error if it fails
    to start. `env` adds to (or overrides) the offline test environment, e.g. OMP_NUM_THREADS. `cwd`: the folder
    whose app.py runs (default: this repository).

    Each server gets its own gradio cache (GRADIO_TEMP_DIR) unless `env` names one: gradio names cached files by
    their content and deletes every file it cached when its server stops, so two servers sharing one cache (two
    pytest workers) would delete each other's identical images while they are being fetched (a 403)."""
    port = free_port()
    cache = None
    if "GRADIO_TEMP_DIR" not in (env or {}):
        cache = tempfile.mkdtemp(prefix=f"gradio-{port}-")
        env = {**(env or {}), "GRADIO_TEMP_DIR": cache}
    log_path = log_path or Path(os.environ.get("TMPDIR", "/tmp")) / f"ddpm-app-{port}.log"
    log = open(log_path, "w")
    process = subprocess.Popen(
        [sys.executable, "app.py", "--model", str(model), "--host", "127.0.0.1", "--port", str(port), *args],
        cwd=cwd or REPO,
        env={**app_env(), **(env or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = ServedApp(f"http://127.0.0.1:{port}/")
    url.pid = process.pid
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"app.py exited with {process.returncode}:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"app.py did not answer on {url} in {STARTUP_TIMEOUT_S} s:\n{log_path.read_text()}")
            time.sleep(0.5)
        yield url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # the app closes its server and removes its run folders
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()
        if cache is not None:
            shutil.rmtree(cache, ignore_errors=True)
