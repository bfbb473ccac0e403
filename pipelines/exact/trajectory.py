"""The network's own sampling run, kept so that any denoiser can be compared along it, and the r² they are judged by.

`model_run` runs the network once from a seed (η = 1) and keeps every input x_t and every x̂_0; `r2_along` measures a
denoiser's x̂_0 at those inputs against the network's, per step and image:

    r² = 1 − Σ_p (ŷ_p − y_p)² / Σ_p (y_p − ȳ)²      (sums over all values p of one image; ȳ their mean)

1 when ŷ = y, 0 when ŷ does no better than the image's mean value, negative when worse; NaN when y is constant.
The run does not depend on the denoiser, so a page may keep it and compare several denoisers (or patch sizes) along it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterator, NamedTuple, Sequence

import numpy as np
import torch
from diffusers.utils.torch_utils import randn_tensor

from pipelines.checks import check_batch_size, check_int, check_seed

# The bands of t the tables summarise r² over: [low, high).
DEFAULT_BAND_EDGES = (0, 100, 200, 400, 600, 800, 1000)


def r_squared(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """r² of prediction against target per item: 1 − Σ(ŷ − y)² / Σ(y − ȳ)² over all values of each item (B, …),
    float64 (B,); NaN where the target is constant."""
    if prediction.shape != target.shape or prediction.ndim < 1:
        raise ValueError(
            f"prediction and target must have one shape (B, …), got {tuple(prediction.shape)} and {tuple(target.shape)}"
        )
    y = target.detach().reshape(target.shape[0], -1).double().cpu()
    y_hat = prediction.detach().reshape(prediction.shape[0], -1).double().cpu()
    residual = ((y_hat - y) ** 2).sum(1)
    spread = ((y - y.mean(1, keepdim=True)) ** 2).sum(1)
    ratio = torch.where(spread > 0, residual / spread.clamp_min(1e-300), torch.full_like(spread, float("nan")))
    return 1.0 - ratio


def _check_edges(edges: Sequence[int], T: int) -> tuple[int, ...]:
    message = f"edges must be a strictly increasing list of at least 2 integers in [0, {T}], got {edges!r}"
    try:
        values = tuple(check_int("edges", e, 0, T) for e in edges)
    except (TypeError, ValueError):
        raise ValueError(message) from None
    if len(values) < 2 or any(b <= a for a, b in zip(values, values[1:])):
        raise ValueError(message)
    return values


class TrajectoryStep(NamedTuple):
    """One step of the network's own run: its t, its input x_t and its x̂_0 (float64, on the CPU), and the sample
    x_{t−1} it drew (the next step's input; the last one is the run's sample)."""

    timestep: int
    x_t: torch.Tensor
    unet_x0: torch.Tensor
    sample: torch.Tensor


def model_trajectory(pipe, batch_size: int, seed: int, steps: int) -> Iterator[TrajectoryStep]:
    """The network's run (η = 1) from x_T drawn as `pipe.denoise` draws it (a generator seeded `seed`, its first
    draw), step by step: (t, x_t, the network's x̂_0 — its step's pred_original_sample —, the sample it drew)."""
    x_t = randn_tensor(
        (batch_size, *pipe.image_shape), generator=torch.Generator().manual_seed(seed), dtype=torch.float32
    )
    x_t = x_t.to(device=pipe.unet.device, dtype=pipe.unet.dtype)  # denoise's x_T: its first draw, in its shape
    generator = torch.Generator().manual_seed(seed)
    for record in pipe.denoise(batch_size, generator, steps, eta=1.0, progress=False):
        t, target = int(record.timestep), record.pred_original_sample.cpu().double()
        yield TrajectoryStep(t, x_t.cpu().double(), target, record.sample)
        x_t = record.sample


@dataclass
class ModelRun:
    """The network's own sampling run from one seed (η = 1), kept so that any denoiser can be compared along it.

    K steps, B images of (C, H, W). timesteps: (K,) int, the t of each step (descending). x_t: (K, B, C, H, W)
    float32, the network's input at each step (x_T first). x0: (K, B, C, H, W) float64, its x̂_0 at each step (the
    step's pred_original_sample, clipped as its scheduler says). sample: (B, C, H, W) float32, its final sample.
    seconds: the run's wall time. seed: the seed it was drawn from; num_train_timesteps: the scheduler's T."""

    timesteps: np.ndarray
    x_t: torch.Tensor
    x0: torch.Tensor
    sample: torch.Tensor
    seconds: float
    seed: int = 0
    num_train_timesteps: int = 1000

    @property
    def num_steps(self) -> int:
        return len(self.timesteps)


@torch.inference_mode()
def model_run(pipe, batch_size: int, seed: int, num_inference_steps: int) -> ModelRun:
    """The network's run (pipe: a `PosteriorDDPMPipeline`, η = 1) of `num_inference_steps` in [1, T] from x_T drawn
    as `pipe.denoise` draws it (a generator seeded `seed`), with every input x_t and x̂_0 kept (see `ModelRun`).
    It does not depend on any denoiser, so a caller may keep it and compare several along it (`r2_along`)."""
    seed = check_seed(seed)
    batch_size = check_batch_size(batch_size)
    T = int(pipe.scheduler.config.num_train_timesteps)
    steps = check_int("num_inference_steps", num_inference_steps, 1, T)
    start = time.perf_counter()
    timesteps, inputs, targets, sample = [], [], [], None
    for t, x, target, sample in model_trajectory(pipe, batch_size, seed, steps):
        timesteps.append(t)
        inputs.append(x.float())
        targets.append(target)
    return ModelRun(
        timesteps=np.array(timesteps, dtype=np.int64),
        x_t=torch.stack(inputs),
        x0=torch.stack(targets),
        sample=sample.cpu().float(),
        seconds=time.perf_counter() - start,
        seed=seed,
        num_train_timesteps=T,
    )


@torch.inference_mode()
def r2_along(run: ModelRun, denoiser) -> np.ndarray:
    """(K, B) float64: per step k and image, r² of `denoiser.predict_x0(run.x_t[k], t_k)` against the network's
    x̂_0 `run.x0[k]` (see the module's docstring). denoiser: any object with predict_x0 (a LocalPosterior,
    DatasetPosterior…); x_t is handed over in the denoiser's computation dtype when it has one."""
    if not hasattr(denoiser, "predict_x0"):
        raise ValueError(f"denoiser must have a predict_x0(x_t, t) method, got {type(denoiser).__name__}")
    dtype = getattr(denoiser, "dtype", torch.float32)
    rows = []
    for k, t in enumerate(run.timesteps.tolist()):
        rows.append(r_squared(denoiser.predict_x0(run.x_t[k].to(dtype), int(t)), run.x0[k]))
    return torch.stack(rows).numpy()
