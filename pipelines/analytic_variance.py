"""The KL-optimal variance of p_θ's Gaussian reverse step (Bao et al., ICLR 2022, "Analytic-DPM").

For a step t → s (s < t, any respacing) with η-variance λ² and ᾱ cumulative (β̄ = 1 − ᾱ, α_{t|s} = ᾱ_t / ᾱ_s):

    σ*² = λ² + ( √(β̄_t / α_{t|s}) − √(β̄_s − λ²) )² · (1 − Γ_t),    Γ_t = E_{x_t ~ q(x_t)} ‖ε_θ(x_t, t)‖² / d

(Bao et al. Theorem 1 with the score −ε/√β̄_t). For DDPM (λ² = β̃) this is β̃ + β_{t|s}² / (α_{t|s} β̄_t) · (1 − Γ_t).
Γ_t ∈ [0, 1] since E‖E[ε | x_t]‖² ≤ E‖ε‖² = d, so λ² ≤ σ*² ≤ λ² + (√(β̄_t/α_{t|s}) − √(β̄_s − λ²))².

The formula (`optimal_variance`) and the Γ_t file (GAMMA_FILE, `load_gamma`, `save_gamma`) live in the leaf module
pipelines/optimal_variance.py, which the scheduler and the pipeline import; they are re-exported here.
Three ways to Γ_t live here:
- the model's, estimated by Monte-Carlo over the training split and stored beside the weights in GAMMA_FILE
  (`estimate_gamma`, `save_gamma`, `load_gamma`; the command `python -m pipelines.analytic_variance --model DIR`);
- the exact one of a finite data set (`exact_gamma`): E[ε | x_t] is a mixture mean, so
  1 − Γ_t = E_{x_t} tr Cov[ε | x_t] / d = ᾱ_t / β̄_t · E_{x_t} tr Cov[x_0 | x_t] / d;
- and, for one x_t, the per-dimension variance of the true reverse step q(x_s | x_t) itself
  (`exact_step_variance`): β̃ + coef1² · tr Cov[x_0 | x_t] / d, whose average over x_t ~ q(x_t) is σ*² with the
  exact Γ_t (η = 1).
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
import weakref
from typing import Any, Sequence

import numpy as np
import torch

from .checks import OneLineParser, check_int, check_seed, first_line
from .exact_posterior import DatasetPosterior
from .optimal_variance import (  # noqa: F401  (re-exported: the formula and the file are part of this API)
    CLIP_PIXELS,
    GAMMA_FILE,
    check_gamma,
    load_gamma,
    make_command,
    optimal_variance,
    save_gamma,
)
from .pipeline_ddpm_posterior import PosteriorDDPMPipeline, check_model_folder

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


# ---------------------------------------------------------------------------------------------- the exact answer
_SQ_NORMS: "weakref.WeakKeyDictionary[DatasetPosterior, torch.Tensor]" = weakref.WeakKeyDictionary()


def _sq_norms(posterior: "DatasetPosterior") -> torch.Tensor:
    """‖x_0^i‖² of each data image, float64 (N,), computed once per DatasetPosterior (its data are read-only)."""
    norms = _SQ_NORMS.get(posterior)
    if norms is None:
        data = posterior.data.reshape(len(posterior), -1).double()
        norms = _SQ_NORMS[posterior] = (data * data).sum(1)
    return norms


def x0_spread(posterior: "DatasetPosterior", x_t: torch.Tensor, t) -> torch.Tensor:
    """tr Cov[x_0 | x_t] / d over the data set, (B,) float64, from one `posterior` pass (weights w_i and
    E[x_0 | x_t], in float64) and the data's squared norms: (Σ_i w_i ‖x_0^i‖² − ‖Σ_i w_i x_0^i‖²) / d (float64 keeps
    the difference exact to ~1e-13 of ‖x_0‖²/d, far below any variance here), clipped at 0.
    t: one integer in [0, T) or (B,) integers."""
    post = posterior.posterior(x_t.double(), t)
    mean = post.pred_original_sample.reshape(len(x_t), -1).double()
    second = post.weights.double() @ _sq_norms(posterior)
    return ((second - (mean * mean).sum(1)) / posterior.dim).clamp_min(0.0)


def exact_step_variance(posterior: "DatasetPosterior", x_t: torch.Tensor, t: int, prev_t: int) -> torch.Tensor:
    """Per-dimension variance of the true reverse step q(x_{prev_t} | x_t) over the data set, (B,) float64:
    tr Cov / d of the mixture Σ_i w_i N(μ̃(x_t, x_0^i), β̃ I) = β̃ + coef1² · tr Cov[x_0 | x_t] / d (μ̃ is linear in
    x_0 with weight coef1, eq. 7). prev_t = −1 (the step to x_0): the spread of the x_0^i alone."""
    coef1, _, beta_tilde = posterior.scheduler.posterior_coefficients(t, prev_t)
    return beta_tilde + coef1**2 * x0_spread(posterior, x_t, t)


@torch.inference_mode()
def sampled_trajectory(pipe: "PosteriorDDPMPipeline", num_inference_steps: int, seed: int = 0):
    """(the chain's timesteps, the x_t each step started from (K, C, H, W) float64) of one image drawn by
    `pipe.denoise` (the scheduler's variance, η = 1) from `seed`: the noise, then each step's sample."""
    seed = check_seed(seed)
    plan = pipe.scheduler.timestep_plan(num_inference_steps).tolist()
    generator = torch.Generator().manual_seed(seed)
    steps = list(pipe.denoise(1, generator, num_inference_steps, progress=False))
    # denoise's first draw from a fresh generator is x_T (diffusers' order), so the same seed gives it back
    noise = torch.randn((1, *pipe.image_shape), generator=torch.Generator().manual_seed(seed))
    inputs = [noise.to(steps[0].sample.dtype)] + [s.sample.cpu() for s in steps[:-1]]
    return plan, torch.cat(inputs).double()


@torch.inference_mode()
def chain_variances(
    posterior: "DatasetPosterior",
    timesteps: Sequence[int],
    num_samples: int = 8,
    seed: int = 0,
    trajectory: torch.Tensor | None = None,
    gamma=None,
) -> dict[str, Any]:
    """The variance of each reverse step t → s of a chain (descending `timesteps`, the last step to x_0), per pixel:

    - "true_q": (K, num_samples) the true step's variance (`exact_step_variance`) at x_t ~ q(x_t) (x_0 a uniform
      training image, fresh ε); "gamma_exact" (K,) the exact Γ_t from the same draws and "sigma2_exact" (K,)
      σ*² with it, which is exactly the mean of "true_q" (Bao et al.: σ*² is the x_t-average of the true variance);
    - "true_trajectory": (K,) the true variance at the x_t of a real trajectory (`trajectory`: (K, C, H, W), x_t
      of each step), if given;
    - "beta_tilde", "beta" (K,): β̃ and β = 1 − ᾱ_t/ᾱ_s of each step (0 / β_t on the step to x_0);
    - "sigma2_model" (K,): the sampler's σ*² with the model's Γ_t (`gamma`, T values), as
      `PosteriorDDPMScheduler.analytic_variance` clips it, if given (0 on the step to x_0).
    Also "timesteps", "prev_timesteps". Lists of floats (JSON-ready)."""
    scheduler = posterior.scheduler
    plan = [check_int("timesteps", t, 0, posterior.num_train_timesteps - 1) for t in timesteps]
    if not plan or any(b >= a for a, b in zip(plan, plan[1:])):
        raise ValueError(f"timesteps must be a non-empty strictly descending list, got {list(timesteps)[:8]}")
    num_samples = check_int("num_samples", num_samples, 1, 256, meaning=" (x_t draws per step)")
    if trajectory is not None and (not isinstance(trajectory, torch.Tensor) or len(trajectory) != len(plan)):
        raise ValueError(f"trajectory must hold one x_t per step ({len(plan)}), got {type(trajectory).__name__}")
    generator = torch.Generator().manual_seed(check_seed(seed))
    data, a, K = posterior.data, posterior.alphas_cumprod, len(plan)
    prevs = plan[1:] + [-1]
    # Every x_t of every step in one batched pass (per-sample t): num_samples draws from q(x_t), then the trajectory.
    x0 = data[torch.randint(len(data), (K * num_samples,), generator=generator)]
    ts = torch.tensor(plan).repeat_interleave(num_samples)
    x_t = scheduler.add_noise(x0, torch.randn(x0.shape, generator=generator, dtype=x0.dtype), ts)
    if trajectory is not None:
        x_t, ts = torch.cat([x_t, trajectory.to(x_t.dtype)]), torch.cat([ts, torch.tensor(plan)])
    spread = torch.cat([x0_spread(posterior, x_t[i : i + 512], ts[i : i + 512]) for i in range(0, len(ts), 512)])
    out: dict[str, Any] = {"timesteps": plan, "prev_timesteps": prevs, "true_trajectory": [], "sigma2_model": []}
    for key in ("true_q", "gamma_exact", "sigma2_exact", "beta_tilde", "beta"):
        out[key] = []
    for i, (t, s) in enumerate(zip(plan, prevs)):
        coef1, _, beta_tilde = scheduler.posterior_coefficients(t, s)
        a_t, a_s = float(a[t]), (float(a[s]) if s >= 0 else 1.0)
        mine = spread[i * num_samples : (i + 1) * num_samples]
        gamma_exact = 1.0 - a_t / (1.0 - a_t) * float(mine.mean())
        out["true_q"].append([beta_tilde + coef1**2 * float(v) for v in mine])
        out["gamma_exact"].append(gamma_exact)
        out["sigma2_exact"].append(optimal_variance(a_t, a_s, gamma_exact, 1.0))
        out["beta_tilde"].append(beta_tilde)
        out["beta"].append(1.0 - a_t / a_s)
        if trajectory is not None:
            out["true_trajectory"].append(beta_tilde + coef1**2 * float(spread[K * num_samples + i]))
        if gamma is not None:
            out["sigma2_model"].append(scheduler.analytic_variance(t, s, gamma, 1.0, plan[-1]))
    return out


def exact_gamma(
    posterior: "DatasetPosterior", timesteps: Sequence[int], num_samples: int = 64, seed: int = 0
) -> dict[str, list[float]]:
    """The exact Γ_t of the data set for each t in `timesteps`: Γ_t = 1 − ᾱ_t/β̄_t · E tr Cov[x_0 | x_t] / d
    (= E ‖E[ε | x_t]‖² / d, the law of total variance on ε), the expectation over x_t ~ q(x_t) by Monte-Carlo:
    `num_samples` draws x_0^i uniform, ε ~ N(0, I) per t. Returns {"gamma": [...], "standard_error": [...]}."""
    num_samples = check_int("num_samples", num_samples, 1, meaning=" (x_t draws per timestep)")
    generator = torch.Generator().manual_seed(check_seed(seed))
    data = posterior.data
    gammas, errors = [], []
    for t in timesteps:
        t = check_int("t", t, 0, posterior.num_train_timesteps - 1)
        x0 = data[torch.randint(len(data), (num_samples,), generator=generator)].float()
        noise = torch.randn(x0.shape, generator=generator)
        x_t = posterior.scheduler.add_noise(x0, noise, t)
        a = float(posterior.alphas_cumprod[t])
        per_x = 1.0 - a / (1.0 - a) * posterior.x0_variance(x_t, t) / posterior.dim
        gammas.append(float(per_x.mean()))
        errors.append(float(per_x.std() / math.sqrt(num_samples)) if num_samples > 1 else float("nan"))
    return {"gamma": gammas, "standard_error": errors}


# ---------------------------------------------------------------------------------------------- the CLI
def _build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="python -m pipelines.analytic_variance",
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
    print(f"python -m pipelines.analytic_variance: error: {message}", file=sys.stderr)
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

    from .data import load_mnist

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
    command = f"python -m pipelines.analytic_variance --model {shlex.quote(args.model)} "
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
