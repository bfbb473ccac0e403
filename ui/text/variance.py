"""The words of the variance tab ("Which variance for p_θ?"): its sentences and formulas (LaTeX), written for the
data it shows (noun: what one training image is called, "digit" for MNIST, "image" otherwise)."""

from __future__ import annotations

import math

from pipelines.exact.plots import SHADE_MIN_SPREAD
from ui.format import sci, times
from ui.text.page import dataset_name

# ---------------------------------------------------------------------------------------------- tab: variance
_INTRO = r"""
### Which Gaussian for $p_\theta$?

**Notation.** Timesteps are numbered $t = 0,\dots,T-1$ ($T = 1000$, as in diffusers, the Hugging Face library
this demo builds on; Ho et al. count $1,\dots,T$, so our $t$ is their $t - 1$): the sample at our $t = 0$ still
carries a little noise ($\beta_0 = 10^{-4}$), and $x_0$ always means the clean {noun}, one step further.
A chain of $K$ steps skips timesteps: one step goes from $x_t$ to $x_s$, $s$ the chain's next timestep
($s = t - 1$ in Ho et al.'s 1,000-step chain, $s = t - 25$ with $K = 40$).
For that step, with Ho et al.'s $\bar\alpha_t$:
$\alpha_{t|s} = \bar\alpha_t/\bar\alpha_s$, $\beta_{t|s} = 1 - \alpha_{t|s}$ (the noise the forward process adds
from $s$ to $t$: Ho et al.'s $\beta_t$ when $s = t - 1$), and
$\tilde\beta_{t|s} = \frac{1-\bar\alpha_s}{1-\bar\alpha_t}\,\beta_{t|s}$ (Ho et al.'s $\tilde\beta_t$, eq. 7, for
this step). {d_phrase}.

The exact reverse step $q(x_s \mid x_t)$ over the training {noun}s is a mixture, not a Gaussian; $p_\theta(x_s \mid
x_t)$ replaces it by one
Gaussian $\mathcal N(\mu_\theta, \sigma^2 I)$. Its mean is learned; its variance $\sigma^2$ is a choice: the
posterior's own $\tilde\beta_{t|s}$ or the forward step's $\beta_{t|s}$ (Ho et al.'s two choices, which gave them
similar samples with all 1,000 steps; $\tilde\beta_{t|s}$ is this demo's default), or Bao et al.'s
(2022, Analytic-DPM) optimal

$$\sigma^{*2} = \tilde\beta_{t|s} + \frac{\beta_{t|s}^2}{\alpha_{t|s}\,(1-\bar\alpha_t)}\,(1-\Gamma_t),$$

$$\Gamma_t = E_{x_t\sim q(x_t)}\,\frac{\lVert \epsilon_\theta(x_t,t)\rVert^2}{D}.$$

$\Gamma_t$ is how large the network's noise prediction is on average (per number, over $x_t$ drawn from
$q(x_t)$): close to 1 when the noise in $x_t$ can be told apart from the {noun}, smaller when it cannot. With an
exact $\epsilon_\theta$, $\sigma^{*2}$ equals the exact step's variance **averaged over** $x_t \sim q(x_t)$: it is
optimal on average, not at every $x_t$. Over the {num_data} training {noun}s the exact step is computable, and
stands in here for the true one (over the data distribution, unknown): its variance per number is
$\tilde\beta_{t|s} + c_0^2\,\mathrm{tr}\,\mathrm{Cov}[x_0 \mid x_t]/D$, with $c_0$ the weight of $x_0$ in
the posterior mean $\tilde\mu$ (eq. 7). The plot shows it at every step of the chain, at
$x_t$ drawn from $q(x_t)$ (noised training {noun}s: the typical $x_t$) and along one sampled trajectory.
"""


def intro(num_data: str, noun: str, num_values: str = "D") -> str:
    """The tab's introduction; num_data: how many training images, as the page writes it ("4,500", or "N");
    num_values: how many numbers one image holds ("1,024")."""
    d_phrase = (
        f"$D = {num_values.replace(',', '{,}')}$ numbers in one {noun}"
        if num_values != "D"
        else f"$D$: how many numbers one {noun} holds"
    )
    return _INTRO.replace("{num_data}", num_data).replace("{noun}", noun).replace("{d_phrase}", d_phrase)


STEPS_INFO = (
    "the chain steps in strides of T/K timesteps: K = 40 by default (strides of 25); K = 10 gives the Sample tab's "
    "default strides of 100"
)

NO_NOISY_STEP = "A 1-step chain goes straight to $x_0$ and adds no noise: there is no variance to choose."


def _plan(ts) -> str:
    """A chain's timesteps as words show them: "975, 950, …, 0"."""
    ts = list(ts)
    return ", ".join(str(t) for t in ts) if len(ts) <= 4 else f"{ts[0]}, {ts[1]}, \\dots, {ts[-1]}"


