"""Quality per second: classifier-FID, confident rate and the wall time for 16 images, per sampler and step count.

Samplers: DDPM η = 1 with σ² = β̃_t (fixed_small) and with σ² = β_t (fixed_large), DDIM η = 0, η = 0.5 in
between, and Bao et al.'s optimal variance σ*² (variance_type "analytic", Analytic-DPM) at η = 1 and η = 0,
at 10, 20, 50, 100, 250 and 1000 steps. Quality comes from `pipelines.evaluation.quality.evaluate_pipeline`
(N samples from one seeded generator, judged by models/mnist-judge against the 500 held-out digits); speed is the
median wall time of `pipe(batch_size=16, …)` in this process. The demo's defaults come from this table.
Goals: 16 digits in ≤ 5 s with classifier-FID no worse than 1000-step DDPM's; and 16 digits in ≤ 1 s with
classifier-FID within 1.1× of it.

    python bench/bench_quality.py --threads 2                                   # everything: many hours on 2 cores
    python bench/bench_quality.py --threads 2 --steps 10 20 50 100 --max-seconds 1800
    python bench/bench_quality.py --quick --output-dir /tmp/bench               # tiny random model, 8 samples

Each row's cost is predicted first (from a short calibration of the UNet at both batch sizes); rows predicted
above --max-seconds are skipped and say so. The 1000-step DDPM row (β̃_t, the reference) is measured even when
1000 is not in --steps (--reference-steps 0 turns it off); or give its FID from an earlier run with
--reference-json (a pipelines.evaluation report with the same --num-samples). Without any 1000-step DDPM FID the
goal is judged against the best measured DDPM row instead, and the output flags it.

Writes OUTPUT_DIR/quality.json and quality.png (FID against seconds for 16 images, log x).
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

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
    load_pipeline,
    new_result,
    output_path,
    positive,
    ratio,
    resolve_model,
    summarize,
    write_result,
)

STEPS = (10, 20, 50, 100, 250, 1000)
DEMO_IMAGES = 16
GOAL_SECONDS = 5.0
REFERENCE = "ddpm_small"
# The faster goal: 16 digits in ≤ FAST_SECONDS with classifier-FID within FAST_FID_RATIO × the reference's.
FAST_SECONDS = 1.0
FAST_FID_RATIO = 1.1
# key: (label, eta, variance_type); the in-between η is set by --eta-mid. "analytic" is Bao et al.'s σ*² with the
# model folder's Γ_t (python -m pipelines.ddpm.gamma makes it).
SAMPLERS = {
    "ddpm_small": ("DDPM η=1, σ²=β̃_t", 1.0, "fixed_small"),
    "ddpm_large": ("DDPM η=1, σ²=β_t", 1.0, "fixed_large"),
    "ddim": ("DDIM η=0", 0.0, "fixed_small"),
    "eta_mid": ("η={eta}, σ²=η²β̃_t", 0.5, "fixed_small"),
    "analytic": ("Analytic-DDPM η=1, σ*²", 1.0, "analytic"),
    "analytic_ddim": ("Analytic-DDIM η=0, σ*²", 0.0, "analytic"),
}
# The plot's legend in mathtext: a combining tilde (β̃) is lost in matplotlib's default font, which made the β̃_t
# and β_t rows read alike.
PLOT_LABELS = {
    "ddpm_small": r"DDPM $\eta=1$, $\sigma^2=\tilde\beta_t$",
    "ddpm_large": r"DDPM $\eta=1$, $\sigma^2=\beta_t$",
    "ddim": r"DDIM $\eta=0$",
    "eta_mid": r"$\eta={eta}$, $\sigma^2=\eta^2\tilde\beta_t$",
    "analytic": r"Analytic-DDPM $\eta=1$, $\sigma^{*2}$",
    "analytic_ddim": r"Analytic-DDIM $\eta=0$, $\sigma^{*2}$",
}
DDPM = ("ddpm_small", "ddpm_large")
REPORT_KEYS = (
    "num_samples",
    "fid",
    "fid_floor",
    "fid_ratio",
    "confident_rate",
    "min_class_fraction",
    "class_counts",
    "memorization_ratio",
    "sampling_seconds",
    "seconds_per_image",
    "batch_size",
    "seed",
)


def parse_args(argv=None):
    parser = base_parser("bench_quality.py", __doc__.split("\n\n")[0])
    parser.add_argument("--num-samples", type=int, default=500, help="samples per row for the FID (quick: 8)")
    parser.add_argument("--steps", type=int, nargs="+", default=list(STEPS), help="step counts to measure")
    parser.add_argument("--samplers", nargs="+", choices=list(SAMPLERS), default=list(SAMPLERS), help="which samplers")
    parser.add_argument("--eta-mid", type=float, default=0.5, help="the η of the in-between sampler, in (0, 1)")
    parser.add_argument(
        "--reference-steps",
        type=int,
        default=1000,
        help="also measure DDPM β̃_t at this many steps (the goal's reference); 0 = don't",
    )
    parser.add_argument(
        "--reference-json",
        default=None,
        help="take the reference FID from this pipelines.evaluation JSON instead of measuring it",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=None,
        help="skip rows whose predicted cost (sampling for the FID + timing) exceeds this",
    )
    parser.add_argument("--time-repeats", type=int, default=3, help="timed 16-image runs per row (median)")
    parser.add_argument("--batch-size", type=int, default=64, help="sampling batch for the FID samples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--layout",
        choices=("channels_last", "contiguous"),
        default="channels_last",
        help="the UNet weights' memory layout: channels_last is what app.py uses on CPU",
    )
    parser.add_argument("--judge", default=None, help="judge folder (default models/mnist-judge)")
    args = parser.parse_args(argv)
    positive(parser, "num_samples", args.num_samples, 2)
    positive(parser, "time_repeats", args.time_repeats)
    positive(parser, "reference_steps", args.reference_steps, 0)
    if not 1 <= args.batch_size <= 64:
        parser.error(f"--batch-size must be in [1, 64], got {args.batch_size}")
    if not 0 < args.eta_mid < 1:
        parser.error(f"--eta-mid must be in (0, 1), got {args.eta_mid}")
    if any(k < 1 for k in args.steps):
        parser.error(f"--steps must be integers >= 1, got {args.steps}")
    if args.max_seconds is not None and not args.max_seconds > 0:
        parser.error(f"--max-seconds must be > 0, got {args.max_seconds}")
    if args.reference_json and not Path(args.reference_json).is_file():
        parser.error(f"--reference-json {args.reference_json!r} is not a file")
    check_model(parser, args)  # last: a typo in another flag is reported even without the model
    return args


def seconds_per_step(pipe, batch: int, steps: int = 3) -> float:
    """Wall seconds of one sampling step (UNet + scheduler) at this batch size, after a warm-up step."""
    import torch

    g = torch.Generator().manual_seed(0)
    for _ in pipe.denoise(batch, g, num_inference_steps=1, progress=False):
        pass
    start = time.perf_counter()
    for _ in pipe.denoise(batch, g, num_inference_steps=steps, progress=False):
        pass
    return (time.perf_counter() - start) / steps


def reference_from_json(path: str, num_samples: int) -> dict:
    report = json.loads(Path(path).read_text())
    missing = [k for k in ("fid", "num_samples", "num_inference_steps", "eta") if k not in report]
    if missing:
        raise SystemExit(f"error: --reference-json {path}: not a pipelines.evaluation report (no {', '.join(missing)})")
    if report["num_samples"] != num_samples:
        raise SystemExit(
            f"error: --reference-json {path} has num_samples {report['num_samples']}, but this run uses "
            f"--num-samples {num_samples}: FIDs from different sample counts do not compare"
        )
    if report["eta"] != 1.0:
        raise SystemExit(f"error: --reference-json {path} has eta {report['eta']}: the reference is DDPM, eta = 1")
    return report


def choose_reference(
    rows: list[dict], reference_steps: int, reference_json: dict | None = None, reference_json_path: str | None = None
) -> dict | None:
    """The FID the goal compares with: the --reference-json report's; else the best measured DDPM (η = 1) row at
    `reference_steps`; else, flagged with fallback=True, the best measured DDPM row at any step count; else None."""
    ddpm_rows = [r for r in rows if r["status"] == "measured" and r["sampler"] in DDPM]
    at_reference = [r for r in ddpm_rows if r["num_inference_steps"] == reference_steps]
    if reference_json is not None:
        return {
            "fid": reference_json["fid"],
            "source": f"--reference-json {reference_json_path}",
            "num_inference_steps": reference_json["num_inference_steps"],
            "fallback": False,
        }
    if at_reference:
        best = min(at_reference, key=lambda r: r["fid"])
        return {
            "fid": best["fid"],
            "source": f"{best['label']}, {reference_steps} steps (measured here)",
            "num_inference_steps": reference_steps,
            "fallback": False,
            "row": [best["sampler"], reference_steps],
        }
    if ddpm_rows:
        best = min(ddpm_rows, key=lambda r: r["fid"])
        return {
            "fid": best["fid"],
            "num_inference_steps": best["num_inference_steps"],
            "fallback": True,
            "source": f"{best['label']}, {best['num_inference_steps']} steps: the best measured DDPM row (the "
            f"{reference_steps or 'reference'}-step DDPM row was skipped or not asked for)",
            "row": [best["sampler"], best["num_inference_steps"]],
        }
    return None


def rows_meeting_goal(rows: list[dict], reference: dict | None) -> tuple[list[dict], dict | None]:
    """Mark each measured row with meets_time (16 images ≤ 5 s) and meets_fid (FID ≤ the reference's; None
    without a reference); return the rows meeting both and the recommended one (lowest FID, then fastest)."""
    measured = [r for r in rows if r["status"] == "measured"]
    for r in measured:
        r["meets_time"] = r["seconds_16_images"]["median_s"] <= GOAL_SECONDS
        r["meets_fid"] = None if reference is None else r["fid"] <= reference["fid"]
    winners = [r for r in measured if r["meets_time"] and r["meets_fid"]]
    best = min(winners, key=lambda r: (r["fid"], r["seconds_16_images"]["median_s"])) if winners else None
    return winners, best


def plot(rows: list[dict], reference_fid: float | None, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    for key in SAMPLERS:
        done = sorted(
            (r for r in rows if r["sampler"] == key and r["status"] == "measured"),
            key=lambda r: r["num_inference_steps"],
        )
        if not done:
            continue
        xs, ys = [r["seconds_16_images"]["median_s"] for r in done], [r["fid"] for r in done]
        eta = f"{done[0]['eta']:g}"
        ax.plot(xs, ys, marker="o", label=PLOT_LABELS[key].replace("{eta}", eta))
        for r, x, y in zip(done, xs, ys):
            ax.annotate(str(r["num_inference_steps"]), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    if reference_fid is not None:
        ax.axhline(reference_fid, color="gray", linestyle="--", linewidth=1, label="reference FID")
    ax.axvline(GOAL_SECONDS, color="red", linestyle=":", linewidth=1, label=f"{GOAL_SECONDS:g} s")
    ax.axvline(FAST_SECONDS, color="purple", linestyle=":", linewidth=1, label=f"{FAST_SECONDS:g} s")
    if reference_fid is not None:
        ax.axhline(
            FAST_FID_RATIO * reference_fid,
            color="purple",
            linestyle="--",
            linewidth=0.8,
            label=f"{FAST_FID_RATIO:g} × reference FID",
        )
    ax.set_xscale("log")
    # Plain numbers (0.5, 1, 5), not 5×10⁻¹; minor ticks labelled only where the axis spans few decades.
    ax.xaxis.set_major_formatter(matplotlib.ticker.LogFormatter())
    ax.xaxis.set_minor_formatter(matplotlib.ticker.LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
    ax.set_xlabel(f"seconds for {DEMO_IMAGES} images (log)")
    ax.set_ylabel("classifier-FID (lower is better)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def settings(args) -> SimpleNamespace:
    """What a run measures: --quick shrinks every count; the in-between η names its sampler."""
    samplers = {k: v for k, v in SAMPLERS.items() if k in args.samplers}
    if "eta_mid" in samplers:
        samplers["eta_mid"] = (samplers["eta_mid"][0].format(eta=f"{args.eta_mid:g}"), args.eta_mid, "fixed_small")
    num_samples = 8 if args.quick else args.num_samples
    return SimpleNamespace(
        num_samples=num_samples,
        steps=[2] if args.quick else sorted(set(args.steps)),
        reference_steps=3 if args.quick else args.reference_steps,
        time_repeats=1 if args.quick else args.time_repeats,
        batch_size=min(8, args.batch_size) if args.quick else args.batch_size,
        samplers=samplers,
        reference_json=reference_from_json(args.reference_json, num_samples) if args.reference_json else None,
    )


def row_plan(run: SimpleNamespace) -> list[tuple[str, int]]:
    """(sampler, steps) rows, cheapest first: a run stopped early (or over budget) still has them, written after
    every row."""
    plan = [(key, k) for key in run.samplers for k in run.steps]
    if run.reference_steps and not run.reference_json and (REFERENCE, run.reference_steps) not in plan:
        plan.append((REFERENCE, run.reference_steps))
    plan.sort(key=lambda row: (row[1], list(SAMPLERS).index(row[0])))
    return plan


def new_quality_result(args, run: SimpleNamespace, pipe, per_step: dict) -> dict:
    return new_result(
        "quality_per_second",
        f"classifier-FID and confident rate of {run.num_samples} samples, and median wall "
        f"seconds for {DEMO_IMAGES} images, per sampler and step count",
        args,
        {
            "model": args.model or ("(tiny random pipeline)" if args.quick else DEFAULT_MODEL),
            "num_samples": run.num_samples,
            "steps": run.steps,
            "samplers": {k: list(v) for k, v in run.samplers.items()},
            "reference_steps": run.reference_steps,
            "reference_json": args.reference_json,
            "max_seconds": args.max_seconds,
            "time_repeats": run.time_repeats,
            "batch_size": run.batch_size,
            "seed": args.seed,
            "layout": args.layout,
            "timestep_spacing": pipe.scheduler.config.timestep_spacing,
            "calibration_seconds_per_step": {str(b): s for b, s in per_step.items()},
        },
    )


def missing_gamma(pipe) -> str | None:
    """Why the analytic rows cannot run (the folder has no Γ_t; a --quick tiny pipeline has none), or None."""
    try:
        pipe.analytic_gamma()
    except ValueError as error:
        return str(error)
    return None


def measure_row(args, run: SimpleNamespace, pipe, judge, row: dict) -> None:
    """FID and confident rate of the row's sampler, then the median time of DEMO_IMAGES images, into `row`."""
    import torch

    from pipelines.evaluation.quality import evaluate_pipeline

    k, eta, variance_type = row["num_inference_steps"], row["eta"], row["variance_type"]
    started = time.perf_counter()
    report = evaluate_pipeline(
        pipe, run.num_samples, k, eta, variance_type, args.seed, run.batch_size, judge=judge, progress=False
    )
    times = []
    for r in range(run.time_repeats):
        start = time.perf_counter()
        pipe(
            batch_size=DEMO_IMAGES,
            generator=torch.Generator().manual_seed(args.seed + r),
            num_inference_steps=k,
            eta=eta,
            variance_type=variance_type,
            output_type="pil",
        )
        times.append(time.perf_counter() - start)
    row.update(
        {k_: report[k_] for k_ in REPORT_KEYS},
        status="measured",
        seconds_16_images=summarize(times),
        row_seconds=time.perf_counter() - started,
    )


