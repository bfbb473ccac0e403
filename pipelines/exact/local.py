"""LocalPosterior: the optimal denoiser under a locality constraint (Kamb & Ganguli, ICML 2025, "An analytic theory
of creativity in convolutional diffusion models").

If each output pixel p may see only the P×P patch Ω_p of x_t around it, the best (minimum mean-squared error)
estimate of x_0(p) is no longer a posterior over training images but over training PATCHES (their "LS machine"):

    x̂_0(p) = Σ_n w_n(p) x_0^n(p),   w_n(p) ∝ exp(−‖x_t[Ω_p] − √ᾱ_t x_0^n[Ω_p]‖² / 2(1 − ᾱ_t))      (eq. 4, per patch)

a softmax over the N training images, one per pixel, so neighbouring pixels may follow different images: sampling
with it makes mosaics of training patches, not copies. With translation equivariance as well ("ELS machine",
`equivariant=True`) the candidates are the P×P patches at every position q of every training image (N·H·W per
pixel), each contributing its centre value x_0^n(q).

The border rule: a pixel outside the image is 0, in x_t and in the training images alike (zero padding). For the
LS machine that is the window CLIPPED at the border: only in-image pixels count in the distance. For the ELS machine
a candidate patch taken at q = p sees the same clipped window, so the ELS candidates include the LS ones with the same
distances; a patch taken elsewhere is compared offset by offset, a 0 against an in-image value counting in full (as
in a zero-padded CNN, the border tells a patch where it is). All channels of the window count in the distance; each
channel's value is averaged with the same weights.

A window of side ≥ 2·max(H, W) − 1 sees the whole image from every pixel: then LocalPosterior is DatasetPosterior
(same weights, the same E[x_0 | x_t]). The patch size may depend on t (the paper calibrates one per noise level).

Cost per call and image (D = C·H·W values, N images): LS reads the data once, O(N·D·min(4P, H + W)): the window
sums are box filters of the squared differences (shifted adds for P ≤ 7, two banded matrix products above), done in
cache-sized blocks of training images laid out with the candidates last; P = 1 needs no window sum at all. ELS
compares every pixel with every patch: H·W · N·H·W · C·P² multiply-adds (about 1.2·10¹¹ for the 4,500 MNIST digits at
P = 5), chunked so that memory stays bounded; pass a subset of the data to make it affordable. Both run in float64 by
default (`dtype`); float32 is about twice as fast and agrees to ~10⁻⁶ (the max-shifted log-weights are floored at
`LOG_WEIGHT_FLOOR` before exp, so no denormals appear).
"""

from __future__ import annotations

import functools
from typing import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from diffusers.utils.torch_utils import randn_tensor

from pipelines.checks import check_int, is_int, short_repr
from pipelines.ddpm.pipeline import DenoisingStep
from pipelines.ddpm.scheduler import PosteriorDDPMScheduler, PosteriorDDPMSchedulerOutput
from pipelines.exact.neighbours import CHUNK_ELEMENTS
from pipelines.exact.posterior import DatasetPosterior
from pipelines.exact.sampling import _check_generators, denoise_from_noise, last_sample

PatchSize = int | Sequence[int] | Callable[[int], int]


# ---------------------------------------------------------------------------------------------- helpers
# The LS machine works on (H, W, n) blocks of training images with the candidates last (the softmax's axis): this many
# values per block keeps a block and its temporaries in the CPU's cache.
LS_BLOCK_ELEMENTS = 1 << 19


# The box filter's largest radius done by shifted adds; above it, by two banded matrix products (on 32×32 images,
# float32, 512 images a block, measured under load: shifted adds 0.4 ms against 0.5 ms at radius 3, a tie at 4).
SHIFTED_ADDS_MAX_RADIUS = 3


# Max-shifted logits below this are raised to it before exp: e^−80 is below float64's resolution of any weight sum
# (1 + 10⁴·e^−80 == 1), so no result changes, and exp never returns a denormal (slow to compute with on CPUs).
LOG_WEIGHT_FLOOR = -80.0


@functools.lru_cache(maxsize=64)
def _unit_band(n: int, radius: int, dtype: torch.dtype) -> torch.Tensor:
    """The (n, n) matrix with 1 where |i − j| ≤ radius, 0 elsewhere, made once per shape (shared: never written)."""
    index = torch.arange(n)
    return ((index[:, None] - index[None, :]).abs() <= radius).to(dtype)


