"""Live streaming: `/sample` end to end through gradio_client vs the pipeline alone doing the same work.

`python app.py --model M --port FREE` runs as a subprocess with the same torch thread count as this process
(OMP_NUM_THREADS). Each timed app run is one `client.submit(…, api_name="/sample").result()`: the request, every
streamed step, the final images, GIF and grid written (and downloaded, for the clients that download). Each
pipeline run draws the same images in this process (same seed, num_images, steps, spacing, η = 1):
`pipe(…, output_type="pil")`. The runs alternate (rotated order each round), never overlap; medians are compared.
Server start-up (process start to first answer, then the client's connection) is recorded apart, not in the ratios.
Goal: app / pipeline ≤ 1.10, with gradio_client as a user gets it.

Three clients time the same requests:
- `app`: `Client(url)` as a user makes it: it downloads every file of every streamed update and of the result
  (a 16-image 10-step run: ~28 files). gradio_client 2.7 opens a new httpx connection per file, and httpx loads
  the CA bundle for each (encode/httpx#3627): ~50 ms of client CPU per file, even over plain http.
- `app_shared_ssl`: the same downloads with `Client(url, ssl_verify=ssl.create_default_context())`: one SSL
  context, loaded once: the user-side fix.
- `app_no_download`: `Client(url, download_files=False)`: the server's work and the transport of the updates
  only (a browser fetches the images itself, with its own connections).
`--server-cpus` pins the server to other CPUs than this process (a client on another machine); without it the
client's own CPU time competes with the server's.

    python bench/bench_streaming.py --threads 2                      # full: 16 images at 10 and 50 steps
    taskset -c 1 python bench/bench_streaming.py --threads 1 --server-cpus 0   # server and client apart
    python bench/bench_streaming.py --quick --output-dir /tmp/bench  # tiny random model, 2 images, 3 steps

Writes OUTPUT_DIR/streaming.json. It also holds, per app run, the seconds the app reports for its own loop (its
summary's "seconds": sampling, recording every step, encoding the streamed frames), which splits the overhead into
the loop's share and the rest (final GIF, grid and images, transport, download). Before timing, the app's first
image is compared with the pipeline's (max pixel difference, recorded), so the two really do the same work.
"""

from __future__ import annotations

import os
import ssl
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    DEFAULT_MODEL,
    REPO,
    apply_threads,
    base_parser,
    check_model,
    format_table,
    goal,
    goal_lines,
    header,
    interleave,
    load_pipeline,
    new_result,
    positive,
    ratio,
    resolve_model,
    summarize,
    write_result,
)

sys.path.insert(0, str(REPO / "tests"))
from helpers.app_server import serve_app  # noqa: E402  (the app tests' server runner, offline environment)

STEPS = (10, 50)
GOAL = 1.10
REQUEST_TIMEOUT_S = 1800


def parse_args(argv=None):
    parser = base_parser("bench_streaming.py", __doc__.split("\n\n")[0])
    parser.add_argument("--num-images", type=int, default=16, help="num_images of every request (1 … 16)")
    parser.add_argument("--steps", type=int, nargs="+", default=list(STEPS), help="num_inference_steps to time")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each side per step count")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--server-cpus",
        type=int,
        nargs="+",
        default=None,
        help="pin the app server to these CPU numbers (default: wherever this process may run)",
    )
    args = parser.parse_args(argv)
    positive(parser, "repeats", args.repeats)
    if not 1 <= args.num_images <= 16:
        parser.error(f"--num-images must be in [1, 16] (the app's range), got {args.num_images}")
    if any(k < 1 for k in args.steps):
        parser.error(f"--steps must be integers >= 1, got {args.steps}")
    if args.server_cpus is not None:
        allowed = list(range(os.cpu_count() or 1))
        if not set(args.server_cpus) <= set(allowed):
            parser.error(f"--server-cpus must be CPU numbers in {allowed}, got {args.server_cpus}")
    check_model(parser, args)  # last: a typo in another flag is reported even without the model
    return args