def measure(args, run: SimpleNamespace, pipe, judge, result: dict, per_step: dict[int, float]) -> None:
    """Every row of `row_plan` into result["results"], measured or skipped with the reason; the result is written
    after each row (complete: false), so a long run keeps what it measured."""
    rows = result["results"]
    no_gamma = missing_gamma(pipe)
    for key, k in row_plan(run):
        label, eta, variance_type = run.samplers.get(key, SAMPLERS[key])
        sizes = [min(run.batch_size, run.num_samples - s) for s in range(0, run.num_samples, run.batch_size)]
        batch_step, demo_step = per_step[run.batch_size], per_step[DEMO_IMAGES]
        predicted = k * (sum(batch_step * n / run.batch_size for n in sizes) + run.time_repeats * demo_step)
        row = {
            "sampler": key,
            "label": label,
            "eta": eta,
            "variance_type": variance_type,
            "num_inference_steps": k,
            "predicted_seconds": predicted,
        }
        skip = None
        if variance_type == "analytic" and no_gamma:
            skip = f"skipped: {no_gamma}"
        elif args.max_seconds is not None and predicted > args.max_seconds:
            skip = f"skipped: predicted {predicted:.0f} s > --max-seconds {args.max_seconds:g}"
        if skip:
            row["status"] = skip
            print(f"{label} {k} steps: {row['status']}", flush=True)
        else:
            measure_row(args, run, pipe, judge, row)
            print(
                f"{label} {k} steps: FID {row['fid']:.3f}, confident {row['confident_rate']:.3f}, "
                f"{row['seconds_16_images']['median_s']:.2f} s / {DEMO_IMAGES} images "
                f"(row took {row['row_seconds']:.0f} s, predicted {predicted:.0f} s)",
                flush=True,
            )
        rows.append(row)
        write_result(result, args, "quality")


