"""Fast samplers side by side on one UNet: diffusers' schedulers against our posterior step with a better x̂_0.

Rows (all with timestep_spacing "trailing", the UNet and β schedule of --model):
- diffusers DDPMScheduler (η = 1, σ² = β̃_t; bit-identical to ours at order 1, tests/ddpm/test_multistep.py),
  DDIMScheduler (η = 0), DPMSolverMultistepScheduler "dpmsolver++" 2M (the ODE) and "sde-dpmsolver++" 2M and 3M,
  UniPCMultistepScheduler (bh2, order 2);
- ours: PosteriorDDPMPipeline at η = 1 with σ² = β̃_t or Bao et al.'s σ*² ("analytic"), orders 1–3: the DDPM
  posterior q(x_prev | x_t, x̂_0) with x̂_0 extrapolated from the last guesses (pipelines/ddpm/multistep.py).
  Unlike diffusers' DPM-Solvers, ours clips every x̂_0 to the data range as the model's config says.
Quality: `pipelines.evaluation.evaluate_images` (the project's judge) over --num-samples samples from one CPU
generator seeded by --seed, in batches of --batch-size. Speed: the median wall time of 16 images in this process.
The reference is the 1000-step DDPM FID from --reference-json (a pipelines.evaluation report, same --num-samples).
Rows run seed 0 first, fewest steps first; then the --extra-seeds for the --decisive samplers. The JSON is written
after every row (complete: false until the end), so a stopped run keeps what it measured.

    nice -n 10 python bench/bench_samplers.py --threads 2 \\
        --reference-json models/ddpm-mnist/evaluation-1000-samples-1000-steps-eta-1.json
    python bench/bench_samplers.py --quick --output-dir /tmp/bench      # tiny random model, 8 samples

Writes OUTPUT_DIR/samplers.json and samplers.png (FID against steps, which cost the same for every sampler; the
seconds for 16 images are in the JSON; --name changes the name).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    apply_threads,
    base_parser,
    check_model,
    format_table,
    goal,
    goal_lines,
    header,
    load_pipeline,
    new_result,
    output_path,
    positive,
    resolve_model,
    summarize,
    write_result,
)

STEPS = (5, 10, 15, 20, 25)
DEMO_IMAGES = 16
# The goal: at 10 steps our best FID within FAST_FID_RATIO × the 1000-step reference's.
FAST_FID_RATIO = 1.1
GOAL_STEPS = 10
# key: (label, kind, options). kind "diffusers": a scheduler class and its config overrides; "ours": the pipeline's
# variance_type and order (η = 1).
SAMPLERS = {
    "ddpm": ("diffusers DDPM (= ours, order 1, β̃)", "diffusers", ("DDPMScheduler", {})),
    "ddim": ("diffusers DDIM η=0", "diffusers", ("DDIMScheduler", {})),
    "dpmpp_2m": ("diffusers DPM-Solver++ 2M (ODE)", "diffusers", ("DPMSolverMultistepScheduler", {})),
    "sde_dpmpp_2m": (
        "diffusers SDE-DPM-Solver++ 2M",
        "diffusers",
        ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++"}),
    ),
    "sde_dpmpp_3m": (
        "diffusers SDE-DPM-Solver++ 3M",
        "diffusers",
        ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++", "solver_order": 3}),
    ),
    "unipc": ("diffusers UniPC (bh2, order 2)", "diffusers", ("UniPCMultistepScheduler", {})),
    "ours_analytic": ("ours σ*, order 1", "ours", ("analytic", 1)),
    "ours_small_o2": ("ours β̃, order 2", "ours", ("fixed_small", 2)),
    "ours_small_o3": ("ours β̃, order 3", "ours", ("fixed_small", 3)),
    "ours_analytic_o2": ("ours σ*, order 2", "ours", ("analytic", 2)),
    "ours_analytic_o3": ("ours σ*, order 3", "ours", ("analytic", 3)),
    # x̂_0 not clipped, as diffusers' DPM-Solvers: order 2 is then SDE-DPM-Solver++ 2M itself (tested), order 3 its
    # 3M with the D2 weight of the integral (pipelines/ddpm/multistep.py, x0_weights).
    "ours_small_o3_noclip": ("ours β̃, order 3, x̂₀ not clipped", "ours", ("fixed_small", 3, {"clip_sample": False})),
    "ours_small_o2_noclip": ("ours β̃, order 2, x̂₀ not clipped", "ours", ("fixed_small", 2, {"clip_sample": False})),
}
DECISIVE = ("sde_dpmpp_2m", "ours_small_o2", "ours_small_o3")
PLOT_LABELS = {
    "ddpm": r"diffusers DDPM (= ours order 1, $\tilde\beta_t$)",
    "ours_analytic": r"ours $\sigma^{*}$, order 1",
    "ours_small_o2": r"ours $\tilde\beta_t$, order 2",
    "ours_small_o3": r"ours $\tilde\beta_t$, order 3",
    "ours_analytic_o2": r"ours $\sigma^{*}$, order 2",
    "ours_analytic_o3": r"ours $\sigma^{*}$, order 3",
    "ours_small_o3_noclip": r"ours $\tilde\beta_t$, order 3, $\hat x_0$ not clipped",
    "ours_small_o2_noclip": r"ours $\tilde\beta_t$, order 2, $\hat x_0$ not clipped (= SDE-DPM-Solver++ 2M)",
}
REPORT_KEYS = ("fid", "fid_floor", "confident_rate", "min_class_fraction", "copy_fraction")


def parse_args(argv=None):
    parser = base_parser("bench_samplers.py", __doc__.split("\n\n")[0])
    parser.add_argument("--num-samples", type=int, default=1000, help="samples per row for the FID (quick: 8)")
    parser.add_argument("--steps", type=int, nargs="+", default=list(STEPS), help="step counts to measure")
    parser.add_argument("--samplers", nargs="+", choices=list(SAMPLERS), default=list(SAMPLERS), help="which rows")
    parser.add_argument("--seed", type=int, default=0, help="the seed every row runs with")
    parser.add_argument("--extra-seeds", type=int, nargs="*", default=[1, 2], help="more seeds for --decisive rows")
    parser.add_argument(
        "--decisive", nargs="*", choices=list(SAMPLERS), default=list(DECISIVE), help="rows run with --extra-seeds"
    )
    parser.add_argument("--reference-json", default=None, help="the 1000-step DDPM report (pipelines.evaluation)")
    parser.add_argument("--time-repeats", type=int, default=3, help="timed 16-image runs per row (median)")
    parser.add_argument("--batch-size", type=int, default=64, help="sampling batch for the FID samples")
    parser.add_argument(
        "--merge",
        nargs="+",
        default=None,
        help="sample nothing: rebuild the summary, goals and plot from the rows of these samplers JSON files "
        "(runs stopped early or split across processes); the first one's provenance is kept",
    )
    parser.add_argument(
        "--skip-done",
        nargs="+",
        default=[],
        help="skip the (sampler, steps, seed) rows these samplers JSON files already hold (a stopped run, resumed)",
    )
    parser.add_argument(
        "--timing",
        default=None,
        help="with --merge: take each sampler's seconds for 16 images from this run instead (e.g. one with "
        "--num-samples 2, timed on a quieter machine than the FID runs had)",
    )
    parser.add_argument("--name", default="samplers", help="the output files' name: NAME.json and NAME.png")
    args = parser.parse_args(argv)
    for flag in ("merge", "skip_done", "timing"):
        paths = getattr(args, flag) or []
        missing = [m for m in ([paths] if isinstance(paths, str) else paths) if not Path(m).is_file()]
        if missing:
            parser.error(f"--{flag.replace('_', '-')} {missing[0]!r} is not a file")
    positive(parser, "num_samples", args.num_samples, 2)
    positive(parser, "time_repeats", args.time_repeats)
    positive(parser, "batch_size", args.batch_size)
    if any(k < 2 for k in args.steps):
        parser.error(f"--steps must be integers >= 2 (multistep needs two), got {args.steps}")
    if args.reference_json and not Path(args.reference_json).is_file():
        parser.error(f"--reference-json {args.reference_json!r} is not a file")
    check_model(parser, args)
    return args


def diffusers_scheduler(pipe, class_name: str, overrides: dict):
    """A fresh diffusers scheduler of `class_name` from our scheduler's config (stateful: one per batch)."""
    import diffusers

    return getattr(diffusers, class_name).from_config(pipe.scheduler.config, **overrides)