@contextmanager
def serve(model: str, threads: int, log_path: Path) -> Iterator[tuple[str, float]]:
    """`python app.py --model MODEL` on a free loopback port with `threads` torch threads (the app takes them from
    OMP_NUM_THREADS); yields (url, seconds from process start to the first HTTP 200); stops it with SIGTERM."""
    start = time.perf_counter()
    with serve_app(model, log_path=log_path, env={"OMP_NUM_THREADS": str(threads)}) as url:
        yield url, time.perf_counter() - start


def pin_process(pid: int, cpus: list[int]) -> None:
    """Move every thread of process `pid` to `cpus` (threads it starts later inherit it)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        os.sched_setaffinity(int(tid), cpus)


CLIENTS = {
    "app": "Client(url): downloads every file (a new connection and CA-bundle load per file)",
    "app_shared_ssl": "Client(url, ssl_verify=ssl.create_default_context()): the same downloads",
    "app_no_download": "Client(url, download_files=False): server + transport of the updates only",
}


def connect(url: str, downloads: str) -> dict:
    """One gradio_client per entry of CLIENTS."""
    from gradio_client import Client

    return {
        "app": Client(url, verbose=False, download_files=downloads, analytics_enabled=False),
        "app_shared_ssl": Client(
            url,
            verbose=False,
            download_files=downloads,
            analytics_enabled=False,
            ssl_verify=ssl.create_default_context(),
        ),
        "app_no_download": Client(url, verbose=False, download_files=False, analytics_enabled=False),
    }


class Sides:
    """The two sides of the comparison: /sample through a client, and the pipeline in this process; the app's own
    loop seconds of each client's runs are kept in `server_seconds`."""

    def __init__(self, pipe, clients: dict, request: dict, seed: int):
        self.pipe, self.clients, self.request, self.seed = pipe, clients, request, seed
        self.server_seconds: dict[str, list[float]] = {}

    def app(self, name: str, k: int):
        job = self.clients[name].submit(**self.request, num_inference_steps=k, api_name="/sample")
        out = job.result(timeout=REQUEST_TIMEOUT_S)
        self.server_seconds.setdefault(name, []).append(out[6]["seconds"])
        return out

    def pipeline(self, k: int):
        import torch

        return self.pipe(
            batch_size=self.request["num_images"],
            generator=torch.Generator().manual_seed(self.seed),
            num_inference_steps=k,
            eta=1.0,
            output_type="pil",
        ).images


def measure_case(sides: Sides, k: int, repeats: int) -> dict:
    """One step count: the first image of both sides compared pixel for pixel, then the alternating times."""
    import numpy as np
    from PIL import Image

    # The same work: the app's first image equals the pipeline's, pixel for pixel (same seed, threads).
    out = sides.app("app", k)
    with Image.open(out[3][0]["image"]) as im:
        app_pixels = np.asarray(im.convert("L" if sides.pipe.image_shape[0] == 1 else "RGB"), dtype=np.int16)
    ref = np.asarray(sides.pipeline(k)[0], dtype=np.int16)
    max_diff = int(np.abs(app_pixels.reshape(ref.shape) - ref).max())
    sides.server_seconds.clear()
    fns = {"pipeline": lambda: sides.pipeline(k)}
    fns.update({name: (lambda name=name: sides.app(name, k)) for name in CLIENTS})
    times = interleave(fns, repeats=repeats)
    summary = {name: summarize(ts) for name, ts in times.items()}
    summary["app_server_loop"] = summarize(sides.server_seconds["app"])
    summary["server_loop_by_client"] = {name: summarize(sides.server_seconds[name]) for name in CLIENTS}
    base = summary["pipeline"]["median_s"]
    return {
        "num_inference_steps": k,
        "repeats": repeats,
        "max_abs_pixel_diff_app_vs_pipeline": max_diff,
        "seconds": summary,
        **{f"ratio_{name}_vs_pipeline": ratio(summary[name]["median_s"], base) for name in CLIENTS},
        "ratio_server_loop_vs_pipeline": ratio(summary["app_server_loop"]["median_s"], base),
    }