def judge_goal(args, run: SimpleNamespace, result: dict) -> tuple[list[dict], dict | None]:
    """The goal (≤ GOAL_SECONDS for DEMO_IMAGES images and FID ≤ the 1000-step DDPM's) into `result`: the reference,
    the ratios, the rows that meet it, the recommended one and the goals; returns (winners, best)."""
    rows = result["results"]
    measured = [r for r in rows if r["status"] == "measured"]
    reference = choose_reference(rows, run.reference_steps, run.reference_json, args.reference_json)
    winners, best = rows_meeting_goal(rows, reference)
    reference_time = None
    if reference and "row" in reference:
        ref_row = next(r for r in measured if [r["sampler"], r["num_inference_steps"]] == reference["row"])
        reference_time = ref_row["seconds_16_images"]["median_s"]
    for r in measured:
        s16 = r["seconds_16_images"]["median_s"]
        name = f"{r['sampler']} {r['num_inference_steps']} steps"
        if reference is not None:
            result["ratios"][f"{name} fid/reference"] = ratio(r["fid"], reference["fid"])
        if reference_time is not None:
            result["ratios"][f"{name} seconds/reference"] = ratio(s16, reference_time)
        result["ratios"][f"{name} seconds/{GOAL_SECONDS:g}s"] = s16 / GOAL_SECONDS
    rows.sort(key=lambda r: (list(SAMPLERS).index(r["sampler"]), r["num_inference_steps"]))  # table order
    result["complete"] = True
    result["reference"] = reference
    result["meets_goal"] = [[r["sampler"], r["num_inference_steps"]] for r in winners]
    result["recommended"] = (
        None
        if best is None
        else {
            "sampler": best["sampler"],
            "label": best["label"],
            "eta": best["eta"],
            "variance_type": best["variance_type"],
            "num_inference_steps": best["num_inference_steps"],
            "fid": best["fid"],
            "seconds_16_images": best["seconds_16_images"]["median_s"],
        }
    )
    fast = [r["fid"] for r in measured if r["meets_time"]]
    # met exactly when some row draws 16 images in ≤ 5 s with FID ≤ the reference's
    result["goals"].append(
        goal(
            f"lowest FID among rows with {DEMO_IMAGES} images <= {GOAL_SECONDS:g} s, / reference",
            ratio(min(fast), reference["fid"]) if fast and reference else math.inf,
            1.0,
        )
    )
    result["goals"][-1]["reference_fallback"] = bool(reference and reference["fallback"])
    fastest = [r["fid"] for r in measured if r["seconds_16_images"]["median_s"] <= FAST_SECONDS]
    result["goals"].append(
        goal(
            f"lowest FID among rows with {DEMO_IMAGES} images <= {FAST_SECONDS:g} s, / reference",
            ratio(min(fastest), reference["fid"]) if fastest and reference else math.inf,
            FAST_FID_RATIO,
        )
    )
    return winners, best


