"""Many users at once, as a public Space sees them: concurrent gradio_client clients get exactly what they would
get alone, a full queue refuses the extra requests with a clear "busy" message and recovers, and a long-running
server keeps its memory and its temporary files bounded.

One tiny-model app server per test: `python app.py` in a subprocess, like users start it; for the full queue, the
app as app.py builds it, served in-process, so that the test can hold the running requests inside their UNet
call until it has seen the refusals."""

import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from PIL import Image

from helpers.app_server import free_port, serve_app

TIMEOUT_S = 300  # per request; generous for a busy CI box, never reached when things work
START_TIMEOUT_S = 60  # for a request to start, to be queued or to be refused: a tiny model's first step is instant


def request(seed: int, **overrides) -> dict:
    args = dict(
        seed=seed, num_images=2, num_inference_steps=4, eta=1.0, timestep_spacing="leading", variance="fixed_small"
    )
    return {**args, **overrides}


def pixels(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image).copy()


def images_of(result) -> list[np.ndarray]:
    """The final images of a /sample result (its gallery), as arrays."""
    return [pixels(item["image"]) for item in result[3]]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def tree_size(root: Path) -> tuple[int, int]:
    """(bytes, files) under root."""
    total = count = 0
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
                count += 1
            except OSError:
                pass
    return total, count


