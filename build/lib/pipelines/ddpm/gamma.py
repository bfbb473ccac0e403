"""The KL-optimal variance of p_θ's Gaussian reverse step (Bao et al., ICLR 2022, "Analytic-DPM").

For a step t → s (s < t, any respacing) with η-variance λ² and ᾱ cumulative (β̄ = 1 − ᾱ, α_{t|s} = ᾱ_t / ᾱ_s):

    σ*² = λ² + ( √(β̄_t / α_{t|s}) − √(β̄_s − λ²) )² · (1 − Γ_t),    Γ_t = E_{x_t ~ q(x_t)} ‖ε_θ(x_t, t)‖² / d

(Bao et al. Theorem 1 with the score −ε/√β̄_t). For DDPM (λ² = β̃) this is β̃ + β_{t|s}² / (α_{t|s} β̄_t) · (1 − Γ_t).
Γ_t ∈ [0, 1] since E‖E[ε | x_t]‖² ≤ E‖ε‖² = d, so λ² ≤ σ*² ≤ λ² + (√(β̄_t/α_{t|s}) − √(β̄_s − λ²))².

This module estimates the model's Γ_t by Monte-Carlo over the training split (`estimate_gamma`) and stores it beside
the weights in GAMMA_FILE; `python -m pipelines.ddpm.gamma --model DIR` is its command. The formula
(`optimal_variance`) and the file (GAMMA_FILE, `load_gamma`, `save_gamma`) live in the leaf module
pipelines/ddpm/optimal_variance.py, which the scheduler and the pipeline import; the exact Γ_t of a finite data set
and the exact step's own variance live in pipelines/exact/variance.py.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
from typing import Any

import numpy as np
import torch

from pipelines.checks import OneLineParser, check_int, check_seed, first_line
from pipelines.ddpm.optimal_variance import (
    GAMMA_FILE,
    save_gamma,
)
from pipelines.ddpm.pipeline import PosteriorDDPMPipeline, check_model_folder

MAX_IMAGES = 4500


# ---------------------------------------------------------------------------------------------- the estimate
@torch.inference_mode()
def estimate_gamma(
    pipe: "PosteriorDDPMPipeline",
    images: torch.Tensor,
    num_images: int = 64,
    seed: int = 0,
    batch_size: int = 250,
    progress: bool = True,
) -> dict[str, Any]:
    """Γ_t = E ‖ε_θ(x_t, t)‖² / d for every t in [0, T), by Monte-Carlo: for each t, `num_images` training images
    drawn without replacement, x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε (eq. 4) with fresh ε. Batches mix timesteps.

    Returns {"gamma": [T], "standard_error": [T] (of each Γ_t's mean), "num_images_per_timestep", "seed"}.
    Only ε-prediction models (Γ_t needs ε_θ; x̂_0 or v outputs are converted with the scheduler's formulas)."""
    from tqdm.auto import tqdm

    scheduler = pipe.scheduler
    T = scheduler.config.num_train_timesteps
    num_images = check_int("num_images", num_images, 1, len(images), meaning=" (training images per timestep)")
    seed = check_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    picks = torch.stack([torch.randperm(len(images), generator=generator)[:num_images] for _ in range(T)])
    ts = torch.arange(T).repeat_interleave(num_images)
    idx = picks.reshape(-1)
    device, dtype = pipe.device, pipe.unet.dtype
    values = torch.empty(len(ts), dtype=torch.float64)
    starts = range(0, len(ts), batch_size)
    for start in tqdm(starts, desc="Γ_t", disable=not progress):
        t, x0 = ts[start : start + batch_size], images[idx[start : start + batch_size]]
        noise = torch.randn(x0.shape, generator=generator)
        x_t = scheduler.add_noise(x0, noise, t).to(device, dtype)
        out = pipe.unet(x_t, t.to(device)).sample.float().cpu()
        if scheduler.config.prediction_type != "epsilon":
            out = _as_epsilon(scheduler, out, x_t.float().cpu(), t)
        values[start : start + len(t)] = out.reshape(len(t), -1).pow(2).mean(1).double()
    per_t = values.reshape(T, num_images)
    sem = per_t.std(1, unbiased=True) / math.sqrt(num_images) if num_images > 1 else torch.full((T,), float("nan"))
    return {
        "gamma": [round(float(v), 6) for v in per_t.mean(1)],
        "standard_error": [round(float(v), 6) for v in sem],
        "num_images_per_timestep": num_images,
        "seed": seed,
    }


def _as_epsilon(scheduler, out: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """ε̂ for per-sample t from an x_0 or v output (eq. 4 solved for ε)."""
    eps = []
    for b in range(len(t)):
        x0 = scheduler.predict_x0(out[b : b + 1], x_t[b : b + 1], int(t[b]))
        eps.append(scheduler.predict_epsilon(x0, x_t[b : b + 1], int(t[b])))
    return torch.cat(eps)


# ---------------------------------------------------------------------------------------------- the CLI
def _build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="python -m pipelines.ddpm.gamma",
        description=f"Estimate Γ_t (Bao et al.'s analytic variance) for a DDPM folder; writes FOLDER/{GAMMA_FILE}.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--model", required=True, help="a DDPM model folder (stock diffusers layout)")
    p.add_argument("--num-images", type=int, default=64, help=f"training images per timestep, in [1, {MAX_IMAGES}]")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=250, help="UNet batch (timesteps are mixed in a batch)")
    p.add_argument("--no-progress", action="store_true")
    return p


def _fail(message: str) -> int:
    print(f"python -m pipelines.ddpm.gamma: error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    """The CLI: 0 done, 2 bad input."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _build_parser().parse_args(argv)
    try:
        check_int("--num-images", args.num_images, 1, MAX_IMAGES, meaning=" (training images per timestep)")
        check_seed(args.seed, "--seed")
        check_int("--batch-size", args.batch_size, 1, 4096)
    except ValueError as error:
        return _fail(str(error))
    from diffusers.utils import logging as diffusers_logging

    from pipelines.data.sources import load_mnist

    diffusers_logging.disable_progress_bar()  # diffusers' loading bar; ours shows the estimate's progress
    try:
        check_model_folder(args.model)
        pipe = PosteriorDDPMPipeline.from_pretrained(args.model)
    except Exception as error:  # a broken or missing folder: one line, not a traceback
        return _fail(f"--model {args.model!r} could not be loaded: {first_line(error)}")
    pipe.set_progress_bar_config(disable=True)
    if pipe.device.type == "cpu":
        pipe.use_channels_last()
    images = load_mnist("train")[0]
    record = estimate_gamma(pipe, images, args.num_images, args.seed, args.batch_size, not args.no_progress)
    command = f"python -m pipelines.ddpm.gamma --model {shlex.quote(args.model)} "
    command += f"--num-images {args.num_images} --seed {args.seed}"
    record = {"command": command, "data": "mnist train split (4,500 digits)", **record}
    path = save_gamma(args.model, record)
    sem = np.asarray(record["standard_error"])
    print(
        f"wrote {path}: Γ_t for {len(sem)} timesteps, {args.num_images} images each; "
        f"standard error median {np.median(sem):.2e}, max {np.max(sem):.2e}"
    )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    sys.exit(main())
