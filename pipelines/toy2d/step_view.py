"""One reverse step in 2-D, exact and learned, with everything the page shows: `toy_step_view` → `ToyStepView`.

The exact step q(x_{t-Δ} | x_t) over N points is a mixture of N Gaussians (`DatasetPosterior`): weights
q(x_0^i | x_t), which depend on t only, and components q(x_{t-Δ} | x_t, x_0^i) = N(μ̃(x_t, x_0^i), β̃ I) of the
respaced step (Ho et al. eq. 6-7). p_θ is one Gaussian N(μ_θ(x_t, t), σ² I) from ε_θ(x_t, t) (the scheduler's
`p_mean_variance`), with σ² one of the scheduler's variances (VARIANCES): fixed_small β̃ (the posterior's),
fixed_large β (the forward step's) or analytic σ*² (Bao et al. 2022, the KL-optimal variance from
Γ_t = E_{x_t ~ q(x_t)} ‖ε_θ(x_t, t)‖² / d, here a seeded Monte-Carlo average over the N training points).

For Gaussians the moment projection splits the KL exactly: KL(exact ‖ p_θ) = KL(exact ‖ best Gaussian) +
KL(best ‖ p_θ), and the second part splits in closed form into a part from p_θ's mean and one from its variance."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

from pipelines.checks import check_int, check_seed, short_repr
from pipelines.ddpm.optimal_variance import optimal_variance
from pipelines.ddpm.scheduler import VARIANCE_SYMBOLS, PosteriorDDPMScheduler
from pipelines.exact.posterior import DatasetPosterior
from pipelines.toy2d.data import POINT_SHAPE, as_images, as_points
from pipelines.toy2d.densities import (
    KL_DRAWS,
    MIN_KL_DRAWS,
    KLEstimate,
    gaussian_kl,
    gaussian_kl_split,
    kl_mixture_to_gaussians,
    moment_matched,
    significant,
)
from pipelines.toy2d.model import ToyEpsilonMLP

# The 2-D tab's default step (and the one the variance tab quotes): x_t between the two moons, t = 60 → 10, a step
# that splits into two modes.
DEFAULT_T, DEFAULT_STRIDE, DEFAULT_X_T = 60, 50, (0.0, 0.0)
STRIDES = (1, 10, 100, 500)  # the stride table's Δ (each clipped to t), beside the chosen one
HEAVY_WEIGHT = 0.01  # a mixture component "counts" when q(x_0^i | x_t) >= 1 %
VARIANCES = tuple(
    VARIANCE_SYMBOLS
)  # p_θ's variances, the scheduler's names: fixed_small (β̃), fixed_large (β), analytic (σ*²)
GAMMA_DRAWS = 4096  # at least this many x_t ~ q(x_t) (every training point equally often) for Γ_t
DENSITY_RESOLUTION = 120  # the zoomed density is evaluated on this many points per side
KL_TOLERANCE = (0.01, 0.01)  # draw until each KL's standard error is ≤ 0.01 nats or ≤ 1 % of it (≤ KL_DRAWS)
WINDOW_SIGMAS = 4.0  # the zoomed view: the exact mixture and p_θ's β̃ Gaussian ± this many standard deviations
NEARLY_GAUSSIAN_NATS = 0.01  # a step whose best Gaussian misses the exact one by less is nearly Gaussian …
SPLIT_NATS = 0.1  # … and one it misses by more lands on separate parts of the data


def check_stride(stride, t: int, name: str = "stride", integral_floats: bool = False) -> int:
    """Δ of the step t → t − Δ: an integer in [1, t] (so t − Δ >= 0)."""
    return check_int(name, stride, 1, t, integral_floats, f" (prev_t = t − stride >= 0 at t = {t})")


def _check_point_and_time(posterior: DatasetPosterior, x_t, t) -> tuple[torch.Tensor, int]:
    """The public entry points' checks: a posterior over 2-D points, x_t one finite point, t in [1, T − 1]."""
    if tuple(posterior.image_shape) != POINT_SHAPE:
        raise ValueError(f"posterior must be over 2-D points (image shape {POINT_SHAPE}), got {posterior.image_shape}")
    x_t = torch.as_tensor(x_t, dtype=torch.float64).reshape(-1)
    if x_t.numel() != 2 or not bool(torch.isfinite(x_t).all()):
        raise ValueError(f"x_t must be one finite 2-D point (x, y), got {short_repr(x_t.tolist())}")
    return x_t, check_int("t", t, 1, posterior.num_train_timesteps - 1)


