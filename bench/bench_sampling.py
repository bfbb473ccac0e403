"""Sampling: PosteriorDDPMPipeline vs stock diffusers DDPMPipeline vs the floor, on the default model.

The floor is the same number of bare UNet forwards on the same batch under torch.inference_mode, with no
scheduler and no loop bookkeeping: what no sampler can beat. The three share one UNet (the same weights in
memory), run alternately in one process (rotated order each round), progress bars off, output_type="np", and
their medians are compared. Goals: ours ≤ 1.02 × floor and ours ≤ 1.0 × diffusers.
A fourth variant, the floor with a copy of the UNet stored channels-last (`PosteriorDDPMPipeline.use_channels_last`,
what app.py does on CPU), measures that layout: floor_channels_last / floor.

    python bench/bench_sampling.py --threads 2                      # full: 16 images at 50 and 1000 steps
    python bench/bench_sampling.py --quick --output-dir /tmp/bench  # tiny random model, 2 images, 5 steps

Writes OUTPUT_DIR/sampling.json. Before timing, ours and diffusers draw once from the same seed: the max
absolute pixel difference is recorded, so the two really do the same work.
"""

from __future__ import annotations

import copy
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    DEFAULT_MODEL,
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

STEPS = (50, 1000)
GOAL_VS_FLOOR = 1.02
GOAL_VS_DIFFUSERS = 1.0


def parse_args(argv=None):
    parser = base_parser("bench_sampling.py", __doc__.split("\n\n")[0])
    parser.add_argument("--num-images", type=int, default=16, help="batch size of every run")
    parser.add_argument("--steps", type=int, nargs="+", default=list(STEPS), help="num_inference_steps to time")
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed runs of each variant per step count (default: 7, or 3 above 100 steps)",
    )
    args = parser.parse_args(argv)
    positive(parser, "num_images", args.num_images)
    positive(parser, "repeats", args.repeats)
    if not 1 <= args.num_images <= 64:
        parser.error(f"--num-images must be in [1, 64], got {args.num_images}")
    if any(k < 1 for k in args.steps):
        parser.error(f"--steps must be integers >= 1, got {args.steps}")
    check_model(parser, args)  # last: a typo in another flag is reported even without the model
    return args


def variants(ours, stock, unet_channels_last, num_images: int, k: int) -> dict:
    """The timed calls for k steps: the floor (bare UNet forwards, both memory layouts), ours and diffusers'."""
    import torch

    plan = ours.scheduler.timestep_plan(k).tolist()
    x = torch.randn((num_images, *ours.image_shape), generator=torch.Generator().manual_seed(0))

    def floor(net=ours.unet):
        with torch.inference_mode():
            for t in plan:
                net(x, torch.tensor(t)).sample

    def sample(pipe, steps: int = k):
        generator = torch.Generator().manual_seed(0)
        return pipe(batch_size=num_images, generator=generator, num_inference_steps=steps, output_type="np")

    return {
        "floor": floor,
        "floor_channels_last": lambda: floor(unet_channels_last),
        "ours": lambda: sample(ours),
        "diffusers": lambda: sample(stock),
    }


def measure_case(args, ours, stock, unet_channels_last, num_images: int, k: int) -> dict:
    """One step count: the largest pixel difference from diffusers (at ≤ 5 steps), then the interleaved times."""
    import torch

    repeats = (3 if args.quick else 7 if k <= 100 else 3) if args.repeats is None else args.repeats
    check_k = min(k, 5)
    a, b = (
        pipe(
            batch_size=num_images,
            generator=torch.Generator().manual_seed(0),
            num_inference_steps=check_k,
            output_type="np",
        ).images
        for pipe in (ours, stock)
    )
    times = interleave(variants(ours, stock, unet_channels_last, num_images, k), repeats=repeats)
    summary = {name: summarize(ts) for name, ts in times.items()}
    med = {name: s["median_s"] for name, s in summary.items()}
    return {
        "num_inference_steps": k,
        "repeats": repeats,
        "max_abs_diff_vs_diffusers": {"num_inference_steps": check_k, "value": float(abs(a - b).max())},
        "seconds": summary,
        "ratio_ours_vs_floor": ratio(med["ours"], med["floor"]),
        "ratio_ours_vs_diffusers": ratio(med["ours"], med["diffusers"]),
        "ratio_diffusers_vs_floor": ratio(med["diffusers"], med["floor"]),
        "ratio_floor_channels_last_vs_floor": ratio(med["floor_channels_last"], med["floor"]),
    }