def plan_words(reading, spacing: str | None, trailing=None) -> str:
    """Which timesteps the chain visits, and how they sit beside the Sample tab's default (trailing) plan."""
    if not reading.timesteps or spacing is None:
        return ""
    words = (
        f" The chain visits $t = {_plan(reading.timesteps)}$: the model's own plan ({spacing} spacing, as its "
        "scheduler was saved)."
    )
    if spacing != "trailing" and trailing is not None and list(trailing) != list(reading.timesteps):
        words += (
            " The Sample tab defaults to trailing instead, so that its first step starts at "
            f"$t = {trailing[0]}$, where $x$ is as close to pure noise as the schedule gets; at this $K$ it would "
            f"visit $t = {_plan(trailing)}$: the same strides, shifted by {trailing[0] - reading.timesteps[0]} "
            "timesteps, so the steps compared here are the same kind of step."
        )
    return words


def shading_words(reading, num_draws: int) -> str:
    """What the shaded range is, and why it may not be visible."""
    if reading.draw_spread is None:
        return ""
    if reading.draw_spread < SHADE_MIN_SPREAD:
        return (
            f" The exact step's variance barely depends on which $x_t$ was drawn: over the {num_draws} draws of each "
            f"step its highest is at most {reading.draw_spread - 1:.1%} above its lowest, too close to draw as a range "
            "(the wide blue line is their mean)."
        )
    return (
        f" Over the {num_draws} draws of $x_t$ it varies by up to a factor {reading.draw_spread:.3g} at one step "
        "(the shaded range)."
    )


def caption(
    reading, noun: str, toy: dict | None = None, spacing: str | None = None, trailing=None, num_draws: int = 8
) -> str:
    """The sentence the student should take away, from what the chain's numbers say (`ui.tabs.variance.ChainReading`:
    the noisy steps only, the final step to x_0 adds no noise in any sampler). toy: the 2-D world's default step
    (`toy_contrast`'s argument), said beside it; None leaves it out. spacing: the chain's timestep spacing; trailing:
    the trailing plan of the same K (the Sample tab's default), quoted beside it."""
    r = reading
    parts = [
        f"**The typical $x_t$, drawn from $q(x_t)$ (noised training {noun}s).** Along this "
        f"{r.num_steps}-step chain (strides of {stride_words(r)} timesteps) the exact step's variance per number "
        f"runs from {_tex(r.true_low)} to {_tex(r.true_high)}.{plan_words(r, spacing, trailing)}"
        f"{shading_words(r, num_draws)}"
    ]
    miss = abs(r.small_ratio - 1)
    if r.small_close:
        parts.append(
            rf"$\tilde\beta_{{t|s}}$ is within {miss:.1%} of it at every noisy step: at this stride one Gaussian "
            "with the posterior's own variance has the right **width**. Width is all this tab checks: whether the "
            "step is shaped like one Gaussian at all is measured on the *2-D world* tab, by the KL divergence from "
            "the exact step to the best Gaussian."
        )
    else:
        parts.append(
            rf"$\tilde\beta_{{t|s}}$ is {'too narrow' if r.small_ratio < 1 else 'too wide'} by up to "
            f"{miss:.0%} (at $t = {r.small_t}$): this stride is too big for the posterior's own variance."
        )
    parts.append(
        rf"$\beta_{{t|s}}$ is up to {times(r.large_ratio)} too wide (at $t = {r.large_t}$, where "
        r"$\tilde\beta_{t|s}$ and $\beta_{t|s}$ differ most). $\sigma^{*2}$ with the exact $\Gamma_t$ is the exact "
        "step's variance averaged over $x_t$ (Bao et al.'s theorem; the circles sit on the blue line)."
    )
    if r.trajectory_ratio is not None:
        parts.append(
            rf"At the $x_t$ of the sampled trajectory (×) the exact step is up to {times(r.trajectory_ratio)} "
            rf"$\tilde\beta_{{t|s}}$ (at $t = {r.trajectory_t}$): the model's own sample is no training "
            f"{noun}, so the exact posterior over the training {noun}s stays undecided between several of them "
            f"longer there than it does at a noised training {noun}."
        )
    if r.model_ratio is not None:
        parts.append(
            rf"With the model's $\Gamma_t$, $\sigma^{{*2}}$ is up to {times(r.model_ratio)} the exact step's variance "
            rf"(at $t = {r.model_t}$): the model, which generalises, is less sure of $\epsilon$ than the exact "
            f"posterior over the training {noun}s, which has already picked one {noun} there ($\\Gamma_t \\to 1$, "
            r"$\sigma^{*2} \to \tilde\beta_{t|s}$). The true step, over all "
            f"{noun}s, would likewise be wider than "
            r"the exact one where that has committed: there $\tilde\beta_{t|s}$ is, if anything, too narrow for it, "
            r"and the model's $\sigma^{*2}$ is this page's estimate of by how much."
        )
    words = " ".join(parts)
    return words if toy is None else words + "\n\n" + toy_contrast(toy, r)


