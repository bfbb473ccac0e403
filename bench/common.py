"""What every benchmark shares: flags, thread setting, machine and version info, interleaved timing with medians,
ratios and goals, the JSON record, plain-text tables, and a tiny model folder for `--quick` runs.

Rules the scripts follow (so their numbers mean something on a shared 2-core box):
- speed is a ratio against a baseline measured in the same process, interleaved with it, compared by medians;
- the JSON says where the numbers come from: machine, versions, torch threads, the exact command line, settings;
- `--quick` is a smoke test (seconds, a tiny model): its numbers mean nothing and go to NAME-quick.json, so a
  quick run never overwrites the real results.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import statistics
import sys
import time
import unicodedata
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as `python bench/bench_x.py` from anywhere: `pipelines` must import
    sys.path.insert(0, str(REPO))

# Offline and quiet, before torch / diffusers / gradio read their settings.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_NO_ADVISORY_WARNINGS", "1")

from pipelines.checks import OneLineParser  # noqa: E402
from tests.helpers.tiny import TINY_UNET, save_tiny_pipeline  # noqa: E402,F401  (the one tiny UNet, for --quick)

DEFAULT_MODEL = "models/ddpm-mnist"
DEFAULT_OUTPUT_DIR = REPO / "bench" / "results"


# ---------------------------------------------------------------------------------------------- flags
def base_parser(prog: str, description: str, model: bool = True) -> OneLineParser:
    """The flags every benchmark has: --quick, --output-dir, --threads, and --model where a model is used."""
    parser = OneLineParser(prog=prog, description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: tiny settings (seconds); numbers mean nothing; writes NAME-quick.json",
    )
    parser.add_argument("--output-dir", default=str(DEFAULT_OUTPUT_DIR), help="where the JSON (and PNG) go")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch.set_num_threads(N) (default: torch's own choice, which follows OMP_NUM_THREADS)",
    )
    if model:
        parser.add_argument(
            "--model",
            default=None,
            help=f"model folder (default {DEFAULT_MODEL}; with --quick and no --model: a tiny "
            "random pipeline in a temp folder)",
        )
    return parser


def positive(parser: argparse.ArgumentParser, name: str, value, minimum: int = 1) -> None:
    """Refuse an integer flag below `minimum` with a one-line message naming it."""
    if value is not None and value < minimum:
        parser.error(f"--{name.replace('_', '-')} must be an integer >= {minimum}, got {value}")


def apply_threads(args: argparse.Namespace) -> int:
    """Set torch's intra-op threads from --threads (if given); return the count in force."""
    import torch

    if args.threads is not None:
        if args.threads < 1:
            raise SystemExit(f"error: --threads must be an integer >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    return torch.get_num_threads()


# ---------------------------------------------------------------------------------------------- provenance
def machine_info() -> dict[str, Any]:
    """CPU model and cores (numbers only compare with numbers from the same machine), plus the load: other
    processes on the same cores make wall times longer."""
    cpu_model = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu_model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu_model)
    except OSError:
        pass
    return {
        "cpu_model": cpu_model,
        "cpu_count": os.cpu_count(),
        "cpu_affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def versions() -> dict[str, str | None]:
    """Installed versions, read from package metadata (importing gradio just to ask would cost seconds)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("torch", "diffusers", "gradio", "gradio_client", "accelerate", "numpy"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def command_line() -> str:
    """The exact command, with the thread-relevant environment in front, as one would retype it."""
    env = " ".join(f"{k}={os.environ[k]}" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ)
    return (env + " " if env else "") + "python " + shlex.join(sys.argv)


def new_result(benchmark: str, description: str, args: argparse.Namespace, settings: dict[str, Any]) -> dict:
    """The JSON record every benchmark writes; the script adds `results`, `ratios` and `goals`."""
    import torch

    return {
        "benchmark": benchmark,
        "description": description,
        "quick": bool(args.quick),
        "command": command_line(),
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "versions": versions(),
        "threads": {
            "torch": torch.get_num_threads(),
            "requested": args.threads,
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        },
        "settings": settings,
        "results": [],
        "ratios": {},
        "goals": [],
    }


# ---------------------------------------------------------------------------------------------- timing
def interleave(
    fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 0, self_timed: bool = False
) -> dict[str, list[float]]:
    """Run each function `repeats` times, interleaved, and return its wall times in seconds.

    Round r runs the functions in a rotated order (A B, B A, A B, …): each one runs in every position (equally
    often when `repeats` is a multiple of the count), so a slow drift of the machine (another process starting,
    CPU clocks) falls on all of them alike.
    `warmup` untimed rounds come first (first calls allocate memory, fill caches, pick kernels).
    self_timed: each function returns its own measurement (e.g. seconds per steady-state step, leaving out
    its start-up), which is recorded instead of its wall time."""
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            start = time.perf_counter()
            value = fns[name]()
            times[name].append(float(value) if self_timed else time.perf_counter() - start)
    return times


def summarize(times: Sequence[float]) -> dict[str, Any]:
    """Median (the number we compare), min, max and every raw time, in seconds."""
    return {
        "n": len(times),
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "times_s": list(times),
    }


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, inf for a zero denominator (JSON writes it as a string, see write_result)."""
    return numerator / denominator if denominator > 0 else math.inf


def goal(name: str, value: float, target: float, op: str = "<=") -> dict[str, Any]:
    """One goal of the issue: `value op target`, and whether it is met."""
    met = value <= target if op == "<=" else value >= target
    return {"name": name, "value": value, "op": op, "target": target, "met": bool(met)}


def goal_lines(goals: Iterable[dict[str, Any]]) -> list[str]:
    return [
        f"goal {g['name']}: {g['value']:.3f} {g['op']} {g['target']:g} -> {'met' if g['met'] else 'MISSED'}"
        for g in goals
    ]


# ---------------------------------------------------------------------------------------------- output
def _finite(value):
    """JSON has no inf/NaN: write them as strings so any JSON reader can load the file."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def output_path(args: argparse.Namespace, name: str, suffix: str = ".json") -> Path:
    """OUTPUT_DIR/NAME.json, or NAME-quick.json for --quick (a smoke run never replaces real results)."""
    out_dir = Path(args.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir / f"{name}{'-quick' if args.quick else ''}{suffix}"


def write_result(result: dict[str, Any], args: argparse.Namespace, name: str) -> Path:
    """Write the record atomically (NAME.json.tmp, then rename: a killed run leaves no half file)."""
    result["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    result["machine"]["load_average_at_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    path = output_path(args, name)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(_finite(result), indent=2) + "\n")
    os.replace(tmp, path)
    return path


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table: text left-aligned, numbers right-aligned (floats with 3 significant decimals)."""

    def cell(v):
        if v is None:
            return ""
        if isinstance(v, float):
            return f"{v:.3f}" if abs(v) < 1000 else f"{v:.0f}"
        return str(v)

    def width(s: str) -> int:  # on screen: combining marks (the tilde of β̃) take no column
        return sum(not unicodedata.combining(c) for c in s)

    def pad(s: str, w: int, right: bool) -> str:
        fill = " " * (w - width(s))
        return fill + s if right else s + fill

    text = [[cell(v) for v in row] for row in rows]
    widths = [max(width(h), *(width(r[i]) for r in text)) if text else width(h) for i, h in enumerate(headers)]
    # a column of numbers (blank cells allowed, e.g. a skipped row) is right-aligned
    numeric = [
        any(isinstance(row[i], (int, float)) for row in rows)
        and all(isinstance(row[i], (int, float)) or row[i] in ("", None) for row in rows)
        for i in range(len(headers))
    ]

    def line(values):
        return "  ".join(pad(v, w, num) for v, w, num in zip(values, widths, numeric)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in text)])


