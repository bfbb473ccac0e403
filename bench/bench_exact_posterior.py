"""Per-step cost of the exact reverse step q(x_{t-1} | x_t) against the data set's size N.

The exact step compares x_t with every training image, so its cost grows linearly with N; a learned p_θ costs
one network call whatever N is. Both are timed by the app's one protocol (`pipelines.exact.costs.measure_step_costs`),
once per dtype of the exact step. This prints a table, writes JSON and a PNG plot:

    OMP_NUM_THREADS=1 taskset -c 1 python bench/bench_exact_posterior.py            # full: N = 100 … 4,500
    python bench/bench_exact_posterior.py --quick --output-dir /tmp/bench             # smoke test

Subsets are the first N mnist train digits (32×32), batch 1, t = 500 (the weights are dense there: the cost is
the same for any t, except late steps where most weights are exactly 0 and the mean is cheaper).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere in the repo
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/common.py

from pipelines.exact.costs import DEFAULT_SIZES, measure_step_costs
from pipelines.exact.plots import plot_step_cost, plot_step_costs

QUICK_SIZES = (100, 250)
DTYPES = {"float64": torch.float64, "float32": torch.float32}


def machine_info() -> dict:
    """bench/common.py's machine record plus the thread settings this benchmark runs under."""
    from common import machine_info as common_machine_info

    return {
        **common_machine_info(),
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }


def step_costs(model: str, data: torch.Tensor, sizes, repeats: int, quick: bool, dtypes: dict) -> dict:
    """{dtype name: the app's cost protocol (`measure_step_costs`: exact steps over N and the model's step, same
    batch, threads and repeats, medians; the c·N·D fit and its extrapolation)} for each dtype of the exact step."""
    from pipelines import PosteriorDDPMPipeline

    pipe = PosteriorDDPMPipeline.from_pretrained(model)
    min_seconds = 0.0 if quick else 0.2
    return {
        name: measure_step_costs(pipe, data, sizes=sizes, repeats=repeats, dtype=dtype, min_seconds=min_seconds)
        for name, dtype in dtypes.items()
    }


def parse_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sizes must be comma-separated integers, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"--sizes must be integers >= 1, got {text!r}")
    return sizes


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"smoke test: N = {QUICK_SIZES}, 1 repeat, float64 only")
    parser.add_argument(
        "--output-dir",
        default=str(Path(__file__).resolve().parent / "results"),
        help="where exact_posterior.json and exact_posterior.png go (default: bench/results)",
    )
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=None,
        help=f"comma-separated N (default: {','.join(map(str, DEFAULT_SIZES))})",
    )
    parser.add_argument("--repeats", type=int, default=9, help="timed steps per N (median reported; default 9)")
    parser.add_argument(
        "--model",
        default=str(Path(__file__).resolve().parents[1] / "models" / "ddpm-mnist"),
        help="the model folder whose p_θ step is timed beside the exact step (drawn as a flat line)",
    )
    return parser.parse_args(argv)


def print_table(series: dict, costs, sizes, repeats: int, model: str) -> None:
    names = list(series)
    print(
        f"exact q(x_t-1|x_t) per step, batch 1, 32x32, median of >= {repeats} (wall clock), "
        f"torch threads {torch.get_num_threads()}"
    )
    print(f"{'N':>6} {'data MB':>8} " + " ".join(f"{n + ' ms':>12}" for n in names))
    for i, n in enumerate(sizes):
        row = series[names[0]][i]
        print(
            f"{n:>6} {row['data_bytes'] / 2**20:>8.1f} "
            + " ".join(f"{series[k][i]['median_ms']:>12.2f}" for k in names)
        )
    print(f"model p_θ step ({model}): {costs.model_ms:.2f} ms, independent of N")
    print(f"fit (float64): {costs.ms_per_element:.3g} ms per number (N·D); extrapolated:")
    for e in costs.extrapolated:
        print(f"  {e['name']:<24} N = {e['N']:>13,}  D = {e['D']:>6,}  {e['ms']:>14,.0f} ms  {e['bytes']:>18,} bytes")


def write_outputs(args, series: dict, by_dtype: dict, repeats: int) -> None:
    """exact_posterior.json, exact_posterior.png and exact_posterior_scale.png under --output-dir."""
    costs = by_dtype["float64"]
    out_dir = Path(args.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "exact_posterior_step_cost",
        "description": "milliseconds per exact reverse step DatasetPosterior.step(x_t, 500, 499), batch 1, "
        "first N mnist train digits (1x32x32)",
        "quick": bool(args.quick),
        "repeats": repeats,
        "machine": machine_info(),
        "series": series,
        "model": {"path": args.model, "median_ms": costs.model_ms},
        # the protocol the app's tabs quote (pipelines.exact.costs.measure_step_costs), float64 as the app runs it
        "step_costs": costs.as_dict(),
        "step_costs_by_dtype": {name: c.as_dict() for name, c in by_dtype.items()},
    }
    json_path = out_dir / "exact_posterior.json"
    json_path.write_text(json.dumps(result, indent=2))
    png_path = out_dir / "exact_posterior.png"
    threads = torch.get_num_threads()
    fig = plot_step_cost(
        series,
        costs.model_ms,
        title=f"Exact reverse step: cost grows with N ({threads} thread{'s' if threads > 1 else ''})",
    )
    fig.savefig(png_path)
    plot_step_costs(costs).savefig(out_dir / "exact_posterior_scale.png")
    print(f"wrote {json_path} and {png_path}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.repeats < 1:
        print(f"error: --repeats must be >= 1, got {args.repeats}", file=sys.stderr)
        return 2

    from pipelines.data.sources import load_mnist

    data = load_mnist("train")[0]
    sizes = QUICK_SIZES if args.quick else (args.sizes or DEFAULT_SIZES)
    if max(sizes) > len(data):
        print(f"error: --sizes must be at most {len(data)} (the mnist train digits), got {max(sizes)}", file=sys.stderr)
        return 2
    repeats = 1 if args.quick else args.repeats
    dtypes = {"float64": torch.float64} if args.quick else DTYPES

    if not Path(args.model).is_dir():
        print(f"error: --model {args.model!r} is not a model folder", file=sys.stderr)
        return 2
    by_dtype = step_costs(args.model, data, sizes, repeats, args.quick, dtypes)
    series = {
        name: [
            {"n": r["N"], "median_ms": r["ms"], **{k: r[k] for k in ("min_ms", "max_ms", "repeats", "data_bytes")}}
            for r in c.rows
        ]
        for name, c in by_dtype.items()
    }
    print_table(series, by_dtype["float64"], sizes, repeats, args.model)
    write_outputs(args, series, by_dtype, repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