def _band(n: int, radius: int, dtype: torch.dtype, value: float = 1.0) -> torch.Tensor:
    """The (n, n) matrix with `value` where |i − j| ≤ radius, 0 elsewhere: a product with it sums each row's (or
    column's) window, clipped at the border. (Building it costs as much as the product on 32×32 images, so the
    0/1 pattern is cached and only scaled here.)"""
    band = _unit_band(n, radius, dtype)
    return band if value == 1.0 else band * value


def _box_sum(x: torch.Tensor, radius: int, scale: float) -> torch.Tensor:
    """scale × the sum of x (H, W, n) over the (2·radius + 1)² window around each pixel, clipped at the border (the
    zero-padded box filter), each window a direct sum of its terms (no cancellation, unlike prefix sums). Windows up
    to P = 7 by shifted adds (2·radius per axis), larger ones by two banded matrix products (H + W per value). x may
    be overwritten."""
    H, W, n = x.shape
    if radius == 0:
        return x.mul_(scale)
    if radius > SHIFTED_ADDS_MAX_RADIUS:
        rows = torch.matmul(_band(H, radius, x.dtype, scale), x.view(H, W * n)).view(H, W, n)
        return torch.matmul(_band(W, radius, x.dtype), rows)
    out = x.clone()
    for k in range(1, radius + 1):
        out[k:] += x[:-k]
        out[:-k] += x[k:]
    x = out.clone()
    for k in range(1, radius + 1):
        x[:, k:] += out[:, :-k]
        x[:, :-k] += out[:, k:]
    return x.mul_(scale)


