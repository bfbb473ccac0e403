"""The app and the memorization report on a model whose data hold 200,000 images of 3×32×32 (issue 37).

At 32 bytes per value the dense exact posterior would need 19.7 GB for them, beyond the app's 10 GB bound, so the
app takes its at-scale path with its default settings (no lowered bound): the bundle beside the model (uint8, the
format `pipelines.data.record.save_bundle` writes) is streamed once into memory-mapped shards in the model folder's
cache, a NeighbourIndex is built over them, and the tabs search it. Measured, each phase in its own process:
`app` (the context's load, a reload from the cache, the exact tab's run, the posterior tab's comparison, the
held-out yardstick) and `report` (python -m pipelines.evaluation memorization on the same model, no flags beyond
the usual), each with its wall time and its peak resident memory. The images are bench_index.py's seeded shapes.

    python bench/bench_app_scale.py --workdir /tmp/app-scale [--num-images 200000] [--steps 10]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "bench")]

from common import (  # noqa: E402
    apply_threads,
    base_parser,
    format_table,
    goal,
    goal_lines,
    header,
    new_result,
    positive,
    write_result,
)

from pipelines.data.record import BYTES_PER_VALUE  # noqa: E402


def peak_mb() -> float:
    """This process's peak resident memory (VmHWM: its own, where ru_maxrss would carry the parent's peak across
    fork and exec), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate(workdir: Path, num_images: int, num_heldout: int) -> dict:
    """The model folder: a tiny 3×32×32 UNet and the bundle of num_images + num_heldout seeded shapes."""
    import numpy as np
    import torch
    from safetensors.torch import save_file

    from bench.bench_index import generated
    from helpers.tiny import save_tiny_pipeline
    from pipelines.data.record import BUNDLE_FILE

    start = time.perf_counter()
    model = workdir / "model"
    save_tiny_pipeline(model, sample_size=32, channels=3)
    pixels = np.concatenate(list(generated(num_images + num_heldout, seed=0)))
    save_file(
        {"train": torch.from_numpy(pixels[:num_images]), "heldout": torch.from_numpy(pixels[num_images:])},
        str(model / BUNDLE_FILE),
    )
    return {"generate_s": time.perf_counter() - start, "bundle_bytes": (model / BUNDLE_FILE).stat().st_size}


def app_phase(workdir: Path, steps: int, bound: int | None = None) -> dict:
    import torch

    torch.set_num_threads(2)
    from pipelines import PosteriorDDPMPipeline
    from ui.context import AppContext
    from ui.tabs.exact import ExactSamplerTab
    from ui.tabs.posterior import PosteriorTab

    model = workdir / "model"
    pipe = PosteriorDDPMPipeline.from_pretrained(model)
    out = {}
    start = time.perf_counter()
    ctx = AppContext(pipe, str(model), memory_bound=bound)
    data = ctx.load_data()
    out["load_s"] = time.perf_counter() - start
    out["notice"] = ctx.data_notice()
    out["description"] = data.description
    out["cache"] = ctx._cache_note
    out["index"] = repr(ctx.neighbour_index)
    out["shards"] = getattr(ctx.train_images(), "num_shards", None)
    out["peak_rss_mb_after_load"] = peak_mb()
    start = time.perf_counter()
    again = AppContext(pipe, str(model), memory_bound=bound)
    again.load_data()
    out["reload_s"], out["reload_cache"] = time.perf_counter() - start, again._cache_note
    tab = ExactSamplerTab(ctx)
    start = time.perf_counter()
    _, _, caption, summary = tab.exact_sample(0, 2, steps)
    out["exact_sample"] = {
        "num_images": 2,
        "num_inference_steps": steps,
        "wall_s": time.perf_counter() - start,
        "exact_seconds": summary["exact_seconds"] if "exact_seconds" in summary else None,
        "nearest_distances": summary["exact"]["nearest_distances"],
        "model_nearest_distances": summary["model"]["nearest_distances"],
        "at_scale": {k: v for k, v in summary["at_scale"].items() if k != "timesteps"},
        "heldout_nearest_distance_median": summary["heldout_nearest_distance_median"],
        "num_heldout": summary["num_heldout"],
    }
    out["peak_rss_mb_after_exact"] = peak_mb()
    start = time.perf_counter()
    result = PosteriorTab(ctx).posterior(5, 300, 0)
    out["posterior"] = {"wall_s": time.perf_counter() - start, "at_scale": result[-1]["at_scale"]}
    out["peak_rss_mb"] = peak_mb()
    return out


