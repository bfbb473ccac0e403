"""The trained network, the local denoiser and the exact posterior along the network's own trajectory.

The training loss's optimum over N training images is the exact posterior mean E[x_0 | x_t] (`DatasetPosterior`),
which only gives back training images. A network that makes new images does not reach it; the local denoiser
(`LocalPosterior`, Kamb & Ganguli: the posterior over training PATCHES) is a candidate for what it does instead.
`compare_denoisers` asks which of the two the network's x̂_0 resembles, step by step, on the inputs x_t the network
itself visits (one sampling run from a seed), and samples all three from the same noise, each judged by the copy rule.

Agreement is measured by r² per image, with the network's x̂_0 as the target y:

    r² = 1 − Σ_p (ŷ_p − y_p)² / Σ_p (y_p − ȳ)²      (sums over all values p of one image; ȳ their mean)

1 when ŷ = y, 0 when ŷ does no better than the image's mean value, negative when worse; NaN when y is constant.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Iterator, NamedTuple, Sequence

import numpy as np
import torch
from diffusers.utils.torch_utils import randn_tensor

from pipelines.checks import check_batch_size, check_int, check_seed
from pipelines.exact.neighbours import COPY_RATIO, COPY_RULE, copy_summary, is_copy_by_ratio, nearest_two

DEFAULT_BAND_EDGES = (0, 100, 200, 400, 600, 800, 1000)


# The three samplers, in the order every table lists them.
SAMPLERS = ("model", "local", "exact")


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


@dataclass
class DenoiserComparison:
    """The network, the local denoiser and the exact posterior along the network's trajectory from one seed.

    K steps, B images. timesteps: (K,) the t of each step. r2_local, r2_exact: (K, B) float64, r² of the local and
    the exact x̂_0 against the network's x̂_0 at the network's input x_t of that step (see the module's docstring).
    samples: {"model", "local", "exact"} → (B, C, H, W), each sampler's samples from the same x_T (same seed).
    nearest_distances (d₁), second_distances (d₂), nearest_indices: per sampler, (B,) against the training data;
    copies: per sampler, (B,) bool, d₁ / d₂ < COPY_RATIO (Gu et al.). seconds: per sampler, its wall time (the
    model's: its run alone, without the r² measurements along it).
    """

    seed: int
    num_inference_steps: int
    timesteps: np.ndarray
    r2_local: np.ndarray
    r2_exact: np.ndarray
    samples: dict[str, torch.Tensor]
    nearest_distances: dict[str, torch.Tensor]
    second_distances: dict[str, torch.Tensor]
    nearest_indices: dict[str, torch.Tensor]
    copies: dict[str, torch.Tensor]
    seconds: dict[str, float] = field(default_factory=dict)
    num_train_timesteps: int = 1000

    def bands(self, edges: Sequence[int] = DEFAULT_BAND_EDGES) -> list[dict[str, Any]]:
        """The median r² (over the steps in the band and the images) per band [low, high) of t: a list of
        {"low", "high", "steps", "r2_local", "r2_exact"} (None for a band without steps; NaNs are ignored)."""
        edges = _check_edges(edges, self.num_train_timesteps)
        rows = []
        for low, high in zip(edges, edges[1:]):
            inside = (self.timesteps >= low) & (self.timesteps < high)
            row = {"low": low, "high": high, "steps": int(inside.sum())}
            for name, r2 in (("r2_local", self.r2_local), ("r2_exact", self.r2_exact)):
                values = r2[inside].ravel()
                values = values[np.isfinite(values)]
                row[name] = float(np.median(values)) if len(values) else None
            rows.append(row)
        return rows

    def copy_fraction(self, sampler: str) -> float:
        """The fraction of one sampler's samples ("model", "local" or "exact") that are copies by the ratio rule."""
        return float(self.copies[sampler].double().mean())

    def as_dict(self) -> dict[str, Any]:
        """A JSON-safe summary: the per-step r², the bands, and per sampler d₁, d₂, d₁/d₂, the copy counts."""
        samplers = {}
        for name in self.samples:
            d1, d2 = self.nearest_distances[name], self.second_distances[name]
            samplers[name] = {
                "nearest_distances": d1.tolist(),
                "second_distances": d2.tolist(),
                "ratios": [float(a / b) if b > 0 else None for a, b in zip(d1.tolist(), d2.tolist())],
                "nearest_indices": self.nearest_indices[name].tolist(),
                "copy": self.copies[name].tolist(),
                **copy_summary(d1, d2, self.nearest_indices[name]),
                "seconds": self.seconds.get(name),
            }
        return {
            "seed": self.seed,
            "num_inference_steps": self.num_inference_steps,
            "timesteps": self.timesteps.tolist(),
            "r2_local": _nan_to_none(self.r2_local),
            "r2_exact": _nan_to_none(self.r2_exact),
            "r2_definition": "1 - sum (x0_hat - x0_model)^2 / sum (x0_model - mean x0_model)^2 per image",
            "bands": self.bands(),
            "samplers": samplers,
            "copy_rule": COPY_RULE,
            "copy_ratio": COPY_RATIO,
        }


def _nan_to_none(values: np.ndarray) -> list:
    return [[None if not np.isfinite(v) else float(v) for v in row] for row in values]


def _check_denoisers(pipe, local, exact) -> None:
    shape = tuple(pipe.image_shape)
    for name, denoiser in (("local", local), ("exact", exact)):
        for method in ("predict_x0", "sample", "data"):
            if not hasattr(denoiser, method):
                raise ValueError(f"{name} must be a LocalPosterior or DatasetPosterior, got {type(denoiser).__name__}")
        if tuple(denoiser.image_shape) != shape:
            raise ValueError(f"{name}'s images {tuple(denoiser.image_shape)} must match the model's {shape}")
        if len(denoiser.data) < 2:
            raise ValueError(f"{name} must hold at least 2 training images (the copy rule's d₂), got 1")


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


@torch.inference_mode()
def compare_denoisers(pipe, local, exact, num_inference_steps: int = 40, seed: int = 0, batch_size: int = 1):
    """The network (pipe, η = 1), the local denoiser and the exact posterior from one seed.

    pipe: a `PosteriorDDPMPipeline`; local: a `LocalPosterior` (or any denoiser with predict_x0, sample and data);
    exact: a `DatasetPosterior`, over the training data. Along the network's own trajectory (its inputs x_t, x_T
    first) the r² of local's and exact's x̂_0 against the network's (its step's pred_original_sample, clipped as its
    scheduler says); then the three samples from the same x_T (each loop draws x_T first from a generator seeded
    alike), each against exact's data by the copy rule. Returns a `DenoiserComparison`."""
    _check_denoisers(pipe, local, exact)
    seed = check_seed(seed)
    batch_size = check_batch_size(batch_size)
    T = int(pipe.scheduler.config.num_train_timesteps)
    steps = check_int("num_inference_steps", num_inference_steps, 1, T)
    run = model_run(pipe, batch_size, seed, steps)
    timesteps, r2_local, r2_exact = run.timesteps, r2_along(run, local), r2_along(run, exact)
    seconds, samples = {"model": run.seconds}, {"model": run.sample}
    for name, denoiser in (("local", local), ("exact", exact)):
        start = time.perf_counter()
        samples[name] = denoiser.sample(batch_size, torch.Generator().manual_seed(seed), steps).float()
        seconds[name] = time.perf_counter() - start
    data = exact.data
    d1s, d2s, indices, copies = {}, {}, {}, {}
    for name in SAMPLERS:
        d1s[name], d2s[name], indices[name] = nearest_two(samples[name], data)
        copies[name] = is_copy_by_ratio(d1s[name], d2s[name])
    return DenoiserComparison(
        seed=seed,
        num_inference_steps=steps,
        timesteps=timesteps,
        r2_local=r2_local,
        r2_exact=r2_exact,
        samples=samples,
        nearest_distances=d1s,
        second_distances=d2s,
        nearest_indices=indices,
        copies=copies,
        seconds=seconds,
        num_train_timesteps=T,
    )
