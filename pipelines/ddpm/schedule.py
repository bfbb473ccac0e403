"""The noise schedule and the sampling plan of a DDPM, as pure functions of the scheduler's config.

`make_betas` builds β_t exactly as diffusers' `DDPMScheduler` does (same schedule names, float32), so both
schedulers share one schedule; `plan_timesteps` gives the descending timesteps of a sampling run, either respaced by
a `timestep_spacing` exactly as diffusers does or checked from a custom list. `PosteriorDDPMScheduler` validates the
config's names once in its constructor and calls these; `timestep_plan` is its public face.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from diffusers.schedulers.scheduling_ddpm import betas_for_alpha_bar, rescale_zero_terminal_snr

from pipelines.checks import is_int


def make_betas(
    num_train_timesteps: int,
    beta_start: float,
    beta_end: float,
    beta_schedule: str,
    trained_betas=None,
    rescale_betas_zero_snr: bool = False,
) -> torch.Tensor:
    """β_t, t in [0, T), float32, for a schedule name the caller has checked; ValueError unless every β_t is in
    (0, 1]."""
    T = num_train_timesteps
    if trained_betas is not None:
        betas = torch.tensor(trained_betas, dtype=torch.float32)
    elif beta_schedule == "linear":
        betas = torch.linspace(beta_start, beta_end, T, dtype=torch.float32)
    elif beta_schedule == "scaled_linear":
        betas = torch.linspace(beta_start**0.5, beta_end**0.5, T, dtype=torch.float32) ** 2
    elif beta_schedule == "squaredcos_cap_v2":
        betas = betas_for_alpha_bar(T)
    else:  # sigmoid (GeoDiff)
        betas = torch.sigmoid(torch.linspace(-6, 6, T)) * (beta_end - beta_start) + beta_start
    if rescale_betas_zero_snr:
        betas = rescale_zero_terminal_snr(betas)
    if betas.ndim != 1 or len(betas) != T or not bool(((betas > 0) & (betas <= 1)).all()):
        raise ValueError(f"betas must be {T} values in (0, 1]")
    return betas


def _custom_plan(timesteps, T: int) -> torch.Tensor:
    """Custom `timesteps` as an int64 tensor: a non-empty, strictly descending list of integers in [0, T)."""
    if isinstance(timesteps, torch.Tensor):
        timesteps = timesteps.tolist()
    if isinstance(timesteps, (str, bytes)) or not hasattr(timesteps, "__len__") or len(timesteps) == 0:
        raise ValueError(f"timesteps must be a non-empty list of integers in [0, {T - 1}], got {timesteps!r}")
    if not all(is_int(v) for v in timesteps):
        raise ValueError(f"timesteps must be integers in [0, {T - 1}], got {list(timesteps)!r}")
    plan = [int(v) for v in timesteps]
    if min(plan) < 0 or max(plan) >= T:
        raise ValueError(f"timesteps must be in [0, {T - 1}], got values from {min(plan)} to {max(plan)}")
    if any(b >= a for a, b in zip(plan, plan[1:])):
        raise ValueError(f"timesteps must be strictly descending, got {plan}")
    return torch.tensor(plan, dtype=torch.int64)


def plan_timesteps(
    T: int,
    spacing: str,
    steps_offset: int = 0,
    num_inference_steps: int | None = None,
    timesteps: Sequence[int] | None = None,
) -> torch.Tensor:
    """The descending int64 timesteps of a sampling run over a T-step chain.

    Either `num_inference_steps` in [1, T], spaced by `spacing` ("leading", "linspace" or "trailing") exactly as
    diffusers does, or custom `timesteps`: strictly descending integers in [0, T). Neither → all T steps."""
    if num_inference_steps is not None and timesteps is not None:
        raise ValueError("pass either num_inference_steps or timesteps, not both")
    if timesteps is not None:
        return _custom_plan(timesteps, T)
    if num_inference_steps is None:
        num_inference_steps = T
    if not is_int(num_inference_steps) or not 1 <= num_inference_steps <= T:
        raise ValueError(f"num_inference_steps must be an integer in [1, {T}], got {num_inference_steps!r}")
    K = int(num_inference_steps)
    if spacing == "linspace":
        plan = np.linspace(0, T - 1, K).round()[::-1].copy().astype(np.int64)
    elif spacing == "leading":
        plan = (np.arange(0, K) * (T // K)).round()[::-1].copy().astype(np.int64) + steps_offset
    else:  # trailing
        plan = np.round(np.arange(T, 0, -T / K)).astype(np.int64) - 1
    return torch.from_numpy(plan)


def threshold_sample(sample: torch.Tensor, ratio: float, max_value: float) -> torch.Tensor:
    """Dynamic thresholding (Saharia et al. 2022): clamp each image to its `ratio` percentile s of |x| (s in
    [1, max_value]) and divide by s, as diffusers' DDPMScheduler does. sample: (B, C, …)."""
    dtype = sample.dtype
    batch, channels, *rest = sample.shape
    flat = sample.float().reshape(batch, channels * int(np.prod(rest)))
    s = torch.quantile(flat.abs(), ratio, dim=1)
    s = torch.clamp(s, min=1, max=max_value).unsqueeze(1)
    return (torch.clamp(flat, -s, s) / s).reshape(sample.shape).to(dtype)
