"""Scheduler step: our PosteriorDDPMScheduler.step vs diffusers' DDPMScheduler.step on the same inputs.

Each timed run is one pass over a sampling chain (K steps; every step on the same x_t and model output), called
the way each pipeline calls its scheduler: ours with int t, prev_timestep and eta=1 (the DDPM posterior, β̃_t);
diffusers after set_timesteps(K), with t taken from scheduler.timesteps. Both get a seeded CPU generator, as the
pipelines do. Runs alternate (rotated order each round), medians compared. Goal: ours / diffusers ≤ 1.0.

    python bench/bench_scheduler.py --threads 2            # full: 16×1×32×32 and 16×3×64×64, K = 50 and 1000
    python bench/bench_scheduler.py --quick --output-dir /tmp/bench

Writes OUTPUT_DIR/scheduler.json. Before timing, one step of each is compared (same generator seed): the max
absolute difference of x_{t-1} is recorded, so the two really do the same work.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    apply_threads,
    base_parser,
    format_table,
    goal,
    goal_lines,
    header,
    interleave,
    new_result,
    positive,
    ratio,
    summarize,
    write_result,
)

SHAPES = ((16, 1, 32, 32), (16, 3, 64, 64))
CHAINS = (50, 1000)
QUICK_CHAINS = (20,)
GOAL = 1.0


def parse_args(argv=None):
    parser = base_parser("bench_scheduler.py", __doc__.split("\n\n")[0], model=False)
    parser.add_argument("--repeats", type=int, default=15, help="timed passes of each scheduler per case")
    parser.add_argument(
        "--chains", type=int, nargs="+", default=list(CHAINS), help="step counts K of the chains (1 … 1000)"
    )
    args = parser.parse_args(argv)
    positive(parser, "repeats", args.repeats)
    if any(not 1 <= k <= 1000 for k in args.chains):
        parser.error(f"--chains must be step counts in [1, 1000], got {args.chains}")
    return args


def measure_case(shape, num_steps: int, repeats: int) -> dict:
    import torch
    from diffusers import DDPMScheduler

    from pipelines import PosteriorDDPMScheduler

    ours = PosteriorDDPMScheduler()  # diffusers' defaults: T = 1000, linear β, fixed_small, clip_sample
    stock = DDPMScheduler()
    stock.set_timesteps(num_steps)
    plan = ours.timestep_plan(num_steps).tolist()
    assert plan == stock.timesteps.tolist(), "both schedulers must walk the same chain"
    chain = list(zip(plan, plan[1:] + [-1]))
    stock_timesteps = list(stock.timesteps)  # 0-d tensors, as DDPMPipeline passes them

    g = torch.Generator().manual_seed(0)
    sample = torch.randn(shape, generator=g)
    model_output = torch.randn(shape, generator=g)

    # The same work: one step each from the same generator state gives the same x_{t-1} (up to float rounding).
    t, prev_t = chain[len(chain) // 2]
    a = ours.step(
        model_output, t, sample, generator=torch.Generator().manual_seed(1), prev_timestep=prev_t, eta=1.0
    ).prev_sample
    b = stock.step(
        model_output, stock_timesteps[len(chain) // 2], sample, generator=torch.Generator().manual_seed(1)
    ).prev_sample
    max_abs_diff = float((a - b).abs().max())

    ours_gen, stock_gen = torch.Generator().manual_seed(2), torch.Generator().manual_seed(2)

    def run_ours():
        for t, prev_t in chain:
            ours.step(model_output, t, sample, generator=ours_gen, prev_timestep=prev_t, eta=1.0)

    def run_stock():
        for t in stock_timesteps:
            stock.step(model_output, t, sample, generator=stock_gen)

    with torch.inference_mode():  # as in both pipelines
        times = interleave({"ours": run_ours, "diffusers": run_stock}, repeats=repeats, warmup=1)
    per_step = {name: summarize([s / num_steps for s in ts]) for name, ts in times.items()}
    return {
        "shape": list(shape),
        "num_steps": num_steps,
        "max_abs_diff_prev_sample": max_abs_diff,
        "seconds_per_step": per_step,
        "ratio_ours_vs_diffusers": ratio(per_step["ours"]["median_s"], per_step["diffusers"]["median_s"]),
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    threads = apply_threads(args)
    chains = QUICK_CHAINS if args.quick else tuple(args.chains)
    repeats = 3 if args.quick else args.repeats
    result = new_result(
        "scheduler_step",
        "seconds per scheduler step, ours (PosteriorDDPMScheduler.step, eta=1, prev_timestep) vs "
        "diffusers DDPMScheduler.step, same inputs; median over passes of a K-step chain",
        args,
        {
            "shapes": [list(s) for s in SHAPES],
            "chains": list(chains),
            "repeats": repeats,
            "warmup": 1,
            "scheduler_config": "diffusers defaults (T=1000, linear, fixed_small, clip_sample)",
        },
    )
    rows = []
    for shape in SHAPES:
        for k in chains:
            case = measure_case(shape, k, repeats)
            result["results"].append(case)
            name = f"{'x'.join(map(str, shape))} K={k}"
            result["ratios"][f"{name} ours/diffusers"] = case["ratio_ours_vs_diffusers"]
            result["goals"].append(goal(f"{name} ours/diffusers", case["ratio_ours_vs_diffusers"], GOAL))
            s = case["seconds_per_step"]
            rows.append(
                [
                    name,
                    s["ours"]["median_s"] * 1e6,
                    s["diffusers"]["median_s"] * 1e6,
                    case["ratio_ours_vs_diffusers"],
                    f"{case['max_abs_diff_prev_sample']:.1e}",
                ]
            )
    print(header(result))
    print(f"median µs per step over {repeats} interleaved passes, torch threads {threads}")
    print(format_table(["case", "ours µs", "diffusers µs", "ours/diffusers", "max |Δx|"], rows))
    print("\n".join(goal_lines(result["goals"])))
    print(f"wrote {write_result(result, args, 'scheduler')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
