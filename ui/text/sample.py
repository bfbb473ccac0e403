"""The words of the sample tab: its sentences and formulas (LaTeX), written for the data it shows."""

from __future__ import annotations

from ui.base import VARIANCE_SYMBOLS

# ---------------------------------------------------------------------------------------------- tab: sample
_SAMPLE_EXPLANATION = r"""
**Left: the sample just drawn.** A step goes from $t$ to a smaller $s$ (the step box reads "$t$ → $s$"): it draws
$x_s$ from $p_\theta(x_s\mid x_t)$, and the left picture is that $x_s$, pure Gaussian noise at the start, an image
after the last step.

**Right: $\hat x_0$**, the network's one-shot guess of the final image from $x_t$ (Ho et al. eq. 15),
$\hat x_0 = \big(x_t - \sqrt{1-\bar\alpha_t}\,\epsilon_\theta(x_t, t)\big)/\sqrt{\bar\alpha_t}$, where
$\epsilon_\theta(x_t, t)$ is the network's prediction of the noise in $x_t$. $\hat x_0$ looks noisy at the first
steps (near $t = 999$, dividing by $\sqrt{\bar\alpha_t}\approx 0.006$ magnifies every error of $\epsilon_\theta$
about 160-fold), then like a blurry {noun}, and sharp at the end. $p_\theta$ is the tractable posterior
$q(x_s\mid x_t, x_0)$ with $x_0$ replaced by a guess
of it: $\hat x_0$ at order 1, a better one at orders 2 and 3 (the picture shows the network's own $\hat x_0$).

**$\eta$ (eta)** scales the noise added at each step: $1$ = DDPM's posterior (stochastic), $0$ = DDIM
(deterministic: the seed then fixes only the starting noise). Keep $\eta = 1$ unless you want determinism: the
deterministic samplers do worse on this model (the numbers are under the order).

**Steps** trade time for fidelity: the run visits $K$ of the $T$ training timesteps (the spacing decides which);
the cost is linear in $K$, and the chain matches training exactly only at $K = T$. Why do 10 big steps give sharp
{nouns} when tab "2-D world" shows a big Gaussian step blurring, and finds $\tilde\beta$ 21.5× too narrow for a long
stride from a point between two modes (tab "Which variance for p_θ?" quotes it beside the MNIST chain, where
$\tilde\beta$ is right)? Those points stand: each step here is still one Gaussian, and over a long
stride the true step is not one. But each Gaussian is centred on a good guess of $x_0$ (the order makes it better),
its fresh noise keeps the samples spread like the data instead of averaged, and by the last steps $\hat x_0$ is
nearly the image itself, with narrow Gaussians around it: on the shipped MNIST model 10 steps reach the 1000-step
sampler's FID (the numbers under the order).

The **variance** is the noise of each step: {fixed_small} $= \frac{1-\bar\alpha_{s}}{1-\bar\alpha_t}
\big(1-\frac{\bar\alpha_t}{\bar\alpha_s}\big)$ (the posterior's, eq. 7), {fixed_large} (the forward step's; Ho et
al.'s other extreme, right when $x_0$ is as spread as noise; needs $\eta = 1$) or {analytic} (Bao et al. 2022,
Analytic-DPM: the width that brings $p_\theta$ closest to the true step in KL, on average over $x_t$, estimated from
the model's own errors). For one step of the 1,000 the first two differ only near $t = 0$ (their curves in the
schedule plot lie on top of each other elsewhere); for the long strides of a short run ($s = t - 100$ at $K = 10$)
they part far from $t = 0$ too: $\beta$ is 3.3 times $\tilde\beta$ at $t = 199$ (tab "Which variance for p_θ?"
compares both with the true step).
"""


def sample_explanation(noun: str) -> str:
    """How to read the tab (markdown + LaTeX), for a model of `noun`s ("digit" for MNIST, "image" otherwise)."""
    return (
        _SAMPLE_EXPLANATION.replace("{nouns}", f"{noun}s")
        .replace("{noun}", noun)
        .replace("{fixed_small}", VARIANCE_SYMBOLS["fixed_small"])
        .replace("{fixed_large}", VARIANCE_SYMBOLS["fixed_large"])
        .replace("{analytic}", VARIANCE_SYMBOLS["analytic"])
    )


def step_label(k: int, num_steps: int, t: int, prev_t: int) -> str:
    """ "step k / K, t = 779 → 759": step k took x at t to the sample shown (x₀ on the last step)."""
    return f"step {k} / {num_steps}, t = {t} → {prev_t if prev_t >= 0 else 'x₀'}"


