"""The 2-D world: toy data sets, a small ε-MLP p_θ, its training loop, and the reverse step with every density drawn.

In two dimensions the whole answer to "why learn p_θ(x_{t-1} | x_t)?" can be looked at: the exact reverse step
q(x_{t-Δ} | x_t) over N training points is a mixture of N Gaussians (`DatasetPosterior`), a Gaussian p_θ can be
laid over it, and the gap measured in nats. Nothing here is a second implementation of DDPM: a 2-D point is a
(2, 1, 1) tensor — two channels, one pixel — so the forward process and q(x_{t-1} | x_t, x_0) come from
`PosteriorDDPMScheduler`, the exact step from `DatasetPosterior`, and sampling from `PosteriorDDPMPipeline.denoise`
with `ToyEpsilonMLP` in the UNet's place (it takes (B, 2, 1, 1) and a timestep, like a UNet2DModel).

    points = load_points("two_moons", 256)                      # (256, 2) in [-1, 1]²
    model = ToyEpsilonMLP()
    for record in train_toy(model, points, num_steps=3000):    # the ε-MSE loss of Ho et al. (eq. 14)
        ...
    pipe = toy_pipeline(model)                                  # the image pipeline, with the MLP as its "UNet"
    posterior = DatasetPosterior(as_images(points), pipe.scheduler)
    step = reverse_step(posterior, model, x_t=(0.1, 0.2), t=300, prev_t=200)
    step.kl_model_nats, step.kl_gaussian_nats                   # KL(exact ‖ p_θ), KL(exact ‖ best Gaussian)

KL(mixture ‖ Gaussian) has no closed form: it is estimated by Monte-Carlo, E_{x ~ exact}[log exact(x) − log q(x)]
over `KL_DRAWS` draws from the exact mixture (seeded), with its standard error. The Gaussian closest to the mixture
in KL(exact ‖ ·) is the one with the mixture's mean and covariance (moment matching), so KL(exact ‖ moment-matched)
is the least any Gaussian p_θ can reach at this step: the price of "one Gaussian" (Sohl-Dickstein et al. 2015).
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.unets.unet_2d import UNet2DOutput
from diffusers.utils import BaseOutput
from torch import nn

from .checks import check_choice, check_float, check_int, check_seed, short_repr
from .exact_posterior import DatasetPosterior
from .pipeline_ddpm_posterior import PosteriorDDPMPipeline
from .scheduling_ddpm_posterior import PosteriorDDPMScheduler

# ---------------------------------------------------------------------------------------------- data sets
POOL_SIZE = 4000  # each data set is a fixed pool of 4,000 points; N points are the first N of its seeded shuffle
MIN_POINTS, MAX_POINTS, DEFAULT_NUM_POINTS = 4, POOL_SIZE, 256
POINT_SHAPE = (2, 1, 1)  # a 2-D point as the pipeline sees it: two channels, one pixel
EXTENT = 0.95  # each pool is scaled so that its largest |coordinate| is this: inside [-1, 1]², the model space
POOL_SEED = 0


def _two_moons(rng: np.random.Generator) -> np.ndarray:
    angle = rng.uniform(0.0, math.pi, POOL_SIZE)
    upper = rng.integers(0, 2, POOL_SIZE) == 1
    x = np.where(upper, np.cos(angle), 1.0 - np.cos(angle))
    y = np.where(upper, np.sin(angle), 0.5 - np.sin(angle))
    return np.stack([x, y], 1) + rng.normal(0.0, 0.06, (POOL_SIZE, 2)) - [0.5, 0.25]


def _eight_gaussians(rng: np.random.Generator) -> np.ndarray:
    angle = rng.integers(0, 8, POOL_SIZE) * (math.pi / 4)
    return np.stack([np.cos(angle), np.sin(angle)], 1) + rng.normal(0.0, 0.08, (POOL_SIZE, 2))


def _spiral(rng: np.random.Generator) -> np.ndarray:
    turn = np.sqrt(rng.uniform(0.02, 1.0, POOL_SIZE)) * 3.0 * math.pi
    return np.stack([turn * np.cos(turn), turn * np.sin(turn)], 1) / (3.0 * math.pi) + rng.normal(
        0.0, 0.03, (POOL_SIZE, 2)
    )


DATASETS = {"two_moons": _two_moons, "eight_gaussians": _eight_gaussians, "spiral": _spiral}
DEFAULT_DATASET = "two_moons"


def check_dataset(dataset, name: str = "dataset") -> str:
    return check_choice(name, dataset, DATASETS)


def check_num_points(num_points, name: str = "num_points", integral_floats: bool = False) -> int:
    return check_int(name, num_points, MIN_POINTS, MAX_POINTS, integral_floats, " (training points)")


@functools.lru_cache(maxsize=None)
def _pool(dataset: str) -> torch.Tensor:
    rng = np.random.default_rng(POOL_SEED)
    points = DATASETS[dataset](rng)
    points = points * (EXTENT / np.abs(points).max())
    points = points[rng.permutation(POOL_SIZE)]
    return torch.from_numpy(points.astype(np.float32))


def load_points(dataset: str = DEFAULT_DATASET, num_points: int = DEFAULT_NUM_POINTS) -> torch.Tensor:
    """N points (N, 2) float32 of a toy data set, in [-0.95, 0.95]²: the first N of a fixed seeded shuffle of its
    4,000-point pool, so a smaller N is a subset of a larger one. dataset: one of DATASETS; N in [4, 4000]."""
    dataset = check_dataset(dataset)
    num_points = check_num_points(num_points)
    return _pool(dataset)[:num_points].clone()


def as_images(points) -> torch.Tensor:
    """(M, 2) points → (M, 2, 1, 1), the shape the scheduler, DatasetPosterior and the pipeline take."""
    points = torch.as_tensor(points)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must have shape (M, 2), got {tuple(points.shape)}")
    return points.reshape(-1, *POINT_SHAPE)


def as_points(images: torch.Tensor) -> torch.Tensor:
    """(M, 2, 1, 1) → (M, 2)."""
    return images.reshape(images.shape[0], 2)


def nearest_other_distances(points: torch.Tensor, chunk: int = 512) -> torch.Tensor:
    """Each point's distance to its nearest other point of the set (N, 2) → (N,) float64: the data's own spacing,
    the yardstick for "is a sample a new point or a copy?". A single point gives inf."""
    p = torch.as_tensor(points).double().reshape(-1, 2)
    out = torch.empty(len(p), dtype=torch.float64)
    for start in range(0, len(p), chunk):
        d = torch.cdist(p[start : start + chunk], p)
        d[torch.arange(d.shape[0]), torch.arange(start, start + d.shape[0])] = math.inf
        out[start : start + chunk] = d.min(1).values
    return out


# ---------------------------------------------------------------------------------------------- the model
class ToyEpsilonMLP(ModelMixin, ConfigMixin):
    """ε_θ(x_t, t) for 2-D points: a sinusoidal time embedding (diffusers' `Timesteps` + `TimestepEmbedding`, as in
    the UNet) added to a linear embedding of x_t, then residual SiLU layers, then a linear read-out of ε̂.

    Called like a `UNet2DModel`: model(sample (B, 2, 1, 1), timestep (int, 0-d or (B,))) → output with .sample,
    so `PosteriorDDPMPipeline` samples with it unchanged. Saved and loaded with save_pretrained / from_pretrained
    (config.json + safetensors)."""

    @register_to_config
    def __init__(
        self,
        in_channels: int = 2,
        sample_size: int = 1,
        hidden_size: int = 128,
        num_layers: int = 3,
        time_embedding_dim: int = 64,
    ):
        super().__init__()
        self.time_proj = Timesteps(time_embedding_dim, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embedding = TimestepEmbedding(time_embedding_dim, hidden_size)
        self.input = nn.Linear(in_channels, hidden_size)
        self.layers = nn.ModuleList(nn.Linear(hidden_size, hidden_size) for _ in range(num_layers))
        self.output = nn.Linear(hidden_size, in_channels)

    def forward(self, sample: torch.Tensor, timestep, return_dict: bool = True):
        shape = sample.shape
        x = sample.reshape(shape[0], self.config.in_channels)
        t = torch.as_tensor(timestep, device=x.device)
        t = t.expand(shape[0]) if t.ndim == 0 else t.reshape(shape[0])
        h = self.input(x) + self.time_embedding(self.time_proj(t).to(x.dtype))
        for layer in self.layers:
            h = h + layer(nn.functional.silu(h))
        eps = self.output(nn.functional.silu(h)).reshape(shape)
        return UNet2DOutput(sample=eps) if return_dict else (eps,)


def new_toy_model(seed: int = 0, **config) -> ToyEpsilonMLP:
    """A freshly initialised ToyEpsilonMLP whose weights depend only on seed (the global RNG is left as it was)."""
    seed = check_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ToyEpsilonMLP(**config)


def toy_scheduler() -> PosteriorDDPMScheduler:
    """The image model's default schedule: T = 1000, linear β from 1e-4 to 0.02, ε-prediction, β̃ variance."""
    return PosteriorDDPMScheduler()