def sample_batch(pipe, key: str, size: int, steps: int, generator):
    """`size` images (size, C, H, W) in [-1, 1] from the row's sampler, the initial noise drawn first from
    `generator` (as DDPMPipeline does), then each step's noise from it."""
    import inspect

    import torch
    from diffusers.utils.torch_utils import randn_tensor

    from pipelines.ddpm.pipeline import to_unit_range

    _, kind, options = SAMPLERS[key]
    if kind == "ours":
        variance_type, order, *overrides = options
        if overrides:
            pipe = type(pipe)(pipe.unet, type(pipe.scheduler).from_config(pipe.scheduler.config, **overrides[0]))
            pipe.set_progress_bar_config(disable=True)
        last = None
        for last in pipe.denoise(size, generator, steps, 1.0, None, variance_type, progress=False, order=order):
            pass
        return to_unit_range(last.sample) * 2 - 1
    scheduler = diffusers_scheduler(pipe, *options)
    scheduler.set_timesteps(steps)
    takes_generator = "generator" in inspect.signature(scheduler.step).parameters
    extra = {"generator": generator} if takes_generator else {}
    if options[0] == "DDIMScheduler":
        extra["eta"] = 0.0
    x = randn_tensor((size, *pipe.image_shape), generator=generator, dtype=pipe.unet.dtype)
    with torch.inference_mode():
        for t in scheduler.timesteps:
            x = scheduler.step(pipe.unet(x, t).sample, t, x, **extra).prev_sample
    return to_unit_range(x) * 2 - 1