def report_phase(workdir: Path, args) -> dict:
    from pipelines.evaluation.memorization import run

    output = workdir / "memorization.json"
    argv = ["--model", str(workdir / "model"), "--num_samples", "16", "--num_inference_steps", "10"]
    argv += ["--output", str(output), "--no_progress"] + (["--index", "flat"] if args.quick else [])
    start = time.perf_counter()
    status = run(argv)
    wall = time.perf_counter() - start
    report = json.loads(output.read_text()) if output.is_file() else {}
    return {
        "argv": argv,
        "status": status,
        "wall_s": wall,
        "peak_rss_mb": peak_mb(),
        "data": report.get("data"),
        "neighbour_search": report.get("neighbour_search"),
        "verdict": report.get("verdict"),
    }


QUICK_NUM_IMAGES, QUICK_BOUND = 3_000, 10**7  # --quick: 3,000 images beyond a 10 MB bound (the same path)
MEMORY_GOAL_MB = 8 * 1024


def parse_args():
    parser = base_parser("bench_app_scale.py", __doc__.split("\n\n")[0], model=False)
    parser.add_argument("--workdir", default=None, help="where the model and its shards go (default: a temp folder)")
    parser.add_argument("--num-images", type=int, default=200_000, help="training images (quick: 3,000)")
    parser.add_argument("--num-heldout", type=int, default=2_000, help="held-out images (quick: 60)")
    parser.add_argument("--steps", type=int, default=10, help="the exact tab's and the report's steps (quick: 2)")
    parser.add_argument("--phase", choices=("all", "app", "report"), default="all", help=argparse.SUPPRESS)
    parser.add_argument("--bound", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    positive(parser, "num_images", args.num_images)
    positive(parser, "num_heldout", args.num_heldout, minimum=0)
    positive(parser, "steps", args.steps)
    if args.quick:
        args.num_images, args.num_heldout, args.steps = QUICK_NUM_IMAGES, 60, 2
    return args


def run_phases(args, workdir: Path) -> dict:
    """Each phase in its own process (its own peak memory); their JSON answers."""
    out = {}
    for phase in ("app", "report"):
        argv = [sys.executable, __file__, "--workdir", str(workdir), "--steps", str(args.steps), "--phase", phase]
        if args.quick:
            argv += ["--quick", "--bound", str(QUICK_BOUND)]
        done = subprocess.run(argv, capture_output=True, text=True)
        out[phase] = {"error": done.stderr[-2000:]} if done.returncode else json.loads(done.stdout.splitlines()[-1])
    return out


def main() -> int:
    args = parse_args()
    if args.phase != "all":
        workdir = Path(args.workdir)
        phase = app_phase(workdir, args.steps, args.bound) if args.phase == "app" else report_phase(workdir, args)
        print(json.dumps(phase))
        return 0
    threads = apply_threads(args)
    settings = {"num_images": args.num_images, "num_heldout": args.num_heldout, "shape": [3, 32, 32]}
    result = new_result("app_scale", __doc__.split("\n\n")[0], args, dict(settings, threads=threads))
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(args.workdir or scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        generated_set = generate(workdir, args.num_images, args.num_heldout)
        phases = run_phases(args, workdir)
    for name, phase in phases.items():
        if "error" in phase:
            raise SystemExit(f"error: the {name} phase failed:\n{phase['error']}")
    app, report = phases["app"], phases["report"]
    result["generate"] = generated_set
    result["results"] = [dict(app, phase="app"), dict(report, phase="report")]
    scale = app["exact_sample"]["at_scale"]
    recall = scale.get("recall_at_2")
    recall = 1.0 if recall is None else recall  # None: a flat (exact) index, whose neighbours are brute force's
    dense_mb = args.num_images * 3 * 32 * 32 * BYTES_PER_VALUE / 2**20
    result["goals"] = [
        goal("the app takes the data without a refusal (notice length)", len(app["notice"]), 0),
        goal("recall@2 of the exact tab's search", recall, 0.99, ">="),
        goal("peak memory of the app, MB", app["peak_rss_mb"], MEMORY_GOAL_MB),
        goal("peak memory of the memorization report, MB", report["peak_rss_mb"], MEMORY_GOAL_MB),
        goal("the memorization report's exit status", report["status"], 0),
    ]
    result["ratios"] = {"dense_posterior_mb_over_app_peak_mb": dense_mb / app["peak_rss_mb"]}
    result["wall_seconds"] = time.perf_counter() - start
    print(header(result))
    rows = [
        ["app load", app["load_s"], app["peak_rss_mb_after_load"]],
        ["exact tab", app["exact_sample"]["wall_s"], app["peak_rss_mb_after_exact"]],
        ["report", report["wall_s"], report["peak_rss_mb"]],
    ]
    print(format_table(["phase", "wall s", "peak MB"], rows))
    print("\n".join(goal_lines(result["goals"])))
    print(write_result(result, args, "app_scale"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
