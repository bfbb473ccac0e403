"""Densities of the 2-D world: Gaussians, mixtures of isotropic Gaussians (the exact reverse step), the moment-matched
Gaussian, and KL divergences — closed form between Gaussians, Monte-Carlo from a mixture to a Gaussian.

KL(mixture ‖ Gaussian) has no closed form: it is estimated by Monte-Carlo, E_{x ~ exact}[log exact(x) − log q(x)]
over draws from the exact mixture (seeded), with its standard error. The Gaussian closest to the mixture in
KL(exact ‖ ·) is the one with the mixture's mean and covariance (moment matching), so KL(exact ‖ moment-matched) is
the least any Gaussian p_θ can reach at a step: the price of "one Gaussian" (Sohl-Dickstein et al. 2015)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch

from pipelines.checks import check_int, check_seed

KL_DRAWS = 10_000  # Monte-Carlo draws from the exact mixture per KL estimate (at most)
MIN_KL_DRAWS = 1000  # with a tolerance: the first round of draws
_NEGLIGIBLE_WEIGHT = 1e-12  # components lighter than this are dropped from densities (their total mass ≤ N·1e-12)
NEGLIGIBLE_MASS = 1e-6  # `significant` drops the lightest components whose weights add up to at most this


def significant(weights: torch.Tensor, mass: float = NEGLIGIBLE_MASS) -> torch.Tensor:
    """Indices of the heaviest components of a mixture that together hold all but at most `mass` of its weight.

    A KL from the mixture changes by O(mass · log(1/mass)) when the rest is dropped and the kept weights are
    renormalised (at 1e-6, about 1e-5 nats), far below a Monte-Carlo standard error."""
    order = torch.argsort(weights, descending=True)
    tail = torch.flip(torch.cumsum(torch.flip(weights[order].double(), (0,)), 0), (0,))  # mass from k to the end
    keep = int((tail > mass * float(weights.sum())).sum())
    return order[: max(keep, 1)]


def gaussian_log_density(x: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """log N(x; mean, cov) for rows x (M, 2), float64 (M,); the 2×2 inverse and determinant in closed form."""
    x, mean, cov = x.double(), torch.as_tensor(mean).double().reshape(1, 2), torch.as_tensor(cov).double().reshape(2, 2)
    a, b, c = float(cov[0, 0]), float(cov[0, 1]), float(cov[1, 1])
    det = a * c - b * b
    if not (a > 0 and det > 0):
        raise ValueError(f"cov must be positive definite, got {cov.tolist()}")
    d = x - mean
    quad = (c * d[:, 0] ** 2 - 2.0 * b * d[:, 0] * d[:, 1] + a * d[:, 1] ** 2) / det
    return -0.5 * quad - 0.5 * math.log(det) - math.log(2.0 * math.pi)


def mixture_log_density(
    x: torch.Tensor, weights: torch.Tensor, means: torch.Tensor, variance: float, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """log Σ_i w_i N(x; m_i, variance·I) for rows x (M, 2), means (N, 2), weights (N,) summing to 1; float64 (M,).
    Components with w_i < 1e-12 are left out (their total mass is at most N·1e-12).

    With coordinates centred on the components and scaled by √(2·variance), the exponent is
    log w_i − ‖x − m_i‖² = (log w_i − ‖m_i‖² + 2 x·m_i) − ‖x‖²: one matrix product, then a log-sum-exp. The rows
    are grouped into cells of the plane; a component is left out of a cell's sum when, anywhere in the cell, its
    term is below e^−PRUNE_EXPONENT of the largest term there (so each log-density is off by < N·e^−PRUNE_EXPONENT).
    dtype: the precision of the product (float32: about twice as fast, log-densities to about 1e-5)."""
    keep = weights >= _NEGLIGIBLE_WEIGHT * weights.max()
    w, m = weights[keep].double(), means[keep].double()
    centre, scale = w @ m, 1.0 / math.sqrt(2.0 * variance)
    m, x = (m - centre) * scale, (x.double() - centre) * scale
    log_w = torch.log(w)
    bias, m2 = (log_w - (m * m).sum(1)).to(dtype), (2.0 * m).to(dtype)
    out = torch.empty(x.shape[0], dtype=torch.float64)
    cells = []
    for rows, low, high in _cells(x) if len(x) * len(m) > _PRUNE_FROM else ():
        # the farthest and the nearest a point of the cell [low, high] can be from each component
        far = torch.maximum((m - low).abs(), (m - high).abs())
        near = (torch.maximum(low - m, m - high)).clamp_min(0.0)
        floor = float((log_w - (far * far).sum(1)).max())  # every point of the cell has a term at least this big
        cells.append((rows, log_w - (near * near).sum(1) >= floor - PRUNE_EXPONENT))
    if not cells or sum(len(rows) * int(use.sum()) for rows, use in cells) > 0.7 * len(x) * len(m):  # no gain
        cells = [(torch.arange(len(x)), torch.ones(len(m), dtype=torch.bool))]
    for rows, use in cells:
        for part_rows in torch.split(rows, max(1, (1 << 21) // max(int(use.sum()), 1))):
            part = x[part_rows]
            lse = torch.logsumexp(torch.addmm(bias[use], part.to(dtype), m2[use].T), dim=1).double()
            out[part_rows] = lse - (part * part).sum(1)
    return out - math.log(2.0 * math.pi * variance)


PRUNE_EXPONENT = 20.0  # a component whose term is below e^-20 of the largest one at a point is left out there
_CELLS_PER_SIDE = 12
_PRUNE_FROM = 1 << 22  # rows × components below which one matrix product is faster than cells


def _cells(x: torch.Tensor):
    """The rows of x (M, 2) grouped by a 12×12 grid over their bounding box: (row indices, cell low, cell high)."""
    low, high = x.min(0).values, x.max(0).values
    size = (high - low).clamp_min(1e-12) / _CELLS_PER_SIDE
    index = ((x - low) / size).floor().clamp(0, _CELLS_PER_SIDE - 1).long()
    cell = index[:, 0] * _CELLS_PER_SIDE + index[:, 1]
    order = torch.argsort(cell)
    cells, counts = torch.unique_consecutive(cell[order], return_counts=True)
    for c, rows in zip(cells.tolist(), torch.split(order, counts.tolist())):
        corner = low + size * torch.tensor([c // _CELLS_PER_SIDE, c % _CELLS_PER_SIDE], dtype=x.dtype)
        yield rows, corner, corner + size


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


def gaussian_kl_split(mean_p, cov_p, mean_q, variance_q: float) -> tuple[float, float]:
    """KL(N(mean_p, cov_p) ‖ N(mean_q, variance_q·I)) in 2-D split exactly into (the part from the means,
    the part from the covariances): ½‖mean_q − mean_p‖²/variance_q, and KL(N(mean_p, cov_p) ‖ N(mean_p,
    variance_q·I)) = ½(tr cov_p / variance_q − 2 + 2 log variance_q − log det cov_p). They add up to `gaussian_kl`."""
    mp, mq = torch.as_tensor(mean_p).double().reshape(2), torch.as_tensor(mean_q).double().reshape(2)
    cp = torch.as_tensor(cov_p).double().reshape(2, 2)
    diff = mq - mp
    mean_part = 0.5 * float(diff @ diff) / variance_q
    variance_part = 0.5 * (float(torch.trace(cp)) / variance_q - 2.0 + 2.0 * math.log(variance_q))
    return mean_part, variance_part - 0.5 * float(torch.logdet(cp))


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
    tolerance: tuple[float, float] | None = None,
) -> list[KLEstimate]:
    """KL(p ‖ q) for the mixture p = Σ_i w_i N(m_i, variance·I) and each Gaussian q = N(mean, cov) in gaussians,
    from the same draws x ~ p (seeded): num_draws of them, or with tolerance = (nats, fraction) only as many as it
    takes (MIN_KL_DRAWS first, then as many more as the standard errors say are missing, at most num_draws) for
    every standard error to be at most that many nats
    or that fraction of its estimate, whichever is larger.

    The estimate is the mean of log p(x) − log q(x) (unbiased) plus c·(r − 1) with r = q(x)/p(x), a control
    variate of mean 0 (E_p[r] = ∫q = 1) whose weight c is fitted to the draws (least squares), used only when the
    draws agree that its mean is 0. The pointwise
    log-ratio alone is noisy around 0 when q ≈ p; with c ≈ 1 the terms are (r − 1) − log r ≥ 0, exactly 0 for
    q = p, so a nearly Gaussian step reads as a small number with a small standard error. For a q far from p,
    c ≈ 0 and it is the plain average."""
    num_draws = check_int("num_draws", num_draws, 2)
    generator = torch.Generator().manual_seed(check_seed(seed))
    batch = num_draws if tolerance is None else min(MIN_KL_DRAWS, num_draws)
    log_ratios = [torch.empty(0, dtype=torch.float64) for _ in gaussians]
    while True:
        draws = sample_mixture(weights, means, variance, batch, generator)
        log_p = mixture_log_density(draws, weights, means, variance, dtype=torch.float32)
        for k, (mean, cov) in enumerate(gaussians):
            log_ratios[k] = torch.cat([log_ratios[k], gaussian_log_density(draws, mean, cov) - log_p])
        estimates = [_kl_estimate(log_r) for log_r in log_ratios]
        drawn = len(log_ratios[0])
        if drawn >= num_draws or all(
            e.standard_error <= max(tolerance[0], tolerance[1] * abs(e.nats)) for e in estimates
        ):
            return estimates
        # the standard error falls as 1/√draws: draw about as many more as that says are missing (+10 %)
        worst = max((e.standard_error / max(tolerance[0], tolerance[1] * abs(e.nats))) ** 2 for e in estimates)
        batch = int(min(max(math.ceil(drawn * (1.1 * worst - 1.0)), MIN_KL_DRAWS // 4), num_draws - drawn))


def _kl_estimate(log_r: torch.Tensor) -> KLEstimate:
    """KL(p ‖ q) from log r = log q(x) − log p(x) at draws x ~ p, with the control variate r − 1."""
    num_draws = len(log_r)
    k1, control = -log_r, torch.expm1(log_r)  # E_p[k1] = KL, E_p[control] = 0
    spread = control - control.mean()
    var = float((spread * spread).mean())
    # The control is only usable when its sample mean is 0 within 3 standard errors: when q has mass where the
    # draws never go (a wide q over narrow spikes), r − 1 averages to about −1 and would bias the estimate.
    usable = 0.0 < var < math.inf and abs(float(control.mean())) <= 3.0 * math.sqrt(var / num_draws)
    c = -float(((k1 - k1.mean()) * spread).mean()) / var if usable else 0.0
    terms = k1 + c * control
    return KLEstimate(float(terms.mean()), float(terms.std(unbiased=True) / math.sqrt(num_draws)), num_draws)