# One short clause per control (its `info`), what it is rather than how to use it.
STEPS_INFO = "K, the reverse steps: each is one network call; fewer is faster"
ORDER_INFO = (
    "1 = the model's own x̂₀; 2, 3 = x̂₀ extrapolated from the last steps' guesses (the multistep rule of "
    "DPM-Solver++, a fast sampler by Lu et al. 2022)"
)
# FID of the shipped MNIST model's samplers over 1,000 samples, as the project's sampler benchmark measured them
# (bench/results/samplers-1000.json; the test of this tab reads the file and checks these roundings). Order 3 at
# 10 steps is the mean of 3 seeds; the others at 10 steps are one seed.
FID_1000 = {
    "order 3, 10 steps": 6.1,
    "1000 steps": 6.0,
    "DDIM": 21.9,
    "DPM-Solver++ (ODE)": 15.3,
    "UniPC": 14.6,
    "SDE-DPM-Solver++ 2M": 7.2,
}
ORDER_SENTENCE = (
    r"Every order takes the same step, the posterior $q(x_s\mid x_t, x_0)$ with $x_0$ replaced by a guess; a higher "
    r"order only makes the guess better, extrapolating it from the last steps' $\hat x_0$ as they move along the run. "
    f"On the shipped MNIST model, 10 steps at order 3 reach the 1000-step sampler's quality: FID "
    f"{FID_1000['order 3, 10 steps']} (mean of 3 seeds) against {FID_1000['1000 steps']}, over 1,000 samples (FID: "
    "the distance between the features of the samples and of real digits; lower is better). diffusers' "
    f"stochastic SDE-DPM-Solver++ 2M (the same posterior step at order 2, without clipping $\\hat x_0$) "
    f"scores {FID_1000['SDE-DPM-Solver++ 2M']} (3 seeds). The deterministic samplers do worse: DDIM "
    f"{FID_1000['DDIM']}, DPM-Solver++ without noise {FID_1000['DPM-Solver++ (ODE)']} and UniPC {FID_1000['UniPC']} "
    "(fast solvers of the noise-free, ODE form of the sampler). At 15 to 25 steps, order 2 and order 3 and the best "
    "diffusers samplers differ by less than the FID moves between seeds."
)
ETA_INFO = (
    "the step's noise: 1 = DDPM's posterior (stochastic), 0 = DDIM (Song et al.'s deterministic sampler: no noise "
    "added), between = a mix"
)
SPACING_INFO = (
    "which K of the T timesteps the run visits: trailing counts down from T−1 (starts at pure noise), leading "
    "counts up from 0 in strides of T/K, linspace spreads K evenly from T−1 to 0"
)
VARIANCE_INFO = (
    "the noise of each step: β̃ₜ the true posterior's, βₜ the forward step's (larger), σ*² the one closest in KL to "
    "the true step on average (Analytic-DPM, below)"
)


XT_TITLE = "**The sample just drawn**: x at the t after the arrow in the step box (the image after the last step)"


X0_TITLE = "**x̂₀**: the model's guess of the clean image, from x at the t before the arrow"


FINAL_IMAGES_TITLE = "**Final images** (the last step's x₀)"


def trajectory_title(max_frames: int) -> str:
    """The title above the GIF, which shows every step of a run of at most max_frames steps, else max_frames."""
    return (
        f"**Trajectory**: the run as an animation (every step, or {max_frames} spread as evenly as the steps allow), "
        "ending on the result; each frame is one step t → s: left (x_s) the sample it drew; right the model's "
        "x̂₀ from x at t."
    )


SLIDER_WAITING = "scrub the recorded steps (after a run)"


def slider_label(num_steps: int) -> str:
    return f"scrub the recorded steps: 1 … {num_steps}"


def first_look_label(seed: int, num_steps: int, t: int, prev_t: int) -> str:
    """The step box of the tab's first look: a run recorded at the settings shown; no "done" (that is a click's)."""
    return (
        f"{step_label(num_steps, num_steps, t, prev_t)} · a run recorded at the settings shown (seed {seed}): "
        "press Sample to watch one live"
    )


def filmstrip_caption(num_frames: int, num_images: int) -> str:
    """The line above the filmstrip: num_frames steps spread over the run (as evenly as the K steps allow), for the
    first num_images images."""
    rows = "the first image" if num_images == 1 else f"each of the first {num_images} images (or all, if fewer)"
    return (
        f"**Filmstrip**: {num_frames} steps spread over the run as evenly as its steps allow (all of them in a run of "
        f"{num_frames} or fewer), noise (left) to "
        f"image (right); for {rows}, x_s above x̂₀. Each column is one step, labelled t->s: x_s is the sample "
        "it drew, x̂₀ the model's guess from x at t."
    )
