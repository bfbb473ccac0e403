"""The exact q(x_0 | x_t) over N training images, restricted to the k nearest, with a bound on what the rest hold.

With the data N images x_0^i (uniform prior), q(x_0^i | x_t) ∝ q(x_t | x_0^i) = N(x_t; √ᾱ_t x_0^i, (1 − ᾱ_t) I)
(eq. 4), and ‖x_t − √ᾱ_t x_0^i‖² = ᾱ_t ‖x_t/√ᾱ_t − x_0^i‖², so the log-weight of image i is

    ℓ_i = −ᾱ_t d_i² / 2(1 − ᾱ_t),   d_i = ‖x_t/√ᾱ_t − x_0^i‖:

the heaviest images are the nearest ones to x_t/√ᾱ_t. A `NeighbourIndex` finds the k nearest; every other image
lies at d ≥ d_k (the k-th distance), so the other N − k together hold at most

    ε = R / (Z_k + R),   R = (N − k) e^{ℓ_k},   Z_k = Σ_{i ≤ k} e^{ℓ_i}

of the posterior's weight (the true rest is at most R, and r / (Z_k + r) grows with r). The weights returned are
the exact posterior's, renormalised over the k; each differs from the full posterior's by at most ε, and so does
the weight of any set of them. ε is exact only when the k found are the true k nearest: an exact (flat) index,
or a compressed one whose measured recall is 1. The cost is one index search instead of a pass over N·D values;
the result is still a mixture of training images.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import torch

from pipelines.checks import check_int, is_int
from pipelines.ddpm.scheduler import PosteriorDDPMScheduler
from pipelines.exact.index import DEFAULT_RECALL_SAMPLE, NeighbourIndex
from pipelines.exact.neighbours import chunk_rows
from pipelines.exact.posterior import DatasetPosterior

DEFAULT_K = 64


@dataclass
class NearestPosterior:
    """q(x_0 | x_t) on the k nearest training images of x_t/√ᾱ_t, for a batch of B.

    indices (B, k) int64 into the data, nearest first; weights (B, k) float64, each row summing to 1;
    log_weights (B, k) the unnormalised ℓ_i; x0_mean (B, C, H, W) Σ w_i x_0^i (the ideal denoiser on the k);
    kth_distance (B,) d_k; rest_bound (B,) ε in [0, 1], the most weight the other N − k images can hold;
    recall_at_2: the index's measured recall (None when not measured); t (B,) the timesteps."""

    indices: torch.Tensor
    weights: torch.Tensor
    log_weights: torch.Tensor
    x0_mean: torch.Tensor
    kth_distance: torch.Tensor
    rest_bound: torch.Tensor
    recall_at_2: float | None
    t: torch.Tensor


def alphas_cumprod(scheduler: PosteriorDDPMScheduler | None = None) -> torch.Tensor:
    """ᾱ_t for t = 0 … T − 1 in float64, the scheduler's own forward process (as DatasetPosterior reads it)."""
    scheduler = PosteriorDDPMScheduler() if scheduler is None else scheduler
    steps = torch.arange(int(scheduler.config.num_train_timesteps))
    one = torch.ones(len(steps), dtype=torch.float64)
    return scheduler.add_noise(one, torch.zeros_like(one), steps) ** 2


def _timesteps(t, batch: int, T: int) -> torch.Tensor:
    if isinstance(t, torch.Tensor) and t.numel() == batch and batch > 1 and not t.is_floating_point():
        values = t.reshape(-1).to(torch.int64)
    elif is_int(t) or (isinstance(t, torch.Tensor) and t.numel() == 1 and not t.is_floating_point()):
        values = torch.full((batch,), int(t), dtype=torch.int64)
    else:
        raise ValueError(f"t must be an integer or {batch} integers in [0, {T - 1}], got {t!r}")
    if int(values.min()) < 0 or int(values.max()) > T - 1:
        raise ValueError(f"t must be in [0, {T - 1}], got {values.tolist()[:8]}")
    return values


