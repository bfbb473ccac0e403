"""Bao et al.'s (ICLR 2022, "Analytic-DPM") optimal variance σ*² of a reverse step, and the file that holds the
model's Γ_t beside its weights. A leaf module: the scheduler and the pipeline import it; the estimates and the exact
answer built on it live in pipelines/ddpm/gamma.py.
"""

from __future__ import annotations

import json
import math
import shlex
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipelines.checks import first_line

# The file in a model folder that holds Γ_t (a stock diffusers loader ignores it).
GAMMA_FILE = "analytic_variance.json"


# The step into the chain's last noisy state keeps its noise within this many quantisation bins (Bao et al.'s
# released sampler: clip_pixel = 2); see PosteriorDDPMScheduler.analytic_variance.
CLIP_PIXELS = 2


def make_command(folder) -> str:
    """The command that writes GAMMA_FILE for `folder`."""
    return f"python -m pipelines.ddpm.gamma --model {shlex.quote(str(folder))}"


# ---------------------------------------------------------------------------------------------- the formula
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


def clipped_optimal_variance(
    alpha_bar_t: float,
    alpha_bar_s: float,
    gamma_t: float,
    eta: float = 1.0,
    data_range: float = 1.0,
    clip_data: bool = True,
    into_last: bool = False,
) -> float:
    """σ*² of the step t → s (`optimal_variance`) with the two clippings of Bao et al.'s sampler:

    1. The data range. σ*² − λ² is a coefficient times Cov[x_0 | x_t] per dimension, which Γ_t estimates as
       (1 − ᾱ_t)/ᾱ_t · (1 − Γ_t). For data in [−r, r] that covariance is at most r² (Bao et al. Theorem 2's
       bound (b − a)²/4), so it is clipped to [0, r²] (r = data_range; only with clip_data).
    2. The pixel grid (into_last: s is the chain's last noisy state). That step's noise passes almost unchanged
       into x_0, whose final step adds none. Its σ is clipped so that the noise's mean absolute value σ·√(2/π) is
       at most CLIP_PIXELS quantisation bins (2r/255 each): σ ≤ CLIP_PIXELS · (2r/255) · √(π/2)
       (the released Analytic-DPM sampler: clip_sigma_idx 1, clip_pixel 2)."""
    if clip_data:  # 1: (1 − ᾱ_t)/ᾱ_t · (1 − Γ_t) ≤ r²
        gamma_t = max(gamma_t, 1.0 - data_range**2 * alpha_bar_t / (1.0 - alpha_bar_t))
    variance = optimal_variance(alpha_bar_t, alpha_bar_s, gamma_t, eta)
    if into_last:  # 2
        variance = min(variance, (CLIP_PIXELS * 2.0 * data_range / 255.0 * math.sqrt(math.pi / 2.0)) ** 2)
    return variance


def check_gamma(gamma, num_train_timesteps: int) -> np.ndarray:
    """Γ_t for every t in [0, T) as a float64 array: a list, array or tensor of T finite numbers >= 0."""
    message = f"gamma must hold {num_train_timesteps} finite numbers >= 0 (Γ_t for t in [0, {num_train_timesteps - 1}])"
    if isinstance(gamma, torch.Tensor):
        gamma = gamma.detach().cpu().double().numpy()
    try:
        table = np.asarray(gamma, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{message}, got {type(gamma).__name__}") from None
    if table.shape != (num_train_timesteps,):
        raise ValueError(f"{message}, got shape {table.shape}")
    if not np.all(np.isfinite(table)) or np.any(table < 0):
        raise ValueError(f"{message}, got values from {np.nanmin(table)!r} to {np.nanmax(table)!r}")
    return table


# ---------------------------------------------------------------------------------------------- the file
def load_gamma(folder, num_train_timesteps: int | None = None) -> np.ndarray:
    """Γ_t (T,) from `folder`/GAMMA_FILE; ValueError naming the command that makes it when the file is missing.
    num_train_timesteps: the T the table must cover (None: any length)."""
    path = Path(folder) / GAMMA_FILE
    if not path.is_file():
        raise ValueError(
            f'variance_type="analytic" needs Γ_t, and {str(folder)!r} has no {GAMMA_FILE}; make it with: '
            f"{make_command(folder)}"
        )
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        gamma = record["gamma"]
        if not isinstance(gamma, list):
            raise TypeError("its gamma is not a list")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(
            f"{path} is not a readable Γ_t file ({first_line(error)}); remake it with: {make_command(folder)}"
        ) from None
    return check_gamma(gamma, len(gamma) if num_train_timesteps is None else num_train_timesteps)


def save_gamma(folder, record: dict[str, Any]) -> Path:
    """Write `record` (from `estimate_gamma`) to `folder`/GAMMA_FILE; returns the path."""
    path = Path(folder) / GAMMA_FILE
    path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return path
