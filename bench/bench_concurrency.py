"""Concurrent users: every endpoint clicked at once vs each click alone, and what the render lock costs.

The app as `python app.py` builds it (app.build_demo), served from this process on a free loopback port, so that the
bench can read the render lock's own counters (`RENDER_LOCK.stats()`: how long callers waited for it and held it). A
mix of clicks — the 2-D reverse step at five settings, the 2-D samplers at three, `/sample`, `/posterior`,
`/exact_sample`, `/variance` and `/transition` — each with its own gradio_client session and seed:
- alone: one after another, each click's latency (request → final result, downloads included);
- together: all submitted at the same moment (plus one live `/toy_train`), each click's latency and the wall time.
The lock serialises drawing only; the
numbers are computed outside it. Its cost under load is the time clicks spent waiting for it, beside the time it was
held.

    python bench/bench_concurrency.py --threads 2        # the shipped model
    python bench/bench_concurrency.py --quick            # a tiny random model; numbers mean nothing

Writes OUTPUT_DIR/concurrency.json."""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    REPO,
    apply_threads,
    base_parser,
    check_model,
    format_table,
    goal,
    goal_lines,
    header,
    new_result,
    resolve_model,
    write_result,
)

sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from helpers.concurrent_clicks import CALLS, TRAIN  # noqa: E402  (the load test's mix)

QUICK = {
    "/toy_step": {"num_points": 16},
    "/toy_sample": {"num_samples": 8, "num_inference_steps": 5},
    "/sample": {"num_images": 1, "num_inference_steps": 4},
    "/transition": {},
}
REQUEST_TIMEOUT_S = 1800


def serve(model: str, scratch: Path):
    """The app as app.py builds it, on a free loopback port of this process; returns (url, demo)."""
    import app
    from helpers.app_server import free_port
    from ui.context import AppContext
    from ui.files import RunStore

    ctx = AppContext(pipe=app.load_model(model, "cpu"), model_id=model, store=RunStore(root=scratch / "runs"))
    demo = app.build_demo(ctx)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, ssr_mode=False)
    return f"http://127.0.0.1:{port}/", demo


def main(argv: list[str] | None = None) -> None:
    parser = base_parser("bench_concurrency.py", __doc__.splitlines()[0])
    args = parser.parse_args(argv)
    check_model(parser, args)
    apply_threads(args)
    from gradio_client import Client

    from pipelines.pictures.render import RENDER_LOCK

    calls = CALLS
    train = TRAIN
    if args.quick:  # one click of four kinds, few steps: a smoke test of the script
        calls = [(name, {**kw, **QUICK.get(name, {})}) for name, kw in CALLS if name in QUICK]
        calls = list({name: (name, kw) for name, kw in calls}.values())
        train = {**TRAIN, "train_steps": 100}
    result = new_result("concurrency", __doc__.splitlines()[0], args, {"calls": calls, "train": train})
    with tempfile.TemporaryDirectory() as scratch:
        model = resolve_model(args, Path(scratch))
        url, demo = serve(model, Path(scratch))
        try:
            for name, kw in calls:  # warm-up: every endpoint's first-call costs (caches, the exact posterior)
                Client(url, verbose=False).predict(**kw, api_name=name)
            alone = []
            for name, kw in calls:
                client = Client(url, verbose=False)
                start = time.perf_counter()
                client.predict(**kw, api_name=name)
                alone.append(time.perf_counter() - start)
            before = RENDER_LOCK.stats()
            clients = [Client(url, verbose=False) for _ in calls]
            training = Client(url, verbose=False).submit(**train, api_name="/toy_train")
            barrier = threading.Barrier(len(calls))

            def click(client, name, kw):
                barrier.wait()
                start = time.perf_counter()
                client.predict(**kw, api_name=name)
                return start, time.perf_counter()

            with ThreadPoolExecutor(len(calls)) as pool:
                spans = list(pool.map(lambda c: click(c[0], *c[1]), zip(clients, calls)))
            training.result(timeout=REQUEST_TIMEOUT_S)
            after = RENDER_LOCK.stats()
        finally:
            demo.close()
    together = [end - start for start, end in spans]
    wall = max(end for _, end in spans) - min(start for start, _ in spans)
    lock = {key: after[key] - before[key] for key in after}
    result["results"] = [
        {"endpoint": name, "args": kw, "alone_s": a, "together_s": b}
        for (name, kw), a, b in zip(calls, alone, together)
    ]
    result["totals"] = {
        "alone_sum_s": sum(alone),
        "together_wall_s": wall,
        "render_lock_acquisitions": lock["acquisitions"],
        "render_lock_held_s": lock["held_s"],
        "render_lock_waited_s": lock["waited_s"],
        "render_lock_waited_share_of_wall": lock["waited_s"] / (len(calls) * wall) if wall else None,
    }
    result["ratios"] = {
        "together_wall_over_alone_sum": wall / sum(alone),
        "lock_waited_over_click_time": lock["waited_s"] / sum(together),
    }
    result["goals"] = [
        goal("all at once (wall) / one after another (sum)", result["ratios"]["together_wall_over_alone_sum"], 1.0),
        goal(
            "time waiting for the render lock / the clicks' time", result["ratios"]["lock_waited_over_click_time"], 0.25
        ),
    ]
    path = write_result(result, args, "concurrency")
    print(header(result))
    rows = [
        [n, ", ".join(f"{k}={v}" for k, v in kw.items())[:60], a, b] for (n, kw), a, b in zip(calls, alone, together)
    ]
    print(format_table(["endpoint", "arguments", "alone s", "together s"], rows))
    print(format_table(["measure", "value"], [[k, v] for k, v in result["totals"].items()]))
    print("\n".join(goal_lines(result["goals"])))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