def _patches(x: torch.Tensor, patch_size: int) -> torch.Tensor:
    """The P×P patch around every pixel of x (B, C, H, W), zero-padded: (B·H·W, C·P²), rows in (b, h, w) order."""
    B, C, H, W = x.shape
    columns = F.unfold(x, patch_size, padding=patch_size // 2)  # (B, C·P², H·W)
    return columns.transpose(1, 2).reshape(B * H * W, C * patch_size * patch_size)


class _OnlineSoftmax:
    """Σ_n softmax_n(logits) v_n when the candidates n arrive in chunks: a running max (log-sum-exp stable), the
    running normaliser and the running weighted sum, rescaled whenever the max grows. The candidates lie on
    `axis` of the logits (R, n) or (H, W, n); `weighted_sum(weights)` gives the chunk's Σ_n w_n v_n, with a values
    axis at `value_axis` of the result (1 for (R, K); 0 for (C, H, W)). The logits are overwritten."""

    def __init__(self, axis: int = 1, value_axis: int = 1):
        self.axis, self.value_axis = axis, value_axis
        self.max = self.total = self.weighted = None

    def add(self, logits: torch.Tensor, weighted_sum: Callable[[torch.Tensor], torch.Tensor]) -> None:
        chunk_max = logits.amax(self.axis)
        new_max = chunk_max if self.max is None else torch.maximum(self.max, chunk_max)
        weights = logits.sub_(new_max.unsqueeze(self.axis)).clamp_(min=LOG_WEIGHT_FLOOR).exp_()
        total, weighted = weights.sum(self.axis), weighted_sum(weights)
        if self.max is not None:
            scale = torch.exp(self.max - new_max)
            total = total + self.total * scale
            weighted = weighted + self.weighted * scale.unsqueeze(self.value_axis)
        self.max, self.total, self.weighted = new_max, total, weighted

    def result(self) -> torch.Tensor:
        return self.weighted / self.total.unsqueeze(self.value_axis)


def _patch_table(patch_size, largest: int, T: int) -> tuple[int, ...] | int | Callable[[int], int]:
    """patch_size checked: an odd int in [1, largest], a sequence of T of them, or a callable (checked per call)."""
    if callable(patch_size):
        return patch_size
    if is_int(patch_size) or (isinstance(patch_size, torch.Tensor) and patch_size.numel() == 1):
        return _check_patch(patch_size, largest, "patch_size")
    if isinstance(patch_size, str) or not hasattr(patch_size, "__len__"):
        raise ValueError(
            f"patch_size must be an odd integer in [1, {largest}], a sequence of {T} of them (one per timestep) "
            f"or a callable t → patch size, got {short_repr(patch_size)}"
        )
    values = list(patch_size.tolist() if isinstance(patch_size, torch.Tensor) else patch_size)
    if len(values) != T:
        raise ValueError(f"patch_size as a table must hold {T} odd integers (one per timestep), got {len(values)}")
    return tuple(_check_patch(v, largest, f"patch_size[{t}]") for t, v in enumerate(values))


def _check_patch(value, largest: int, name: str) -> int:
    """One patch side: an odd integer in [1, largest] (a window centred on its pixel)."""
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_floating_point():
        value = int(value.item())
    if not is_int(value) or not 1 <= value <= largest or value % 2 == 0:
        raise ValueError(f"{name} must be an odd integer in [1, {largest}], got {short_repr(value)}")
    return int(value)


# ---------------------------------------------------------------------------------------------- the posterior
class LocalPosterior:
    """The optimal denoiser whose every output pixel sees only the P×P patch of x_t around it (LS machine), or with
    translation equivariance as well (ELS machine, `equivariant=True`); see the module's docstring.

    data: (N, C, H, W) in [-1, 1]; None → the 4,500 mnist train digits. patch_size P: an odd integer in
    [1, 2·max(H, W) − 1] (the largest window sees the whole image from every pixel), a sequence of T of them (one
    per timestep t = 0 … T − 1), or a callable t → P. scheduler, dtype and chunk_size as `DatasetPosterior`'s (whose
    ᾱ_t table, step coefficients and checks this one reuses; `exact` is that global posterior over the same data).
    """

    def __init__(
        self,
        data: torch.Tensor | None,
        patch_size: PatchSize,
        scheduler: PosteriorDDPMScheduler | None = None,
        equivariant: bool = False,
        dtype: torch.dtype = torch.float64,
        chunk_size: int | None = None,
    ):
        self.exact = DatasetPosterior(data, scheduler, dtype=dtype, chunk_size=chunk_size)
        if not isinstance(equivariant, bool):
            raise ValueError(f"equivariant must be True or False, got {short_repr(equivariant)}")
        self.equivariant = equivariant
        self.max_patch_size = 2 * max(self.image_shape[1:]) - 1
        self._patch = _patch_table(patch_size, self.max_patch_size, self.num_train_timesteps)
        self._chunk_size = chunk_size
        self._data_last = None  # the data with the candidates last, made on the first LS call

    # ------------------------------------------------------------------ properties
    @property
    def scheduler(self) -> PosteriorDDPMScheduler:
        return self.exact.scheduler

    @property
    def dtype(self) -> torch.dtype:
        return self.exact.dtype

    @property
    def data(self) -> torch.Tensor:
        """The data set, (N, C, H, W), in the computation dtype."""
        return self.exact.data

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.exact.image_shape

    @property
    def num_images(self) -> int:
        return self.exact.num_images

    @property
    def num_train_timesteps(self) -> int:
        return self.exact.num_train_timesteps

    @property
    def alphas_cumprod(self) -> torch.Tensor:
        """ᾱ_t for t = 0 … T − 1, float64 (T,) (the global posterior's table)."""
        return self.exact.alphas_cumprod

    def __len__(self) -> int:
        return self.num_images

    def __repr__(self) -> str:
        kind = "ELS" if self.equivariant else "LS"
        patch = self._patch if is_int(self._patch) else "per t"
        return f"LocalPosterior({kind}, N={self.num_images}, image_shape={self.image_shape}, patch_size={patch})"

    def with_patch_size(self, patch_size: PatchSize) -> "LocalPosterior":
        """The same machine (data, scheduler, dtype, kind) with another patch size, sharing this one's data and its
        candidates-last copy: no data copied or checked again, so a page can change P per call at no cost."""
        other = object.__new__(LocalPosterior)
        other.__dict__.update(self.__dict__)
        other._patch = _patch_table(patch_size, self.max_patch_size, self.num_train_timesteps)
        if not self.equivariant:
            other._data_last = self._keys_last()  # made once, shared read-only
        return other

    def patch_size_at(self, t: int) -> int:
        """The patch side P used at timestep t (an integer in [0, T))."""
        t = check_int("t", t, 0, self.num_train_timesteps - 1)
        if is_int(self._patch):
            return self._patch
        if isinstance(self._patch, tuple):
            return self._patch[t]
        return _check_patch(self._patch(t), self.max_patch_size, f"patch_size({t})")

    # ------------------------------------------------------------------ x̂_0
    def _local_x0(self, x: torch.Tensor, t: int) -> torch.Tensor:
        """x̂_0 for x (B, C, H, W) in the computation dtype, all at timestep t: (B, C, H, W)."""
        a = float(self.alphas_cumprod[t])
        patch = self.patch_size_at(t)
        return self._els(x, a, patch) if self.equivariant else self._ls(x, a, patch)

    def _keys_last(self) -> torch.Tensor:
        """The data as (C, H, W, N), the candidates last (made once)."""
        if self._data_last is None:
            self._data_last = self.data.permute(1, 2, 3, 0).contiguous()
        return self._data_last

    def _ls(self, x: torch.Tensor, a: float, patch: int) -> torch.Tensor:
        """LS machine: per pixel, a softmax over the N training images of the clipped window's squared distance,
        the window sums a box filter of (x_t − √ᾱ x_0^n)² summed over channels (differences, not the expansion of
        the square, so exact at small t); image by image, in cache-sized blocks of training images (H, W, n)."""
        B, C, H, W = x.shape
        data, root, scale = self._keys_last(), a**0.5, -0.5 / (1.0 - a)
        chunk = self._chunk_size or max(1, LS_BLOCK_ELEMENTS // (C * H * W))
        out = torch.empty_like(x)
        for b in range(B):
            query = x[b].unsqueeze(-1)  # (C, H, W, 1)
            acc = _OnlineSoftmax(axis=-1, value_axis=0)
            for start in range(0, self.num_images, chunk):
                x0 = data[..., start : start + chunk]  # (C, H, W, n)
                diff = torch.sub(query, x0, alpha=root)
                diff.mul_(diff)
                logits = _box_sum(diff.sum(0) if C > 1 else diff[0], patch // 2, scale)  # (H, W, n)
                acc.add(logits, lambda w, x0=x0: torch.linalg.vecdot(x0, w))
            out[b] = acc.result()
        return out

    def _els(self, x: torch.Tensor, a: float, patch: int) -> torch.Tensor:
        """ELS machine: per pixel, a softmax over the P×P patches of every position of every training image (zero
        padded), ‖x_t[Ω_p] − √ᾱ x_0^n[Ω_q]‖² = ᾱ‖x_t[Ω_p]/√ᾱ − x_0^n[Ω_q]‖² = ᾱ(‖x_t[Ω_p]/√ᾱ‖² − 2 x_t[Ω_p]/√ᾱ ·
        x_0^n[Ω_q] + ‖x_0^n[Ω_q]‖²) (one matrix product; the first term, the same for every candidate, drops out of
        the softmax), streamed over chunks of training images."""
        B, C, H, W = x.shape
        queries = _patches(x, patch) * (2.0 / a**0.5)  # (B·H·W, C·P²): the −2 of the expansion folded in below
        factor = -a / (2.0 * (1.0 - a))
        chunk = self._chunk_size or max(1, CHUNK_ELEMENTS // (B * H * W * H * W))
        acc = _OnlineSoftmax()
        for start in range(0, self.num_images, chunk):
            x0 = self.data[start : start + chunk]
            keys = _patches(x0, patch)  # (n·H·W, C·P²)
            centres = x0.permute(0, 2, 3, 1).reshape(-1, C)  # (n·H·W, C): each patch's centre value
            key_sq = (keys * keys).sum(1).mul_(factor)
            logits = torch.addmm(key_sq, queries, keys.T, alpha=-factor)  # factor·(‖k‖² − 2 q·k)
            acc.add(logits, lambda w, centres=centres: w @ centres)
        return acc.result().reshape(B, H, W, C).permute(0, 3, 1, 2)

    def _predict(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x̂_0 (B, C, H, W) in the computation dtype for a checked x_t and per-sample t (B,), grouped by t."""
        x = x_t.detach().to(self.dtype)
        out = torch.empty_like(x)
        for value in t.unique().tolist():
            rows = t == value
            out[rows] = self._local_x0(x[rows], int(value))
        return out

    def predict_x0(self, x_t: torch.Tensor, t) -> torch.Tensor:
        """x̂_0 = Σ_n w_n(p) x_0^n(p) per pixel p, the locally optimal denoiser, (B, C, H, W) in x_t's dtype.

        x_t: (B, C, H, W), the data set's image shape. t: an integer in [0, T) or (B,) integers."""
        x_t = self.exact._check_x_t(x_t)
        chain = self.exact._chain(t, None, x_t.shape[0])
        return self._predict(x_t, chain.t).to(x_t.dtype)

    def ideal_model_output(self, x_t: torch.Tensor, t, pred_original_sample: torch.Tensor) -> torch.Tensor:
        """What a model would output at (x_t, t) for the scheduler's prediction_type given x̂_0 (ε̂, x̂_0 or v̂)."""
        return self.exact.ideal_model_output(x_t, t, pred_original_sample)

    # ------------------------------------------------------------------ sampling
    def posterior(self, x_t: torch.Tensor, t, prev_t=None) -> PosteriorDDPMSchedulerOutput:
        """The step's moments without a draw (prev_sample is the mean): q(x_{prev_t} | x_t, x̂_0) with x̂_0 the local
        estimate, mean μ̃(x_t, x̂_0) (eq. 7) and variance β̃. t: an integer in [0, T) or (B,) integers; prev_t: None
        (t − 1) or in [-1, t − 1]."""
        x_t = self.exact._check_x_t(x_t)
        x0, mean, variance = self._moments(x_t, self.exact._chain(t, prev_t, x_t.shape[0]))
        x0, mean = x0.to(x_t.dtype), mean.to(x_t.dtype)
        return PosteriorDDPMSchedulerOutput(mean, x0, mean, variance)

    def _moments(self, x_t: torch.Tensor, chain) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(x̂_0, μ̃(x_t, x̂_0)) in the computation dtype and β̃ in x_t's (0-d for a shared step, (B, 1, 1, 1) per
        sample)."""
        x0 = self._predict(x_t, chain.t)
        shape = (-1, 1, 1, 1)
        mean = chain.coef1.reshape(shape) * x0 + chain.coef2.reshape(shape) * x_t.detach().to(self.dtype)  # eq. 7
        variance = chain.variance[0] if chain.shared else chain.variance.reshape(shape)
        return x0, mean, variance.to(x_t.dtype)

    def step(
        self,
        x_t: torch.Tensor,
        t,
        prev_t=None,
        generator: torch.Generator | list[torch.Generator] | None = None,
    ) -> PosteriorDDPMSchedulerOutput:
        """One DDPM step with the local x̂_0: x_{prev_t} ~ q(x_{prev_t} | x_t, x̂_0) = N(μ̃(x_t, x̂_0), β̃ I) (eq. 6–7);
        on the last step (prev_t < 0) x̂_0 itself. t: one integer in [0, T); prev_t: None (t − 1) or in [-1, t − 1].
        generator: one, or one per sample, for reproducible draws."""
        x_t = self.exact._check_x_t(x_t)
        for name, value in (("t", t), ("prev_t", prev_t)):
            if isinstance(value, torch.Tensor) and value.numel() > 1:
                raise ValueError(f"{name} must be a single integer for step()")
        _check_generators(generator, x_t.shape[0])
        return self._draw(x_t, self.exact._chain(t, prev_t, x_t.shape[0]), generator)

    def _draw(self, x_t: torch.Tensor, chain, generator) -> PosteriorDDPMSchedulerOutput:
        """`step` for a checked x_t, chain and generator (the sampling loop checks them once)."""
        x0, mean, variance = self._moments(x_t, chain)
        if int(chain.prev[0]) < 0:
            prev_sample = x0  # ᾱ_prev = 1: the step lands on x̂_0
        else:
            noise = randn_tensor(x_t.shape, generator=generator, device=x_t.device, dtype=x_t.dtype)
            prev_sample = mean + float(chain.variance[0]) ** 0.5 * noise.to(self.dtype)
        cast = x_t.dtype
        return PosteriorDDPMSchedulerOutput(prev_sample.to(cast), x0.to(cast), mean.to(cast), variance)

    @torch.inference_mode()
    def denoise(
        self,
        batch_size: int = 1,
        generator: torch.Generator | list[torch.Generator] | None = None,
        num_inference_steps: int | None = 1000,
        timesteps: Sequence[int] | None = None,
        progress: bool = False,
    ) -> Iterator[DenoisingStep]:
        """Sample from pure noise with the local denoiser, yielding a `DenoisingStep` per step (model_output: the
        ε, x_0 or v its x̂_0 implies). Arguments, chain and x_T as `DatasetPosterior.denoise`: a generator seeded
        alike starts the UNet's, the exact and the local sampler from the same noise."""
        yield from denoise_from_noise(
            self, self.exact._chain, batch_size, generator, num_inference_steps, timesteps, progress, "local posterior"
        )

    def sample(
        self,
        batch_size: int = 1,
        generator: torch.Generator | list[torch.Generator] | None = None,
        num_inference_steps: int | None = 1000,
        timesteps: Sequence[int] | None = None,
    ) -> torch.Tensor:
        """`batch_size` samples (B, C, H, W) in [-1, 1] of the local sampler: mosaics of training patches at small
        P, training images at the whole-image window. Arguments as `denoise`."""
        return last_sample(self.denoise(batch_size, generator, num_inference_steps, timesteps))
