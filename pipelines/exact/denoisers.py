"""The trained network, the local denoiser and the exact posterior along the network's own trajectory.

The training loss's optimum over N training images is the exact posterior mean E[x_0 | x_t] (`DatasetPosterior`),
which only gives back training images. A network that makes new images does not reach it; the local denoiser
(`LocalPosterior`, Kamb & Ganguli: the posterior over training PATCHES) is a candidate for what it does instead.
`compare_denoisers` asks which of the two the network's x̂_0 resembles, step by step, on the inputs x_t the network
itself visits (one sampling run from a seed), and samples all three from the same noise, each judged by the copy rule.

Agreement is measured by r² per image, with the network's x̂_0 as the target y:

    r² = 1 − Σ_p (ŷ_p − y_p)² / Σ_p (y_p − ȳ)²      (sums over all values p of one image; ȳ their mean)

1 when ŷ = y, 0 when ŷ does no better than the image's mean value, negative when worse; NaN when y is constant.
The network's run and the r² live in trajectory.py (re-exported here: `model_run`, `ModelRun`, `r2_along`,
`r_squared`); the shipped record of LS, ELS and the exact posterior in denoiser_record.py, whose CLI this module runs:

    python -m pipelines.exact.denoisers --model models/ddpm-mnist [--seed 0] [--batch-size 16] [--steps 40] …
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from pipelines.checks import check_batch_size, check_int, check_seed
from pipelines.exact.neighbours import COPY_RATIO, COPY_RULE, copy_summary, is_copy_by_ratio, nearest_two
from pipelines.exact.trajectory import (
    DEFAULT_BAND_EDGES,
    ModelRun,
    TrajectoryStep,
    _check_edges,
    model_run,
    model_trajectory,
    r2_along,
    r_squared,
)

__all__ = [
    "DEFAULT_BAND_EDGES",
    "SAMPLERS",
    "DenoiserComparison",
    "ModelRun",
    "TrajectoryStep",
    "compare_denoisers",
    "model_run",
    "model_trajectory",
    "r2_along",
    "r_squared",
]

# The three samplers, in the order every table lists them.
SAMPLERS = ("model", "local", "exact")


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


if __name__ == "__main__":  # the record CLI (denoiser_record.py): python -m pipelines.exact.denoisers --model FOLDER
    import os
    import sys

    from pipelines.exact.denoiser_record import main

    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    sys.exit(main())
