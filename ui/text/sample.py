"""The words of the sample tab: its sentences and formulas (LaTeX), written for the data it shows."""

from __future__ import annotations

from ui.base import VARIANCE_SYMBOLS

# ---------------------------------------------------------------------------------------------- tab: sample
_SAMPLE_EXPLANATION = r"""
**$x_t$** (left) is the noisy sample: pure Gaussian noise at $t = T$, an image at $t = 0$. Each step draws the
next, less noisy one from $p_\theta(x_{t-1}\mid x_t)$; the picture shown is the sample just drawn.

**$\hat x_0$** (right) is the network's one-shot guess of the final image from $x_t$ (Ho et al. eq. 15),
$\hat x_0 = \big(x_t - \sqrt{1-\bar\alpha_t}\,\epsilon_\theta(x_t, t)\big)/\sqrt{\bar\alpha_t}$: a blurry average of
plausible {nouns} early, sharp at the end. $p_\theta$ is the tractable posterior $q(x_{t-1}\mid x_t, x_0)$ with
$x_0$ replaced by $\hat x_0$.

**Order** chooses the $x_0$ guess the posterior is built from: order 1 uses this step's $\hat x_0$; orders 2 and 3
extrapolate it from the last steps' guesses, as $\hat x_0$ moves along the run (Lu et al. 2022, DPM-Solver++: at
$\eta = 1$, order 2 is exactly SDE-DPM-Solver++ 2M). The step is still $q(x_{t-1}\mid x_t, x_0)$; only $x_0$'s
stand-in is better, so fewer steps reach the same quality. The picture on the right is the model's own $\hat x_0$.

**$\eta$ (eta)** scales the noise added at each step: $1$ = DDPM's posterior (stochastic), $0$ = DDIM
(deterministic: the seed then fixes only the starting noise). On this project's MNIST model the deterministic
samplers (DDIM, DPM-Solver++ ODE, UniPC) score clearly worse than the best stochastic ones from 10 steps on
(a higher FID, the distance between the features of 1,000 samples and of real digits, measured by the project's
benchmark): the posterior's fresh noise matters; keep $\eta = 1$ unless you want determinism.

**Steps** trade time for fidelity: the run visits $K$ of the $T$ training timesteps (the spacing decides which);
the cost is linear in $K$, and the chain matches training exactly only at $K = T$. The **variance** is the noise
of each step: {fixed_small} $= \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\beta_t$ (the posterior's, eq. 7) or
{fixed_large} (an upper bound; needs $\eta = 1$). The two differ only near $t = 0$, which is why their curves in the
schedule plot lie on top of each other elsewhere.
"""


def sample_explanation(noun: str) -> str:
    """How to read the tab (markdown + LaTeX), for a model of `noun`s ("digit" for MNIST, "image" otherwise)."""
    return (
        _SAMPLE_EXPLANATION.replace("{nouns}", f"{noun}s")
        .replace("{fixed_small}", VARIANCE_SYMBOLS["fixed_small"])
        .replace("{fixed_large}", VARIANCE_SYMBOLS["fixed_large"])
    )


def step_label(k: int, num_steps: int, t: int, prev_t: int) -> str:
    """ "step k / K, t = 779 → 759": step k took x at t to the sample shown (x₀ on the last step)."""
    return f"step {k} / {num_steps}, t = {t} → {prev_t if prev_t >= 0 else 'x₀'}"


# One short clause per control (its `info`), what it is rather than how to use it.
STEPS_INFO = "K, the reverse steps: each is one network call; fewer is faster"
ORDER_INFO = "1 = the model's x̂₀; 2, 3 = x̂₀ extrapolated from the last steps' guesses (multistep, DPM-Solver++)"
ORDER_SENTENCE = (
    r"Same posterior $q(x_{t-1}\mid x_t, x_0)$ at every order, better $\hat x_0$: a higher order only replaces the "
    r"guess of $x_0$ by its extrapolation from the previous steps' guesses."
)
ETA_INFO = "the step's noise: 1 = DDPM's posterior (stochastic), 0 = DDIM (deterministic), between = a mix"
SPACING_INFO = (
    "which K of the T timesteps the run visits: trailing counts down from T−1 (starts at pure noise), leading "
    "counts up from 0 in strides of T/K, linspace spreads K evenly from T−1 to 0"
)
VARIANCE_INFO = (
    "the noise of each step: β̃ₜ the true posterior's, βₜ the forward step's (larger), σ*² the KL-optimal one"
)


XT_TITLE = "**xₜ**: the noisy sample"


X0_TITLE = "**x̂₀**: the model's guess of the clean image"


FINAL_IMAGES_TITLE = "**Final images** (the last step's x₀)"


TRAJECTORY_TITLE = (
    "**Trajectory**: the run as an animation, xₜ (left) and x̂₀ (right) at evenly spaced steps, ending on the result."
)


def filmstrip_caption(num_frames: int, num_images: int) -> str:
    """The line above the filmstrip: num_frames steps spread over the run (as evenly as the K steps allow), for the
    first num_images images."""
    rows = "the first image" if num_images == 1 else f"each of the first {num_images} images (or all, if fewer)"
    return (
        f"**Filmstrip**: {num_frames} steps spread over the run (as evenly as its steps allow), noise (left) to "
        f"image (right); for {rows}, xₜ above x̂₀, each column labelled with its t."
    )
