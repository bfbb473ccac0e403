"""The app and the memorization report on a model whose data hold 200,000 images of 3×32×32 (issue 37).

At 32 bytes per value the dense exact posterior would need 19.7 GB for them, beyond the app's 10 GB bound, so the
app takes its at-scale path with its default settings (no lowered bound): the bundle beside the model (uint8, the
format `pipelines.data.record.save_bundle` writes) is streamed once into memory-mapped shards in the model folder's
cache, a NeighbourIndex is built over them, and the tabs search it. Measured, each phase in its own process:
`app` (the context's load, a reload from the cache, the exact tab's run, the posterior tab's comparison, the
held-out yardstick) and `report` (python -m pipelines.evaluation memorization on the same model, no flags beyond
the usual), each with its wall time and its peak resident memory. The images are bench_index.py's seeded shapes.

    python bench/bench_app_scale.py --workdir /tmp/app-scale [--num_images 200000] [--steps 10]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]


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


def app_phase(workdir: Path, steps: int) -> dict:
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
    ctx = AppContext(pipe, str(model))
    data = ctx.load_data()
    out["load_s"] = time.perf_counter() - start
    out["notice"] = ctx.data_notice()
    out["description"] = data.description
    out["cache"] = ctx._cache_note
    out["index"] = repr(ctx.neighbour_index)
    out["shards"] = getattr(ctx.train_images(), "num_shards", None)
    out["peak_rss_mb_after_load"] = peak_mb()
    start = time.perf_counter()
    again = AppContext(pipe, str(model))
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


def report_phase(workdir: Path) -> dict:
    from pipelines.evaluation.memorization import run

    output = workdir / "memorization.json"
    argv = ["--model", str(workdir / "model"), "--num_samples", "16", "--num_inference_steps", "10"]
    argv += ["--output", str(output), "--no_progress"]
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


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workdir", required=True)
    p.add_argument("--num_images", type=int, default=200_000)
    p.add_argument("--num_heldout", type=int, default=2_000)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--phase", choices=("all", "app", "report"), default="all")
    p.add_argument("--output", default=str(REPO / "bench" / "results" / "app-200k.json"))
    args = p.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if args.phase != "all":
        result = app_phase(workdir, args.steps) if args.phase == "app" else report_phase(workdir)
        print(json.dumps(result))
        return 0
    start = time.perf_counter()
    out = {
        "benchmark": "app-scale",
        "description": __doc__.split("\n\n")[0],
        "command": "python " + " ".join([f"bench/{Path(__file__).name}", *sys.argv[1:]]),
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpu_count": os.cpu_count(), "load_average": os.getloadavg()},
        "settings": {"num_images": args.num_images, "num_heldout": args.num_heldout, "shape": [3, 32, 32]},
    }
    out["generate"] = generate(workdir, args.num_images, args.num_heldout)
    for phase in ("app", "report"):
        done = subprocess.run(
            [sys.executable, __file__, "--workdir", str(workdir), "--steps", str(args.steps), "--phase", phase],
            capture_output=True,
            text=True,
        )
        if done.returncode:
            out[phase] = {"error": done.stderr[-2000:]}
        else:
            out[phase] = json.loads(done.stdout.strip().splitlines()[-1])
    out["wall_s"] = time.perf_counter() - start
    out["machine"]["load_average_at_end"] = os.getloadavg()
    Path(args.output).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