def toy_contrast(toy: dict, reading=None) -> str:
    """The other half of the story, from the 2-D world's default step (computed by the same function as that tab):
    toy holds dataset, num_points, x_t (x, y), t, prev_t, true (the exact step's variance per coordinate) and
    ratios {variance name: that variance / true}. reading: this tab's chain (`ChainReading`), quoted beside it."""
    small, large, best = (toy["ratios"][name] for name in ("fixed_small", "fixed_large", "analytic"))
    x, y = toy["x_t"]
    num_points = f"{toy['num_points']:,}".replace(",", "{,}")
    here = (
        rf" (here: within {abs(reading.small_ratio - 1):.1%}, while $\beta_{{t|s}}$ is up to "
        f"{times(reading.large_ratio)} too wide)"
        if reading is not None
        else ""
    )
    sigma_worse = abs(math.log(best)) > abs(math.log(large))
    return side_by_side(toy, reading) + (
        r"**The same question where it goes the other way: the *2-D world* tab's default step** "
        rf"({dataset_name(toy['dataset'])}, "
        rf"$N = {num_points}$ points, $x_t = ({x:.2f}, {y:.2f})$, $t = {toy['t']} \to {toy['prev_t']}$, a "
        f"stride of {toy['t'] - toy['prev_t']} timesteps; the shipped 2-D model). There $x_t$ sits **between** two "
        "parts of the data and the stride is large, so the exact step spreads over both: its variance per coordinate "
        rf"is {toy['true']:.3g}, and $\tilde\beta_{{t|s}}$ is {_ratio_words(small)}, $\beta_{{t|s}}$ "
        rf"{_ratio_words(large)}, $\sigma^{{*2}}$ {_ratio_words(best)} of it. Both tabs are right: "
        rf"$\tilde\beta_{{t|s}}$ fits a small step from a typical $x_t${here}; it is too narrow for a big step from a "
        r"point between modes. $\sigma^{*2}$ is optimal for the **average** over $x_t \sim q(x_t)$, not at every "
        r"point: a point between modes needs more than the average"
        + (r", which is why there $\sigma^{*2}$ does worse than $\beta_{t|s}$." if sigma_worse else ".")
    )


def side_by_side(toy: dict, reading=None) -> str:
    """The two settings' numbers in one table: this tab's chain at the typical x_t and the 2-D world's default step
    at a point between modes (each variance divided by the true one). Empty without this tab's reading."""
    if reading is None:
        return ""
    small, large, best = (toy["ratios"][name] for name in ("fixed_small", "fixed_large", "analytic"))
    here_best = (
        f"{reading.exact_sigma_ratio:.3f}× with the exact $\\Gamma_t$ (the average, by construction)"
        if reading.exact_sigma_ratio is not None
        else "–"
    )
    rows = [
        (
            "",
            f"this tab: {reading.num_steps}-step chain, $x_t \\sim q(x_t)$",
            f"2-D world: {dataset_name(toy['dataset'])}, one $x_t$ between modes",
        ),
        ("stride (timesteps)", stride_words(reading), f"{toy['t'] - toy['prev_t']}"),
        (
            r"$\tilde\beta_{t\mid s}$ / exact",
            f"{reading.small_ratio:.3f}× at worst",
            f"{small:.3g}× ({_ratio_words(small)})" if small < 0.5 or small > 2 else f"{small:.2f}×",
        ),
        (r"$\beta_{t\mid s}$ / exact", f"up to {times(reading.large_ratio)}", f"{large:.2f}×"),
        (r"$\sigma^{*2}$ / exact", here_best, rf"{best:.2f}× with the network's $\Gamma_t$"),
    ]
    table = "\n".join(
        [
            f"| {rows[0][0]} | {rows[0][1]} | {rows[0][2]} |",
            "|---|---:|---:|",
            *(f"| {a} | {b} | {c} |" for a, b, c in rows[1:]),
        ]
    )
    return (
        "**The two settings side by side** (each variance divided by the exact step's variance; 1 = the right "
        "width):\n\n" + table + "\n\n"
    )


def stride_words(reading) -> str:
    """The chain's stride as the text says it: "25" when all its steps are that far apart, else "about 33"."""
    gaps = {a - b for a, b in zip(reading.timesteps, reading.timesteps[1:])}
    return f"{gaps.pop()}" if len(gaps) == 1 else f"about {reading.stride:.0f}"


def _tex(x: float) -> str:
    """A variance for prose: "0.385", or "$9.89\\times10^{-5}$" (never "9.89e-05")."""
    return sci(x, 3)


def _ratio_words(ratio: float) -> str:
    """A variance / the true variance in words: "21.5× too narrow", "0.89×", "3.2× too wide"."""
    if ratio < 0.5:
        return f"{times(1 / ratio)} too narrow"
    if ratio > 2:
        return f"{times(ratio)} too wide"
    return f"{ratio:.2f}×"


def no_model_gamma() -> str:
    """Appended to the caption when the model folder has no Γ_t file."""
    return (
        r" (No $\sigma^{*2}$ with the model's $\Gamma_t$: the model folder has no file of $\Gamma_t$; the JSON "
        "summary names the command that makes one.)"
    )
