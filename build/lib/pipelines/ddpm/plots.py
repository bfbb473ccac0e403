"""The noise schedule drawn: `schedule_curves` gives ᾱ_t, β_t, β̃_t and the SNR of a scheduler as arrays over t,
and `plot_schedule` draws them as a matplotlib Figure.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def schedule_curves(scheduler) -> dict[str, np.ndarray]:
    """The noise schedule of a DDPM scheduler as float64 arrays over t = 0 … T−1: "t", "alphas_cumprod" (ᾱ_t),
    "betas" (β_t), "posterior_variance" (β̃_t, eq. 7) and "snr" (ᾱ_t / (1 − ᾱ_t), Kingma et al. 2021)."""
    alphas_cumprod = scheduler.alphas_cumprod.double().numpy()
    return {
        "t": np.arange(len(alphas_cumprod)),
        "alphas_cumprod": alphas_cumprod,
        "betas": scheduler.betas.double().numpy(),
        "posterior_variance": scheduler.posterior_variance.double().numpy(),
        "snr": alphas_cumprod / (1.0 - alphas_cumprod),  # signal-to-noise ratio of q(x_t | x_0)
    }


def plot_schedule(scheduler, t: int | None = None, timesteps: Sequence[int] | None = None, sigma_star=None):
    """A matplotlib Figure of the schedule against t: ᾱ_t (linear axis) and β_t, β̃_t, SNR(t) (log axis).

    sigma_star: (t of each step, its σ*²) of an analytic-variance chain, drawn as markers on the log axis.

    t: marks that timestep (a vertical line and its values in the title). timesteps: the chain a run used,
    drawn as ticks along the bottom. Uses `matplotlib.figure.Figure` directly (not pyplot): safe from worker
    threads and nothing to close."""
    from matplotlib.figure import Figure

    curves = schedule_curves(scheduler)
    ts = curves["t"]
    fig = Figure(figsize=(9, 3.2), layout="constrained")
    ax_lin, ax_log = fig.subplots(1, 2)
    ax_lin.plot(ts, curves["alphas_cumprod"], color="C0", label=r"$\bar\alpha_t$")
    ax_lin.plot(ts, 1 - curves["alphas_cumprod"], color="C0", ls=":", label=r"$1-\bar\alpha_t$")
    ax_lin.set_ylim(-0.02, 1.02)
    ax_lin.set_xlabel("$t$")
    ax_lin.set_title(r"signal $\bar\alpha_t$ and noise $1-\bar\alpha_t$", fontsize=10)
    # Zeros (β̃_0 = 0) cannot go on a log axis: mask them.
    positive = lambda a: np.where(a > 0, a, np.nan)  # noqa: E731
    # β̃_t ≈ β_t except near t = 0: a wide β_t under a thin dashed β̃_t keeps both visible where they coincide.
    ax_log.semilogy(ts, positive(curves["betas"]), color="C1", lw=4, alpha=0.45, label=r"$\beta_t$")
    ax_log.semilogy(
        ts,
        positive(curves["posterior_variance"]),
        color="C2",
        ls="--",
        lw=1.2,
        label=r"$\tilde\beta_t$ ($\approx\beta_t$ for $t \gg 0$)",
    )
    ax_log.semilogy(ts, positive(curves["snr"]), color="C3", label=r"SNR $=\bar\alpha_t/(1-\bar\alpha_t)$")
    if sigma_star is not None and len(sigma_star[0]):
        ax_log.semilogy(
            sigma_star[0],
            positive(np.asarray(sigma_star[1])),
            "o",
            color="C4",
            ms=3,
            label=r"$\sigma^{*2}$ of the chain's steps",
        )
    ax_log.set_xlabel("$t$")
    ax_log.set_title("variances and SNR (log scale)", fontsize=10)
    for ax in (ax_lin, ax_log):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
        if timesteps is not None and len(timesteps):
            ax.plot(
                list(timesteps),
                np.zeros(len(timesteps)),
                "|",
                color="0.4",
                ms=6,
                transform=ax.get_xaxis_transform(),
                label="_timesteps used",
            )
    if t is not None:
        t = int(t)
        for ax in (ax_lin, ax_log):
            ax.axvline(t, color="k", lw=1)
        fig.suptitle(
            rf"$t$ = {t}:  $\bar\alpha_t$ = {curves['alphas_cumprod'][t]:.4g},  $\beta_t$ = {curves['betas'][t]:.3g},  "
            rf"$\tilde\beta_t$ = {curves['posterior_variance'][t]:.3g},  SNR = {curves['snr'][t]:.3g}",
            fontsize=10,
        )
    return fig