def record_case(result: dict, case: dict) -> list:
    """The case's ratios and goal into `result`; returns its table row."""
    k, summary = case["num_inference_steps"], case["seconds"]
    result["results"].append(case)
    for name in CLIENTS:
        result["ratios"][f"{k} steps {name}/pipeline"] = case[f"ratio_{name}_vs_pipeline"]
    result["ratios"][f"{k} steps server loop/pipeline"] = case["ratio_server_loop_vs_pipeline"]
    result["goals"].append(goal(f"{k} steps app/pipeline", case["ratio_app_vs_pipeline"], GOAL))
    return [
        k,
        case["repeats"],
        summary["pipeline"]["median_s"],
        summary["app"]["median_s"],
        summary["app_server_loop"]["median_s"],
        *(case[f"ratio_{name}_vs_pipeline"] for name in CLIENTS),
        case["ratio_server_loop_vs_pipeline"],
        case["max_abs_pixel_diff_app_vs_pipeline"],
    ]


def report(args, result: dict, rows: list, num_images: int, threads: int) -> None:
    print(header(result))
    print(
        f"{num_images} images, median seconds over alternating runs; app server: {threads} torch thread(s), "
        f"ready in {result['startup']['server_ready_s']:.1f} s, client connected in "
        f"{result['startup']['client_connect_s']:.1f} s (not in the ratios)"
    )
    columns = ["steps", "runs", "pipeline s", "app s", "app loop s", "app/pipeline", "shared ssl/pipeline"]
    print(format_table([*columns, "no download/pipeline", "loop/pipeline", "max |Δpixel|"], rows))
    print(
        "app loop = the app's own timing of its loop (summary 'seconds': sampling, recording every step, encoding "
        "the streamed frames); app - loop = final GIF/grid/images, transport and download; "
        "shared ssl: the same downloads with one SSL context "
        "(encode/httpx#3627); no download: download_files=False"
    )
    print("\n".join(goal_lines(result["goals"])))
    print(f"wrote {write_result(result, args, 'streaming')}")


def main(argv=None) -> int:
    args = parse_args(argv)
    threads = apply_threads(args)
    with tempfile.TemporaryDirectory(prefix="bench-streaming-") as scratch:
        scratch = Path(scratch)
        model = resolve_model(args, scratch)
        pipe = load_pipeline(model).use_channels_last()  # the app's layout on CPU: the same work
        T = pipe.scheduler.config.num_train_timesteps
        steps = [3] if args.quick else args.steps
        if any(k > T for k in steps):
            print(f"error: --steps must be in [1, {T}] (the model's training steps), got {steps}", file=sys.stderr)
            return 2
        num_images = 2 if args.quick else args.num_images
        repeats = 1 if args.quick else args.repeats
        spacing = pipe.scheduler.config.timestep_spacing
        request = dict(
            seed=args.seed, num_images=num_images, eta=1.0, timestep_spacing=spacing, variance="fixed_small", order=1
        )  # the pipeline's own defaults: the app must draw the same images
        result = new_result(
            "streaming",
            f"seconds for {num_images} images: /sample end to end through gradio_client (app.py in a "
            "subprocess) vs the pipeline alone in this process; alternating, medians",
            args,
            {
                "model": args.model or ("(tiny random pipeline)" if args.quick else DEFAULT_MODEL),
                **request,
                "steps": steps,
                "repeats": repeats,
                "server_threads": threads,
                "pipeline_output_type": "pil",
                "warmup": "none (quick)" if args.quick else "one 2-step run of each side before timing",
            },
        )
        connect_start = time.perf_counter()
        with serve(model, threads, scratch / "app.log") as (url, ready_s):
            if args.server_cpus is not None:
                pin_process(url.pid, args.server_cpus)
            sides = Sides(pipe, connect(url, str(scratch / "downloads")), request, args.seed)
            result["startup"] = {
                "server_ready_s": ready_s,
                "client_connect_s": time.perf_counter() - connect_start - ready_s,
            }
            result["settings"]["server_cpus"] = args.server_cpus
            result["settings"]["client_cpus"] = sorted(os.sched_getaffinity(0))
            result["settings"]["clients"] = dict(CLIENTS)
            if not args.quick:  # warm-up: first calls allocate, pick kernels, open connections
                for name in CLIENTS:
                    sides.app(name, min(2, T))
                sides.pipeline(min(2, T))
            rows = [record_case(result, measure_case(sides, k, repeats)) for k in steps]
    report(args, result, rows, num_images, threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