def table_rows(rows: list[dict], reference: dict | None) -> list[list]:
    table = []
    for r in rows:
        if r["status"] != "measured":
            table.append([r["label"], r["num_inference_steps"], "", "", "", "", "", "", r["status"]])
            continue
        table.append(
            [
                r["label"],
                r["num_inference_steps"],
                r["fid"],
                r["fid_ratio"],
                r["confident_rate"],
                r["seconds_16_images"]["median_s"],
                "yes" if r["meets_time"] else "no",
                "-" if r["meets_fid"] is None else "yes" if r["meets_fid"] else "no",
                "reference" if reference and reference.get("row") == [r["sampler"], r["num_inference_steps"]] else "",
            ]
        )
    return table


def print_verdict(run: SimpleNamespace, result: dict, winners: list[dict], best: dict | None) -> None:
    reference = result["reference"]
    if reference is None:
        print("no DDPM row was measured: no reference FID, the goal cannot be judged")
        return
    flag = f"  ** FLAG: not the {run.reference_steps or 1000}-step DDPM **" if reference["fallback"] else ""
    print(f"reference FID {reference['fid']:.3f}: {reference['source']}{flag}")
    if best:
        print(
            f"meets '{DEMO_IMAGES} digits in <= {GOAL_SECONDS:g} s with FID no worse than the reference': "
            + ", ".join(f"{r['label']} {r['num_inference_steps']} steps" for r in winners)
        )
        print(
            f"recommended demo setting: {best['label']}, {best['num_inference_steps']} steps "
            f"(FID {best['fid']:.3f}, {best['seconds_16_images']['median_s']:.2f} s)"
        )
    else:
        measured = [r for r in result["results"] if r["status"] == "measured"]
        fastest_ok = min((r["seconds_16_images"]["median_s"] for r in measured), default=math.inf)
        print(
            f"no measured setting meets '{DEMO_IMAGES} digits in <= {GOAL_SECONDS:g} s with FID no worse than "
            f"the reference' (fastest measured: {fastest_ok:.2f} s)"
        )


