"""Training throughput: images/s of train.py's loop vs a bare PyTorch loop with the same UNet, batch and precision.

train.py's side is `pipelines.training.loop.train(TrainConfig(...))` exactly as `python train.py` runs it (accelerate,
the seeded epoch sampler, EMA, gradient clipping, the LR schedule), with logging off and checkpoints / sample
grids pushed to the very end. The bare side is the textbook loop: random batches from the same images,
`DDPMScheduler.add_noise`, MSE on the noise, AdamW with the same settings; no EMA, no clipping. Both train the
UNet of pipelines.training.config.DEFAULT_UNET (train.py's default) at batch 64 in float32.

Only steady-state steps count: each run trains --steps steps and times the last (steps − warmup) of them, from
the end of step `warmup` to the end of the last step (start-up, data loading, the first steps, and train.py's
final checkpoint, sample grid and save are outside that window). train.py's steps are clocked through its
progress bar, whose `update(1)` comes once per optimizer step: no hook in pipelines/training/loop.py is needed.
Runs alternate (rotated order each round), medians compared. Goal: train.py / bare ≥ 0.95 (images/s).

    python bench/bench_training.py --threads 2                      # full: default UNet, batch 64
    python bench/bench_training.py --quick --output-dir /tmp/bench  # tiny UNet, batch 8, a few steps

Writes OUTPUT_DIR/training.json.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    TINY_UNET,
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

GOAL = 0.95
NEVER = 10**9  # checkpointing / sample-grid interval: only the final step writes them, after the timed window


def parse_args(argv=None):
    parser = base_parser("bench_training.py", __doc__.split("\n\n")[0], model=False)
    parser.add_argument("--batch-size", type=int, default=64, help="train_batch_size of both loops")
    parser.add_argument("--steps", type=int, default=20, help="optimizer steps per run")
    parser.add_argument("--warmup", type=int, default=5, help="first steps of each run left out of the timing")
    parser.add_argument("--rounds", type=int, default=5, help="runs of each loop (alternating)")
    args = parser.parse_args(argv)
    for name in ("batch_size", "steps", "warmup", "rounds"):
        positive(parser, name, getattr(args, name))
    if args.warmup >= args.steps:
        parser.error(f"--warmup must be smaller than --steps ({args.steps}), got {args.warmup}")
    return args


def steady_seconds_per_step(stamps: list[float], steps: int, warmup: int) -> float:
    """Seconds per step from the end of step `warmup` to the end of the last step."""
    if len(stamps) != steps:
        raise RuntimeError(f"expected {steps} step times, got {len(stamps)}")
    return (stamps[-1] - stamps[warmup - 1]) / (steps - warmup)


@contextmanager
def clock_train_steps(stamps: list[float]):
    """Record time.perf_counter() at each update() of train()'s "train" progress bar (one per optimizer step).

    train() does `from tqdm.auto import tqdm` when called, so replacing the module attribute for the duration
    of the call is enough; the bar itself is silenced."""
    import tqdm.auto

    original = tqdm.auto.tqdm

    class StepClock(original):
        def __init__(self, *args, **kwargs):
            self._clocked = kwargs.get("desc") == "train"
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

        def update(self, n=1):
            if self._clocked:
                stamps.append(time.perf_counter())
            return super().update(n)

    tqdm.auto.tqdm = StepClock
    try:
        yield
    finally:
        tqdm.auto.tqdm = original


def base_config(args, scratch: Path, batch: int, steps: int, threads: int):
    """train.py's TrainConfig for the timed runs (the tiny UNet with --quick); nothing saved, logged or sampled."""
    from pipelines.training.config import TrainConfig

    model_config = None
    if args.quick:
        model_config = scratch / "tiny-unet.json"
        model_config.write_text(json.dumps(TINY_UNET))
    return TrainConfig(
        output_dir=str(scratch / "run"),
        dataset="mnist",
        train_batch_size=batch,
        max_train_steps=steps,
        logger="none",
        checkpointing_steps=NEVER,
        save_images_steps=NEVER,
        checkpoints_total_limit=1,
        num_inference_steps=1,
        mixed_precision="no",
        seed=0,
        num_threads=threads,
        model_config=str(model_config) if model_config else None,
    )


def train_py_seconds_per_step(base, out: Path, warmup: int) -> float:
    """One run of pipelines.training.loop.train (train.py) into `out`; its steady seconds per step."""
    from pipelines.training.config import TrainConfig
    from pipelines.training.loop import train

    stamps: list[float] = []
    shutil.rmtree(out, ignore_errors=True)
    with clock_train_steps(stamps):
        train(TrainConfig(**{**base.__dict__, "output_dir": str(out)}))
    shutil.rmtree(out, ignore_errors=True)
    return steady_seconds_per_step(stamps, base.max_train_steps, warmup)