def test_8_clients_times_3_requests_at_once_each_equal_to_the_same_request_alone(app_model_dir, tmp_path):
    from gradio_client import Client

    # 8 × 3 = 24 requests: every /sample variant the UI offers, each with its own seed.
    variants = [
        dict(),
        dict(eta=0.0),
        dict(eta=0.5, timestep_spacing="trailing"),
        dict(variance="fixed_large"),
        dict(timestep_spacing="linspace", num_inference_steps=6),
        dict(num_images=3),
    ]
    requests = [request(100 + i, **variants[i % len(variants)]) for i in range(24)]
    with serve_app(app_model_dir, log_path=tmp_path / "app.log") as url:
        clients = [Client(url, verbose=False) for _ in range(8)]
        jobs = [clients[i // 3].submit(**args, api_name="/sample") for i, args in enumerate(requests)]
        together = [job.result(timeout=TIMEOUT_S) for job in jobs]
        alone = [clients[0].submit(**args, api_name="/sample").result(timeout=TIMEOUT_S) for args in requests]
    for args, crowded, single in zip(requests, together, alone):
        assert crowded[6]["seed"] == args["seed"]  # each client got its own run back
        a, b = images_of(crowded), images_of(single)
        assert len(a) == args["num_images"]
        assert all(np.array_equal(x, y) for x, y in zip(a, b)), f"request {args} differs under load"
        assert np.array_equal(pixels(crowded[0]), pixels(single[0]))  # the final x_t grid too
    # and distinct seeds gave distinct images: the comparison above is not trivially true
    assert not np.array_equal(images_of(together[0])[0], images_of(together[1])[0])


@contextmanager
def served_in_process(pipe, tmp_path: Path, queue_max_size: int) -> Iterator[str]:
    """The app as `python app.py --queue-max-size N` builds it (app.build_demo: the same tabs, queue and
    concurrency limits), served from this process on a free loopback port, so that a test can hold its UNet."""
    import app
    from ui.context import AppContext
    from ui.files import RunStore

    ctx = AppContext(pipe=pipe, model_id="held", store=RunStore(root=tmp_path / "runs"))
    demo = app.build_demo(ctx, queue_max_size=queue_max_size)
    port = free_port()
    demo.launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        ssr_mode=False,
        show_error=False,
        max_file_size=app.SERVER_MAX_FILE_SIZE,
    )
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def wait_for(condition, what: str, timeout: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_more_requests_than_the_queue_holds_are_refused_as_busy_and_the_server_recovers(app_model_dir, tmp_path):
    """2 /sample runs at once (the app's concurrency) and a queue of 2: with both runs held inside their first
    UNet call and 2 requests waiting, every further request is refused at once with gradio's "queue is full";
    released, the 4 accepted requests finish whole, and the next request is served."""
    import httpx
    from gradio_client import Client
    from gradio_client.utils import Status

    import app

    pipe = app.load_model(str(app_model_dir), device="cpu")
    forward = pipe.unet.forward
    gate, entered = threading.Event(), threading.Semaphore(0)

    def held_forward(*args, **kwargs):  # the UNet waits for the gate: a run stays running until the test says
        entered.release()
        if not gate.wait(TIMEOUT_S):
            raise TimeoutError("the test never opened the gate")
        return forward(*args, **kwargs)

    pipe.unet.forward = held_forward
    args = request(0, num_images=2, num_inference_steps=3)
    with served_in_process(pipe, tmp_path, queue_max_size=2) as url:
        client = Client(url, verbose=False)
        try:
            running = [client.submit(**{**args, "seed": seed}, api_name="/sample") for seed in (0, 1)]
            for _ in running:  # both runs are inside their first UNet call
                assert entered.acquire(timeout=START_TIMEOUT_S), "a /sample run did not start"
            waiting = [client.submit(**{**args, "seed": seed}, api_name="/sample") for seed in (2, 3)]
            wait_for(lambda: all(job.status().code == Status.IN_QUEUE for job in waiting), "2 requests in the queue")
            for seed in range(4, 8):  # the queue is full: each is refused at once, the held runs notwithstanding
                job = client.submit(**{**args, "seed": seed}, api_name="/sample")
                with pytest.raises(Exception, match="(?i)queue is full"):
                    job.result(timeout=START_TIMEOUT_S)  # a refusal comes at once; a queued job would time out
            assert not entered.acquire(blocking=False)  # no request but the 2 running reached the UNet
            assert not any(job.done() for job in running + waiting)
        finally:
            gate.set()
        accepted = [job.result(timeout=TIMEOUT_S) for job in running + waiting]
        for seed, result in zip((0, 1, 2, 3), accepted):  # each finished whole: its label, images and summary
            assert result[2].startswith("step 3 / 3") and "done in" in result[2]
            assert len(images_of(result)) == 2 and result[6]["seed"] == seed
            with Image.open(result[4]) as gif:
                assert gif.n_frames == 3
        after = client.submit(**request(5), api_name="/sample").result(timeout=TIMEOUT_S)
        assert len(after[3]) == 2
        with httpx.Client(base_url=url, timeout=30) as http:
            assert http.get("/gradio_api/info").status_code == 200


def test_50_requests_leave_memory_and_temporary_files_bounded(app_model_dir, tmp_path):
    from gradio_client import Client

    temp = tmp_path / "gradio-temp"
    budget_mb = 1
    env = {"GRADIO_TEMP_DIR": str(temp)}
    with serve_app(app_model_dir, "--max-temp-mb", str(budget_mb), log_path=tmp_path / "app.log", env=env) as url:
        client = Client(url, verbose=False, download_files=str(tmp_path / "downloads"))
        # each run: its recorded steps, a GIF, a PNG, 8 gallery images and the streamed frames
        heavy = request(0, num_images=8, num_inference_steps=10)
        client.submit(**heavy, api_name="/sample").result(timeout=TIMEOUT_S)
        one_run, _ = tree_size(temp)  # what one run leaves: its recorded steps, GIF, PNG and the served images
        for seed in range(1, 5):  # warm-up: first-use caches, allocator pools
            client.submit(**{**heavy, "seed": seed}, api_name="/sample").result(timeout=TIMEOUT_S)
        rss_start = rss_mb(url.pid)
        sizes = []
        for seed in range(5, 55):
            client.submit(**{**heavy, "seed": seed}, api_name="/sample").result(timeout=TIMEOUT_S)
            sizes.append(tree_size(temp))
        rss_end = rss_mb(url.pid)
        served = client.submit(**request(99), api_name="/sample").result(timeout=TIMEOUT_S)
    assert rss_end - rss_start < 200, f"resident memory grew {rss_end - rss_start:.0f} MB over 50 requests"
    # Without the bound, 50 runs would leave far more than the budget …
    assert 50 * one_run > 5 * budget_mb * 2**20, f"runs too small to test the bound: {one_run} B per run"
    # … with it, the temporary files never exceed the budget plus the run just served (pruning happens as a run
    # starts), whose size varies from run to run (GIF compressibility, frames sent): allow twice the first one's.
    # Unbounded, 50 runs would leave ~50 × one_run.
    peak_bytes = max(size for size, _ in sizes)
    assert peak_bytes <= budget_mb * 2**20 + 2 * one_run, (peak_bytes, budget_mb, one_run)
    assert len(served[3]) == 2
