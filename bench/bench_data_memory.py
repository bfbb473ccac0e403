"""Memory of the posterior tabs against the size of the model's training set (N images of C×H×W).

The exact posterior holds all N × D training values (float32 as loaded, float64 to compute with) and the tabs' work
(an exact sampler run, the held-out yardstick, the app's cost measurement, a Why-tab comparison) adds chunked
temporaries. Each N runs in a fresh process, as the app does it: a tiny random model of the given shape with a
bundle of N random training images (and 10 % held out) beside it, `AppContext.load_data`, then one click of each
data tab. Peak resident memory (ru_maxrss) above the process's memory before the data is loaded, per N × D value:

    OMP_NUM_THREADS=1 python bench/bench_data_memory.py                 # N = 2,000 … 20,000 at 3×64×64
    python bench/bench_data_memory.py --quick --output-dir /tmp/bench   # smoke test

The app's bound (`pipelines.data.record.MEMORY_BOUND_BYTES`, BYTES_PER_VALUE) is chosen from these numbers.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/common.py

from common import (  # noqa: E402
    REPO,
    apply_threads,
    base_parser,
    format_table,
    goal,
    goal_lines,
    header,
    new_result,
    save_tiny_pipeline,
    write_result,
)

SIZES = (2000, 5000, 10000, 20000)
QUICK_SIZES = (200, 400)
SHAPE = (3, 64, 64)


def rss_bytes() -> int:
    """The current resident memory (VmRSS) of this process."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def make_bundle(folder: str, num_images: int) -> None:
    """N random training images and 10 % held out, as the bundle beside the model (in its own process, so that
    making them does not count in the measured process's peak)."""
    import torch

    from pipelines.data.record import save_bundle

    held = max(1, num_images // 10)
    images = torch.rand((num_images + held, *SHAPE), generator=torch.Generator().manual_seed(0)) * 2 - 1
    save_bundle(folder, images[:num_images], images[num_images:])


def one_run(folder: str, num_images: int) -> dict:
    """In this process: load the data as the app does, click each data tab once, report the memory."""
    sys.path.insert(0, str(REPO))
    import app
    from ui.context import AppContext
    from ui.files import RunStore
    from ui.tabs.exact import ExactSamplerTab
    from ui.tabs.posterior import PosteriorTab

    pipe = app.load_model(folder, device="cpu")
    ctx = AppContext(pipe=pipe, model_id=folder, store=RunStore(root=Path(folder) / "runs"))
    before = rss_bytes()
    start = time.perf_counter()
    ctx.load_data()
    loaded = rss_bytes()
    ExactSamplerTab(ctx).exact_sample(0, 16, 10)
    PosteriorTab(ctx).posterior(0, 500, 0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    values = num_images * SHAPE[0] * SHAPE[1] * SHAPE[2]
    return {
        "N": num_images,
        "shape": list(SHAPE),
        "values": values,
        "rss_before_mb": before / 1e6,
        "rss_loaded_mb": loaded / 1e6,
        "peak_mb": peak / 1e6,
        "peak_above_before_mb": (peak - before) / 1e6,
        "bytes_per_value": (peak - before) / values,
        "seconds": time.perf_counter() - start,
    }


def main(argv: list[str] | None = None) -> int:
    parser = base_parser("bench_data_memory.py", __doc__.splitlines()[0], model=False)
    parser.add_argument("--one", nargs=2, metavar=("FOLDER", "N"), help=argparse_hidden())
    parser.add_argument("--make", nargs=2, metavar=("FOLDER", "N"), help=argparse_hidden())
    args = parser.parse_args(argv)
    apply_threads(args)
    if args.make:
        make_bundle(args.make[0], int(args.make[1]))
        return 0
    if args.one:
        print(json.dumps(one_run(args.one[0], int(args.one[1]))))
        return 0
    sizes = QUICK_SIZES if args.quick else SIZES
    result = new_result("data_memory", __doc__.splitlines()[0], args, {"sizes": list(sizes), "shape": list(SHAPE)})
    for n in sizes:
        with tempfile.TemporaryDirectory() as scratch:
            folder = save_tiny_pipeline(Path(scratch) / "model", sample_size=SHAPE[1], channels=SHAPE[0])
            subprocess.run([sys.executable, __file__, "--make", str(folder), str(n)], check=True)
            run = subprocess.run(
                [sys.executable, __file__, "--one", str(folder), str(n)]
                + (["--threads", str(args.threads)] if args.threads else []),
                capture_output=True,
                text=True,
                check=True,
            )
            result["results"].append(json.loads(run.stdout.strip().splitlines()[-1]))
    from pipelines.data.record import BYTES_PER_VALUE

    runs = result["results"]
    result["ratios"] = {"bytes_per_value_at_largest_n": runs[-1]["bytes_per_value"]}
    if len(runs) > 1:  # the slope between the two largest N: what one more image costs
        slope = (runs[-1]["peak_above_before_mb"] - runs[-2]["peak_above_before_mb"]) * 1e6
        result["ratios"]["marginal_bytes_per_value"] = slope / (runs[-1]["values"] - runs[-2]["values"])
    # The app's bound assumes BYTES_PER_VALUE: the measurement at the largest N must not exceed it.
    result["goals"] = [goal("bytes per value at the largest N", runs[-1]["bytes_per_value"], BYTES_PER_VALUE)]
    print(header(result))
    rows = [
        [r["N"], "×".join(map(str, r["shape"])), r["values"] / 1e6, r["peak_above_before_mb"], r["bytes_per_value"]]
        for r in result["results"]
    ]
    print(format_table(["N", "C×H×W", "N·D (millions)", "peak above start (MB)", "bytes per value"], rows))
    print("\n".join(goal_lines(result["goals"])))
    print(f"wrote {write_result(result, args, 'data_memory')}")
    return 0


def argparse_hidden():
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    sys.exit(main())
