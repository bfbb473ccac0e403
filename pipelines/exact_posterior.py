"""DatasetPosterior: the true reverse step q(x_{t-1} | x_t) when the data distribution is a finite data set.

If the data are N images x_0^1 … x_0^N (uniform prior), Bayes' rule gives the reverse step in closed form:

    q(x_0^i | x_t)     ∝ q(x_t | x_0^i) = N(x_t; √ᾱ_t x_0^i, (1 − ᾱ_t) I)                     (eq. 4)
    q(x_{t-1} | x_t)   = Σ_i q(x_0^i | x_t) · q(x_{t-1} | x_t, x_0^i)                          (eq. 6–7)

a mixture of N Gaussians with a shared variance β̃_t. Its mean is μ̃_t(x_t, E[x_0 | x_t]) because μ̃_t is linear
in x_0, and E[x_0 | x_t] is the ideal denoiser. This answers "why learn p_θ(x_{t-1} | x_t)?": the exact step
needs the whole data set at every step (O(N·D)), and sampling it can only give back training images.

The comparisons built on it are here too, as numbers and tensors: `compare_estimates` (tractable vs exact vs
model for one x_0 and t, with the training loss L_{t-1} of eq. 8 of each mean), `compare_samplers` (exact vs model
samplers from the same noise, when the exact sampler commits to one image), `nearest_neighbours` and
`heldout_nearest_distances` (how far real unseen images are from the training set), and the cost of one step
(`measure_step_costs`: exact over N and the model under one protocol, extrapolated to larger data sets;
`measure_step_cost` and `measure_model_step_cost`, each side alone). The app's tabs lay them out; their words live
in ui/text.py, their plots in visualize.py.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor

from .checks import (
    check_batch_size,
    check_float,
    check_images,
    check_int,
    check_model_space,
    check_seed,
    is_int,
    short_repr,
)
from .pipeline_ddpm_posterior import DenoisingStep
from .scheduling_ddpm_posterior import PosteriorDDPMScheduler

# Temporaries are (B, chunk) plus one (chunk, D) slice: about this many data elements per chunk.
CHUNK_ELEMENTS = 1 << 20
# A sample this close (L2 over all pixels, model space) to a training image is a copy of it.
COPY_DISTANCE = 1e-3
# The exact sampler has committed to one training image once q(x_0 | x_t) puts this much weight on it.
COMMIT_WEIGHT = 0.99


# ---------------------------------------------------------------------------------------------- validation
def _check_chunk_size(chunk_size, dim: int) -> int:
    if chunk_size is None:
        return max(1, CHUNK_ELEMENTS // dim)
    return check_int("chunk_size", chunk_size, 1, meaning=" (data rows per chunk)")


def _sq_distances(a: torch.Tensor, b: torch.Tensor, b_sq: torch.Tensor) -> torch.Tensor:
    """‖a_j − b_i‖² for rows a (B, D) and b (n, D) by ‖a‖² − 2a·b + ‖b‖² (one matmul), clamped at 0."""
    return ((a * a).sum(1, keepdim=True) - 2.0 * (a @ b.T) + b_sq).clamp_min_(0.0)


# ---------------------------------------------------------------------------------------------- outputs
@dataclass
class ExactPosteriorOutput(BaseOutput):
    """q(x_0 | x_t) and the moments of q(x_{prev_t} | x_t) over the data set. B = batch, N = data set size.

    weights: (B, N) q(x_0^i | x_t), each row sums to 1.
    pred_original_sample: (B, C, H, W) E[x_0 | x_t] = Σ_i w_i x_0^i, the ideal denoiser.
    posterior_mean: (B, C, H, W) E[x_{prev_t} | x_t] = μ̃(x_t, E[x_0 | x_t]).
    posterior_variance: β̃ of each mixture component (0-d, or (B, 1, 1, 1) for per-sample t); 0 when prev_t < 0.
    max_weight: (B,) the largest weight. argmax_index: (B,) its data index.
    effective_n: (B,) 1 / Σ_i w_i², the number of training images the posterior still hesitates between.
    """

    weights: torch.Tensor
    pred_original_sample: torch.Tensor
    posterior_mean: torch.Tensor
    posterior_variance: torch.Tensor
    max_weight: torch.Tensor
    argmax_index: torch.Tensor
    effective_n: torch.Tensor


@dataclass
class ExactPosteriorStepOutput(BaseOutput):
    """One exact reverse step x_t → x_{prev_t} ~ q(x_{prev_t} | x_t) = Σ_i w_i N(μ̃(x_t, x_0^i), β̃ I).

    prev_sample: (B, C, H, W) the draw. chosen_index: (B,) the mixture component i ~ Categorical(w) it came from.
    The other fields are those of `ExactPosteriorOutput` (posterior_mean is the mixture mean, not the chosen
    component's mean).
    """

    prev_sample: torch.Tensor
    chosen_index: torch.Tensor
    pred_original_sample: torch.Tensor
    posterior_mean: torch.Tensor
    posterior_variance: torch.Tensor
    weights: torch.Tensor
    max_weight: torch.Tensor
    argmax_index: torch.Tensor
    effective_n: torch.Tensor


@dataclass
class ExactDenoisingStep(DenoisingStep):
    """A `DenoisingStep` of the exact sampler, so the pipeline's step viewers show it unchanged.

    model_output is what a perfect model would output at (x_t, t) — the ε (or x_0, or v, per the scheduler's
    prediction_type) implied by E[x_0 | x_t]. Extra fields, each (B,): chosen_index (the training image the step
    moved towards), max_weight, argmax_index and effective_n of q(x_0 | x_t).
    """

    chosen_index: torch.Tensor = None
    max_weight: torch.Tensor = None
    argmax_index: torch.Tensor = None
    effective_n: torch.Tensor = None


# ---------------------------------------------------------------------------------------------- the posterior
class DatasetPosterior:
    """The exact reverse process of DDPM when the data distribution is uniform over N images.

    data: (N, C, H, W) in [-1, 1]; None → the 4,500 mnist train digits (`pipelines.data.load_mnist("train")`).
    scheduler: the `PosteriorDDPMScheduler` whose ᾱ_t define the forward process (None → the default 1000-step
    linear schedule; a diffusers `DDPMScheduler` is converted from its config).
    dtype: the precision of the computation. float64 (default) keeps the weights exact even at small t, where
    the log-weights are ~10⁶ apart; float32 reads half the memory per step (somewhat faster, see bench/).
    chunk_size: data rows per chunk (None → about 2²⁰ elements per chunk), which bounds the temporaries.
    """

    def __init__(
        self,
        data: torch.Tensor | None = None,
        scheduler: PosteriorDDPMScheduler | None = None,
        dtype: torch.dtype = torch.float64,
        chunk_size: int | None = None,
    ):
        if data is None:
            from .data import load_mnist

            data = load_mnist("train")[0]
        if isinstance(data, torch.Tensor) and data.ndim == 4 and data.shape[0] == 0:
            raise ValueError(f"data must hold at least one image, got shape {tuple(data.shape)}")
        data = check_images(data, "data")
        check_model_space(data, "data")
        if scheduler is None:
            scheduler = PosteriorDDPMScheduler()
        elif not isinstance(scheduler, PosteriorDDPMScheduler):
            if not hasattr(scheduler, "config"):
                raise ValueError(f"scheduler must be a PosteriorDDPMScheduler, got {type(scheduler).__name__}")
            scheduler = PosteriorDDPMScheduler.from_config(scheduler.config)
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")

        self.scheduler = scheduler
        self.dtype = dtype
        self.image_shape: tuple[int, int, int] = tuple(int(s) for s in data.shape[1:])
        self.num_images = int(data.shape[0])
        self.dim = int(np.prod(self.image_shape))
        self.chunk_size = _check_chunk_size(chunk_size, self.dim)
        # The data as rows x_0^i (N, D) and their squared norms ‖x_0^i‖², computed once: with them a step is a
        # matmul (‖x_t − √ᾱ x_0^i‖² = ‖x_t‖² − 2√ᾱ x_t·x_0^i + ᾱ‖x_0^i‖²), not N image differences.
        self._x0 = data.detach().reshape(self.num_images, self.dim).to(dtype).contiguous()
        self._x0_sq = (self._x0 * self._x0).sum(1)
        # ᾱ_t in float64, built from the scheduler's betas exactly as the scheduler builds its own table.
        self._alphas_cumprod = torch.cumprod(1.0 - scheduler.betas.double(), 0)

    # ------------------------------------------------------------------ properties
    @property
    def data(self) -> torch.Tensor:
        """The data set, (N, C, H, W), in the computation dtype (a view, not a copy)."""
        return self._x0.view(self.num_images, *self.image_shape)

    @property
    def num_train_timesteps(self) -> int:
        return int(self.scheduler.config.num_train_timesteps)

    @property
    def alphas_cumprod(self) -> torch.Tensor:
        """ᾱ_t for t = 0 … T − 1, float64 (T,): the forward process q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I)."""
        return self._alphas_cumprod

    @property
    def data_bytes(self) -> int:
        """The bytes the data set occupies in the computation dtype: what an exact step must read."""
        return int(self._x0.numel() * self._x0.element_size())

    def __len__(self) -> int:
        return self.num_images

    def __repr__(self) -> str:
        return (
            f"DatasetPosterior(N={self.num_images}, image_shape={self.image_shape}, dtype={self.dtype}, "
            f"T={self.num_train_timesteps})"
        )

    # ------------------------------------------------------------------ validation
    def check_t(self, t, batch: int = 1, name: str = "t") -> torch.Tensor:
        """t as a (B,) int64 tensor: one integer for the whole batch or one per sample, each in [0, T)."""
        T = self.num_train_timesteps
        if isinstance(t, torch.Tensor) and t.numel() > 1:
            if t.is_floating_point() or t.ndim != 1 or t.numel() != batch:
                raise ValueError(
                    f"{name} must be an integer or {batch} integers (one per sample) in [0, {T - 1}], "
                    f"got a tensor of shape {tuple(t.shape)} and dtype {t.dtype}"
                )
            values = t.detach().cpu().to(torch.int64)
        else:
            if isinstance(t, torch.Tensor) and not t.is_floating_point() and t.numel() == 1:
                t = int(t.item())
            if not is_int(t):
                raise ValueError(f"{name} must be an integer in [0, {T - 1}], got {t!r}")
            values = torch.full((batch,), int(t), dtype=torch.int64)
        if int(values.min()) < 0 or int(values.max()) >= T:
            shown = int(values[0]) if bool((values == values[0]).all()) else values.tolist()
            raise ValueError(f"{name} must be in [0, {T - 1}], got {shown}")
        return values

    def _check_x_t(self, x_t) -> torch.Tensor:
        return check_images(x_t, "x_t", self.image_shape)

    def _prev_of(self, t: torch.Tensor, prev_t, name: str = "prev_t"):
        """prev_t for q_posterior: None → t − 1; otherwise an integer (or per-sample integers) in [-1, t − 1]."""
        if prev_t is None:
            return None
        if isinstance(prev_t, torch.Tensor) and prev_t.numel() > 1:
            if prev_t.is_floating_point() or prev_t.ndim != 1 or prev_t.numel() != len(t):
                raise ValueError(
                    f"{name} must be an integer or one integer per sample, got shape {tuple(prev_t.shape)}"
                )
            values = prev_t.detach().cpu().to(torch.int64)
        else:
            if isinstance(prev_t, torch.Tensor) and not prev_t.is_floating_point() and prev_t.numel() == 1:
                prev_t = int(prev_t.item())
            if not is_int(prev_t):
                raise ValueError(f"{name} must be an integer in [-1, t - 1], got {prev_t!r}")
            values = torch.full_like(t, int(prev_t))
        if bool((values < -1).any()) or bool((values >= t).any()):
            raise ValueError(
                f"{name} must be in [-1, t - 1] (−1 = the step to x_0) for t = "
                f"{int(t[0]) if bool((t == t[0]).all()) else t.tolist()}, got "
                f"{int(values[0]) if bool((values == values[0]).all()) else values.tolist()}"
            )
        return values

    # ------------------------------------------------------------------ q(x_0 | x_t)
    def _logits(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """log q(x_t | x_0^i) up to a per-row constant, (B, N), in the computation dtype.

        −‖x_t − √ᾱ x_0^i‖² / 2(1 − ᾱ) = [√ᾱ x_t·x_0^i − ᾱ‖x_0^i‖²/2] / (1 − ᾱ) − ‖x_t‖² / 2(1 − ᾱ); the last
        term is the same for every i, so it is dropped (it cancels in the normalisation)."""
        a = self._alphas_cumprod[t].to(self.dtype).unsqueeze(1)  # (B, 1)
        scale_dot, scale_sq, inv = a.sqrt(), a / 2, 1.0 / (1.0 - a)
        chunks = []
        for start in range(0, self.num_images, self.chunk_size):
            rows = self._x0[start : start + self.chunk_size]
            chunks.append((scale_dot * (x @ rows.T) - scale_sq * self._x0_sq[start : start + self.chunk_size]) * inv)
        return torch.cat(chunks, dim=1)

    def _weighted_x0(self, weights: torch.Tensor) -> torch.Tensor:
        """Σ_i w_i x_0^i for each row of weights (B, N) → (B, D), chunked like `_logits`.

        Late in the chain most weights underflow to exactly 0; then only the images with a non-zero weight are
        read (the same sum, term for term, at a fraction of the cost)."""
        total = torch.zeros(weights.shape[0], self.dim, dtype=self.dtype)
        support = torch.nonzero(weights.amax(dim=0) > 0).squeeze(1)
        if len(support) * 4 < self.num_images:
            for start in range(0, len(support), self.chunk_size):
                rows = support[start : start + self.chunk_size]
                total.addmm_(weights[:, rows], self._x0[rows])
            return total
        for start in range(0, self.num_images, self.chunk_size):
            total += weights[:, start : start + self.chunk_size] @ self._x0[start : start + self.chunk_size]
        return total

    def x0_log_posterior(self, x_t: torch.Tensor, t) -> torch.Tensor:
        """log q(x_0^i | x_t), (B, N), normalised by log-sum-exp (uniform prior over the data set).

        x_t: (B, C, H, W), the data set's image shape. t: an integer in [0, T) or (B,) integers."""
        x_t = self._check_x_t(x_t)
        t = self.check_t(t, x_t.shape[0])
        logits = self._logits(x_t.reshape(x_t.shape[0], -1).to(self.dtype), t)
        return logits - torch.logsumexp(logits, dim=1, keepdim=True)

    def x0_posterior(self, x_t: torch.Tensor, t) -> torch.Tensor:
        """The weights q(x_0^i | x_t) ∝ exp(−‖x_t − √ᾱ_t x_0^i‖² / 2(1 − ᾱ_t)), shape (B, N), rows summing to 1."""
        return self.x0_log_posterior(x_t, t).exp()

    # ------------------------------------------------------------------ moments of q(x_{t-1} | x_t)
    def posterior(self, x_t: torch.Tensor, t, prev_t=None) -> ExactPosteriorOutput:
        """Everything about q(x_{prev_t} | x_t) except a draw: weights, E[x_0|x_t], the mixture mean, β̃.

        t: integer in [0, T) or (B,) integers; prev_t: None (t − 1) or in [-1, t − 1] (a respaced chain).
        Tensors come back in x_t's dtype, weights in the computation dtype."""
        x_t = self._check_x_t(x_t)
        B = x_t.shape[0]
        t = self.check_t(t, B)
        prev = self._prev_of(t, prev_t)
        x = x_t.detach().reshape(B, -1).to(self.dtype)
        logits = self._logits(x, t)
        weights = torch.softmax(logits, dim=1)  # stable: subtracts the row max (log-sum-exp)
        x0_mean = self._weighted_x0(weights).reshape(x_t.shape)
        mean, variance = self._q_posterior(x0_mean, x.reshape(x_t.shape), t, prev)
        max_weight, argmax = weights.max(dim=1)
        return ExactPosteriorOutput(
            weights=weights,
            pred_original_sample=x0_mean.to(x_t.dtype),
            posterior_mean=mean.to(x_t.dtype),
            posterior_variance=variance.to(x_t.dtype),
            max_weight=max_weight,
            argmax_index=argmax,
            effective_n=1.0 / (weights * weights).sum(1),
        )

    def _q_posterior(
        self, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, prev
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The scheduler's q(x_{prev_t} | x_t, x_0) (eq. 6–7), called with a scalar t when the batch shares one."""
        same_t = bool((t == t[0]).all()) and (prev is None or bool((prev == prev[0]).all()))
        if same_t:
            return self.scheduler.q_posterior(x0, x_t, int(t[0]), None if prev is None else int(prev[0]))
        return self.scheduler.q_posterior(x0, x_t, t, None if prev is None else prev.numpy())

    def predict_x0(self, x_t: torch.Tensor, t) -> torch.Tensor:
        """E[x_0 | x_t] = Σ_i q(x_0^i | x_t) x_0^i, the ideal (minimum mean-squared error) denoiser, (B, C, H, W)."""
        return self.posterior(x_t, t).pred_original_sample

    def mean(self, x_t: torch.Tensor, t, prev_t=None) -> torch.Tensor:
        """E[x_{prev_t} | x_t] = Σ_i w_i μ̃(x_t, x_0^i) = μ̃(x_t, E[x_0 | x_t]) (μ̃ is linear in x_0), (B, C, H, W)."""
        return self.posterior(x_t, t, prev_t).posterior_mean

    def _coef1(self, t: torch.Tensor, prev) -> torch.Tensor:
        """posterior_mean_coef1 of the step t → prev_t (None: t − 1), float64 (B,): μ̃ = coef1·x_0 + coef2·x_t."""
        prev = t - 1 if prev is None else prev
        a_t = self._alphas_cumprod[t]
        a_prev = torch.where(prev >= 0, self._alphas_cumprod[prev.clamp_min(0)], torch.ones_like(a_t))
        return a_prev.sqrt() * (1.0 - a_t / a_prev) / (1.0 - a_t)  # eq. 7

    def _x0_variance(self, weights: torch.Tensor, x0_mean: torch.Tensor) -> torch.Tensor:
        """Σ_i w_i ‖x_0^i − m_b‖² for each row b of weights (B, N) and m (B, …), float64 (B,), over the images with a
        non-zero weight. Summed as differences, not as Σ w‖x_0‖² − ‖m‖², which cancels once the weights commit."""
        B = weights.shape[0]
        m = x0_mean.reshape(B, self.dim).double()
        total = torch.zeros(B, dtype=torch.float64)
        support = torch.nonzero(weights.amax(dim=0) > 0).squeeze(1)
        chunk = max(1, CHUNK_ELEMENTS // (self.dim * B))
        for start in range(0, len(support), chunk):
            rows = support[start : start + chunk]
            sq = ((self._x0[rows].double().unsqueeze(0) - m.unsqueeze(1)) ** 2).sum(2)  # (B, n)
            total += (weights[:, rows].double() * sq).sum(1)
        return total

    def x0_variance(self, x_t: torch.Tensor, t) -> torch.Tensor:
        """tr Cov[x_0 | x_t] = Σ_i w_i ‖x_0^i − E[x_0 | x_t]‖² = Σ_i w_i ‖x_0^i‖² − ‖Σ_i w_i x_0^i‖², (B,) float64 ≥ 0.

        How far, in squared L2 over all pixels, the images the posterior still hesitates between are from their
        mean: 0 once it has committed to one image. x_t: (B, C, H, W); t: an integer in [0, T) or (B,) integers."""
        x_t = self._check_x_t(x_t)
        t = self.check_t(t, x_t.shape[0])
        weights = torch.softmax(self._logits(x_t.detach().reshape(x_t.shape[0], -1).to(self.dtype), t), dim=1)
        return self._x0_variance(weights, self._weighted_x0(weights))

    def expected_sq_distance(self, x_t: torch.Tensor, t, mean: torch.Tensor, prev_t=None) -> torch.Tensor:
        """E_{x_0 ~ q(x_0 | x_t)} ‖μ̃(x_t, x_0) − mean‖² over the data set, (B,) float64: how far a proposed mean of
        x_{prev_t} is, on average, from the tractable means of the images x_t may have come from.

        μ̃ is linear in x_0 (eq. 7: μ̃ = coef1·x_0 + coef2·x_t), so this is ‖E[x_{prev_t} | x_t] − mean‖² +
        coef1²·tr Cov[x_0 | x_t] without forming the N means: the exact mean minimises it, and the second term is
        what no mean can remove. x_t, mean: (B, C, H, W); t: integer in [0, T) or (B,) integers; prev_t: None (t − 1)
        or in [-1, t − 1]."""
        x_t = self._check_x_t(x_t)
        B = x_t.shape[0]
        mean = check_images(mean, "mean", self.image_shape)
        if mean.shape[0] != B:
            raise ValueError(f"mean must hold one image per x_t ({B}), got {mean.shape[0]}")
        t = self.check_t(t, B)
        prev = self._prev_of(t, prev_t)
        x = x_t.detach().reshape(B, -1).to(self.dtype)
        weights = torch.softmax(self._logits(x, t), dim=1)
        x0_mean = self._weighted_x0(weights)
        exact_mean, _ = self._q_posterior(x0_mean.double().reshape(x_t.shape), x_t.detach().double(), t, prev)
        gap = ((exact_mean - mean.detach().double()) ** 2).reshape(B, -1).sum(1)
        return gap + self._coef1(t, prev) ** 2 * self._x0_variance(weights, x0_mean)

    def ideal_model_output(self, x_t: torch.Tensor, t, pred_original_sample: torch.Tensor) -> torch.Tensor:
        """What a perfect model would output at (x_t, t) for the scheduler's prediction_type, given E[x_0 | x_t]:
        ε̂ = (x_t − √ᾱ_t x̂_0) / √(1 − ᾱ_t), x̂_0 itself, or v̂ = √ᾱ_t ε̂ − √(1 − ᾱ_t) x̂_0."""
        kind = self.scheduler.config.prediction_type
        if kind == "sample":
            return pred_original_sample
        eps = self.scheduler.predict_epsilon(pred_original_sample, x_t, t)
        if kind == "epsilon":
            return eps
        return self.scheduler.get_velocity(pred_original_sample, eps, t)

    # ------------------------------------------------------------------ sampling
    def step(
        self,
        x_t: torch.Tensor,
        t,
        prev_t=None,
        generator: torch.Generator | list[torch.Generator] | None = None,
    ) -> ExactPosteriorStepOutput:
        """An exact draw x_{prev_t} ~ q(x_{prev_t} | x_t) = Σ_i w_i N(μ̃(x_t, x_0^i), β̃ I).

        First i ~ Categorical(w) (one draw per sample), then Gaussian noise with the posterior variance β̃; on the
        last step (prev_t < 0) the draw is x_0^i itself. t: one integer in [0, T); prev_t: None (t − 1) or in
        [-1, t − 1]. generator: one, or one per sample, for reproducible draws."""
        x_t = self._check_x_t(x_t)
        B = x_t.shape[0]
        if isinstance(t, torch.Tensor) and t.numel() > 1:
            raise ValueError("t must be a single integer for step()")
        if isinstance(prev_t, torch.Tensor) and prev_t.numel() > 1:
            raise ValueError("prev_t must be a single integer for step()")
        if isinstance(generator, list) and len(generator) != B:
            raise ValueError(
                f"generator must be one torch.Generator or a list of {B} (one per sample), "
                f"got a list of {len(generator)}"
            )
        post = self.posterior(x_t, t, prev_t)
        t_int = int(self.check_t(t, B)[0])
        prev_int = t_int - 1 if prev_t is None else int(prev_t)

        # i ~ Categorical(q(x_0 | x_t)): which training image this step moves towards.
        if isinstance(generator, list):
            chosen = torch.cat([torch.multinomial(post.weights[b], 1, generator=g) for b, g in enumerate(generator)])
        else:
            chosen = torch.multinomial(post.weights, 1, generator=generator).squeeze(1)
        x0_chosen = self._x0[chosen].reshape(x_t.shape)
        if prev_int < 0:
            prev_sample = x0_chosen.to(x_t.dtype)  # ᾱ_prev = 1: the component is a point mass on x_0^i
        else:
            component_mean, variance = self.scheduler.q_posterior(x0_chosen, x_t.to(self.dtype), t_int, prev_int)
            noise = randn_tensor(x_t.shape, generator=generator, device=x_t.device, dtype=x_t.dtype)
            prev_sample = (component_mean + variance.sqrt() * noise.to(self.dtype)).to(x_t.dtype)
        return ExactPosteriorStepOutput(
            prev_sample=prev_sample,
            chosen_index=chosen,
            pred_original_sample=post.pred_original_sample,
            posterior_mean=post.posterior_mean,
            posterior_variance=post.posterior_variance,
            weights=post.weights,
            max_weight=post.max_weight,
            argmax_index=post.argmax_index,
            effective_n=post.effective_n,
        )

    @torch.inference_mode()
    def denoise(
        self,
        batch_size: int = 1,
        num_inference_steps: int | None = 1000,
        generator: torch.Generator | list[torch.Generator] | None = None,
        timesteps: Sequence[int] | None = None,
        progress: bool = False,
    ) -> Iterator[ExactDenoisingStep]:
        """Sample from pure noise with the exact reverse process, yielding every step (see `ExactDenoisingStep`).

        The chain is `scheduler.timestep_plan(num_inference_steps, timesteps)`; the exact posterior is exact for
        any respacing, so even a few steps give training images. x_T is drawn first, in the pipeline's shape and
        dtype (float32), so a generator seeded alike starts both samplers from the same noise."""
        batch_size = check_batch_size(batch_size)
        if timesteps is not None:
            num_inference_steps = None
        plan = self.scheduler.timestep_plan(num_inference_steps=num_inference_steps, timesteps=timesteps).tolist()
        x = randn_tensor((batch_size, *self.image_shape), generator=generator, dtype=torch.float32)
        chain = list(zip(plan, plan[1:] + [-1]))
        if progress:
            from tqdm.auto import tqdm

            chain_iter = tqdm(chain, desc="exact posterior")
        else:
            chain_iter = chain
        for index, (t, prev_t) in enumerate(chain_iter):
            out = self.step(x, t, prev_t, generator=generator)
            model_output = self.ideal_model_output(x, t, out.pred_original_sample)
            x = out.prev_sample
            yield ExactDenoisingStep(
                index=index,
                num_steps=len(chain),
                timestep=t,
                prev_timestep=prev_t,
                sample=x,
                pred_original_sample=out.pred_original_sample,
                posterior_mean=out.posterior_mean,
                posterior_variance=out.posterior_variance,
                model_output=model_output,
                chosen_index=out.chosen_index,
                max_weight=out.max_weight,
                argmax_index=out.argmax_index,
                effective_n=out.effective_n,
            )

    def sample(
        self,
        batch_size: int = 1,
        num_inference_steps: int | None = 1000,
        generator: torch.Generator | list[torch.Generator] | None = None,
        timesteps: Sequence[int] | None = None,
    ) -> torch.Tensor:
        """`batch_size` exact samples (B, C, H, W) in [-1, 1]: each is one of the training images."""
        x = None
        for record in self.denoise(batch_size, num_inference_steps, generator, timesteps):
            x = record.sample
        return x


# ---------------------------------------------------------------------------------------------- comparisons
def l2_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """L2 distance over all pixels (model space), the metric of every distance in these comparisons."""
    return float((a.double() - b.double()).norm())


def nearest_neighbours(
    samples: torch.Tensor, data: torch.Tensor, chunk_size: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """For each sample (B, C, H, W), its nearest image in data (N, C, H, W) by L2 distance over all pixels.

    Returns (indices (B,) int64, distances (B,) float64). The winner's distance is recomputed directly, so an
    exact copy of a data image gives exactly 0."""
    if isinstance(data, torch.Tensor) and data.ndim == 4 and data.shape[0] == 0:
        raise ValueError("data must hold at least one image, got an empty data set")
    data = check_images(data, "data")
    samples = check_images(samples, "samples", tuple(data.shape[1:]))
    d = int(np.prod(data.shape[1:]))
    chunk = _check_chunk_size(chunk_size, d)
    a = samples.detach().reshape(samples.shape[0], d).double()
    best = torch.full((a.shape[0],), math.inf, dtype=torch.float64)
    index = torch.zeros(a.shape[0], dtype=torch.int64)
    for start in range(0, data.shape[0], chunk):
        rows = data[start : start + chunk].detach().reshape(-1, d).double()
        value, arg = _sq_distances(a, rows, (rows * rows).sum(1)).min(dim=1)
        better = value < best
        best = torch.where(better, value, best)
        index = torch.where(better, arg + start, index)
    winners = data.detach().reshape(-1, d)[index].double()
    return index, (a - winners).norm(dim=1)


@dataclass
class Estimate:
    """One estimate of the reverse step at (x_t, t): of x_{t-1} (mean) and of x_0 (pred_original_sample)."""

    name: str
    mean: torch.Tensor
    pred_original_sample: torch.Tensor
    seconds: float


@dataclass
class PosteriorComparison:
    """What the "Why do we need p_θ?" tab shows for one digit x_0 and one t (tensors (1, C, H, W)).

    noise: the ε of x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε (eq. 4). sigma2: σ_t² = β̃_t, the variance of q(x_{t-1} | x_t, x_0)
    (0 at t = 0). training_loss: L_{t-1}(μ) = ‖μ̃_t(x_t, x_0) − μ‖² / 2σ_t² (eq. 8, without its constant C), in nats
    summed over pixels, for μ = each estimate's mean: {"this_x0": {name: L}, "expected": {name: E_{x_0 ~ q(x_0|x_t)}
    L over the data set}}; None at t = 0, where σ_t² = 0 and eq. 8 does not apply. The model's μ is the mean its
    step uses (x̂_0 clipped as the scheduler says). epsilon_mse: ‖ε − ε_θ‖² over pixels, ε_θ the noise the raw
    network output implies (before any clipping); epsilon_loss_weight: β_t² / (2σ_t² α_t (1 − ᾱ_t)) (eq. 12), so
    that weight · epsilon_mse is L_{t-1} of the unclipped μ_θ, equal to training_loss["this_x0"]["model"] when the
    scheduler does not clip x̂_0 or the clip changes nothing (None at t = 0).
    """

    t: int
    prev_t: int
    alpha_bar: float
    x0: torch.Tensor
    x_t: torch.Tensor
    estimates: dict[str, Estimate]
    mean_distances: dict[str, dict[str, float]]
    x0_distances: dict[str, dict[str, float]]
    num_data: int
    num_pixels: int
    num_parameters: int
    max_weight: float
    argmax_index: int
    effective_n: float
    top_indices: list[int]
    top_weights: list[float]
    step_noise_norm: float
    source_index: int | None = None
    noise: torch.Tensor | None = None
    sigma2: float = 0.0
    training_loss: dict[str, dict[str, float]] | None = None
    epsilon_mse: float | None = None
    epsilon_loss_weight: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-safe summary (numbers and strings, no tensors) for the app's API."""
        weight, mse = self.epsilon_loss_weight, self.epsilon_mse
        return {
            "t": self.t,
            "prev_t": self.prev_t,
            "alpha_bar": self.alpha_bar,
            "sigma2": self.sigma2,
            "training_loss": self.training_loss,
            "epsilon_loss": {
                "mse": mse,
                "weight": weight,
                "loss": None if weight is None or mse is None else weight * mse,
            },
            "num_data": self.num_data,
            "num_pixels": self.num_pixels,
            "num_parameters": self.num_parameters,
            "step_noise_norm": self.step_noise_norm,
            "estimates": {name: {"seconds": e.seconds} for name, e in self.estimates.items()},
            "mean_distances": self.mean_distances,
            "x0_distances": self.x0_distances,
            "exact_posterior": {
                "max_weight": self.max_weight,
                "argmax_index": self.argmax_index,
                "effective_n": self.effective_n,
                "top_indices": self.top_indices,
                "top_weights": self.top_weights,
                "source_index": self.source_index,
            },
        }


ESTIMATE_NAMES = ("tractable", "exact", "model")


def _pairwise(tensors: dict[str, torch.Tensor]) -> dict[str, dict[str, float]]:
    """L2 distance over all pixels between every pair of (1, C, H, W) tensors; symmetric, 0 on the diagonal."""
    names = list(tensors)
    out = {a: {} for a in names}
    for i, a in enumerate(names):
        out[a][a] = 0.0
        for b in names[i + 1 :]:
            d = l2_distance(tensors[a], tensors[b])
            out[a][b] = out[b][a] = d
    return out


def _check_same_process(pipe, dataset_posterior: DatasetPosterior) -> None:
    if not isinstance(dataset_posterior, DatasetPosterior):
        raise ValueError(f"dataset_posterior must be a DatasetPosterior, got {type(dataset_posterior).__name__}")
    if tuple(pipe.image_shape) != tuple(dataset_posterior.image_shape):
        raise ValueError(
            f"dataset_posterior's images {dataset_posterior.image_shape} must match the model's "
            f"{tuple(pipe.image_shape)} (channels, height, width)"
        )
    a, b = pipe.scheduler.alphas_cumprod, dataset_posterior.scheduler.alphas_cumprod
    if a.shape != b.shape or not torch.allclose(a, b, rtol=1e-6, atol=0):
        raise ValueError(
            "dataset_posterior's scheduler must have the model's noise schedule (ᾱ_t): build it with "
            "DatasetPosterior(data, pipe.scheduler)"
        )


@torch.inference_mode()
def compare_estimates(
    x0: torch.Tensor,
    t: int,
    pipe,
    dataset_posterior: DatasetPosterior,
    generator: torch.Generator | None = None,
) -> PosteriorComparison:
    """Three answers to "where does x_t go next?" for one digit x_0 and a step t → t − 1.

    Draws x_t ~ q(x_t | x_0) (scheduler.add_noise), then computes
      tractable: μ̃_t(x_t, x_0) — needs x_0, the answer itself;
      exact:     E[x_{t-1} | x_t] over the data set — needs all N images;
      model:     μ_θ(x_t, t) — needs only x_t (one UNet call, then scheduler.step with η = 1);
    each with its x̂_0 and the seconds it took, plus the pairwise L2 distances (over all pixels, model space) and
    the training loss L_{t-1} of each mean (eq. 8) for this x_0 and averaged over q(x_0 | x_t) (see
    `PosteriorComparison`). x0: (C, H, W) or (1, C, H, W) in [-1, 1]; t in [0, T)."""
    _check_same_process(pipe, dataset_posterior)
    scheduler = pipe.scheduler
    T = int(scheduler.config.num_train_timesteps)
    if not is_int(t) or not 0 <= t < T:
        raise ValueError(f"t must be an integer in [0, {T - 1}], got {t!r}")
    t = int(t)
    if isinstance(x0, torch.Tensor) and x0.ndim == 3:
        x0 = x0.unsqueeze(0)
    x0 = check_images(x0, "x0", dataset_posterior.image_shape)
    if x0.shape[0] != 1:
        raise ValueError(f"x0 must be one image, got a batch of {x0.shape[0]}")
    check_model_space(x0, "x0")
    device, dtype = pipe.unet.device, pipe.unet.dtype
    x0 = x0.to(device=device, dtype=dtype)
    prev_t = t - 1

    noise = randn_tensor(x0.shape, generator=generator, device=device, dtype=dtype)
    x_t = scheduler.add_noise(x0, noise, t)  # q(x_t | x_0), eq. 4

    start = time.perf_counter()
    tractable_mean, tractable_var = scheduler.q_posterior(x0, x_t, t, prev_t)  # μ̃_t(x_t, x_0), β̃_t, eq. 7
    tractable_seconds = time.perf_counter() - start

    x_t64 = x_t.detach().cpu().double()
    start = time.perf_counter()
    exact = dataset_posterior.posterior(x_t64, t, prev_t)
    exact_seconds = time.perf_counter() - start

    start = time.perf_counter()
    model_output = pipe.unet(x_t, torch.tensor(t, dtype=torch.int64, device=device)).sample
    out = scheduler.step(model_output, t, x_t, generator=generator, prev_timestep=prev_t, eta=1.0)
    model_seconds = time.perf_counter() - start

    N, D = dataset_posterior.num_images, dataset_posterior.dim
    num_parameters = sum(p.numel() for p in pipe.unet.parameters())
    training_loss, sigma2 = _training_loss(scheduler, dataset_posterior, x0, x_t64, t, exact, out.pred_original_sample)
    channels = x_t.shape[1]
    raw_x0 = scheduler.predict_x0(model_output[:, :channels].detach().cpu().double(), x_t64, t)  # eq. 15, unclipped
    eps_theta = scheduler.predict_epsilon(raw_x0, x_t64, t)
    epsilon_mse = float(((noise.detach().cpu().double() - eps_theta) ** 2).sum())
    epsilon_loss_weight = None
    if sigma2 > 0:
        a_t = float(dataset_posterior.alphas_cumprod[t])
        alpha_t = a_t / float(dataset_posterior.alphas_cumprod[t - 1])
        epsilon_loss_weight = (1 - alpha_t) ** 2 / (2 * sigma2 * alpha_t * (1 - a_t))  # eq. 12
    estimates = {
        "tractable": Estimate(
            name="tractable",
            mean=tractable_mean.cpu().float(),
            pred_original_sample=x0.cpu().float(),
            seconds=tractable_seconds,
        ),
        "exact": Estimate(
            name="exact",
            mean=exact.posterior_mean.float(),
            pred_original_sample=exact.pred_original_sample.float(),
            seconds=exact_seconds,
        ),
        "model": Estimate(
            name="model",
            mean=out.posterior_mean.cpu().float(),
            pred_original_sample=out.pred_original_sample.cpu().float(),
            seconds=model_seconds,
        ),
    }
    x0_cpu = x0.cpu().float()
    index, distance = nearest_neighbours(x0_cpu, dataset_posterior.data)
    source = int(index[0]) if float(distance[0]) < COPY_DISTANCE else None
    k = min(5, N)
    top_w, top_i = exact.weights[0].topk(k)
    return PosteriorComparison(
        t=t,
        prev_t=prev_t,
        alpha_bar=float(dataset_posterior.alphas_cumprod[t]),
        x0=x0_cpu,
        x_t=x_t.cpu().float(),
        estimates=estimates,
        mean_distances=_pairwise({n: e.mean for n, e in estimates.items()}),
        x0_distances=_pairwise({n: e.pred_original_sample for n, e in estimates.items()}),
        num_data=N,
        num_pixels=D,
        num_parameters=num_parameters,
        max_weight=float(exact.max_weight[0]),
        argmax_index=int(exact.argmax_index[0]),
        effective_n=float(exact.effective_n[0]),
        top_indices=[int(i) for i in top_i],
        top_weights=[float(w) for w in top_w],
        step_noise_norm=math.sqrt(float(tractable_var) * D),  # ‖√β̃ ε‖ ≈ √(D β̃)
        source_index=source,
        noise=noise.cpu().float(),
        sigma2=sigma2,
        training_loss=training_loss,
        epsilon_mse=epsilon_mse,
        epsilon_loss_weight=epsilon_loss_weight,
    )


def _training_loss(
    scheduler,
    dataset_posterior: DatasetPosterior,
    x0: torch.Tensor,
    x_t64: torch.Tensor,
    t: int,
    exact: ExactPosteriorOutput,
    model_x0: torch.Tensor,
) -> tuple[dict[str, dict[str, float]] | None, float]:
    """(training_loss, σ_t²) of `PosteriorComparison`, in float64. Every candidate mean is μ̃(x_t, x̂_0) of its x̂_0
    (the model's step at η = 1 included), so E_i‖μ̃(x_t, x_0^i) − μ‖² = ‖μ_exact − μ‖² + coef1²·tr Cov[x_0 | x_t]."""
    tractable, variance = scheduler.q_posterior(x0.detach().cpu().double(), x_t64, t, t - 1)  # eq. 7
    sigma2 = float(variance)
    if sigma2 <= 0:
        return None, 0.0
    means = {
        "model": scheduler.q_posterior(model_x0.detach().cpu().double(), x_t64, t, t - 1)[0],  # μ_θ, eq. 7 at x̂_0
        "exact": exact.posterior_mean.double(),
        "tractable": tractable,
    }
    t_vec = torch.tensor([t])
    coef1 = float(dataset_posterior._coef1(t_vec, t_vec - 1)[0])
    spread = coef1**2 * float(dataset_posterior._x0_variance(exact.weights, exact.pred_original_sample)[0])
    this_x0 = {name: float(((tractable - mu) ** 2).sum()) / (2 * sigma2) for name, mu in means.items()}  # eq. 8
    expected = {name: (float(((means["exact"] - mu) ** 2).sum()) + spread) / (2 * sigma2) for name, mu in means.items()}
    return {"this_x0": this_x0, "expected": expected}, sigma2


@dataclass
class SamplerComparison:
    """The exact sampler and the model from the same seed, each sample with its nearest training image.

    Samples are (B, C, H, W); nearest indices and distances (B,). K = the number of steps, timesteps their t.
    exact_effective_n, exact_max_weight: (B, K) float64, 1 / Σ_i w_i² and max_i w_i of q(x_0 | x_t) at the input
    x_t of each exact step. exact_commit_step: per sample, the index (0 … K − 1) of the first step whose largest
    weight is >= COMMIT_WEIGHT, or None. heldout_nearest_distances: (M,) float64, each held-out real image's
    distance to its nearest training image (the yardstick of a new image), or None when none were given.
    exact_trajectories, model_trajectories: (K + 1, num_trajectories, C, H, W), x_T then every step's sample of the
    first num_trajectories samples, or None when none were asked for.
    """

    seed: int
    num_inference_steps: int
    exact_samples: torch.Tensor
    exact_nearest_indices: torch.Tensor
    exact_nearest_distances: torch.Tensor
    exact_seconds: float
    model_samples: torch.Tensor
    model_nearest_indices: torch.Tensor
    model_nearest_distances: torch.Tensor
    model_seconds: float
    timesteps: list[int] | None = None
    exact_effective_n: torch.Tensor | None = None
    exact_max_weight: torch.Tensor | None = None
    exact_commit_step: list[int | None] | None = None
    heldout_nearest_distances: torch.Tensor | None = None
    exact_trajectories: torch.Tensor | None = None
    model_trajectories: torch.Tensor | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-safe summary for the app's API. "heldout_nearest_distance_median" (and "num_heldout") only when
        held-out images were given."""
        summary = {
            "seed": self.seed,
            "num_inference_steps": self.num_inference_steps,
            "exact": {
                "nearest_indices": self.exact_nearest_indices.tolist(),
                "nearest_distances": self.exact_nearest_distances.tolist(),
                "copies": int((self.exact_nearest_distances < COPY_DISTANCE).sum()),
                "seconds": self.exact_seconds,
                "timesteps": None if self.timesteps is None else list(self.timesteps),
                "effective_n": None if self.exact_effective_n is None else self.exact_effective_n.tolist(),
                "max_weight": None if self.exact_max_weight is None else self.exact_max_weight.tolist(),
                "commit_step": None if self.exact_commit_step is None else list(self.exact_commit_step),
            },
            "model": {
                "nearest_indices": self.model_nearest_indices.tolist(),
                "nearest_distances": self.model_nearest_distances.tolist(),
                "copies": int((self.model_nearest_distances < COPY_DISTANCE).sum()),
                "seconds": self.model_seconds,
            },
            "copy_distance": COPY_DISTANCE,
            "commit_weight": COMMIT_WEIGHT,
        }
        if self.heldout_nearest_distances is not None:
            summary["heldout_nearest_distance_median"] = float(np.median(self.heldout_nearest_distances.numpy()))
            summary["num_heldout"] = int(self.heldout_nearest_distances.numel())
        return summary


def heldout_nearest_distances(heldout: torch.Tensor, data: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
    """The L2 distance (over all pixels, model space) from each held-out real image to its nearest image in data.

    heldout: (M, C, H, W) in [-1, 1], images of the same distribution the model never saw; data: (N, C, H, W), the
    training set. Returns (M,) float64: how far a genuinely new image is from the training set, the yardstick for
    the nearest distances of generated samples."""
    if isinstance(heldout, torch.Tensor) and heldout.ndim == 4 and heldout.shape[0] == 0:
        raise ValueError("heldout must hold at least one image, got an empty tensor")
    heldout = check_images(heldout, "heldout")
    check_model_space(heldout, "heldout")
    if isinstance(data, torch.Tensor) and data.ndim == 4 and tuple(heldout.shape[1:]) != tuple(data.shape[1:]):
        raise ValueError(
            f"heldout must have the data's image shape {tuple(data.shape[1:])} (channels, height, "
            f"width), got {tuple(heldout.shape)}"
        )
    return nearest_neighbours(heldout, data, chunk_size)[1]


def _commit_steps(max_weight: torch.Tensor) -> list[int | None]:
    """Per row of max_weight (B, K), the first column >= COMMIT_WEIGHT, or None."""
    steps = []
    for row in max_weight:
        hits = torch.nonzero(row >= COMMIT_WEIGHT).squeeze(1)
        steps.append(int(hits[0]) if len(hits) else None)
    return steps


def compare_samplers(
    pipe,
    dataset_posterior: DatasetPosterior,
    seed: int = 0,
    num_images: int = 4,
    num_inference_steps: int = 50,
    heldout: torch.Tensor | None = None,
    num_trajectories: int = 0,
) -> SamplerComparison:
    """Sample `num_images` with the exact q(x_{t-1} | x_t) and with p_θ (η = 1) from the same seed and step count.

    Both start from the same x_T (a generator per sampler, seeded alike). Samples are (B, C, H, W) in [-1, 1];
    nearest training images by L2 over all pixels (`nearest_neighbours` against dataset_posterior.data). Each
    exact step's effective_n and max_weight of q(x_0 | x_t) are kept, and where each exact sample committed.
    heldout: optional (M, C, H, W) real images in [-1, 1] outside the data set, whose nearest distances
    (`heldout_nearest_distances`) say how far from the training set a new image lies. num_trajectories: keep every
    step of the first that many samples of each sampler (x_T included)."""
    _check_same_process(pipe, dataset_posterior)
    seed = check_seed(seed)
    num_images = check_batch_size(num_images)
    num_trajectories = check_int("num_trajectories", num_trajectories, 0, num_images, meaning=" (at most num_images)")
    if not is_int(num_inference_steps) or not 1 <= num_inference_steps <= dataset_posterior.num_train_timesteps:
        raise ValueError(
            f"num_inference_steps must be an integer in [1, {dataset_posterior.num_train_timesteps}], "
            f"got {num_inference_steps!r}"
        )
    heldout_d = None if heldout is None else heldout_nearest_distances(heldout, dataset_posterior.data)
    start = time.perf_counter()
    exact, timesteps, effective_n, max_weight, exact_path = None, [], [], [], []
    for record in dataset_posterior.denoise(num_images, num_inference_steps, torch.Generator().manual_seed(seed)):
        exact = record.sample
        exact_path.append(exact[:num_trajectories].float())
        timesteps.append(int(record.timestep))
        effective_n.append(record.effective_n.double())
        max_weight.append(record.max_weight.double())
    exact_seconds = time.perf_counter() - start
    effective_n, max_weight = torch.stack(effective_n, dim=1), torch.stack(max_weight, dim=1)
    start = time.perf_counter()
    model, model_path = None, []
    for record in pipe.denoise(
        num_images, torch.Generator().manual_seed(seed), num_inference_steps, eta=1.0, progress=False
    ):
        model = record.sample
        model_path.append(model[:num_trajectories].cpu().float())
    model = model.cpu().float()
    model_seconds = time.perf_counter() - start
    exact_i, exact_d = nearest_neighbours(exact, dataset_posterior.data)
    model_i, model_d = nearest_neighbours(model, dataset_posterior.data)
    return SamplerComparison(
        seed=seed,
        num_inference_steps=int(num_inference_steps),
        exact_samples=exact.float(),
        exact_nearest_indices=exact_i,
        exact_nearest_distances=exact_d,
        exact_seconds=exact_seconds,
        model_samples=model,
        model_nearest_indices=model_i,
        model_nearest_distances=model_d,
        model_seconds=model_seconds,
        timesteps=timesteps,
        exact_effective_n=effective_n,
        exact_max_weight=max_weight,
        exact_commit_step=_commit_steps(max_weight),
        heldout_nearest_distances=heldout_d,
        exact_trajectories=_with_start(
            exact_path, num_trajectories, (num_images, *dataset_posterior.image_shape), seed
        ),
        model_trajectories=_with_start(
            model_path, num_trajectories, (num_images, *dataset_posterior.image_shape), seed
        ),
    )


def _with_start(path: list[torch.Tensor], count: int, shape: tuple, seed: int) -> torch.Tensor | None:
    """x_T (the first draw of a generator seeded alike, as both samplers start; drawn whole, then cut, since torch
    draws small and large tensors differently) stacked before the recorded steps."""
    if count == 0:
        return None
    start = randn_tensor(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float32)[:count]
    return torch.stack([start, *path])


# ---------------------------------------------------------------------------------------------- cost vs N
DEFAULT_SIZES = (100, 250, 500, 1000, 2000, 4500)


def measure_step_cost(
    data: torch.Tensor | None = None,
    sizes: Sequence[int] = DEFAULT_SIZES,
    repeats: int = 7,
    batch_size: int = 1,
    t: int = 500,
    dtype: torch.dtype = torch.float64,
    scheduler: PosteriorDDPMScheduler | None = None,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Seconds per exact reverse step (`DatasetPosterior.step`) for the first n images of data, for each n.

    One warm-up step, then `repeats` timed steps; returns one row per n with the median, min and max wall-clock
    milliseconds, the median CPU milliseconds of this thread (what the step costs when the machine is shared;
    with torch threads > 1 it undercounts) and the bytes the data set occupies. data: (N, C, H, W) in [-1, 1]
    (None → mnist train)."""
    if data is None:
        from .data import load_mnist

        data = load_mnist("train")[0]
    data = check_images(data, "data")
    if not is_int(repeats) or repeats < 1:
        raise ValueError(f"repeats must be an integer >= 1, got {repeats!r}")
    if isinstance(sizes, (str, bytes)) or not sizes or not all(is_int(n) and 1 <= n <= len(data) for n in sizes):
        raise ValueError(f"sizes must be integers in [1, {len(data)}] (the data set's size), got {sizes!r}")
    batch_size = check_batch_size(batch_size)
    generator = torch.Generator().manual_seed(check_seed(seed))
    rows = []
    for n in sizes:
        posterior = DatasetPosterior(data[:n], scheduler, dtype=dtype)
        x_t = torch.randn((batch_size, *posterior.image_shape), generator=generator)
        t_step = int(posterior.check_t(t, 1)[0])
        posterior.step(x_t, t_step, t_step - 1, generator)  # warm-up: first-call allocations
        times, cpu_times = [], []
        for _ in range(repeats):
            start, cpu_start = time.perf_counter(), time.thread_time()
            posterior.step(x_t, t_step, t_step - 1, generator)
            times.append(time.perf_counter() - start)
            cpu_times.append(time.thread_time() - cpu_start)
        rows.append(
            {
                "n": int(n),
                "median_ms": statistics.median(times) * 1e3,
                "min_ms": min(times) * 1e3,
                "max_ms": max(times) * 1e3,
                "median_cpu_ms": statistics.median(cpu_times) * 1e3,
                "repeats": int(repeats),
                "batch_size": batch_size,
                "dtype": str(dtype).replace("torch.", ""),
                "data_bytes": posterior.data_bytes,
            }
        )
    return rows


def measure_model_step_cost(pipe, repeats: int = 3, batch_size: int = 1, t: int | None = None) -> dict[str, Any]:
    """Milliseconds of one p_θ reverse step of `pipe` (one UNet call + `scheduler.step`), the model's side of the
    cost comparison: one warm-up, then the median, min and max of `repeats` timed steps at batch `batch_size`,
    t = T // 2 unless given. Its cost does not depend on the size of the data set the model was trained on."""
    repeats = check_int("repeats", repeats, 1)
    batch_size = check_batch_size(batch_size)
    T = int(pipe.scheduler.config.num_train_timesteps)
    t = T // 2 if t is None else check_int("t", t, 1, T - 1)
    device, dtype = pipe.unet.device, pipe.unet.dtype
    generator = torch.Generator().manual_seed(0)
    x = torch.randn((batch_size, *pipe.image_shape), generator=generator).to(device, dtype)
    timestep = torch.tensor(t, dtype=torch.int64, device=device)
    times = []
    with torch.inference_mode():
        for i in range(repeats + 1):
            start = time.perf_counter()
            out = pipe.unet(x, timestep).sample
            pipe.scheduler.step(out, t, x, prev_timestep=t - 1)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i:  # the first call is a warm-up
                times.append(time.perf_counter() - start)
    return {
        "median_ms": statistics.median(times) * 1e3,
        "min_ms": min(times) * 1e3,
        "max_ms": max(times) * 1e3,
        "repeats": repeats,
        "batch_size": batch_size,
        "t": t,
    }


# ---------------------------------------------------------------------------------------------- one cost protocol
# Data sets an exact step would have to read at every step of every sample: (name, N images, D values per image).
EXTRAPOLATION_SETS = (
    ("CIFAR-10", 50_000, 32 * 32 * 3),
    ("ImageNet 64×64", 1_281_167, 64 * 64 * 3),
    ("LAION-400M at 64×64×3", 400_000_000, 64 * 64 * 3),
)
# The extrapolated data sets are counted as stored in float32.
STORAGE_BYTES_PER_VALUE = 4


@dataclass
class StepCosts:
    """The cost of one reverse step, exact over N images and the model's, measured under one protocol.

    rows: one per requested size, {"N", "D", "ms", "min_ms", "max_ms", "repeats", "data_bytes"} — the median, min
    and max wall-clock milliseconds of one `DatasetPosterior.step` over the first N images, and the bytes those
    images occupy in the computation dtype. ms_per_element: c of ms ≈ c·N·D, fitted by least squares through the
    origin on the rows of fit_sizes (the larger half of the sizes). model_ms, model_min_ms, model_max_ms,
    model_repeats: one UNet call + `scheduler.step` on the same batch. extrapolated: {"name", "N", "D", "ms",
    "bytes"} per target data set, ms = c·N·D (this batch size, the exact step's dtype, the data in memory),
    bytes = N·D·STORAGE_BYTES_PER_VALUE (float32 storage). batch_size, t, dtype (of the exact step), torch_threads
    (the same for both sides), model_device: the setting.
    """

    rows: list[dict[str, Any]]
    ms_per_element: float
    fit_sizes: list[int]
    model_ms: float
    model_min_ms: float
    model_max_ms: float
    model_repeats: int
    extrapolated: list[dict[str, Any]]
    batch_size: int
    t: int
    dtype: str
    torch_threads: int
    model_device: str

    def as_dict(self) -> dict[str, Any]:
        """A JSON-safe summary (numbers and strings)."""
        return {
            "rows": [dict(r) for r in self.rows],
            "ms_per_element": self.ms_per_element,
            "fit_sizes": list(self.fit_sizes),
            "model_ms": self.model_ms,
            "model_min_ms": self.model_min_ms,
            "model_max_ms": self.model_max_ms,
            "model_repeats": self.model_repeats,
            "extrapolated": [dict(r) for r in self.extrapolated],
            "storage_bytes_per_value": STORAGE_BYTES_PER_VALUE,
            "batch_size": self.batch_size,
            "t": self.t,
            "dtype": self.dtype,
            "torch_threads": self.torch_threads,
            "model_device": self.model_device,
        }


def _timed_ms(step, repeats: int, min_seconds: float) -> list[float]:
    """Milliseconds of each timed call of step(): one warm-up call, then at least `repeats` calls and at least
    `min_seconds` in all (at most 100·repeats calls), so a fast step gets more repeats than a slow one."""
    step()
    times = []
    began = time.perf_counter()
    while len(times) < repeats or (time.perf_counter() - began < min_seconds and len(times) < 100 * repeats):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1e3)
    return times


def _check_targets(targets) -> list[tuple[str, int, int]]:
    message = f"targets must be (name, N, D) triples with N, D integers >= 1, got {short_repr(targets)}"
    if isinstance(targets, (str, bytes)) or not isinstance(targets, Sequence):
        raise ValueError(message)
    out = []
    for entry in targets:
        if (
            not isinstance(entry, Sequence)
            or isinstance(entry, (str, bytes))
            or len(entry) != 3
            or not isinstance(entry[0], str)
            or not all(is_int(v) and v >= 1 for v in entry[1:])
        ):
            raise ValueError(message)
        out.append((entry[0], int(entry[1]), int(entry[2])))
    return out


def measure_step_costs(
    pipe,
    data: torch.Tensor | None = None,
    sizes: Sequence[int] = DEFAULT_SIZES,
    repeats: int = 7,
    batch_size: int = 1,
    t: int = 500,
    dtype: torch.dtype = torch.float64,
    seed: int = 0,
    min_seconds: float = 0.2,
    targets: Sequence[tuple[str, int, int]] = EXTRAPOLATION_SETS,
) -> StepCosts:
    """Time one exact reverse step over the first n images of data (each n in sizes) and one model step, alike.

    Both sides step the same batch x_t (batch_size images drawn from seed) at t → t − 1, with this process's torch
    threads, one warm-up per point, then at least `repeats` timed steps and at least `min_seconds` per point (more
    repeats where the step is fast); each point is the median. The exact step is `DatasetPosterior.step` in `dtype`
    on the CPU; the model's is one UNet call + `pipe.scheduler.step` on the UNet's device (when data's images are
    not the model's shape, the model steps a batch of its own shape, same size). The fit c of ms ≈ c·N·D is least
    squares through the origin on the larger half of the sizes, where the fixed cost of a step no longer dominates;
    it extrapolates to `targets` ((name, N, D) triples; default EXTRAPOLATION_SETS) as ms = c·N·D, bytes =
    N·D·4 (float32 storage). data: (N, C, H, W) in [-1, 1] (None → mnist train); sizes: integers in [1, N]."""
    if data is None:
        from .data import load_mnist

        data = load_mnist("train")[0]
    data = check_images(data, "data")
    if (
        isinstance(sizes, (str, bytes))
        or not isinstance(sizes, Sequence)
        or not sizes
        or not all(is_int(n) and 1 <= n <= len(data) for n in sizes)
    ):
        raise ValueError(f"sizes must be integers in [1, {len(data)}] (the data set's size), got {short_repr(sizes)}")
    repeats = check_int("repeats", repeats, 1)
    batch_size = check_batch_size(batch_size)
    T = int(pipe.scheduler.config.num_train_timesteps)
    t = check_int("t", t, 1, T - 1)
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
    generator = torch.Generator().manual_seed(check_seed(seed))
    min_seconds = check_float("min_seconds", min_seconds, 0.0, 600.0)
    targets = _check_targets(targets)

    image_shape = tuple(int(s) for s in data.shape[1:])
    D = int(np.prod(image_shape))
    x_t = torch.randn((batch_size, *image_shape), generator=generator)
    rows = []
    for n in sizes:
        posterior = DatasetPosterior(data[:n], pipe.scheduler, dtype=dtype)
        times = _timed_ms(lambda: posterior.step(x_t, t, t - 1, generator), repeats, min_seconds)
        rows.append(
            {
                "N": int(n),
                "D": D,
                "ms": statistics.median(times),
                "min_ms": min(times),
                "max_ms": max(times),
                "repeats": len(times),
                "data_bytes": posterior.data_bytes,
            }
        )

    device, model_dtype = pipe.unet.device, pipe.unet.dtype
    if tuple(pipe.image_shape) == image_shape:
        x_model = x_t.to(device, model_dtype)
    else:
        x_model = torch.randn((batch_size, *pipe.image_shape), generator=generator).to(device, model_dtype)
    timestep = torch.tensor(t, dtype=torch.int64, device=device)

    def model_step():
        with torch.inference_mode():
            out = pipe.unet(x_model, timestep).sample
            pipe.scheduler.step(out, t, x_model, prev_timestep=t - 1)
            if device.type == "cuda":
                torch.cuda.synchronize()

    model_times = _timed_ms(model_step, repeats, min_seconds)

    distinct = sorted(set(int(n) for n in sizes))
    fit_sizes = distinct[len(distinct) // 2 :]
    fit = [r for r in rows if r["N"] in fit_sizes]
    # least squares through the origin: c = Σ ms·x / Σ x², x = N·D
    c = sum(r["ms"] * r["N"] * D for r in fit) / sum((r["N"] * D) ** 2 for r in fit)
    extrapolated = [
        {"name": name, "N": n, "D": d, "ms": c * n * d, "bytes": n * d * STORAGE_BYTES_PER_VALUE}
        for name, n, d in targets
    ]
    return StepCosts(
        rows=rows,
        ms_per_element=c,
        fit_sizes=fit_sizes,
        model_ms=statistics.median(model_times),
        model_min_ms=min(model_times),
        model_max_ms=max(model_times),
        model_repeats=len(model_times),
        extrapolated=extrapolated,
        batch_size=batch_size,
        t=t,
        dtype=str(dtype).replace("torch.", ""),
        torch_threads=torch.get_num_threads(),
        model_device=str(device),
    )
