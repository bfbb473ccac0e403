"""The exact reverse step's variance over a finite data set: tr Cov[x_0 | x_t] (`x0_spread`), the per-dimension
variance of q(x_{prev_t} | x_t) itself (`exact_step_variance`: β̃ + coef1² · tr Cov[x_0 | x_t] / d, whose average
over x_t ~ q(x_t) is σ*² with the exact Γ_t), the exact Γ_t of the data set (`exact_gamma`:
1 − Γ_t = ᾱ_t / β̄_t · E_{x_t} tr Cov[x_0 | x_t] / d), and those variances along one sampled chain against β̃, β and
σ*² (`sampled_trajectory`, `chain_variances`), which pipelines/exact/plots.py draws.
"""

from __future__ import annotations

import math
import weakref
from typing import Any, Sequence

import torch

from pipelines.checks import check_int, check_seed
from pipelines.ddpm.optimal_variance import (
    optimal_variance,
)
from pipelines.ddpm.pipeline import PosteriorDDPMPipeline
from pipelines.exact.posterior import DatasetPosterior

# ---------------------------------------------------------------------------------------------- the exact answer
_SQ_NORMS: "weakref.WeakKeyDictionary[DatasetPosterior, torch.Tensor]" = weakref.WeakKeyDictionary()


def _sq_norms(posterior: "DatasetPosterior") -> torch.Tensor:
    """‖x_0^i‖² of each data image, float64 (N,), computed once per DatasetPosterior (its data are read-only)."""
    norms = _SQ_NORMS.get(posterior)
    if norms is None:
        data = posterior.data
        if isinstance(data, torch.Tensor):
            rows = data.reshape(len(posterior), -1).double()
            norms = (rows * rows).sum(1)
        else:  # data on disk (an IndexedPosterior's shards): shard by shard
            norms = torch.cat(
                [(images.reshape(len(images), -1).double() ** 2).sum(1) for _, images in data.iter_images()]
            )
        _SQ_NORMS[posterior] = norms
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