def nearest_posterior(
    x_t: torch.Tensor,
    t,
    index: NeighbourIndex,
    k: int = DEFAULT_K,
    scheduler: PosteriorDDPMScheduler | None = None,
    recall_sample: int = DEFAULT_RECALL_SAMPLE,
) -> NearestPosterior:
    """q(x_0 | x_t) over the k nearest (1 ≤ k ≤ N) of the index's N images to x_t/√ᾱ_t, for x_t (B, C, H, W) at
    timestep t (an integer or B integers in [0, T − 1]), with the bound ε on the rest (see the module doc).
    scheduler: the forward process (default: a PosteriorDDPMScheduler with its default linear β)."""
    if not isinstance(index, NeighbourIndex):
        raise ValueError(f"index must be a NeighbourIndex, got {type(index).__name__}")
    a_bar = alphas_cumprod(scheduler)
    x = torch.as_tensor(x_t).detach().double()
    if x.ndim != 4 or len(x) == 0:
        raise ValueError(f"x_t must have shape (B ≥ 1, C, H, W), got {tuple(x.shape)}")
    steps = _timesteps(t, len(x), len(a_bar))
    k = check_int("k", k, 1, len(index), meaning=" (at most the data's images)")
    a = a_bar[steps].reshape(-1, 1)
    result = index.search(x / a.sqrt().reshape(-1, 1, 1, 1), k, recall_sample)
    log_w = -a * result.distances**2 / (2.0 * (1.0 - a))  # eq. 4, up to a per-row constant
    weights = torch.softmax(log_w, dim=1)
    x0 = index.source.rows(result.indices, torch.float64)  # (B, k, C, H, W)
    x0_mean = (weights.reshape(*weights.shape, 1, 1, 1) * x0).sum(1)
    rest = len(index) - k
    log_z = torch.logsumexp(log_w, dim=1)
    log_r = (math.log(rest) if rest else -math.inf) + log_w[:, -1]
    bound = torch.sigmoid(log_r - log_z) if rest else torch.zeros(len(x), dtype=torch.float64)
    return NearestPosterior(
        result.indices, weights, log_w, x0_mean.float(), result.distances[:, -1], bound, result.recall_at_2, steps
    )


# ---------------------------------------------------------------------------------------------- as a DatasetPosterior
class _Rows:
    """The data's rows (n, D) in float64, read from the index's source (a ShardSet) as DatasetPosterior reads its
    `_x0`: only the rows asked for."""

    def __init__(self, source):
        self.source = source

    def __getitem__(self, rows) -> torch.Tensor:
        index = torch.as_tensor(rows, dtype=torch.int64).reshape(-1)
        return self.source.rows(index, torch.float64).reshape(len(index), -1)


