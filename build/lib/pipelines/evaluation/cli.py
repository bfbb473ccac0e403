"""The command line of the evaluation: `python -m pipelines.evaluation` scores a model folder's samples
(pipelines.evaluation.quality), `train-judge` trains the judge, `memorization` writes the memorization report.

CLI:
    python -m pipelines.evaluation --model DIR [--num_samples 1000] [--num_inference_steps 1000] [--eta 1.0]
        [--variance_type fixed_small|fixed_large|analytic] [--seed 0] [--batch_size 64] [--device cpu|cuda]
        [--judge DIR] [--output JSON_PATH]
  On CPU it samples with channels-last UNet weights, as app.py does. Prints the table and writes the report as
  JSON; by default to
  DIR/evaluation-{num_samples}-samples-{num_inference_steps}-steps-eta-{eta}[-{variance_type}].json.
  Exit status: 0 = evaluated (whether or not the bar is met), 2 = bad input (one-line message).

    OMP_NUM_THREADS=1 python -m pipelines.evaluation train-judge [--output_dir models/mnist-judge] [--seed 0]
  trains the judge on the 4,500 train digits and writes model.safetensors, config.json and README.md.

    python -m pipelines.evaluation memorization --model DIR [--data D] [--num_samples K] …
  the memorization report of any model (pipelines/evaluation/memorization.py): the copy rule and the held-out yardstick.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch

from pipelines import checks
from pipelines.evaluation.judge import (
    DEFAULT_JUDGE_DIR,
    load_judge,
    train_judge,
    write_judge_readme,
)
from pipelines.evaluation.quality import (
    FLOOR_SIZES,
    _check_num_samples,
    evaluate_pipeline,
    fid_floor,
    format_table,
    load_reference,
    sanity_reports,
)


# ------------------------------------------------------------------------------------------------------ the CLI
def _build_parser() -> argparse.ArgumentParser:
    p = checks.OneLineParser(
        prog="python -m pipelines.evaluation",
        description="Sample a DDPM model folder and score it.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--model", required=True, help="a model folder (stock diffusers DDPM layout) or Hub id")
    p.add_argument("--num_samples", type=int, default=1000)
    p.add_argument("--num_inference_steps", type=int, default=1000)
    p.add_argument("--eta", type=float, default=1.0, help="0 = deterministic DDIM, 1 = DDPM posterior")
    p.add_argument(
        "--variance_type",
        choices=("fixed_small", "fixed_large", "analytic"),
        default=None,
        help="σ_t² = β̃_t (fixed_small), β_t (fixed_large) or Bao et al.'s σ*² (analytic, needs the folder's "
        "analytic_variance.json); default: the model's scheduler config",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--device", default=None, help="torch device for sampling (default: cuda if available, else cpu)")
    p.add_argument("--judge", default=None, help="judge folder (default: models/mnist-judge)")
    p.add_argument("--output", default=None, help="JSON path (default: MODEL/evaluation-…json, see module doc)")
    p.add_argument("--no_progress", action="store_true", help="no progress bar")
    return p


def _build_train_parser() -> argparse.ArgumentParser:
    p = checks.OneLineParser(
        prog="python -m pipelines.evaluation train-judge",
        description="Train the evaluation judge.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--output_dir",
        default=str(DEFAULT_JUDGE_DIR.relative_to(Path.cwd()))
        if DEFAULT_JUDGE_DIR.is_relative_to(Path.cwd())
        else str(DEFAULT_JUDGE_DIR),
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--batch_size", type=int, default=128)
    p.add_argument("--learning_rate", type=float, default=4e-3)
    p.add_argument("--max_shift", type=int, default=2)
    return p


def default_output_path(
    model: str, num_samples: int, num_inference_steps: int, eta: float, variance_type: str | None
) -> Path:
    """MODEL/evaluation-{N}-samples-{K}-steps-eta-{E}[-{variance_type}].json (a Hub id: in the current folder)."""
    name = f"evaluation-{num_samples}-samples-{num_inference_steps}-steps-eta-{eta:g}"
    name += f"-{variance_type}.json" if variance_type else ".json"
    folder = Path(model)
    return folder / name if folder.is_dir() else Path(name)


def _fail(message: str) -> int:
    print(f"python -m pipelines.evaluation: error: {message}", file=sys.stderr)
    return 2


def _looks_like_hub_id(model: str) -> bool:
    """owner/name, where owner is not a local folder (so a missing models/ddpm-mnist reads as a missing folder)."""
    parts = model.split("/")
    return (
        len(parts) == 2
        and all(parts)
        and not model.startswith((".", "~"))
        and not os.path.isabs(model)
        and not Path(parts[0]).is_dir()
    )


def _train_judge_command(argv: list[str]) -> int:
    """`train-judge`: train the judge, then describe it in its README with the metrics measured with it."""
    args = _build_train_parser().parse_args(argv)
    try:  # the recorded command spells out every flag, so it reproduces even if the defaults change
        record = train_judge(
            args.output_dir,
            seed=args.seed,
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            max_shift=args.max_shift,
        )
    except ValueError as error:
        return _fail(str(error))
    judge = load_judge(args.output_dir)
    floors = {n: fid_floor(n, load_reference(judge)) for n in FLOOR_SIZES}
    write_judge_readme(args.output_dir, judge, record, sanity_reports(judge), floors)
    print(
        f"judge written to {args.output_dir}: held-out accuracy {record['heldout_accuracy']:.2%}, "
        f"{record['train_seconds']} s"
    )
    return 0


def _check_flags(args) -> str | None:
    """Everything that needs no model, so a typo fails in a second: the error message, or None."""
    from pipelines.ddpm.scheduler import check_eta

    try:
        _check_num_samples(args.num_samples)
        if args.num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be an integer >= 1, got {args.num_inference_steps}")
        check_eta(args.eta)
        checks.check_seed(args.seed)
        checks.check_batch_size(args.batch_size)
    except ValueError as error:
        return str(error)
    if not Path(args.model).is_dir() and not _looks_like_hub_id(args.model):
        return f"model {args.model!r} is not a folder (nor a Hub id of the form owner/name)"
    if args.judge is not None and not Path(args.judge).is_dir():
        return f"judge {args.judge!r} is not a folder"
    return None


def _load_model(model: str, device: torch.device):
    """The pipeline on `device` (channels-last weights on a CPU, the layout app.py samples with); diffusers'
    "Loading pipeline components" bar is silenced, since it would precede an error about the flags."""
    from diffusers.utils import logging as diffusers_logging

    from pipelines.ddpm.pipeline import PosteriorDDPMPipeline

    bars_were_on = diffusers_logging.is_progress_bar_enabled()
    diffusers_logging.disable_progress_bar()
    try:
        pipe = PosteriorDDPMPipeline.from_pretrained(model).to(device)
        if device.type == "cpu":  # bench/bench_sampling.py
            pipe.use_channels_last()
        return pipe
    finally:
        if bars_were_on:
            diffusers_logging.enable_progress_bar()


def main(argv: list[str] | None = None) -> int:
    """The CLI (see the module docstring). Returns the exit status: 0 done, 2 bad input."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train-judge"]:
        return _train_judge_command(argv[1:])
    if argv[:1] == ["memorization"]:
        from pipelines.evaluation.memorization import run

        return run(argv[1:])
    args = _build_parser().parse_args(argv)
    problem = _check_flags(args)
    if problem:
        return _fail(problem)
    # None (no flag) is the default device; an empty --device "" is a mistake, refused below like any bad name
    device = args.device if args.device is not None else ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except RuntimeError as error:
        return _fail(f"device {args.device!r} is not a torch device: {error}")
    try:
        pipe = _load_model(args.model, device)
    except Exception as error:  # a broken or missing folder, offline Hub: one line, not a traceback
        return _fail(f"model {args.model!r} could not be loaded: {type(error).__name__}: {checks.first_line(error)}")
    try:
        judge = load_judge(args.judge) if args.judge else None
        report = evaluate_pipeline(
            pipe,
            args.num_samples,
            args.num_inference_steps,
            args.eta,
            args.variance_type,
            args.seed,
            args.batch_size,
            judge=judge,
            progress=not args.no_progress,
        )
    except ValueError as error:
        return _fail(str(error))
    report["model"] = args.model
    print(format_table(report))
    output = (
        Path(args.output)
        if args.output
        else default_output_path(args.model, args.num_samples, args.num_inference_steps, args.eta, args.variance_type)
    )
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(report, indent=2) + "\n")
    except OSError as error:
        return _fail(f"output {str(output)!r} could not be written: {error.strerror or error}")
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