def bare_seconds_per_step(base, unet_kwargs: dict, images, warmup: int) -> float:
    """One run of the bare PyTorch loop (AdamW, add_noise, MSE on ε) on the same UNet; its steady seconds per step."""
    import torch
    import torch.nn.functional as F
    from diffusers import DDPMScheduler, UNet2DModel

    batch, steps = base.train_batch_size, base.max_train_steps
    torch.manual_seed(0)
    model = UNet2DModel(**unet_kwargs).train()
    noise_scheduler = DDPMScheduler(num_train_timesteps=base.ddpm_num_steps, beta_schedule=base.ddpm_beta_schedule)
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=base.learning_rate,
        betas=(base.adam_beta1, base.adam_beta2),
        weight_decay=base.adam_weight_decay,
        eps=base.adam_epsilon,
    )
    order = torch.randperm(len(images))
    stamps = []
    for step in range(steps):
        index = order[(step * batch) % (len(images) - batch) :][:batch]
        clean = images[index]
        noise = torch.randn_like(clean)
        timesteps = torch.randint(0, base.ddpm_num_steps, (batch,))
        noisy = noise_scheduler.add_noise(clean, noise, timesteps)
        loss = F.mse_loss(model(noisy, timesteps).sample, noise)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        stamps.append(time.perf_counter())
    return steady_seconds_per_step(stamps, steps, warmup)


def new_training_result(args, base, unet_kwargs: dict, warmup: int, rounds: int) -> dict:
    from pipelines.training.config import DEFAULT_UNET

    return new_result(
        "training_throughput",
        "steady-state images/s: pipelines.training.loop.train (train.py) vs a bare PyTorch "
        "loop, same UNet, batch, precision (float32); alternating runs, medians",
        args,
        {
            "unet": unet_kwargs,
            "unet_is_default": all(unet_kwargs.get(k) == v for k, v in DEFAULT_UNET.items()),
            "batch_size": base.train_batch_size,
            "steps_per_run": base.max_train_steps,
            "warmup_steps": warmup,
            "rounds": rounds,
            "mixed_precision": "no",
            "train_py": {
                "use_ema": base.use_ema,
                "max_grad_norm": base.max_grad_norm,
                "lr_scheduler": base.lr_scheduler,
                "logger": "none",
            },
            "bare": "AdamW(same lr, betas, eps, weight decay), DDPMScheduler.add_noise, MSE on ε; no EMA, "
            "no clipping, no LR schedule",
        },
    )


def report(args, result: dict, times: dict, batch: int, steps: int, warmup: int, rounds: int, threads: int) -> None:
    """The ratio and goal into `result`; the table on stdout and the JSON under bench/results."""
    summary = {name: summarize(ts) for name, ts in times.items()}
    images_per_s = {name: batch / s["median_s"] for name, s in summary.items()}
    value = ratio(images_per_s["train_py"], images_per_s["bare"])
    result["results"].append(
        {
            "seconds_per_step": summary,
            "images_per_second": images_per_s,
            "images_per_second_per_round": {n: [batch / t for t in ts] for n, ts in times.items()},
            "ratio_train_py_vs_bare": value,
        }
    )
    result["ratios"]["train.py/bare images per s"] = value
    result["goals"].append(goal("train.py/bare images per s", value, GOAL, ">="))
    print(header(result))
    print(
        f"batch {batch}, {steps - warmup} steady steps of {steps} per run, {rounds} runs each, median; "
        f"torch threads {threads}; UNet {result['settings']['unet']['block_out_channels']}"
    )
    print(
        format_table(
            ["loop", "s/step", "images/s", "runs"],
            [[name, summary[name]["median_s"], images_per_s[name], rounds] for name in summary],
        )
    )
    print(f"train.py / bare: {value:.3f}")
    print("\n".join(goal_lines(result["goals"])))
    print(f"wrote {write_result(result, args, 'training')}")


def main(argv=None) -> int:
    args = parse_args(argv)
    threads = apply_threads(args)
    from diffusers.utils import logging as diffusers_logging

    from pipelines.data.record import load_training_data
    from pipelines.training.config import unet_kwargs

    diffusers_logging.set_verbosity_error()
    batch, steps, warmup, rounds = (
        (8, 6, 2, 2) if args.quick else (args.batch_size, args.steps, args.warmup, args.rounds)
    )
    with tempfile.TemporaryDirectory(prefix="bench-training-") as scratch:
        scratch = Path(scratch)
        base = base_config(args, scratch, batch, steps, threads)
        kwargs = unet_kwargs(base)
        images = load_training_data("mnist", None, None, base.resolution, base.channels)
        result = new_training_result(args, base, kwargs, warmup, rounds)
        sides = {
            "train_py": lambda: train_py_seconds_per_step(base, scratch / "run", warmup),
            "bare": lambda: bare_seconds_per_step(base, kwargs, images, warmup),
        }
        times = interleave(sides, repeats=rounds, self_timed=True)
    report(args, result, times, batch, steps, warmup, rounds, threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
