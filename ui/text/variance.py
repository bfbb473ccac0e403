"""The words of the variance tab ("Which variance for p_θ?"): its sentences and formulas (LaTeX), written for the
data it shows (noun: what one training image is called, "digit" for MNIST, "image" otherwise)."""

from __future__ import annotations

import math

from ui.format import times

# ---------------------------------------------------------------------------------------------- tab: variance
_INTRO = r"""
### Which Gaussian for $p_\theta$?

**Notation.** Timesteps are numbered $t = 0,\dots,T-1$ ($T = 1000$; Ho et al. count $1,\dots,T$, so
our $t$ is their $t - 1$); $x_0$ is the clean {noun}. A chain of $K$ steps skips timesteps: one step goes from $x_t$
to $x_s$, $s$ the chain's next timestep ($s = t - 1$ in Ho et al.'s 1,000-step chain, $s = t - 25$ with $K = 40$).
For that step, with Ho et al.'s $\bar\alpha_t$:
$\alpha_{t|s} = \bar\alpha_t/\bar\alpha_s$, $\beta_{t|s} = 1 - \alpha_{t|s}$ (the noise the forward process adds
from $s$ to $t$: Ho et al.'s $\beta_t$ when $s = t - 1$), and
$\tilde\beta_{t|s} = \frac{1-\bar\alpha_s}{1-\bar\alpha_t}\,\beta_{t|s}$ (Ho et al.'s $\tilde\beta_t$, eq. 7, for
this step). {d_phrase}.

The true reverse step $q(x_s \mid x_t)$ is a mixture, not a Gaussian; $p_\theta(x_s \mid x_t)$ replaces it by one
Gaussian $\mathcal N(\mu_\theta, \sigma^2 I)$. Its mean is learned; its variance $\sigma^2$ is a choice: the
posterior's own $\tilde\beta_{t|s}$ (what DDPM samples with), the forward step's $\beta_{t|s}$, or Bao et al.'s
(2022, Analytic-DPM) optimal

$$\sigma^{*2} = \tilde\beta_{t|s} + \frac{\beta_{t|s}^2}{\alpha_{t|s}\,(1-\bar\alpha_t)}\,(1-\Gamma_t),$$

$$\Gamma_t = \mathbb E_{x_t\sim q(x_t)}\,\frac{\lVert \epsilon_\theta(x_t,t)\rVert^2}{D}.$$

$\Gamma_t$ is how large the network's noise prediction is on average (per number, over $x_t$ drawn from
$q(x_t)$): close to 1 when the noise in $x_t$ can be told apart from the {noun}, smaller when it cannot. With an
exact $\epsilon_\theta$, $\sigma^{*2}$ equals the true step's variance **averaged over** $x_t \sim q(x_t)$: it is
optimal on average, not at every $x_t$. Over the {num_data} training {noun}s the true step is computable: its
variance per number is $\tilde\beta_{t|s} + c_0^2\,\mathrm{tr}\,\mathrm{Cov}[x_0 \mid x_t]/D$, with $c_0$ the
weight of $x_0$ in the posterior mean $\tilde\mu$ (eq. 7). The plot shows it at every step of the chain, at
$x_t$ drawn from $q(x_t)$ (noised training {noun}s: the typical $x_t$) and along one sampled trajectory.
"""


def intro(num_data: str, noun: str, num_values: str = "D") -> str:
    """The tab's introduction; num_data: how many training images, as the page writes it ("4,500", or "N");
    num_values: how many numbers one image holds ("1,024")."""
    d_phrase = (
        f"$D$ = {num_values} numbers in one {noun}" if num_values != "D" else f"$D$: how many numbers one {noun} holds"
    )
    return _INTRO.replace("{num_data}", num_data).replace("{noun}", noun).replace("{d_phrase}", d_phrase)


NO_NOISY_STEP = "A 1-step chain goes straight to $x_0$ and adds no noise: there is no variance to choose."