class IndexedPosterior(DatasetPosterior):
    """The exact reverse process of `DatasetPosterior`, with q(x_0 | x_t) restricted to the k nearest images of
    x_t/√ᾱ_t found by a `NeighbourIndex` (`nearest_posterior`): for data on disk (a ShardSet) that memory cannot hold.

    It is a DatasetPosterior for every caller (the samplers, `compare_estimates`, `compare_samplers`): the weights
    come back (B, N) with zeros outside the k, and only the images with a weight are read. What the images outside
    the k could still hold is bounded per search: `rest_bounds()` (the largest ε of the calls made by this thread
    since `reset_bounds()`), with the index's recall@2 when measured. Memory: one index part at a time while
    searching, the B·k candidates, and the (B, N) float64 weights (8 bytes per image per sample).

    index: a NeighbourIndex; scheduler: the model's (as DatasetPosterior); k: 1 … N candidates per search;
    recall_sample: queries checked against brute force in each search (0: none; an exact flat index needs none)."""

    def __init__(
        self,
        index: NeighbourIndex,
        scheduler: PosteriorDDPMScheduler | None = None,
        k: int = DEFAULT_K,
        recall_sample: int = 0,
    ):
        if not isinstance(index, NeighbourIndex):
            raise ValueError(f"index must be a NeighbourIndex, got {type(index).__name__}")
        if scheduler is None:
            scheduler = PosteriorDDPMScheduler()
        elif not isinstance(scheduler, PosteriorDDPMScheduler):
            scheduler = PosteriorDDPMScheduler.from_config(scheduler.config)
        self.index = index
        self.k = check_int("k", k, 1, len(index), meaning=" (at most the data's images)")
        self.recall_sample = check_int("recall_sample", recall_sample, 0, meaning=" (queries checked)")
        self.scheduler = scheduler
        self.dtype = torch.float64
        self.image_shape = tuple(int(s) for s in index.source.image_shape)
        self.num_images = len(index)
        self.dim = int(index.source.dim)
        self.chunk_size = chunk_rows(None, self.dim)
        self._x0 = _Rows(index.source)
        self._alphas_cumprod = alphas_cumprod(scheduler)
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"IndexedPosterior(N={self.num_images}, image_shape={self.image_shape}, k={self.k}, {self.index!r})"

    @property
    def data(self):
        """The data set (a ShardSet, or the index's tensor source): index it with rows, never read it whole."""
        return self.index.source

    @property
    def data_bytes(self) -> int:
        return int(self.num_images * self.dim * 4)

    # -- what this thread's searches could not see --------------------------------------------------------------
    def reset_bounds(self) -> None:
        """Start a new record of the rest bounds and recalls (per thread: each request has its own)."""
        self._local.bounds, self._local.recalls = [], []

    def rest_bounds(self) -> dict:
        """{"max_rest_bound": the largest ε of this thread's searches since reset_bounds() (0 when none), "searches",
        "k", "N", "recall_at_2": the smallest measured recall@2 (None when none was measured), "engine"}."""
        bounds, recalls = getattr(self._local, "bounds", []), getattr(self._local, "recalls", [])
        return {
            "max_rest_bound": max(bounds) if bounds else 0.0,
            "searches": len(bounds),
            "k": self.k,
            "N": self.num_images,
            "recall_at_2": min(recalls) if recalls else None,
            "engine": f"faiss {self.index.kind}",
            "per_search": list(bounds),
        }

    def _note(self, bounds: torch.Tensor | None, recall: float | None) -> None:
        if not hasattr(self._local, "bounds"):
            self.reset_bounds()
        if bounds is not None:
            self._local.bounds.append(float(bounds.max()))
        if recall is not None:
            self._local.recalls.append(float(recall))

    # -- DatasetPosterior's internals, through the index ------------------------------------------------------------
    def _weights(self, x_t: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x_t as rows (B, D) float64, the weights (B, N): q(x_0 | x_t) on the k nearest, 0 elsewhere)."""
        x = x_t.detach().reshape(x_t.shape[0], -1).to(self.dtype)
        steps = t if len(t) > 1 else t[:1]
        near = nearest_posterior(x_t.detach().cpu(), steps, self.index, self.k, self.scheduler, self.recall_sample)
        self._note(near.rest_bound, near.recall_at_2)
        weights = torch.zeros(x.shape[0], self.num_images, dtype=self.dtype)
        weights.scatter_(1, near.indices, near.weights)
        return x, weights

    def _logits(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """log q(x_t | x_0^i) up to a constant: on the k nearest; −inf elsewhere (their weight is bounded, not 0)."""
        _, weights = self._weights(x.reshape(x.shape[0], *self.image_shape), t)
        return weights.log()

    def _weighted_x0(self, weights: torch.Tensor) -> torch.Tensor:
        """Σ_i w_i x_0^i over the images with a non-zero weight (at most B·k of them), read from disk."""
        total = torch.zeros(weights.shape[0], self.dim, dtype=self.dtype)
        support = torch.nonzero(weights.amax(dim=0) > 0).squeeze(1)
        for start in range(0, len(support), self.chunk_size):
            rows = support[start : start + self.chunk_size]
            total.addmm_(weights[:, rows], self._x0[rows])
        return total

    def nearest_neighbours(self, queries: torch.Tensor, k: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """(distances, indices), each (B, k), of the k nearest images by L2 through the index (recall noted)."""
        result = self.index.search(queries, k, self.recall_sample)
        self._note(None, result.recall_at_2)
        return result.distances, result.indices
