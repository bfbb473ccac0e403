"""A better x̂_0 for the posterior step: multistep extrapolation of the model's last x̂_0 guesses (Lu et al. 2022,
"DPM-Solver++", §4 and Appendix; the stochastic variant is SDE-DPM-Solver++).

The reverse step stays the posterior q(x_prev | x_t, x_0) of the η family (Song et al. 2021, eq. 7 and 12) with
x_0 replaced by a guess; only the guess changes. Order 1 is the model's own x̂_0 (Ho et al.'s step). Orders 2
and 3 treat x̂_0 as a function of the log signal-to-noise ratio λ = ½ log(ᾱ / (1 − ᾱ)) and integrate its
Taylor expansion (from the last one or two steps' x̂_0) against the step's exponential weight, exactly as
DPM-Solver++ does: in posterior form the step is

    mean = √ᾱ_prev · x̂_0* + √(1 − ᾱ_prev − σ²) · ε̂(x_t, x̂_0*),

and x̂_0* = D0 + w1·D1 + w2·D2 (DPM-Solver++ eq. 9 and its 3rd-order multistep), where D0 is this step's x̂_0, D1
and D2 its first and second divided differences in λ scaled by the step's h = λ_prev − λ_t, and w1, w2 the
weights of the exponential integrator whose rate c makes the posterior's coefficient of x̂_0 equal to
√ᾱ_prev (1 − e^{−ch}): c = 2 for η = 1 (SDE-DPM-Solver++), c = 1 for η = 0 (the ODE, DPM-Solver++).

With η = 1 this is diffusers' `DPMSolverMultistepScheduler(algorithm_type="sde-dpmsolver++")`: order 1 is its
first-order step, order 2 its 2M step (the "midpoint" w1 = ½, diffusers' default solver_type), and the step order
follows its `lower_order_final` rules (`step_order`). At order 3 the D2 weight is the integral's; see `x0_weights`.

The state — the previous steps' x̂_0 and their timesteps — is a plain tuple passed in and returned (`History`),
so one scheduler instance serves any number of concurrent chains.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from pipelines.checks import is_int

ORDERS = (1, 2, 3)
MAX_ORDER = ORDERS[-1]
# Below this many steps the last two steps lower their order (diffusers' lower_order_final, for stability).
LOWER_ORDER_FINAL_STEPS = 15

# The previous steps' (timestep, x̂_0), oldest first, at most MAX_ORDER − 1 of them.
History = tuple[tuple[int, torch.Tensor], ...]


def check_order(order) -> int:
    """The multistep order as an int in [1, 3]; ValueError naming `order` and the range otherwise."""
    if not is_int(order) or not ORDERS[0] <= int(order) <= MAX_ORDER:
        raise ValueError(
            f"order must be an integer in [{ORDERS[0]}, {MAX_ORDER}] (1 = the model's x̂_0, 2 and 3 = the multistep "
            f"extrapolation of the last x̂_0 guesses), got {order!r}"
        )
    return int(order)


def check_history(history) -> History:
    """None → (); else a tuple of (int timestep, tensor) pairs."""
    if history is None:
        return ()
    if not isinstance(history, (tuple, list)) or not all(
        isinstance(item, (tuple, list)) and len(item) == 2 and is_int(item[0]) and isinstance(item[1], torch.Tensor)
        for item in history
    ):
        raise ValueError("history must be a tuple of (timestep, x̂_0 tensor) pairs, as step() returns it")
    return tuple((int(t), x0) for t, x0 in history)


def step_order(order: int, index: int, num_steps: int) -> int:
    """The order step `index` (0-based) of a `num_steps` chain uses, as diffusers' DPMSolverMultistepScheduler does
    (final_sigmas_type="zero", lower_order_final=True): no more than the steps seen so far (index + 1), 1 on the last
    step (into x_0 the posterior mean is x̂_0 itself), at most 2 on the second-to-last when num_steps < 15."""
    order = min(check_order(order), index + 1)
    if index == num_steps - 1:
        return 1
    if index == num_steps - 2 and num_steps < LOWER_ORDER_FINAL_STEPS:
        return min(order, 2)
    return order


def log_snr(alpha_bar: float) -> float:
    """λ = log(α / σ) = ½ log(ᾱ / (1 − ᾱ)), the half log signal-to-noise ratio DPM-Solver integrates over."""
    return 0.5 * (math.log(alpha_bar) - math.log1p(-alpha_bar))


def integrator_rate(h: float, alpha_bar_prev: float, sigma2: float) -> float:
    """c·h for the step: the posterior's coefficient of x_t, √(1 − ᾱ_prev − σ²)/√(1 − ᾱ_t), written as
    (σ_prev/σ_t)·e^{−ch + h}; c·h = h − log ρ with ρ = √(1 − ᾱ_prev − σ²)/√(1 − ᾱ_prev). η = 1 (σ² = β̃) gives
    c = 2, η = 0 gives c = 1."""
    rho2 = max(1.0 - alpha_bar_prev - sigma2, 0.0) / (1.0 - alpha_bar_prev)
    if rho2 <= 0.0:
        return math.inf
    return h - 0.5 * math.log(rho2)


def x0_weights(ch: float) -> tuple[float, float]:
    """(w1, w2) of D1 and D2 for the exponential integrator of rate c over a step of length h (ch = c·h):
    w_k = ∫_0^h c e^{−c(h−u)} (u/h)^k du / (1 − e^{−ch}), the weight of the Taylor term (u/h)^k·D_k relative to
    x̂_0's (DPM-Solver++'s φ-functions). w1 = (1 − (1 − e^{−ch})/(ch))/(1 − e^{−ch}) — diffusers' 3M D1 weight —
    and w2 = (1 − 2/(ch) + 2(1 − e^{−ch})/(ch)²)/(1 − e^{−ch}). With D2 = h²·x̂_0''/2 (the divided difference
    below) the Taylor term is (u/h)²·D2, so w2 is the full integral, exact when x̂_0 is quadratic in λ
    (tests/ddpm/test_multistep.py). diffusers' DPM-Solver++ 3M (the ODE) and k-diffusion's 3M weigh D2 by half of
    it (−φ_3 = ½·w2·(1 − e^{−ch})); diffusers' SDE-DPM-Solver++ 3M (0.42.1) by ((1 − e^{−2h} − 2h)/(2h)² − ½) /
    (1 − e^{−2h}), which tends to −1 as h → 0 where w2 tends to 0: so our order 3 is not its 3M."""
    if math.isinf(ch):
        return 1.0, 1.0  # all weight at u = h: the Taylor polynomial at the end of the step
    e = -math.expm1(-ch)  # 1 − e^{−ch}
    w1 = (1.0 - e / ch) / e
    w2 = (1.0 - 2.0 / ch + 2.0 * e / ch**2) / e
    return w1, w2


def extrapolate_x0(
    x0: torch.Tensor,
    t: int,
    prev_t: int,
    history: History,
    order: int,
    alpha_bar: Callable[[int], float],
    sigma2: float,
) -> torch.Tensor:
    """x̂_0*: the guess the posterior step t → prev_t is built from.

    x0: this step's x̂_0 (B, C, H, W) from the model (clipped as the scheduler's config says). history: earlier
    steps' (timestep, x̂_0), oldest first. order: the highest order to use; fewer when the history is shorter, and
    1 on the step into x_0 (prev_t < 0), where the posterior mean is x̂_0 itself. alpha_bar(t): ᾱ_t. sigma2: the
    η family's σ² of this step (η²·β̃), which sets the integrator's rate (`integrator_rate`).
    Order 2 uses DPM-Solver++'s midpoint weight w1 = ½ (eq. 9; diffusers' default); order 3 the integral's."""
    order = min(check_order(order), len(history) + 1)
    if order == 1 or prev_t < 0:
        return x0
    lam = log_snr(alpha_bar(t))
    h = log_snr(alpha_bar(prev_t)) - lam
    t1, m1 = history[-1]
    h0 = lam - log_snr(alpha_bar(t1))
    d1_0 = (h / h0) * (x0 - m1)  # D1 from the last two x̂_0 (DPM-Solver++ eq. 9: (1/r0)(m0 − m1), r0 = h0/h)
    if order == 2:
        return x0 + 0.5 * d1_0
    t2, m2 = history[-2]
    h1 = log_snr(alpha_bar(t1)) - log_snr(alpha_bar(t2))
    r0, r1 = h0 / h, h1 / h
    d1_1 = (1.0 / r1) * (m1 - m2)
    d1 = d1_0 + (r0 / (r0 + r1)) * (d1_0 - d1_1)  # h·x̂_0' at t
    d2 = (1.0 / (r0 + r1)) * (d1_0 - d1_1)  # h²·x̂_0''/2 at t
    w1, w2 = x0_weights(integrator_rate(h, alpha_bar(prev_t), sigma2))
    return x0 + w1 * d1 + w2 * d2


def extend_history(history: History, t: int, x0: torch.Tensor) -> History:
    """The history after step t: its last MAX_ORDER − 2 entries and (t, x̂_0), oldest first."""
    return (tuple(history) + ((int(t), x0),))[-(MAX_ORDER - 1) :]