def sample_many(pipe, key: str, n: int, steps: int, seed: int, batch_size: int):
    """n images from one CPU generator seeded by `seed`, batch after batch (as evaluate_pipeline does)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    sizes = [min(batch_size, n - s) for s in range(0, n, batch_size)]
    return torch.cat([sample_batch(pipe, key, size, steps, generator) for size in sizes])


def measure_row(args, run, pipe, judge, row: dict) -> None:
    """FID (and the judge's other numbers) of the row, then the median seconds for 16 images, into `row`."""
    import torch

    from pipelines.evaluation.quality import evaluate_images

    key, k, seed = row["sampler"], row["num_inference_steps"], row["seed"]
    started = time.perf_counter()
    images = sample_many(pipe, key, run["num_samples"], k, seed, run["batch_size"])
    sampling = time.perf_counter() - started
    report = evaluate_images(images, judge)
    row.update({name: report[name] for name in REPORT_KEYS}, sampling_seconds=sampling, num_samples=len(images))
    if seed == args.seed:  # speed once per sampler and step count
        times = []
        for r in range(run["time_repeats"]):
            start = time.perf_counter()
            sample_batch(pipe, key, DEMO_IMAGES, k, torch.Generator().manual_seed(r))
            times.append(time.perf_counter() - start)
        row["seconds_16_images"] = summarize(times)
    row["status"] = "measured"
    row["row_seconds"] = time.perf_counter() - started


def row_plan(args, run) -> list[tuple[str, int, int]]:
    """(sampler, steps, seed), one step count after another (the goal's first, then fewest steps first): every
    sampler at --seed, the decisive ones first, then the decisive ones at the extra seeds. A stopped run has
    whole step counts."""
    decisive = [key for key in args.decisive if key in run["samplers"]]
    samplers = decisive + [key for key in run["samplers"] if key not in decisive]
    plan = []
    for k in sorted(run["steps"], key=lambda k: (k != GOAL_STEPS, k)):
        plan += [(key, k, args.seed) for key in samplers]
        plan += [(key, k, seed) for seed in run["extra_seeds"] for key in decisive]
    return plan


def aggregate(rows: list[dict]) -> list[dict]:
    """Per (sampler, steps): the FID of each seed, their mean and spread (max − min), and the 16-image seconds."""
    groups: dict[tuple[str, int], list[dict]] = {}
    for r in rows:
        if r.get("status") == "measured":
            groups.setdefault((r["sampler"], r["num_inference_steps"]), []).append(r)
    out = []
    for (key, k), group in groups.items():
        fids = [r["fid"] for r in group]
        timed = [r["seconds_16_images"]["median_s"] for r in group if "seconds_16_images" in r]
        out.append(
            {
                "sampler": key,
                "label": SAMPLERS[key][0],
                "num_inference_steps": k,
                "fids": fids,
                "seeds": [r["seed"] for r in group],
                "fid_mean": statistics.fmean(fids),
                "fid_spread": max(fids) - min(fids),
                "seconds_16_images": timed[0] if timed else None,
            }
        )
    return sorted(out, key=lambda a: (list(SAMPLERS).index(a["sampler"]), a["num_inference_steps"]))


def compare(summary: list[dict], reference_fid: float | None) -> dict:
    """Per step count: the best diffusers row and our best row by mean FID, whether ours is no worse within the
    seeds' spread (the largest max − min over seeds among the rows at that step count run with several seeds), and
    at GOAL_STEPS the ratio of our best to the reference."""
    out = {}
    for k in sorted({a["num_inference_steps"] for a in summary}):
        at = [a for a in summary if a["num_inference_steps"] == k]
        theirs = [a for a in at if SAMPLERS[a["sampler"]][1] == "diffusers"]
        ours = [a for a in at if SAMPLERS[a["sampler"]][1] == "ours"] + [a for a in at if a["sampler"] == "ddpm"]
        if not theirs or not ours:
            continue
        best_theirs, best_ours = min(theirs, key=lambda a: a["fid_mean"]), min(ours, key=lambda a: a["fid_mean"])
        # The FID's own noise at k: the largest max − min over seeds of any row at k run with several seeds (a
        # best row measured on one seed has no spread of its own; the same sampler on another seed moves by this).
        spread = max([a["fid_spread"] for a in at if len(a["fids"]) > 1] + [0.0])
        out[str(k)] = {
            "fid_spread": spread,
            "best_diffusers": [best_theirs["sampler"], best_theirs["fid_mean"], len(best_theirs["fids"])],
            "best_ours": [best_ours["sampler"], best_ours["fid_mean"], len(best_ours["fids"])],
            "ours_no_worse_within_spread": best_ours["fid_mean"] <= best_theirs["fid_mean"] + spread,
            "ours_better": best_ours["fid_mean"] < best_theirs["fid_mean"],
        }
        if reference_fid and k == GOAL_STEPS:
            out[str(k)]["ours_over_reference"] = best_ours["fid_mean"] / reference_fid
            out[str(k)]["meets_goal"] = best_ours["fid_mean"] <= FAST_FID_RATIO * reference_fid
    return out


def goals_and_ratios(comparison: dict, reference_fid: float | None) -> tuple[list[dict], dict]:
    """The issue's goals from `compare`: at every step count our best mean FID no worse than the best diffusers
    row's (within the seeds' spread), and at GOAL_STEPS within FAST_FID_RATIO × the reference; and the ratios
    behind them (our best FID ÷ diffusers' best, per step count; ÷ the reference at GOAL_STEPS)."""
    goals, ratios = [], {}
    for k, c in comparison.items():
        ours, theirs = c["best_ours"][1], c["best_diffusers"][1]
        ratios[f"fid_best_ours_over_best_diffusers_{k}_steps"] = ours / theirs
        allowed = theirs + (c["fid_spread"] if "fid_spread" in c else 0.0)
        goals.append(goal(f"{k} steps: our best FID <= diffusers' best (+ the seeds' spread)", ours, allowed))
    if reference_fid and str(GOAL_STEPS) in comparison:
        ours = comparison[str(GOAL_STEPS)]["best_ours"][1]
        ratios[f"fid_best_ours_over_reference_{GOAL_STEPS}_steps"] = ours / reference_fid
        goals.append(goal(f"{GOAL_STEPS} steps: our best FID / the 1000-step reference", ours / reference_fid, 1.1))
    return goals, ratios


def plot(summary: list[dict], reference_fid: float | None, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=120)
    for key in SAMPLERS:
        done = sorted((a for a in summary if a["sampler"] == key), key=lambda a: a["num_inference_steps"])
        if not done:
            continue
        # x: the steps, each one UNet call of the same cost for every sampler, so seconds ∝ steps; the seconds
        # measured beside the FIDs are in the JSON, but on a shared machine they vary more than between samplers.
        xs, ys = [a["num_inference_steps"] for a in done], [a["fid_mean"] for a in done]
        style = "-" if SAMPLERS[key][1] == "ours" else "--"
        ax.plot(xs, ys, style, marker="o", label=PLOT_LABELS.get(key, SAMPLERS[key][0]))
    if reference_fid is not None:
        ax.axhline(reference_fid, color="gray", linestyle=":", linewidth=1, label="1000-step DDPM (reference)")
        ax.axhline(
            FAST_FID_RATIO * reference_fid, color="purple", linestyle=":", linewidth=0.8, label="1.1 × reference"
        )
    ax.set_yscale("log")
    ax.set_xlabel(f"steps = UNet calls (seconds for {DEMO_IMAGES} images are proportional: see the JSON)")
    ax.set_ylabel("classifier-FID (log; lower is better)")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def reference_fid(args, num_samples: int) -> dict | None:
    if not args.reference_json:
        return None
    report = json.loads(Path(args.reference_json).read_text())
    if report.get("num_samples") != num_samples:
        raise SystemExit(f"error: --reference-json has {report.get('num_samples')} samples, this run {num_samples}")
    return {"fid": report["fid"], "source": args.reference_json, "num_inference_steps": report["num_inference_steps"]}


def finish(args, result: dict, title: str) -> None:
    """Summary, comparison, goals, ratios and the plot from result["results"]; written; the table printed."""
    reference = result.get("reference")
    fid = reference and reference["fid"]
    result["summary"] = aggregate(result["results"])
    result["comparison"] = compare(result["summary"], fid)
    result["goals"], result["ratios"] = goals_and_ratios(result["comparison"], fid)
    result["complete"] = True
    png = output_path(args, args.name, ".png")
    plot(result["summary"], fid, png, title)
    result["plot"] = png.name
    write_result(result, args, args.name)
    print(header(result))
    table = [
        [a["label"], a["num_inference_steps"], a["fid_mean"], a["fid_spread"], len(a["fids"]), a["seconds_16_images"]]
        for a in result["summary"]
    ]
    print(format_table(["sampler", "steps", "FID", "spread", "seeds", "s/16"], table))
    print("\n".join(goal_lines(result["goals"])))


def merge(args) -> dict:
    """--merge: the rows of several runs as one result (the first run's provenance, every run's command); a
    (sampler, steps, seed) measured by more than one run counts once."""
    runs = [json.loads(Path(m).read_text()) for m in args.merge]
    rows = {}
    for row in (row for run in runs for row in run["results"]):  # a row measured twice: the first one counts
        rows.setdefault((row["sampler"], row["num_inference_steps"], row["seed"]), row)
    if args.timing:  # a (sampler, steps) the timing run measured gets its seconds; the FID runs' are kept aside
        timing = json.loads(Path(args.timing).read_text())
        seconds = {(r["sampler"], r["num_inference_steps"]): r["seconds_16_images"] for r in timing["results"]}
        for row in rows.values():
            key = (row["sampler"], row["num_inference_steps"])
            if key in seconds and "seconds_16_images" in row:
                row["seconds_16_images_during_fid_run"] = row.pop("seconds_16_images")
            if key in seconds and row["seed"] == runs[0]["settings"]["seed"]:
                row["seconds_16_images"] = seconds[key]
    result = dict(runs[0], results=list(rows.values()))
    result["merged"] = [
        {"file": m, "command": run["command"], "started_at": run["started_at"], "wall_seconds": run.get("wall_seconds")}
        for m, run in zip(args.merge, runs)
    ]
    if args.timing:
        result["timing"] = {"file": args.timing, "command": timing["command"], "machine": timing["machine"]}
    n = result["settings"]["num_samples"]
    finish(args, result, f"{result['settings']['model']}: FID of {n} samples (timestep_spacing trailing)")
    return result


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.merge:
        return merge(args)
    threads = apply_threads(args)
    with tempfile.TemporaryDirectory() as scratch:
        model = resolve_model(args, Path(scratch))
        pipe = load_pipeline(model)
        config = dict(pipe.scheduler.config, timestep_spacing="trailing")
        pipe.scheduler = type(pipe.scheduler).from_config(config)
        pipe.use_channels_last()  # the demo's layout on CPU (app.py)
        if args.quick:
            import torch

            pipe.set_analytic_gamma(torch.full((pipe.scheduler.config.num_train_timesteps,), 0.5))
        judge = None  # the shipped judge (models/mnist-judge)
        run = {
            "num_samples": 8 if args.quick else args.num_samples,
            "steps": [2, 3] if args.quick else sorted(set(args.steps)),
            "samplers": args.samplers,
            "extra_seeds": [] if args.quick else [s for s in args.extra_seeds if s != args.seed],
            "time_repeats": 1 if args.quick else args.time_repeats,
            "batch_size": min(8, args.batch_size) if args.quick else args.batch_size,
        }
        reference = reference_fid(args, run["num_samples"])
        result = new_result("samplers", __doc__.split("\n\n")[0], args, dict(run, model=model, threads=threads))
        result["settings"].update(timestep_spacing="trailing", layout="channels_last", seed=args.seed)
        result["reference"] = reference
        started = time.perf_counter()
        done = {
            (r["sampler"], r["num_inference_steps"], r["seed"])
            for path in args.skip_done
            for r in json.loads(Path(path).read_text())["results"]
        }
        for key, k, seed in (row for row in row_plan(args, run) if row not in done):
            row = {"sampler": key, "label": SAMPLERS[key][0], "num_inference_steps": k, "seed": seed}
            measure_row(args, run, pipe, judge, row)
            result["results"].append(row)
            result["summary"] = aggregate(result["results"])
            result["comparison"] = compare(result["summary"], reference and reference["fid"])
            result["goals"], result["ratios"] = goals_and_ratios(result["comparison"], reference and reference["fid"])
            result["wall_seconds"] = time.perf_counter() - started
            write_result(result, args, args.name)
            print(
                f"{row['label']} {k} steps seed {seed}: FID {row['fid']:.3f} ({row['row_seconds']:.0f} s)", flush=True
            )
        finish(args, result, f"{model}: FID of {run['num_samples']} samples (timestep_spacing trailing)")
    return result


if __name__ == "__main__":
    main()
