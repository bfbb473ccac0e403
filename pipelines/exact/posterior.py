"""DatasetPosterior: the true reverse step q(x_{t-1} | x_t) when the data distribution is a finite data set.

If the data are N images x_0^1 … x_0^N (uniform prior), Bayes' rule gives the reverse step in closed form:

    q(x_0^i | x_t)     ∝ q(x_t | x_0^i) = N(x_t; √ᾱ_t x_0^i, (1 − ᾱ_t) I)                     (eq. 4)
    q(x_{t-1} | x_t)   = Σ_i q(x_0^i | x_t) · q(x_{t-1} | x_t, x_0^i)                          (eq. 6–7)

a mixture of N Gaussians with a shared variance β̃_t. Its mean is μ̃_t(x_t, E[x_0 | x_t]) because μ̃_t is linear
in x_0, and E[x_0 | x_t] is the ideal denoiser. This answers "why learn p_θ(x_{t-1} | x_t)?": the exact step
needs the whole data set at every step (O(N·D)), and sampling it can only give back training images.

The forward process (ᾱ_t) and the posterior coefficients of eq. 7 are the scheduler's: this module asks
`PosteriorDDPMScheduler` for them. What is built on it lives beside it: comparisons.py (tractable vs exact vs
model, exact vs model samplers), costs.py (what one exact step costs against the model's), neighbours.py (nearest
training images and the copy rule), variance.py (the exact step's variance along a chain). Sampling walks the
pipeline's loop (`pipelines.ddpm.pipeline.run_chain`) with the exact step in place of the UNet's, through
sampling.py (the loop from noise that the local posterior shares).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor

from pipelines.checks import check_images, is_int
from pipelines.ddpm.pipeline import DenoisingStep
from pipelines.ddpm.scheduler import PosteriorDDPMScheduler
from pipelines.exact.neighbours import CHUNK_ELEMENTS, chunk_rows, nearest_neighbours, sq_distances
from pipelines.exact.sampling import _check_generators, denoise_from_noise, last_sample


@dataclass
class _Chain:
    """The steps t → prev_t of a batch, (B,) each, with the scheduler's coefficients of eq. 7 (float64 (B,)):
    μ̃ = coef1·x_0 + coef2·x_t, variance β̃ (0 when prev_t < 0). shared: one (t, prev_t) for the whole batch."""

    t: torch.Tensor
    prev: torch.Tensor
    coef1: torch.Tensor
    coef2: torch.Tensor
    variance: torch.Tensor
    shared: bool


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


# The fields an exact step adds to a DenoisingStep, copied from ExactPosteriorStepOutput.
EXACT_STEP_EXTRAS = ("chosen_index", "max_weight", "argmax_index", "effective_n")


# ---------------------------------------------------------------------------------------------- the posterior
class DatasetPosterior:
    """The exact reverse process of DDPM when the data distribution is uniform over N images.

    data: (N, C, H, W) in [-1, 1]; None → the 4,500 mnist train digits (`pipelines.data.sources.load_mnist("train")`).
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
            from pipelines.data.sources import load_mnist

            data = load_mnist("train")[0]
        data = check_images(data, "data", model_space=True)
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
        self.chunk_size = chunk_rows(chunk_size, self.dim)
        # The data as rows x_0^i (N, D) and their squared norms ‖x_0^i‖², computed once: with them a step is a
        # matmul (‖x_t − √ᾱ x_0^i‖² = ‖x_t‖² − 2√ᾱ x_t·x_0^i + ᾱ‖x_0^i‖²), not N image differences.
        self._x0 = data.detach().reshape(self.num_images, self.dim).to(dtype).contiguous()
        self._x0_sq = (self._x0 * self._x0).sum(1)
        # ᾱ_t in float64, the scheduler's own: its forward process scales x_0 by √ᾱ_t (eq. 4). (Its public
        # alphas_cumprod table is float32, too coarse for the weights at small t, where 1 − ᾱ_t ≈ 10⁻⁴.)
        steps = torch.arange(self.num_train_timesteps)
        one = torch.ones(len(steps), dtype=torch.float64)
        self._alphas_cumprod = scheduler.add_noise(one, torch.zeros_like(one), steps) ** 2

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

    # ------------------------------------------------------------------ the steps
    def _integers(self, value, batch: int, name: str) -> torch.Tensor:
        """value as (B,) int64: one integer for the whole batch or one per sample. Only the type and shape are
        checked here; the range is the scheduler's check (`_chain`)."""
        T = self.num_train_timesteps
        if isinstance(value, torch.Tensor) and value.numel() > 1:
            if value.is_floating_point() or value.ndim != 1 or value.numel() != batch:
                raise ValueError(
                    f"{name} must be an integer or {batch} integers (one per sample) in [0, {T - 1}], "
                    f"got a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
                )
            return value.detach().cpu().to(torch.int64)
        if isinstance(value, torch.Tensor) and not value.is_floating_point() and value.numel() == 1:
            value = int(value.item())
        if not is_int(value):
            raise ValueError(f"{name} must be an integer in [0, {T - 1}], got {value!r}")
        return torch.full((batch,), int(value), dtype=torch.int64)

    def _chain(self, t, prev_t, batch: int) -> _Chain:
        """The steps t → prev_t (None: t − 1) of a batch with the scheduler's posterior coefficients (eq. 7),
        which also checks that t is in [0, T) and prev_t in [-1, t − 1]."""
        t = self._integers(t, batch, "t")
        prev = t - 1 if prev_t is None else self._integers(prev_t, batch, "prev_t")
        pairs = {}
        for a, b in zip(t.tolist(), prev.tolist()):
            if (a, b) not in pairs:
                pairs[a, b] = self.scheduler.posterior_coefficients(a, b)
        coef = torch.tensor([pairs[a, b] for a, b in zip(t.tolist(), prev.tolist())], dtype=torch.float64)
        return _Chain(t, prev, coef[:, 0], coef[:, 1], coef[:, 2], shared=len(pairs) == 1)

    def _check_x_t(self, x_t) -> torch.Tensor:
        return check_images(x_t, "x_t", self.image_shape)

    # ------------------------------------------------------------------ q(x_0 | x_t)
    def _logits(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """log q(x_t | x_0^i) up to a per-row constant, (B, N), in the computation dtype: −‖x_t − √ᾱ x_0^i‖² /
        2(1 − ᾱ) (eq. 4), with ‖x_t − √ᾱ x_0^i‖² = ᾱ‖x_t/√ᾱ − x_0^i‖² by the one expansion of neighbours.py."""
        a = self._alphas_cumprod[t].to(self.dtype).unsqueeze(1)  # (B, 1)
        scaled, factor = x / a.sqrt(), -a / (2.0 * (1.0 - a))
        chunks = []
        for start in range(0, self.num_images, self.chunk_size):
            stop = start + self.chunk_size
            chunks.append(factor * sq_distances(scaled, self._x0[start:stop], self._x0_sq[start:stop]))
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

    def _weights(self, x_t: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x_t as rows (B, D) in the computation dtype, the weights q(x_0^i | x_t) (B, N))."""
        x = x_t.detach().reshape(x_t.shape[0], -1).to(self.dtype)
        return x, torch.softmax(self._logits(x, t), dim=1)  # stable: subtracts the row max (log-sum-exp)

    def x0_log_posterior(self, x_t: torch.Tensor, t) -> torch.Tensor:
        """log q(x_0^i | x_t), (B, N), normalised by log-sum-exp (uniform prior over the data set).

        x_t: (B, C, H, W), the data set's image shape. t: an integer in [0, T) or (B,) integers."""
        x_t = self._check_x_t(x_t)
        chain = self._chain(t, None, x_t.shape[0])
        logits = self._logits(x_t.reshape(x_t.shape[0], -1).to(self.dtype), chain.t)
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
        return self._posterior(x_t, self._chain(t, prev_t, x_t.shape[0]))

    def _posterior(self, x_t: torch.Tensor, chain: _Chain) -> ExactPosteriorOutput:
        x, weights = self._weights(x_t, chain.t)
        x0_mean = self._weighted_x0(weights)
        mean = chain.coef1[:, None] * x0_mean + chain.coef2[:, None] * x  # μ̃(x_t, E[x_0 | x_t]), eq. 7
        variance = chain.variance[0] if chain.shared else chain.variance.reshape(-1, *([1] * (x_t.ndim - 1)))
        max_weight, argmax = weights.max(dim=1)
        return ExactPosteriorOutput(
            weights=weights,
            pred_original_sample=x0_mean.reshape(x_t.shape).to(x_t.dtype),
            posterior_mean=mean.reshape(x_t.shape).to(x_t.dtype),
            posterior_variance=variance.to(x_t.dtype),
            max_weight=max_weight,
            argmax_index=argmax,
            effective_n=1.0 / (weights * weights).sum(1),
        )

    def predict_x0(self, x_t: torch.Tensor, t) -> torch.Tensor:
        """E[x_0 | x_t] = Σ_i q(x_0^i | x_t) x_0^i, the ideal (minimum mean-squared error) denoiser, (B, C, H, W)."""
        return self.posterior(x_t, t).pred_original_sample

    def mean(self, x_t: torch.Tensor, t, prev_t=None) -> torch.Tensor:
        """E[x_{prev_t} | x_t] = Σ_i w_i μ̃(x_t, x_0^i) = μ̃(x_t, E[x_0 | x_t]) (μ̃ is linear in x_0), (B, C, H, W)."""
        return self.posterior(x_t, t, prev_t).posterior_mean

    def _spread(self, weights: torch.Tensor, x0_mean: torch.Tensor) -> torch.Tensor:
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
        _, weights = self._weights(x_t, self._chain(t, None, x_t.shape[0]).t)
        return self._spread(weights, self._weighted_x0(weights))

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
        chain = self._chain(t, prev_t, B)
        x, weights = self._weights(x_t, chain.t)
        x0_mean = self._weighted_x0(weights)
        exact_mean = chain.coef1[:, None] * x0_mean.double() + chain.coef2[:, None] * x.double()  # eq. 7
        gap = ((exact_mean - mean.detach().reshape(B, -1).double()) ** 2).sum(1)
        return gap + chain.coef1**2 * self._spread(weights, x0_mean)

    def nearest_neighbours(self, queries: torch.Tensor, k: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """(distances, indices), each (B, k), of the k nearest training images of queries (B, C, H, W) by L2 over
        all values (`neighbours.nearest_neighbours`; an `IndexedPosterior` searches its index instead)."""
        return nearest_neighbours(queries, self.data, k)

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
        _check_generators(generator, B)
        return self._draw(x_t, self._chain(t, prev_t, B), generator)

    def _draw(self, x_t: torch.Tensor, chain: _Chain, generator) -> ExactPosteriorStepOutput:
        """`step` for a checked x_t, chain and generator (the sampling loop checks them once)."""
        B = x_t.shape[0]
        post = self._posterior(x_t, chain)

        # i ~ Categorical(q(x_0 | x_t)): which training image this step moves towards.
        if isinstance(generator, list):
            chosen = torch.cat([torch.multinomial(post.weights[b], 1, generator=g) for b, g in enumerate(generator)])
        else:
            chosen = torch.multinomial(post.weights, 1, generator=generator).squeeze(1)
        x0_chosen = self._x0[chosen]
        if int(chain.prev[0]) < 0:
            prev_sample = x0_chosen.reshape(x_t.shape).to(x_t.dtype)  # ᾱ_prev = 1: a point mass on x_0^i
        else:
            x = x_t.detach().reshape(B, -1).to(self.dtype)
            component_mean = float(chain.coef1[0]) * x0_chosen + float(chain.coef2[0]) * x  # μ̃(x_t, x_0^i), eq. 7
            noise = randn_tensor(x_t.shape, generator=generator, device=x_t.device, dtype=x_t.dtype)
            component_mean = component_mean.reshape(x_t.shape)
            prev_sample = (component_mean + float(chain.variance[0]) ** 0.5 * noise.to(self.dtype)).to(x_t.dtype)
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
        generator: torch.Generator | list[torch.Generator] | None = None,
        num_inference_steps: int | None = 1000,
        timesteps: Sequence[int] | None = None,
        progress: bool = False,
    ) -> Iterator[ExactDenoisingStep]:
        """Sample from pure noise with the exact reverse process, yielding every step (see `ExactDenoisingStep`).

        The arguments are `PosteriorDDPMPipeline.denoise`'s, in its order (the exact step has no η or variance to
        choose), so one loop over the steps serves both samplers.

        The chain is `scheduler.timestep_plan(num_inference_steps, timesteps)`; the exact posterior is exact for
        any respacing, so even a few steps give training images. x_T is drawn first, in the pipeline's shape and
        dtype (float32), so a generator seeded alike starts both samplers from the same noise."""
        yield from denoise_from_noise(
            self,
            self._chain,
            batch_size,
            generator,
            num_inference_steps,
            timesteps,
            progress,
            "exact posterior",
            ExactDenoisingStep,
            EXACT_STEP_EXTRAS,
        )

    def sample(
        self,
        batch_size: int = 1,
        generator: torch.Generator | list[torch.Generator] | None = None,
        num_inference_steps: int | None = 1000,
        timesteps: Sequence[int] | None = None,
    ) -> torch.Tensor:
        """`batch_size` exact samples (B, C, H, W) in [-1, 1]: each is one of the training images. Arguments as
        `denoise`."""
        return last_sample(self.denoise(batch_size, generator, num_inference_steps, timesteps))