def toy_pipeline(model: ToyEpsilonMLP, scheduler: PosteriorDDPMScheduler | None = None) -> PosteriorDDPMPipeline:
    """The image pipeline with the MLP in the UNet's place: `denoise` yields every step of 2-D sampling."""
    pipe = PosteriorDDPMPipeline(unet=model, scheduler=scheduler or toy_scheduler())
    pipe.set_progress_bar_config(disable=True)
    return pipe


WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "models" / "toy2d"


def load_toy_model(dataset: str = DEFAULT_DATASET, weights_dir: str | Path | None = None) -> ToyEpsilonMLP:
    """The shipped p_θ for a data set (models/toy2d/<dataset>/: config.json + safetensors, eval mode)."""
    dataset = check_dataset(dataset)
    folder = Path(weights_dir or WEIGHTS_DIR) / dataset
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"{folder}: no shipped toy model (config.json); make it with `python -m "
            f"pipelines.toy2d --dataset {dataset}`"
        )
    return ToyEpsilonMLP.from_pretrained(folder, use_safetensors=True).eval()


# ---------------------------------------------------------------------------------------------- training
MIN_TRAIN_STEPS, MAX_TRAIN_STEPS, DEFAULT_TRAIN_STEPS = 100, 20_000, 3000
SHIPPED_TRAIN_STEPS = 10_000  # the shipped weights: `python -m pipelines.toy2d` (every data set, N = 256, seed 0)
TRAIN_BATCH_SIZE = 256
TRAIN_LEARNING_RATE = 1e-2