def record_case(result: dict, case: dict) -> list:
    """The case's ratios and goals into `result`; returns its table row."""
    k = case["num_inference_steps"]
    result["results"].append(case)
    for key in ("ours_vs_floor", "ours_vs_diffusers", "diffusers_vs_floor", "floor_channels_last_vs_floor"):
        result["ratios"][f"{k} steps {key.replace('_vs_', '/')}"] = case[f"ratio_{key}"]
    result["goals"].append(goal(f"{k} steps ours/floor", case["ratio_ours_vs_floor"], GOAL_VS_FLOOR))
    result["goals"].append(goal(f"{k} steps ours/diffusers", case["ratio_ours_vs_diffusers"], GOAL_VS_DIFFUSERS))
    med = {name: s["median_s"] for name, s in case["seconds"].items()}
    return [
        k,
        case["repeats"],
        med["floor"],
        med["ours"],
        med["diffusers"],
        case["ratio_ours_vs_floor"],
        case["ratio_ours_vs_diffusers"],
        case["ratio_floor_channels_last_vs_floor"],
        f"{case['max_abs_diff_vs_diffusers']['value']:.1e}",
    ]


def report(args, result: dict, rows: list, num_images: int, threads: int) -> None:
    print(header(result))
    print(f"{num_images} images, median seconds over interleaved runs, torch threads {threads}")
    columns = ["steps", "runs", "floor s", "ours s", "diffusers s", "ours/floor", "ours/diffusers"]
    print(format_table([*columns, "channels-last floor/floor", "max |Δpixel|"], rows))
    print("\n".join(goal_lines(result["goals"])))
    print(f"wrote {write_result(result, args, 'sampling')}")


def main(argv=None) -> int:
    args = parse_args(argv)
    threads = apply_threads(args)
    import torch
    from diffusers import DDPMPipeline, DDPMScheduler

    with tempfile.TemporaryDirectory(prefix="bench-sampling-") as scratch:
        model = resolve_model(args, Path(scratch))
        ours = load_pipeline(model)
        T = ours.scheduler.config.num_train_timesteps
        steps = [5] if args.quick else args.steps
        if any(k > T for k in steps):
            print(f"error: --steps must be in [1, {T}] (the model's training steps), got {steps}", file=sys.stderr)
            return 2
        num_images = 2 if args.quick else args.num_images
        # Stock diffusers, sharing our UNet: any difference is the sampling loop, not the weights' memory layout.
        stock = DDPMPipeline(unet=ours.unet, scheduler=DDPMScheduler.from_pretrained(model, subfolder="scheduler"))
        stock.set_progress_bar_config(disable=True)
        unet_channels_last = copy.deepcopy(ours.unet).to(memory_format=torch.channels_last)
        result = new_result(
            "sampling",
            f"seconds to draw {num_images} images: PosteriorDDPMPipeline vs diffusers DDPMPipeline vs "
            "the floor (bare UNet forwards under inference_mode); one shared UNet, interleaved, medians",
            args,
            {
                "model": args.model or ("(tiny random pipeline)" if args.quick else DEFAULT_MODEL),
                "num_images": num_images,
                "steps": steps,
                "output_type": "np",
                "eta": 1.0,
                "variance_type": ours.scheduler.config.variance_type,
                "warmup": "one 2-step run of each variant before timing",
            },
        )
        for fn in variants(ours, stock, unet_channels_last, num_images, min(2, T)).values():  # warm-up
            fn()
        rows = [record_case(result, measure_case(args, ours, stock, unet_channels_last, num_images, k)) for k in steps]
    report(args, result, rows, num_images, threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