@torch.inference_mode()
def exact_step(posterior: DatasetPosterior, x_t, t: int, prev_t: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """The exact q(x_{prev_t} | x_t) = Σ_i w_i N(μ̃(x_t, x_0^i), β̃ I) at one 2-D point: (weights (N,), component
    means (N, 2), β̃), from DatasetPosterior and the scheduler's posterior coefficients (eq. 6-7) in float64."""
    x_t, t = _check_point_and_time(posterior, x_t, t)
    prev_t = check_int("prev_t", prev_t, 0, t - 1)
    weights = posterior.x0_posterior(x_t.reshape(1, *POINT_SHAPE), t)[0].double()
    means, variance = _components(posterior, x_t, t, prev_t)
    return weights, means, variance


def _components(posterior: DatasetPosterior, x_t: torch.Tensor, t: int, prev_t: int) -> tuple[torch.Tensor, float]:
    """The components' means μ̃(x_t, x_0^i) (N, 2) and their variance β̃ (eq. 7); the caller has checked t, prev_t."""
    coef1, coef2, variance = posterior.scheduler.posterior_coefficients(t, prev_t)
    return coef1 * as_points(posterior.data).double() + coef2 * x_t, variance


@torch.inference_mode()
def gamma(model: ToyEpsilonMLP, scheduler: PosteriorDDPMScheduler, points, t: int, seed: int = 0) -> float:
    """Γ_t = E_{x_t ~ q(x_t)} ‖ε_θ(x_t, t)‖² / d (Bao et al. 2022), q(x_t) over the training points (N, 2):
    every point noised equally often, at least GAMMA_DRAWS draws in all, the noise seeded."""
    return _gamma(model, scheduler, points, t, check_seed(seed))


def _gamma(model: ToyEpsilonMLP, scheduler: PosteriorDDPMScheduler, points, t: int, seed: int) -> float:
    x0 = as_images(torch.as_tensor(points).float())
    x0 = x0.repeat(math.ceil(GAMMA_DRAWS / len(x0)), 1, 1, 1)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    eps = model(scheduler.add_noise(x0, noise, torch.full((len(x0),), t)), torch.tensor(t)).sample
    return float((eps.double() ** 2).sum() / eps.numel())


@torch.inference_mode()
def model_step(
    model: ToyEpsilonMLP, scheduler: PosteriorDDPMScheduler, x_t, t: int, prev_t: int, model_output=None
) -> tuple[torch.Tensor, float, torch.Tensor]:
    """p_θ(x_{prev_t} | x_t) at one point as the sampler uses it: the scheduler's `p_mean_variance` with ε_θ(x_t, t)
    (x̂_0 clipped as the scheduler clips it). model_output: ε_θ(x_t, t) if already computed (it depends on t only).
    Returns (mean (2,) float64, the configured variance σ², pred_original_sample (2,))."""
    image = torch.as_tensor(x_t, dtype=torch.float32).reshape(1, *POINT_SHAPE)
    if model_output is None:
        model_output = model(image, torch.tensor(t)).sample
    out = scheduler.p_mean_variance(model_output, image, t, prev_t)
    variance = float(torch.as_tensor(out.variance).reshape(-1)[0])
    return as_points(out.mean)[0].double(), variance, as_points(out.pred_original_sample)[0].double()


def model_variances(scheduler: PosteriorDDPMScheduler, t: int, prev_t: int, gamma_t: float) -> dict[str, float]:
    """p_θ's three variances for the step t → prev_t, by the scheduler's names (VARIANCES): fixed_small β̃ (eq. 7),
    fixed_large β = 1 − ᾱ_t/ᾱ_prev, analytic σ*² (Bao et al.)."""
    a_t, a_prev = (float(scheduler.alphas_cumprod[k]) for k in (t, prev_t))
    return {
        "fixed_small": scheduler.posterior_coefficients(t, prev_t)[2],
        "fixed_large": 1.0 - a_t / a_prev,
        "analytic": optimal_variance(a_t, a_prev, gamma_t),
    }


@dataclass
class StepKLs:
    """The step t → prev_t at x_t: the exact mixture's moments and KL(exact ‖ ·) to the best Gaussian (Monte-Carlo),
    to p_θ with the configured variance and to p_θ with each of VARIANCES (that plus KL(best ‖ p_θ) in closed form:
    the same standard error). variances and kl_by_variance are keyed by the scheduler's names (VARIANCES)."""

    prev_t: int
    component_means: torch.Tensor
    component_variance: float
    exact_mean: torch.Tensor
    exact_cov: torch.Tensor
    model_mean: torch.Tensor
    model_variance: float
    variances: dict[str, float]
    kl_gaussian: KLEstimate
    kl_model: KLEstimate
    kl_by_variance: dict[str, KLEstimate]

    @property
    def true_variance(self) -> float:
        """The exact step's variance per coordinate, tr Cov / 2 (the number p_θ's σ² is compared with)."""
        return float(torch.trace(self.exact_cov)) / 2


@dataclass
class ToyStepView:
    """Everything the 2-D tab shows for one reverse step x_t → x_{prev_t} (tensors float64).

    weights (N,): q(x_0^i | x_t), the same for every stride. step: the chosen step (`StepKLs`: the components, the
    exact moments — the best Gaussian —, p_θ as the sampler uses it and with each of VARIANCES, and the KLs;
    step.kl_model.nats is KL(exact ‖ p_θ)); gamma_t: the Γ_t behind σ*². kl_best_to_model = kl_model_mean +
    kl_model_variance: KL(best ‖ p_θ) in closed form, from p_θ's mean and from its variance.
    stride_rows: the same step for each stride of the table. window: (centre x, centre y, half-width) of the zoomed
    view; density (R, R) on the grid density_xs × density_ys: the exact density there (rows: y)."""

    t: int
    prev_t: int
    x_t: torch.Tensor
    points: torch.Tensor
    weights: torch.Tensor
    step: StepKLs
    heaviest_index: int
    num_heavy: int
    effective_number: float
    gamma_t: float
    kl_best_to_model: float
    kl_model_mean: float
    kl_model_variance: float
    stride_rows: list[StepKLs]
    window: tuple[float, float, float]
    density_xs: torch.Tensor
    density_ys: torch.Tensor
    density: torch.Tensor
    num_draws: int
    seed: int
    scheduler_config: dict = field(default_factory=dict)

    @property
    def stride(self) -> int:
        return self.t - self.prev_t

    @property
    def tractable_mean(self) -> torch.Tensor:
        """μ̃(x_t, x_0^heaviest): the tractable q(x_{prev_t} | x_t, x_0) of the heaviest x_0."""
        return self.step.component_means[self.heaviest_index]

    @property
    def heaviest_weight(self) -> float:
        return float(self.weights[self.heaviest_index])

    @property
    def model_std(self) -> float:
        """σ of p_θ as the sampler uses it."""
        return self.step.model_variance**0.5

    @property
    def model_mean_error(self) -> float:
        return float((self.step.model_mean - self.step.exact_mean).norm())

    @property
    def model_mean_error_stds(self) -> float:
        """‖μ_θ − μ‖ in p_θ's standard deviations."""
        return self.model_mean_error / self.model_std

    @property
    def kl_method(self) -> str:
        """How the KLs were estimated (the API's kl_method)."""
        return (
            f"Monte-Carlo, {self.step.kl_model.num_draws:,} draws from the exact mixture (seeded; as many as it takes, "
            f"{MIN_KL_DRAWS:,} to {self.num_draws:,}, for a standard error ≤ {KL_TOLERANCE[0]:g} nats or "
            f"{KL_TOLERANCE[1]:.0%} of the estimate)"
        )

    @property
    def stride_shape(self) -> str:
        """How Gaussian the step is across the stride table, by KL(exact ‖ best Gaussian): "splits" (the smallest
        stride within NEARLY_GAUSSIAN_NATS, the largest over SPLIT_NATS), "one_mode" (even the largest within
        SPLIT_NATS) or "never" (even the smallest stride is not quite Gaussian)."""
        small, big = self.stride_rows[0].kl_gaussian.nats, self.stride_rows[-1].kl_gaussian.nats
        if small < NEARLY_GAUSSIAN_NATS and big > SPLIT_NATS:
            return "splits"
        return "one_mode" if big <= SPLIT_NATS else "never"

    def top(self, count: int = 10) -> list[list]:
        """The heaviest components as [index, weight] pairs, heaviest first."""
        weights, index = torch.sort(self.weights, descending=True)
        return [[int(i), float(w)] for i, w in zip(index[:count], weights[:count])]

    def as_dict(self) -> dict[str, Any]:
        """The JSON summary of the API (README documents every key)."""
        step = self.step
        return {
            "num_points": len(self.points),
            "seed": self.seed,
            "scheduler": self.scheduler_config,
            "points": self.points.float().tolist(),
            "t": self.t,
            "prev_t": self.prev_t,
            "stride": self.stride,
            "x_t": self.x_t.tolist(),
            "exact_mean": step.exact_mean.tolist(),
            "exact_cov": step.exact_cov.tolist(),
            "exact_top": self.top(10),
            "exact_effective_n": self.effective_number,
            "num_heavy": self.num_heavy,
            "heavy_weight": HEAVY_WEIGHT,
            "component_std": step.component_variance**0.5,
            "tractable_mean": self.tractable_mean.tolist(),
            "model_mean": step.model_mean.tolist(),
            "model_std": self.model_std,
            "model_std_analytic": step.variances["analytic"] ** 0.5,
            "model_stds": {name: value**0.5 for name, value in step.variances.items()},
            "gamma_t": self.gamma_t,
            "kl_model_nats": step.kl_model.nats,
            "kl_model_standard_error": step.kl_model.standard_error,
            "kl_gaussian_nats": step.kl_gaussian.nats,
            "kl_gaussian_standard_error": step.kl_gaussian.standard_error,
            "kl_best_to_model_nats": self.kl_best_to_model,
            "kl_model_mean_nats": self.kl_model_mean,
            "kl_model_variance_nats": self.kl_model_variance,
            "model_mean_error": self.model_mean_error,
            "model_mean_error_stds": self.model_mean_error_stds,
            "kl_method": self.kl_method,
            "stride_table": [
                {
                    "stride": self.t - row.prev_t,
                    "prev_t": row.prev_t,
                    "kl_gaussian_nats": row.kl_gaussian.nats,
                    "standard_error": row.kl_gaussian.standard_error,
                    "num_heavy": self.num_heavy,
                }
                for row in self.stride_rows
            ],
            "variance_table": [
                {
                    "stride": self.t - row.prev_t,
                    "variance": name,
                    "variance_value": row.variances[name],
                    "kl_model_nats": row.kl_by_variance[name].nats,
                    "standard_error": row.kl_by_variance[name].standard_error,
                }
                for row in self.stride_rows
                for name in VARIANCES
            ],
            "window": list(self.window),
        }


@dataclass(frozen=True)
class _AtPoint:
    """What every stride of one view shares (checked by `toy_step_view`): x_t (2,) at t, q(x_0 | x_t) (N,) and the
    components that can matter (`significant`), ε_θ(x_t, t), Γ_t, and the KL estimates' draws and seed."""

    posterior: DatasetPosterior
    model: ToyEpsilonMLP
    x_t: torch.Tensor
    t: int
    weights: torch.Tensor
    keep: torch.Tensor
    eps: torch.Tensor
    gamma_t: float
    num_draws: int
    seed: int


def _step_kls(at: _AtPoint, prev_t: int) -> StepKLs:
    """The step at.t → prev_t at at.x_t (`StepKLs`)."""
    scheduler = at.posterior.scheduler
    means, variance = _components(at.posterior, at.x_t, at.t, prev_t)
    exact_mean, exact_cov = moment_matched(at.weights, means, variance)
    model_mean, model_variance, _ = model_step(at.model, scheduler, at.x_t, at.t, prev_t, at.eps)
    variances = model_variances(scheduler, at.t, prev_t, at.gamma_t)
    w = at.weights[at.keep] / at.weights[at.keep].sum()
    (best,) = kl_mixture_to_gaussians(
        w, means[at.keep], variance, [(exact_mean, exact_cov)], at.num_draws, at.seed, KL_TOLERANCE
    )

    def to_model(model_variance: float) -> KLEstimate:
        # KL(exact ‖ q) = KL(exact ‖ best) + KL(best ‖ q) for every Gaussian q, exactly: log best − log q is
        # quadratic in x, so its mean under the exact step equals its mean under the best Gaussian (same moments).
        gap = gaussian_kl(exact_mean, exact_cov, model_mean, model_variance * torch.eye(2, dtype=torch.float64))
        return KLEstimate(best.nats + gap, best.standard_error, best.num_draws)

    return StepKLs(
        prev_t=prev_t,
        component_means=means,
        component_variance=variance,
        exact_mean=exact_mean,
        exact_cov=exact_cov,
        model_mean=model_mean,
        model_variance=model_variance,
        variances=variances,
        kl_gaussian=best,
        kl_model=to_model(model_variance),
        kl_by_variance={name: to_model(variances[name]) for name in VARIANCES},
    )


def zoom_window(step: StepKLs) -> tuple[float, float, float]:
    """Centre (x, y) and half-width of the zoomed view: the exact mixture and p_θ (β̃) ± WINDOW_SIGMAS standard
    deviations, p_θ's mean inside, and room for the 1σ ellipse of the widest p_θ."""
    centre = step.exact_mean
    spread = math.sqrt(float(torch.linalg.eigvalsh(step.exact_cov).max()))
    half = max(
        WINDOW_SIGMAS * spread,
        WINDOW_SIGMAS * math.sqrt(step.variances["fixed_small"]),
        1.2 * math.sqrt(max(step.variances.values())),
        1.3 * float((step.model_mean - centre).abs().max()),
    )
    return float(centre[0]), float(centre[1]), half


def density_grid(weights, step: StepKLs, window, resolution: int = DENSITY_RESOLUTION):
    """The exact density q(x_{prev_t} | x_t) on a resolution² grid over the window: (xs, ys, density (R, R), rows y).

    An isotropic Gaussian factorises, N(x; m, vI) = φ(x₁ − m₁)·φ(x₂ − m₂), so the grid is one matrix product:
    density[k, j] = Σ_i φ(ys_k − m_i2) w_i φ(xs_j − m_i1) — exact, for every component."""
    cx, cy, half = window
    xs = torch.linspace(cx - half, cx + half, resolution, dtype=torch.float64)
    ys = torch.linspace(cy - half, cy + half, resolution, dtype=torch.float64)
    means, variance = step.component_means, step.component_variance
    norm = 1.0 / math.sqrt(2.0 * math.pi * variance)
    along_x = norm * torch.exp(-((xs[None, :] - means[:, :1]) ** 2) / (2.0 * variance))  # (N, R)
    along_y = norm * torch.exp(-((ys[None, :] - means[:, 1:]) ** 2) / (2.0 * variance))
    return xs, ys, along_y.T @ (weights[:, None] * along_x)


@torch.inference_mode()
def toy_step_view(
    posterior: DatasetPosterior,
    model: ToyEpsilonMLP,
    x_t,
    t: int,
    stride: int,
    seed: int = 0,
    strides: Sequence[int] = STRIDES,
    num_draws: int = KL_DRAWS,
    gamma_t: float | None = None,
) -> ToyStepView:
    """The step x_t → x_{t−stride} at one 2-D point, exact and learned, and the same for every stride of the table
    (each clipped to t; the chosen stride included): q(x_0 | x_t) and ε_θ(x_t, t) are computed once and reused.

    posterior: over 2-D points; x_t: one finite point (x, y); t in [1, T − 1]; stride in [1, t]; seed in
    [0, 2³² − 1]; strides: integers >= 1; num_draws >= 2. ValueError naming the parameter otherwise.
    gamma_t: Γ_t if the caller already has it (`gamma` of the same model, training points, t and seed: it does not
    depend on x_t or the stride), else computed here."""
    x_t, t = _check_point_and_time(posterior, x_t, t)
    prev_t = t - check_stride(stride, t)
    seed = check_seed(seed)
    num_draws = check_int("num_draws", num_draws, 2)
    table = sorted({min(check_int("stride", s, 1), t) for s in strides} | {t - prev_t})
    scheduler = posterior.scheduler
    weights = posterior.x0_posterior(x_t.reshape(1, *POINT_SHAPE), t)[0].double()
    eps = model(x_t.float().reshape(1, *POINT_SHAPE), torch.tensor(t)).sample
    points = as_points(posterior.data).double()
    gamma_t = _gamma(model, scheduler, points, t, seed) if gamma_t is None else float(gamma_t)
    at = _AtPoint(posterior, model, x_t, t, weights, significant(weights), eps, gamma_t, num_draws, seed)
    rows = [_step_kls(at, t - s) for s in table]
    step = next(row for row in rows if row.prev_t == prev_t)
    mean_part, variance_part = gaussian_kl_split(step.exact_mean, step.exact_cov, step.model_mean, step.model_variance)
    window = zoom_window(step)
    xs, ys, density = density_grid(weights, step, window)
    heaviest = int(torch.argmax(weights))
    return ToyStepView(
        t=t,
        prev_t=prev_t,
        x_t=x_t,
        points=points,
        weights=weights,
        step=step,
        heaviest_index=heaviest,
        num_heavy=int((weights >= HEAVY_WEIGHT).sum()),
        effective_number=float(1.0 / (weights * weights).sum()),
        gamma_t=gamma_t,
        kl_best_to_model=gaussian_kl(
            step.exact_mean, step.exact_cov, step.model_mean, step.model_variance * torch.eye(2, dtype=torch.float64)
        ),
        kl_model_mean=mean_part,
        kl_model_variance=variance_part,
        stride_rows=rows,
        window=window,
        density_xs=xs,
        density_ys=ys,
        density=density,
        num_draws=num_draws,
        seed=seed,
        scheduler_config={key: _json_safe(value) for key, value in scheduler.config.items()},
    )


def _json_safe(value):
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return value