def header(result: dict[str, Any]) -> str:
    """The lines printed above a table: what ran, where, with how many threads."""
    m, v, t = result["machine"], result["versions"], result["threads"]
    return (
        f"{result['benchmark']}{' (QUICK: smoke test, numbers mean nothing)' if result['quick'] else ''}\n"
        f"{m['cpu_model']}, {m['cpu_count']} cores (affinity {m['cpu_affinity']}), load {m['load_average']}; "
        f"torch {v['torch']}, diffusers {v['diffusers']}; torch threads {t['torch']}"
    )


# ---------------------------------------------------------------------------------------------- models
def model_path(args: argparse.Namespace) -> Path | None:
    """The --model folder as a path (relative paths from the current folder, else from the repo root); None for
    --quick without --model (a tiny pipeline is written instead)."""
    if args.model is None and args.quick:
        return None
    model = Path(args.model or DEFAULT_MODEL)
    return model if model.is_absolute() or model.exists() else REPO / model


def check_model(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse a --model that is not a model folder before anything slow is imported (one line, exit 2)."""
    path = model_path(args)
    if path is not None and not (path / "model_index.json").is_file():
        parser.error(
            f"--model {args.model or DEFAULT_MODEL}: not a model folder (no model_index.json); train the "
            "default model first, pass --model PATH, or use --quick"
        )


def resolve_model(args: argparse.Namespace, scratch: Path) -> str:
    """The model folder to benchmark: --model (checked by `check_model`); else, for --quick, a tiny pipeline
    written under `scratch`; else the default model."""
    path = model_path(args)
    return str(save_tiny_pipeline(scratch / "tiny-ddpm") if path is None else path)


def load_pipeline(model: str):
    """Our pipeline from a folder, progress bars off (a bar costs time and floods the output)."""
    from diffusers.utils import logging as diffusers_logging

    from pipelines import PosteriorDDPMPipeline

    diffusers_logging.disable_progress_bar()
    pipe = PosteriorDDPMPipeline.from_pretrained(model)
    pipe.set_progress_bar_config(disable=True)
    return pipe