def report(args, run: SimpleNamespace, result: dict, winners: list[dict], best: dict | None, threads: int) -> None:
    """The table, the verdict and the goals on stdout; the plot and the JSON under bench/results."""
    rows, reference = result["results"], result["reference"]
    print(header(result))
    print(
        f"{run.num_samples} samples per row (FID against the 500 held-out digits; floor = {run.num_samples} train "
        f"digits), {DEMO_IMAGES}-image time = median of {run.time_repeats}, torch threads {threads}"
    )
    columns = ["sampler", "steps", "FID", "FID/floor", "confident", f"s/{DEMO_IMAGES} img", f"<={GOAL_SECONDS:g}s"]
    print(format_table([*columns, "FID<=ref", "note"], table_rows(rows, reference)))
    print_verdict(run, result, winners, best)
    print("\n".join(goal_lines(result["goals"])))
    png = output_path(args, "quality", ".png")
    plot(
        rows,
        reference["fid"] if reference else None,
        png,
        f"Quality per second: {run.num_samples} samples, torch threads {threads}"
        + (" (QUICK: numbers mean nothing)" if args.quick else ""),
    )
    result["plot"] = png.name
    print(f"wrote {write_result(result, args, 'quality')} and {png}")


def main(argv=None) -> int:
    args = parse_args(argv)
    threads = apply_threads(args)
    from pipelines.evaluation.judge import load_judge
    from pipelines.evaluation.quality import load_reference

    run = settings(args)
    with tempfile.TemporaryDirectory(prefix="bench-quality-") as scratch:
        pipe = load_pipeline(resolve_model(args, Path(scratch)))
        if args.layout == "channels_last":
            pipe.use_channels_last()  # the demo's speed: app.py samples with this layout on CPU
        T = pipe.scheduler.config.num_train_timesteps
        if any(k > T for k in [*run.steps, run.reference_steps]):
            print(
                f"error: --steps and --reference-steps must be in [1, {T}], got {run.steps} / {run.reference_steps}",
                file=sys.stderr,
            )
            return 2
        judge = load_judge(args.judge) if args.judge else None
        load_reference(judge)  # the judge's features of the data set: once, before any clock starts
        per_step = {b: seconds_per_step(pipe, b) for b in sorted({run.batch_size, DEMO_IMAGES})}
        result = new_quality_result(args, run, pipe, per_step)
        result["complete"] = False
        measure(args, run, pipe, judge, result, per_step)
    winners, best = judge_goal(args, run, result)
    report(args, run, result, winners, best, threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
