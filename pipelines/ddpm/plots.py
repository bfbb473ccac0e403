"""The noise schedule drawn: `schedule_curves` gives ᾱ_t, β_t, β̃_t and the SNR of a scheduler as arrays over t,
`chain_steps` the strided β_{t|s}, β̃_{t|s} of each step t → s of a run, and `plot_schedule` draws them as a
matplotlib Figure.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

MAX_STEP_MARKERS = 60  # a longer run's strided values are drawn as lines (markers would merge into one)


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


def chain_steps(alphas_cumprod, timesteps: Sequence[int]) -> dict[str, np.ndarray]:
    """Each step t → s of a run visiting `timesteps` (descending; s = −1 after the last, the step to x_0, where
    ᾱ_s = 1): "t", "s", "beta" (β_{t|s} = 1 − ᾱ_t/ᾱ_s, the forward process's noise from s to t) and "beta_tilde"
    (β̃_{t|s} = (1 − ᾱ_s)/(1 − ᾱ_t) β_{t|s}, the posterior q(x_s | x_t, x_0)'s variance). With s = t − 1 they are
    Ho et al.'s β_t and β̃_t."""
    a = np.asarray(alphas_cumprod, dtype=np.float64)
    t = np.asarray(list(timesteps), dtype=np.int64)
    s = np.append(t[1:], -1)
    a_t, a_s = a[t], np.where(s >= 0, a[np.maximum(s, 0)], 1.0)
    beta = 1.0 - a_t / a_s
    return {"t": t, "s": s, "beta": beta, "beta_tilde": (1.0 - a_s) / (1.0 - a_t) * beta}


def _header(curves: dict, t: int, timesteps: Sequence[int] | None) -> str:
    """The title over both panels: the schedule at t (one-step values), then the run's own step from t, if any."""
    one_step = (
        rf"$t$ = {t}:  $\bar\alpha_t$ = {curves['alphas_cumprod'][t]:.4g},  SNR = {curves['snr'][t]:.3g};  one step "
        rf"$t\to t-1$:  $\beta_t$ = {curves['betas'][t]:.3g},  $\tilde\beta_t$ = {curves['posterior_variance'][t]:.3g}"
    )
    if timesteps is None or t not in list(timesteps):
        return one_step
    steps = chain_steps(curves["alphas_cumprod"], timesteps)
    k = list(steps["t"]).index(t)
    s, beta, beta_tilde = int(steps["s"][k]), steps["beta"][k], steps["beta_tilde"][k]
    if s < 0:
        run_step = (
            rf"this run's last step {t} → $x_0$:  $\beta_{{t|s}} = 1-\bar\alpha_t$ = {beta:.3g},  "
            r"$\tilde\beta_{t|s}$ = 0: it adds no noise"
        )
    else:
        same = "  (= the one-step values: $s = t-1$)" if s == t - 1 else ""
        run_step = (
            rf"this run's step $t\to s$ = {t} → {s}:  $\beta_{{t|s}}$ = {beta:.3g},  "
            rf"$\tilde\beta_{{t|s}}$ = {beta_tilde:.3g}{same}"
        )
    return one_step + "\n" + run_step


def _plot_run_steps(ax, curves: dict, timesteps: Sequence[int]) -> None:
    """The run's steps t → s on the log panel: β_{t|s} at each step's t, the last (to x_0) too, and β̃_{t|s} at each
    noisy one (the last step's β̃_{t|s} is 0, which a log axis cannot show: the legend says so)."""
    steps = chain_steps(curves["alphas_cumprod"], timesteps)
    noisy = steps["s"] >= 0  # the last step lands on x_0: β̃_{t|s} = 0 there
    few = len(steps["t"]) <= MAX_STEP_MARKERS
    ax.semilogy(steps["t"], steps["beta"], "^" if few else "-", color="C1", ms=6, mec="k", mew=0.6, lw=1,
                label=r"$\beta_{t|s}$ of this run's steps $t\to s$")  # fmt: skip
    label = r"$\tilde\beta_{t|s}$ of this run's steps (0 on the last, to $x_0$: not drawn)"
    if noisy.any():
        ax.semilogy(steps["t"][noisy], steps["beta_tilde"][noisy], "s" if few else "-", color="C2", ms=4.5, mec="k",
                    mew=0.6, lw=1, label=label)  # fmt: skip


def plot_schedule(scheduler, t: int | None = None, timesteps: Sequence[int] | None = None, sigma_star=None):
    """A matplotlib Figure of the schedule against t: ᾱ_t (linear axis) and β_t, β̃_t, SNR(t) (log axis).

    timesteps: the chain a run used, drawn as ticks along the bottom, and its steps' own strided β_{t|s}, β̃_{t|s}
    as markers on the log axis. sigma_star: (t of each step, its σ*²) of an analytic-variance chain, markers too.

    t: marks that timestep (a vertical line; its one-step values in the title and, when it is one of `timesteps`,
    the run's own step from it). Uses `matplotlib.figure.Figure` directly (not pyplot): safe from worker threads
    and nothing to close."""
    from matplotlib.figure import Figure

    curves = schedule_curves(scheduler)
    ts = curves["t"]
    fig = Figure(figsize=(9, 4.1), layout="constrained")
    ax_lin, ax_log = fig.subplots(1, 2)
    ax_lin.plot(ts, curves["alphas_cumprod"], color="C0", label=r"$\bar\alpha_t$")
    ax_lin.plot(ts, 1 - curves["alphas_cumprod"], color="C0", ls=":", label=r"$1-\bar\alpha_t$")
    ax_lin.set_ylim(-0.02, 1.02)
    ax_lin.set_xlabel("$t$")
    ax_lin.set_title(r"signal $\bar\alpha_t$ and noise $1-\bar\alpha_t$", fontsize=10)
    # Zeros (β̃_0 = 0) cannot go on a log axis: mask them.
    positive = lambda a: np.where(a > 0, a, np.nan)  # noqa: E731
    # β̃_t ≈ β_t except near t = 0: a wide β_t under a thin dashed β̃_t keeps both visible where they coincide.
    ax_log.semilogy(
        ts, positive(curves["betas"]), color="C1", lw=4, alpha=0.45, label=r"$\beta_t$ (one step $t\to t-1$)"
    )
    ax_log.semilogy(
        ts,
        positive(curves["posterior_variance"]),
        color="C2",
        ls="--",
        lw=1.2,
        label=r"$\tilde\beta_t$ (one step; $\approx\beta_t$ for $t \gg 0$)",
    )
    ax_log.semilogy(ts, positive(curves["snr"]), color="C3", label=r"SNR $=\bar\alpha_t/(1-\bar\alpha_t)$")
    if timesteps is not None and len(timesteps):
        _plot_run_steps(ax_log, curves, timesteps)
    if sigma_star is not None and len(sigma_star[0]):
        ax_log.semilogy(
            sigma_star[0],
            positive(np.asarray(sigma_star[1])),
            "o",
            color="C4",
            ms=3,
            label=r"$\sigma^{*2}$ of this run's steps",
        )
    ax_log.set_xlabel("$t$")
    ax_log.set_title("variances and SNR (log scale)", fontsize=10)
    ax_log.set_ylabel("variance, or SNR (no unit)", fontsize=9)
    for ax in (ax_lin, ax_log):
        ax.grid(alpha=0.3)
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
    # One legend under both panels: inside the log panel it covered the curves once the run's steps were added.
    handles = [h for ax in (ax_lin, ax_log) for h in ax.get_legend_handles_labels()[0]]
    labels = [label for ax in (ax_lin, ax_log) for label in ax.get_legend_handles_labels()[1]]
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    if t is not None:
        t = int(t)
        for ax in (ax_lin, ax_log):
            ax.axvline(t, color="k", lw=1)
        fig.suptitle(_header(curves, t, timesteps), fontsize=10)
    return fig