def check_train_steps(train_steps, name: str = "train_steps", integral_floats: bool = False) -> int:
    return check_int(name, train_steps, MIN_TRAIN_STEPS, MAX_TRAIN_STEPS, integral_floats, " (optimizer steps)")


@dataclass
class ToyTrainStep:
    """One optimizer step of `train_toy`: step = 1 … num_steps, loss = that batch's ε-MSE."""

    step: int
    num_steps: int
    loss: float


def train_toy(
    model: ToyEpsilonMLP,
    points: torch.Tensor,
    num_steps: int = DEFAULT_TRAIN_STEPS,
    seed: int = 0,
    scheduler: PosteriorDDPMScheduler | None = None,
    batch_size: int = TRAIN_BATCH_SIZE,
    learning_rate: float = TRAIN_LEARNING_RATE,
) -> Iterator[ToyTrainStep]:
    """Train ε_θ on points (N, 2) with the simple loss of Ho et al. (eq. 14), yielding every step.

    Each step: x_0 ~ the N points (with replacement), t ~ U{0, …, T−1}, ε ~ N(0, I), x_t = scheduler.add_noise
    (eq. 4), loss = ‖ε − ε_θ(x_t, t)‖² averaged. Adam, learning rate with a cosine decay to 0 over num_steps.
    The model's own weights are updated in place; the seed fixes the batches, so a run is repeatable on one
    machine. Stop early by not asking for the next step."""
    points = as_images(points).float()
    num_steps = check_train_steps(num_steps)
    seed = check_seed(seed)
    batch_size = check_int("batch_size", batch_size, 1)
    learning_rate = check_float("learning_rate", learning_rate, 1e-6, 1.0)
    scheduler = scheduler or toy_scheduler()
    T = scheduler.config.num_train_timesteps
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    decay = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: 0.5 * (1.0 + math.cos(math.pi * i / num_steps)))
    model.train()
    try:
        for step in range(1, num_steps + 1):
            x0 = points[torch.randint(0, len(points), (batch_size,), generator=generator)]
            t = torch.randint(0, T, (batch_size,), generator=generator)
            noise = torch.randn(x0.shape, generator=generator)
            loss = nn.functional.mse_loss(model(scheduler.add_noise(x0, noise, t), t).sample, noise)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            decay.step()
            yield ToyTrainStep(step=step, num_steps=num_steps, loss=float(loss.detach()))
    finally:
        model.eval()