def caption(reading, noun: str, toy: dict | None = None) -> str:
    """The sentence the student should take away, from what the chain's numbers say (`ui.tabs.variance.ChainReading`:
    the noisy steps only, the final step to x_0 adds no noise in any sampler). toy: the 2-D world's default step
    (`toy_contrast`'s argument), said beside it; None leaves it out."""
    r = reading
    parts = [
        f"**The typical $x_t$, drawn from $q(x_t)$ (noised training {noun}s).** Along this "
        f"{r.num_steps}-step chain (strides of about {r.stride:.0f} timesteps) the true step's variance per number "
        f"runs from {r.true_low:.3g} to {r.true_high:.3g}."
    ]
    miss = abs(r.small_ratio - 1)
    if r.small_close:
        parts.append(
            rf"$\tilde\beta_{{t|s}}$ is within {miss:.1%} of it at every noisy step: each step is "
            "small enough that one Gaussian with the posterior's own variance has the right width."
        )
    else:
        parts.append(
            rf"$\tilde\beta_{{t|s}}$ is {'too narrow' if r.small_ratio < 1 else 'too wide'} by up to "
            f"{miss:.0%} (at $t = {r.small_t}$): this stride is too big for the posterior's own variance."
        )
    parts.append(
        rf"$\beta_{{t|s}}$ is up to {times(r.large_ratio)} too wide (at $t = {r.large_t}$, where "
        r"$\tilde\beta_{t|s}$ and $\beta_{t|s}$ differ most). $\sigma^{*2}$ with the exact $\Gamma_t$ is the true "
        "variance averaged over $x_t$ (Bao et al.'s theorem; the circles sit on the blue line)."
    )
    if r.trajectory_ratio is not None:
        parts.append(
            rf"At the $x_t$ of the sampled trajectory (×) the true step is up to {times(r.trajectory_ratio)} "
            rf"$\tilde\beta_{{t|s}}$ (at $t = {r.trajectory_t}$): the model's own sample is no training "
            f"{noun}, so the exact posterior over the training {noun}s stays undecided between several of them "
            f"longer there than it does at a noised training {noun}."
        )
    if r.model_ratio is not None:
        parts.append(
            rf"With the model's $\Gamma_t$, $\sigma^{{*2}}$ is up to {times(r.model_ratio)} the true variance "
            rf"(at $t = {r.model_t}$): the model, which generalises, is less sure of $\epsilon$ than the exact "
            f"posterior over the training {noun}s, which has already picked one {noun} there ($\\Gamma_t \\to 1$, "
            r"$\sigma^{*2} \to \tilde\beta_{t|s}$)."
        )
    words = " ".join(parts)
    return words if toy is None else words + "\n\n" + toy_contrast(toy, r)


def toy_contrast(toy: dict, reading=None) -> str:
    """The other half of the story, from the 2-D world's default step (computed by the same function as that tab):
    toy holds dataset, num_points, x_t (x, y), t, prev_t, true (the exact step's variance per coordinate) and
    ratios {variance name: that variance / true}. reading: this tab's chain (`ChainReading`), quoted beside it."""
    small, large, best = (toy["ratios"][name] for name in ("fixed_small", "fixed_large", "analytic"))
    x, y = toy["x_t"]
    here = (
        rf" (here: within {abs(reading.small_ratio - 1):.1%}, while $\beta_{{t|s}}$ is up to "
        f"{times(reading.large_ratio)} too wide)"
        if reading is not None
        else ""
    )
    sigma_worse = abs(math.log(best)) > abs(math.log(large))
    return (
        rf"**The same question where it goes the other way: the *2-D world* tab's default step** ({toy['dataset']}, "
        rf"N = {toy['num_points']:,} points, $x_t = ({x:.2f}, {y:.2f})$, $t = {toy['t']} \to {toy['prev_t']}$, a "
        f"stride of {toy['t'] - toy['prev_t']} timesteps; the shipped 2-D model). There $x_t$ sits **between** two "
        "parts of the data and the stride is large, so the true step spreads over both: its variance per coordinate "
        rf"is {toy['true']:.3g}, and $\tilde\beta_{{t|s}}$ is {_ratio_words(small)}, $\beta_{{t|s}}$ "
        rf"{_ratio_words(large)}, $\sigma^{{*2}}$ {_ratio_words(best)} of it. Both tabs are right: "
        rf"$\tilde\beta_{{t|s}}$ fits a small step from a typical $x_t${here}; it is too narrow for a big step from a "
        r"point between modes. $\sigma^{*2}$ is optimal for the **average** over $x_t \sim q(x_t)$, not at every "
        r"point: a point between modes needs more than the average"
        + (r", which is why there $\sigma^{*2}$ does worse than $\beta_{t|s}$." if sigma_worse else ".")
    )


def _ratio_words(ratio: float) -> str:
    """A variance / the true variance in words: "21.5× too narrow", "0.89×", "3.2× too wide"."""
    if ratio < 0.5:
        return f"{times(1 / ratio)} too narrow"
    if ratio > 2:
        return f"{times(ratio)} too wide"
    return f"{ratio:.2f}×"


def no_model_gamma(gamma_file: str, command: str) -> str:
    """Appended to the caption when the model folder has no Γ_t file."""
    return (
        rf" (No $\sigma^{{*2}}$ with the model's $\Gamma_t$: the model folder has no {gamma_file}; "
        f"make it with `{command}`.)"
    )
