"""The KL-optimal variance of p_θ's Gaussian reverse step (Bao et al., ICLR 2022, "Analytic-DPM").

For a step t → s (s < t, any respacing) with η-variance λ² and ᾱ cumulative (β̄ = 1 − ᾱ, α_{t|s} = ᾱ_t / ᾱ_s):

    σ*² = λ² + ( √(β̄_t / α_{t|s}) − √(β̄_s − λ²) )² · (1 − Γ_t),    Γ_t = E_{x_t ~ q(x_t)} ‖ε_θ(x_t, t)‖² / d

(Bao et al. Theorem 1 with the score −ε/√β̄_t). For DDPM (λ² = β̃) this is β̃ + β_{t|s}² / (α_{t|s} β̄_t) · (1 − Γ_t).
Γ_t ∈ [0, 1] since E‖E[ε | x_t]‖² ≤ E‖ε‖² = d, so λ² ≤ σ*² ≤ λ² + (√(β̄_t/α_{t|s}) − √(β̄_s − λ²))².
"""

from __future__ import annotations

import math


def optimal_variance(alpha_bar_t: float, alpha_bar_s: float, gamma_t: float, eta: float = 1.0) -> float:
    """σ*² of the step t → s from ᾱ_t, ᾱ_s (ᾱ_s = 1 for the step to x_0), Γ_t and η (λ² = η² β̃).

    Γ_t is clipped to [0, 1] (its range; a Monte-Carlo estimate can leave it by a little)."""
    if not 0.0 < alpha_bar_t < alpha_bar_s <= 1.0:
        raise ValueError(f"need 0 < alpha_bar_t < alpha_bar_s <= 1, got {alpha_bar_t!r} and {alpha_bar_s!r}")
    alpha_ts = alpha_bar_t / alpha_bar_s  # α_{t|s}
    beta_bar_t, beta_bar_s = 1.0 - alpha_bar_t, 1.0 - alpha_bar_s
    beta_tilde = beta_bar_s / beta_bar_t * (1.0 - alpha_ts)  # eq. 7 for the respaced step
    lam2 = eta**2 * beta_tilde
    gap = math.sqrt(beta_bar_t / alpha_ts) - math.sqrt(max(beta_bar_s - lam2, 0.0))
    return lam2 + gap**2 * (1.0 - min(max(float(gamma_t), 0.0), 1.0))
