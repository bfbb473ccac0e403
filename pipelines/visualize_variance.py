"""The plot of "which variance for p_θ": along a sampling chain, the per-pixel variance of the true reverse step
against the variances a Gaussian p_θ can use (β̃, β, Bao et al.'s σ*²). Draws only what it is given
(`pipelines.analytic_variance.chain_variances`) and returns a matplotlib Figure."""

from __future__ import annotations

from typing import Any

import numpy as np


def _positive(values) -> np.ndarray:
    """Zeros (the noiseless step to x_0) cannot go on a log axis: NaN there."""
    a = np.asarray(values, dtype=np.float64)
    return np.where(a > 0, a, np.nan)


def plot_chain_variances(record: dict[str, Any], title: str | None = None):
    """Two panels against the t of each step's input (T on the left, 0 on the right):

    top (log): the true step's variance at x_t ~ q(x_t) (its range over the draws, shaded, and mean), at the x_t of
    a real trajectory, β̃, β, σ*² with the exact Γ_t and, if present, σ*² with the model's Γ_t;
    bottom: each variance divided by the mean true variance (1 = the right width).
    `record`: the dict of `chain_variances`. Uses `matplotlib.figure.Figure` (not pyplot): safe from threads."""
    from matplotlib.figure import Figure

    ts = np.asarray(record["timesteps"])
    true_q = np.asarray(record["true_q"], dtype=np.float64)
    exact = true_q.mean(1)
    curves = [
        ("beta", r"$\beta$ of the step (fixed_large)", dict(color="C1", lw=3.5, alpha=0.5)),
        ("beta_tilde", r"$\tilde\beta$ of the step (fixed_small, DDPM)", dict(color="C2", ls="--", lw=1.4)),
        ("sigma2_model", r"$\sigma^{*2}$, model's $\Gamma_t$ (analytic)", dict(color="C3", lw=1.4)),
        ("sigma2_exact", r"$\sigma^{*2}$, exact $\Gamma_t$", dict(color="k", ls="none", marker="o", ms=4, mfc="none")),
        ("true_trajectory", "true step at a sampled trajectory's $x_t$", dict(color="C4", ls="none", marker="x")),
    ]
    fig = Figure(figsize=(9.2, 6.2), dpi=100, layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    top.fill_between(ts, true_q.min(1), true_q.max(1), color="C0", alpha=0.25, lw=0)
    top.plot(ts, _positive(exact), color="C0", lw=2, label="true step, mean over $x_t \\sim q(x_t)$ (range shaded)")
    bottom.axhline(1.0, color="C0", lw=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        for key, label, style in curves:
            values = record.get(key) or []
            if len(values) != len(ts):
                continue
            top.plot(ts, _positive(values), label=label, **style)
            bottom.plot(ts, _positive(values) / _positive(exact), **style)
    top.set_yscale("log")
    bottom.set_yscale("log")
    top.set_ylabel("per-pixel variance (log)")
    bottom.set_ylabel("÷ true variance (log)")
    bottom.set_xlabel("t of the step's input $x_t$ (sampling runs left → right)")
    span = max(ts.max() - ts.min(), 1)
    top.set_xlim(ts.max() + 0.02 * span, ts.min() - 0.02 * span)
    for ax in (top, bottom):
        ax.grid(True, which="both", alpha=0.3)
    top.set_title(title or f"The variance of each of the {len(ts)} reverse steps", fontsize=10)
    fig.legend(loc="outside lower center", ncol=2, fontsize=8, frameon=False)
    return fig
