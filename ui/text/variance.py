"""The words of the variance tab ("Which variance for p_θ?"): its sentences and formulas (LaTeX), written for the
data it shows (noun: what one training image is called, "digit" for MNIST, "image" otherwise)."""

from __future__ import annotations

from ui.format import times

# ---------------------------------------------------------------------------------------------- tab: variance
_INTRO = r"""
### Which Gaussian for $p_\theta(x_{s} \mid x_t)$?

The true reverse step $q(x_s \mid x_t)$ is a mixture, not a Gaussian; $p_\theta$ replaces it by one Gaussian
$\mathcal N(\mu_\theta, \sigma^2 I)$. Its mean is learned; its variance is a choice: the posterior's own
$\tilde\beta$ (DDPM's `fixed_small`), the step's $\beta$ (`fixed_large`), or Bao et al.'s (2022) KL-optimal

$$\sigma^{*2} = \tilde\beta + \frac{\beta_{t|s}^2}{\alpha_{t|s}\,\bar\beta_t}\,(1-\Gamma_t),$$

$$\Gamma_t = \mathbb E_{x_t\sim q(x_t)} \frac{\lVert \epsilon_\theta(x_t,t)\rVert^2}{d},$$

the average over $x_t$ of the true step's per-pixel variance when $\epsilon_\theta$ is exact (`analytic`). Over
the {num_data} training {noun}s the true step is computable: its variance is
$\tilde\beta + c_1^2\,\mathrm{tr}\,\mathrm{Cov}[x_0 \mid x_t]/d$ ($c_1$ the weight of $x_0$ in $\tilde\mu$).
The plot shows it at every step of the chain, at $x_t$ drawn from $q(x_t)$ and along one sampled trajectory.
"""


def intro(num_data: str, noun: str) -> str:
    """The tab's introduction; num_data: how many training images, as the page writes it ("4,500", or "N")."""
    return _INTRO.replace("{num_data}", num_data).replace("{noun}", noun)


NO_NOISY_STEP = "A 1-step chain goes straight to $x_0$ and adds no noise: there is no variance to choose."


def caption(reading, noun: str) -> str:
    """The sentence the student should take away, from what the chain's numbers say (`ui.tabs.variance.ChainReading`:
    the noisy steps only, the final step to x_0 adds no noise in any sampler)."""
    r = reading
    parts = [
        f"Along this {r.num_steps}-step chain (strides of about {r.stride:.0f} timesteps) the true step's per-pixel "
        f"variance runs from {r.true_low:.3g} to {r.true_high:.3g}."
    ]
    miss = abs(r.small_ratio - 1)
    if r.small_close:
        parts.append(
            rf"$\tilde\beta$ is within {miss:.1%} of it at every noisy step: each step is "
            "small enough that one Gaussian with the posterior's own variance has the right width."
        )
    else:
        parts.append(
            rf"$\tilde\beta$ is {'too narrow' if r.small_ratio < 1 else 'too wide'} by up to "
            f"{miss:.0%} (at $t = {r.small_t}$): this stride is too big for the posterior's own variance."
        )
    parts.append(
        rf"$\beta$ is up to {times(r.large_ratio)} too wide (at $t = {r.large_t}$, where $\tilde\beta$ and "
        r"$\beta$ differ most). $\sigma^{*2}$ with the exact $\Gamma_t$ is the mean true variance itself (Bao et al.'s "
        "theorem; the circles sit on the blue line)."
    )
    if r.trajectory_ratio is not None:
        parts.append(
            rf"At the $x_t$ of the sampled trajectory (×) the true step is up to {times(r.trajectory_ratio)} "
            rf"$\tilde\beta$ (at $t = {r.trajectory_t}$): the model's own sample is no training "
            f"{noun}, so the exact posterior over the training {noun}s stays undecided between several of them "
            f"longer there than it does at a noised training {noun}."
        )
    if r.model_ratio is not None:
        parts.append(
            rf"With the model's $\Gamma_t$, $\sigma^{{*2}}$ is up to {times(r.model_ratio)} the true variance "
            rf"(at $t = {r.model_t}$): the model, which generalises, is less sure of $\epsilon$ than the exact "
            f"posterior over the training {noun}s, which has already picked one {noun} there ($\\Gamma_t \\to 1$, "
            r"$\sigma^{*2} \to \tilde\beta$)."
        )
    return " ".join(parts)


def no_model_gamma(gamma_file: str, command: str) -> str:
    """Appended to the caption when the model folder has no Γ_t file."""
    return (
        rf" (No $\sigma^{{*2}}$ with the model's $\Gamma_t$: the model folder has no {gamma_file}; "
        f"make it with `{command}`.)"
    )