# ---------------------------------------------------------------------------------------------- densities
KL_DRAWS = 10_000  # Monte-Carlo draws from the exact mixture per KL estimate
STRIDES = (1, 10, 100, 500)  # the stride table's Δ (each clipped to t)
HEAVY_WEIGHT = 0.01  # a mixture component "counts" when q(x_0^i | x_t) >= 1 %
_NEGLIGIBLE_WEIGHT = 1e-12  # components lighter than this are dropped from densities (their total mass ≤ N·1e-12)


def gaussian_log_density(x: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """log N(x; mean, cov) for rows x (M, 2), float64 (M,)."""
    x, mean, cov = x.double(), mean.double().reshape(1, 2), cov.double().reshape(2, 2)
    chol = torch.linalg.cholesky(cov)
    z = torch.linalg.solve_triangular(chol, (x - mean).T, upper=False)  # (2, M)
    return -0.5 * (z * z).sum(0) - torch.log(torch.diagonal(chol)).sum() - math.log(2.0 * math.pi)


def mixture_log_density(x: torch.Tensor, weights: torch.Tensor, means: torch.Tensor, variance: float) -> torch.Tensor:
    """log Σ_i w_i N(x; m_i, variance·I) for rows x (M, 2), means (N, 2), weights (N,) summing to 1; float64 (M,).
    Components with w_i < 1e-12 are left out (their total mass is at most N·1e-12)."""
    keep = weights >= _NEGLIGIBLE_WEIGHT * weights.max()
    w, m = weights[keep].double(), means[keep].double()
    x = x.double()
    log_w = torch.log(w) - math.log(2.0 * math.pi * variance)
    out = torch.empty(x.shape[0], dtype=torch.float64)
    chunk = max(1, (1 << 22) // len(w))
    m_sq = (m * m).sum(1)
    for start in range(0, x.shape[0], chunk):
        rows = x[start : start + chunk]
        sq = ((rows * rows).sum(1, keepdim=True) - 2.0 * rows @ m.T + m_sq).clamp_min_(0.0)
        out[start : start + chunk] = torch.logsumexp(log_w - sq / (2.0 * variance), dim=1)
    return out


def moment_matched(weights: torch.Tensor, means: torch.Tensor, variance: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (2,) and covariance (2, 2) of Σ_i w_i N(m_i, variance·I): the Gaussian closest to it in KL(mixture ‖ ·)."""
    w, m = weights.double(), means.double()
    mean = w @ m
    centred = m - mean
    cov = (w[:, None] * centred).T @ centred + variance * torch.eye(2, dtype=torch.float64)
    return mean, cov


def sample_mixture(
    weights: torch.Tensor, means: torch.Tensor, variance: float, num_draws: int, generator: torch.Generator
) -> torch.Tensor:
    """num_draws points (num_draws, 2) float64 from Σ_i w_i N(m_i, variance·I): a component, then its noise."""
    component = torch.multinomial(weights.double(), num_draws, replacement=True, generator=generator)
    noise = torch.randn(num_draws, 2, generator=generator, dtype=torch.float64)
    return means.double()[component] + math.sqrt(variance) * noise


def gaussian_kl(mean_p, cov_p, mean_q, cov_q) -> float:
    """KL(N(mean_p, cov_p) ‖ N(mean_q, cov_q)) in nats, closed form, for 2-D Gaussians."""
    mp, mq = torch.as_tensor(mean_p).double().reshape(2), torch.as_tensor(mean_q).double().reshape(2)
    cp, cq = torch.as_tensor(cov_p).double().reshape(2, 2), torch.as_tensor(cov_q).double().reshape(2, 2)
    inv_q = torch.linalg.inv(cq)
    diff = mq - mp
    return float(0.5 * (torch.trace(inv_q @ cp) + diff @ inv_q @ diff - 2.0 + torch.logdet(cq) - torch.logdet(cp)))


@dataclass
class KLEstimate:
    """A Monte-Carlo KL(p ‖ q) in nats: mean of log p(x) − log q(x) over num_draws x ~ p, and its standard error."""

    nats: float
    standard_error: float
    num_draws: int


def kl_mixture_to_gaussians(
    weights: torch.Tensor,
    means: torch.Tensor,
    variance: float,
    gaussians: Sequence[tuple[torch.Tensor, torch.Tensor]],
    num_draws: int = KL_DRAWS,
    seed: int = 0,
) -> list[KLEstimate]:
    """KL(p ‖ q) for the mixture p = Σ_i w_i N(m_i, variance·I) and each Gaussian q = N(mean, cov) in gaussians,
    from the same num_draws draws x ~ p (seeded).

    The estimate is the mean of log p(x) − log q(x) (unbiased) plus c·(r − 1) with r = q(x)/p(x), a control
    variate of mean 0 (E_p[r] = ∫q = 1) whose weight c is fitted to the draws (least squares), used only when the
    draws agree that its mean is 0. The pointwise
    log-ratio alone is noisy around 0 when q ≈ p; with c ≈ 1 the terms are (r − 1) − log r ≥ 0, exactly 0 for
    q = p, so a nearly Gaussian step reads as a small number with a small standard error. For a q far from p,
    c ≈ 0 and it is the plain average."""
    num_draws = check_int("num_draws", num_draws, 2)
    draws = sample_mixture(weights, means, variance, num_draws, torch.Generator().manual_seed(check_seed(seed)))
    log_p = mixture_log_density(draws, weights, means, variance)
    estimates = []
    for mean, cov in gaussians:
        log_r = gaussian_log_density(draws, mean, cov) - log_p
        k1, control = -log_r, torch.expm1(log_r)  # E_p[k1] = KL, E_p[control] = 0
        spread = control - control.mean()
        var = float((spread * spread).mean())
        # The control is only usable when its sample mean is 0 within 3 standard errors: when q has mass where the
        # draws never go (a wide q over narrow spikes), r − 1 averages to about −1 and would bias the estimate.
        usable = 0.0 < var < math.inf and abs(float(control.mean())) <= 3.0 * math.sqrt(var / num_draws)
        c = -float(((k1 - k1.mean()) * spread).mean()) / var if usable else 0.0
        terms = k1 + c * control
        estimates.append(
            KLEstimate(float(terms.mean()), float(terms.std(unbiased=True) / math.sqrt(num_draws)), num_draws)
        )
    return estimates


# ---------------------------------------------------------------------------------------------- one reverse step
def check_point(name: str, value, limit: float = 10.0) -> float:
    return check_float(name, value, -limit, limit, " (a coordinate of x_t)")


def check_stride(stride, t: int, name: str = "stride", integral_floats: bool = False) -> int:
    """Δ of the step t → t − Δ: an integer in [1, t] (so t − Δ >= 0)."""
    return check_int(name, stride, 1, t, integral_floats, f" (prev_t = t − stride >= 0 at t = {t})")


@dataclass
class ToyReverseStep(BaseOutput):
    """The reverse step x_t → x_{prev_t} at one 2-D point, exact and learned (tensors float64 unless noted).

    weights (N,): q(x_0^i | x_t). component_means (N, 2): μ̃(x_t, x_0^i) of the respaced step t → prev_t (eq. 7);
    component_variance: their shared β̃ (respaced). exact_mean, exact_cov: the mixture's mean (2,) and covariance
    (2, 2) — the moment-matched Gaussian. model_mean (2,), model_variance: p_θ = N(μ_θ(x_t, t), σ² I) as the sampler
    uses it (the scheduler's step with ε_θ; σ² = β̃). heaviest_index: argmax_i w_i; tractable_mean: μ̃(x_t,
    x_0^heaviest), the tractable q(x_{prev_t} | x_t, x_0) for that x_0 (variance component_variance).
    num_heavy: components with weight >= 1 %. kl_model, kl_gaussian: KL(exact ‖ p_θ), KL(exact ‖ moment-matched)
    (Monte-Carlo). kl_best_to_model: KL(moment-matched ‖ p_θ), closed form. For Gaussians the moment projection
    splits the first exactly: KL(exact ‖ p_θ) = KL(exact ‖ moment-matched) + KL(moment-matched ‖ p_θ) — what no
    Gaussian can remove plus what this p_θ misses.
    """

    t: int
    prev_t: int
    x_t: torch.Tensor
    weights: torch.Tensor
    component_means: torch.Tensor
    component_variance: float
    exact_mean: torch.Tensor
    exact_cov: torch.Tensor
    model_mean: torch.Tensor
    model_variance: float
    heaviest_index: int
    tractable_mean: torch.Tensor
    num_heavy: int
    kl_model: KLEstimate
    kl_gaussian: KLEstimate
    kl_best_to_model: float

    def top(self, count: int = 10) -> list[list]:
        """The heaviest components as [index, weight] pairs, heaviest first."""
        weights, index = torch.sort(self.weights, descending=True)
        return [[int(i), float(w)] for i, w in zip(index[:count], weights[:count])]


def check_step_args(posterior: DatasetPosterior, x_t, t, prev_t) -> tuple[torch.Tensor, int, int]:
    if tuple(posterior.image_shape) != POINT_SHAPE:
        raise ValueError(f"posterior must be over 2-D points (image shape {POINT_SHAPE}), got {posterior.image_shape}")
    x_t = torch.as_tensor(x_t, dtype=torch.float64).reshape(-1)
    if x_t.numel() != 2 or not bool(torch.isfinite(x_t).all()):
        raise ValueError(f"x_t must be one finite 2-D point (x, y), got {short_repr(x_t.tolist())}")
    t = check_int("t", t, 1, posterior.num_train_timesteps - 1)
    prev_t = check_int("prev_t", prev_t, 0, t - 1)
    return x_t, t, prev_t


@torch.inference_mode()
def exact_step(posterior: DatasetPosterior, x_t, t: int, prev_t: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """The exact q(x_{prev_t} | x_t) = Σ_i w_i N(μ̃(x_t, x_0^i), β̃ I) at one 2-D point: (weights (N,), component
    means (N, 2), β̃), all from DatasetPosterior and the scheduler's q_posterior (eq. 6-7) in float64."""
    x_t, t, prev_t = check_step_args(posterior, x_t, t, prev_t)
    image = x_t.reshape(1, *POINT_SHAPE)
    weights = posterior.x0_posterior(image, t)[0].double()
    data = posterior.data.double()
    means, variance = posterior.scheduler.q_posterior(data, image.expand(len(data), *POINT_SHAPE), t, prev_t)
    return weights, as_points(means).double(), float(variance)


@torch.inference_mode()
def model_step(model: ToyEpsilonMLP, scheduler: PosteriorDDPMScheduler, x_t, t: int, prev_t: int):
    """p_θ(x_{prev_t} | x_t) at one point as the sampler uses it: the scheduler's step with ε_θ(x_t, t) (x̂_0 as the
    scheduler computes and clips it). Returns (mean (2,) float64, variance σ², pred_original_sample (2,))."""
    image = torch.as_tensor(x_t, dtype=torch.float32).reshape(1, *POINT_SHAPE)
    model_output = model(image, torch.tensor(t)).sample
    out = scheduler.step(model_output, t, image, prev_timestep=prev_t, generator=torch.Generator().manual_seed(0))
    variance = float(torch.as_tensor(out.posterior_variance).reshape(-1)[0])
    return as_points(out.posterior_mean)[0].double(), variance, as_points(out.pred_original_sample)[0].double()


def reverse_step(
    posterior: DatasetPosterior,
    model: ToyEpsilonMLP,
    x_t,
    t: int,
    prev_t: int,
    num_draws: int = KL_DRAWS,
    seed: int = 0,
) -> ToyReverseStep:
    """Everything the reverse-step view draws and quotes for x_t (2 numbers), t in [1, T−1], prev_t in [0, t−1]."""
    x_t, t, prev_t = check_step_args(posterior, x_t, t, prev_t)
    weights, means, variance = exact_step(posterior, x_t, t, prev_t)
    exact_mean, exact_cov = moment_matched(weights, means, variance)
    model_mean, model_variance, _ = model_step(model, posterior.scheduler, x_t, t, prev_t)
    model_cov = model_variance * torch.eye(2, dtype=torch.float64)
    kl_model, kl_gaussian = kl_mixture_to_gaussians(
        weights, means, variance, [(model_mean, model_cov), (exact_mean, exact_cov)], num_draws, seed
    )
    heaviest = int(torch.argmax(weights))
    return ToyReverseStep(
        t=t,
        prev_t=prev_t,
        x_t=x_t,
        weights=weights,
        component_means=means,
        component_variance=variance,
        exact_mean=exact_mean,
        exact_cov=exact_cov,
        model_mean=model_mean,
        model_variance=model_variance,
        heaviest_index=heaviest,
        tractable_mean=means[heaviest],
        num_heavy=int((weights >= HEAVY_WEIGHT).sum()),
        kl_model=kl_model,
        kl_gaussian=kl_gaussian,
        kl_best_to_model=gaussian_kl(exact_mean, exact_cov, model_mean, model_cov),
    )


def stride_table(
    posterior: DatasetPosterior,
    x_t,
    t: int,
    strides: Sequence[int] = STRIDES,
    num_draws: int = KL_DRAWS,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """KL(exact ‖ best Gaussian) of the step t → t − Δ at x_t for each Δ (clipped to t; repeats after clipping
    dropped): rows {stride, prev_t, kl_gaussian_nats, standard_error, num_heavy}. Small Δ: nearly 0 (one step of
    the reverse process is nearly Gaussian); large Δ from a point between modes: large (the step is multimodal)."""
    rows, seen = [], set()
    for stride in strides:
        stride = min(check_int("stride", stride, 1), t)
        if stride in seen:
            continue
        seen.add(stride)
        weights, means, variance = exact_step(posterior, x_t, t, t - stride)
        (kl,) = kl_mixture_to_gaussians(
            weights, means, variance, [moment_matched(weights, means, variance)], num_draws, seed
        )
        rows.append(
            {
                "stride": stride,
                "prev_t": t - stride,
                "kl_gaussian_nats": kl.nats,
                "standard_error": kl.standard_error,
                "num_heavy": int((weights >= HEAVY_WEIGHT).sum()),
            }
        )
    return rows


# ---------------------------------------------------------------------------------------------- command line
def main(argv: Sequence[str] | None = None) -> None:
    """python -m pipelines.toy2d --dataset two_moons: train the shipped p_θ of a data set into models/toy2d/."""
    from .checks import OneLineParser

    parser = OneLineParser(description=main.__doc__)
    parser.add_argument("--dataset", default="all", help=f"one of {', '.join(DATASETS)}, or all (default)")
    parser.add_argument("--num_points", type=int, default=DEFAULT_NUM_POINTS)
    parser.add_argument("--train_steps", type=int, default=SHIPPED_TRAIN_STEPS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output_dir", default=str(WEIGHTS_DIR))
    args = parser.parse_args(argv)
    try:
        names = list(DATASETS) if args.dataset == "all" else [check_dataset(args.dataset, "--dataset")]
        check_num_points(args.num_points, "--num_points")
        check_train_steps(args.train_steps, "--train_steps")
        check_seed(args.seed, "--seed")
    except ValueError as error:
        parser.error(str(error))
    for name in names:
        start = time.perf_counter()
        model = new_toy_model(args.seed)
        losses = [r.loss for r in train_toy(model, load_points(name, args.num_points), args.train_steps, args.seed)]
        model.save_pretrained(Path(args.output_dir) / name, safe_serialization=True)
        print(
            f"{name}: {args.train_steps} steps on {args.num_points} points in {time.perf_counter() - start:.1f} s, "
            f"loss of the last 500 steps {np.mean(losses[-500:]):.4f}"
        )


if __name__ == "__main__":
    main()
