"""The words of the sample tab: its sentences and formulas (LaTeX), written for the data it shows."""

from __future__ import annotations

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
the cost is linear in $K$, and the chain matches training exactly only at $K = T$.

**Spacing.** This tab defaults to trailing so that its first step is from $t = 999$, where
$x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon$ holds only $\sqrt{\bar\alpha_{999}} = 0.006$ of the
image, as the pure-noise start assumes. Leading spacing, the model's own plan (the one saved with its scheduler;
the "Exact posterior sampler" and "Which variance for $p_\theta$?" tabs use it), would start 10 steps at $t = 900$,
whose $x_t$ still holds $\sqrt{\bar\alpha_{900}} = 0.016$ of the image, and spend its last step on $t = 0$, where
almost nothing is left to remove (Lin et al. 2024 recommend trailing for this reason).

**Why do 10 big steps give sharp {nouns}** when tab "2-D world" shows a big Gaussian step blurring, and finds
$\tilde\beta_{t|s}$ 21.5× too narrow for a long stride from a point between two modes (tab "Which variance for
$p_\theta$?" quotes it beside the MNIST chain, where $\tilde\beta_{t|s}$ has the right width)? Those points stand:
each step here is still one Gaussian, and over a long stride the exact step is not one. With the model's plain
$\hat x_0$ (order 1) the 10 big steps do cost quality: FID {fid_order1_10} against {fid_1000} for the 1000-step
sampler (and {fid_order1_20} at 20 steps). A better guess of $x_0$ for each Gaussian to be centred on recovers it:
order 3 reaches {fid_order3_10} at 10 steps (mean of 3 seeds; the numbers under the order; one seed each unless
said, all at 10 steps unless said). The steps' fresh noise helps too, on this model: the same kind of guess
without noise scores worse (DDIM, order 1 with $\eta = 0$: {fid_ddim} against
{fid_order1_10}; DPM-Solver++ 2M without noise: {fid_ode} against {fid_sde} with it, 3 seeds); we measured that it
helps, not why. Where the steps are taken explains why one Gaussian each suffices here: the 2-D blur is at a point
between two modes; a typical MNIST $x_t$ lies near one {noun}, where the exact step has the width of
$\tilde\beta_{t|s}$ (tab "Which variance for $p_\theta$?"), and the exact step is itself nearly one Gaussian once
its trajectory has committed to one training {noun}: at a median $t = 400$ in the run of tab "Exact posterior sampler".

The **variance** is the noise of each step $t \to s$: $\tilde\beta_{t|s} = \frac{1-\bar\alpha_s}{1-\bar\alpha_t}
\beta_{t|s}$ (the posterior's, eq. 7, for this step), $\beta_{t|s} = 1 - \bar\alpha_t/\bar\alpha_s$ (the noise the
forward process adds from $s$ to $t$; only at $\eta = 1$: a smaller $\eta$ shrinks the noise to
$\eta^2\tilde\beta_{t|s}$, DDIM's family, which has no $\beta_{t|s}$ member) or $\sigma^{*2}$ (Bao et al. 2022,
Analytic-DPM: the width that brings $p_\theta$ closest to the exact step in KL, on average over $x_t$, estimated from
the model's own errors). For one step ($s = t - 1$) the first two are Ho et al.'s $\tilde\beta_t$ and $\beta_t$, the
two choices they tried, with similar samples ($\beta_t$ is right when $x_0$ is as spread as noise, $\tilde\beta_t$
when it is one point); they differ only near $t = 0$ (their curves in the schedule plot lie on top of each other
elsewhere). For the long strides of a short run ($s = t - 100$ at $K = 10$) they part far from $t = 0$ too:
$\beta_{t|s}$ is 3.3 times $\tilde\beta_{t|s}$ at $t = 199$ (the schedule plot marks both at each step of the run).
Tab "Which variance for $p_\theta$?" compares both with the exact step's variance; it starts at $K = 40$ (strides of
25): set its $K$ to 10 for these strides (on the model's leading plan: 900, 800, …, 0, the same strides shifted by
99 timesteps).
"""


def sample_explanation(noun: str) -> str:
    """How to read the tab (markdown + LaTeX), for a model of `noun`s ("digit" for MNIST, "image" otherwise)."""
    words = _SAMPLE_EXPLANATION.replace("{nouns}", f"{noun}s").replace("{noun}", noun)
    numbers = {
        "fid_order1_10": FID_1000["order 1, 10 steps"],
        "fid_order1_20": FID_1000["order 1, 20 steps"],
        "fid_1000": FID_1000["1000 steps"],
        "fid_order3_10": FID_1000["order 3, 10 steps"],
        "fid_ddim": FID_1000["DDIM"],
        "fid_ode": FID_1000["DPM-Solver++ (ODE)"],
        "fid_sde": FID_1000["SDE-DPM-Solver++ 2M"],
    }
    for name, value in numbers.items():
        words = words.replace("{" + name + "}", str(value))
    return words


def step_label(k: int, num_steps: int, t: int, prev_t: int) -> str:
    """ "step k / K, t = 779 → 759": step k took x at t to the sample shown (x₀ on the last step)."""
    return f"step {k} / {num_steps}, t = {t} → {prev_t if prev_t >= 0 else 'x₀'}"


# One short clause per control (its `info`), what it is rather than how to use it.
STEPS_INFO = "K, the reverse steps: each is one network call; fewer is faster"
ORDER_INFO = (
    "1 = the network's own x̂₀; 2, 3 = x̂₀ extrapolated from the last steps' guesses (the multistep rule of "
    "DPM-Solver++, a fast sampler by Lu et al. 2022)"
)
# FID of the shipped MNIST model's samplers over 1,000 samples, as the project's sampler benchmark measured them
# (bench/results/samplers-1000.json, trailing spacing; the test of this tab reads the file and checks these roundings).
# Order 3 and SDE-DPM-Solver++ 2M at 10 steps are the means of 3 seeds; the others are one seed. Order 1 is diffusers'
# DDPM (the same sampler as ours at order 1, β̃).
FID_1000 = {
    "order 3, 10 steps": 6.1,
    "order 1, 10 steps": 14.3,
    "order 1, 20 steps": 6.7,
    "1000 steps": 6.0,
    "DDIM": 21.9,
    "DPM-Solver++ (ODE)": 15.3,
    "UniPC": 14.6,
    "SDE-DPM-Solver++ 2M": 7.2,
}
# How far FID moved between 3 seeds at 15, 20 and 25 steps (least and most over those step counts, rounded): the
# benchmark's own "fid_spread" per step count, over the samplers it ran with 3 seeds (samplers-1000.json again).
SEED_SPREAD_1000 = (1.7, 4.3)
# The same at 10 steps (the benchmark's "fid_spread" there, rounded).
SEED_SPREAD_10 = 2.4
ORDER_SENTENCE = (
    r"Every order runs the same trained network and takes the same Gaussian step, the posterior "
    r"$q(x_s\mid x_t, x_0)$ with $x_0$ replaced by a guess: order 1 uses the network's $\hat x_0$ (at $\eta = 1$ it "
    r"is Ho et al.'s sampler itself, on the run's $K$ timesteps); order 3 builds the guess from the network's last "
    r"three $\hat x_0$ (order 2: two), extrapolating them along the run. "
    "On the shipped MNIST model (trained on 4,500 MNIST digits), over 1,000 "
    "samples (FID: the distance between the samples and 500 held-out real digits, in the features of a small "
    "digit classifier trained on MNIST for this project; lower is better; one seed unless said), the "
    f"1000-step sampler scores {FID_1000['1000 steps']}. Plain DDPM (order 1) needs 20 steps to come close: "
    f"{FID_1000['order 1, 20 steps']}, and {FID_1000['order 1, 10 steps']} at 10. Order 3 reaches "
    f"{FID_1000['order 3, 10 steps']} at 10 steps (mean of 3 seeds): the steps are the same Gaussians, centred on a "
    "better guess. Among the samplers of diffusers (the Hugging Face library this demo builds on), "
    f"SDE-DPM-Solver++ 2M (Lu et al.'s fast solver in its stochastic form: the same posterior step at order 2, "
    f"without clipping $\\hat x_0$) scores {FID_1000['SDE-DPM-Solver++ 2M']} (3 seeds). The deterministic samplers "
    f"do worse at 10 steps: DDIM {FID_1000['DDIM']}, DPM-Solver++ without noise {FID_1000['DPM-Solver++ (ODE)']} "
    f"and UniPC "
    f"{FID_1000['UniPC']} (Zhao et al.'s predictor-corrector solver; all three solve the noise-free, ODE form of the "
    f"sampler). FID moves between seeds by up to {SEED_SPREAD_10} at 10 steps (most minus least over 3 seeds). At 15 "
    "to 25 steps, order 2 and order 3 and the best diffusers samplers differ by less than the FID "
    f"moves between seeds (there by {SEED_SPREAD_1000[0]} to {SEED_SPREAD_1000[1]}, most minus least over 3 seeds)."
)
ETA_INFO = (
    "the step's noise: 1 = DDPM's posterior (stochastic), 0 = DDIM (Song et al.'s deterministic sampler: no noise "
    "added), between = a mix"
)
SPACING_INFO = (
    "which K of the T timesteps the run visits: trailing (the default here) counts down from T−1 (starts at pure "
    "noise), leading (the model's own plan: the spacing saved with its scheduler) counts up from 0 in strides of T/K, "
    "linspace spreads K evenly from T−1 "
    "to 0"
)
# Plain text (a radio's info and options hold no LaTeX): the symbols of a step t → s without a subscript "t|s",
# which plain text can only set on the baseline.
VARIANCE_INFO = (
    "the noise of each step t → s: the tractable posterior's (β̃ in the text below), the forward process's from s to t "
    "(β, larger), or σ*², the one closest in KL to the exact step on average (Analytic-DPM, below); for one step "
    "(s = t − 1), Ho et al.'s β̃ₜ and βₜ"
)
# The error for η < 1 with β (an API caller's variance value named too).
ETA_NEEDS_ONE = (
    "eta must be 1 with the forward process's variance β of the step t → s (variance = fixed_large): η < 1 shrinks "
    "the step's noise to η²·β̃ (DDIM's family), which has no member with β. Set η to 1, or pick β̃ or σ*²."
)
# The variance radio's options, by the scheduler's variance_type values.
VARIANCE_OPTIONS = {
    "fixed_small": "β̃ of the step t → s (the posterior's variance)",
    "fixed_large": "β of the step t → s (the forward process's)",
    "analytic": "σ*² of the step t → s (Analytic-DPM: optimal on average over xₜ)",
}


XT_TITLE = (
    r"**The sample just drawn**: $x_s$ of the step $t \to s$ in the step box (the image $x_0$ after the last step)"
)


X0_TITLE = r"**$\hat x_0$**: the network's guess of the clean image, from $x_t$ of the step $t \to s$"


FINAL_IMAGES_TITLE = (
    r"**Final images**: the samples $x_0$ (the last step adds no noise: it lands on its guess of $x_0$)"
)


def trajectory_title(max_frames: int) -> str:
    """The title above the GIF, which shows every step of a run of at most max_frames steps, else max_frames."""
    return (
        f"**Trajectory**: the run as an animation (every step, or {max_frames} spread as evenly as the steps allow), "
        r"ending on the result; each frame is one step $t \to s$: left, the sample $x_s$ it drew; right, the "
        r"network's $\hat x_0$ from $x_t$."
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
        f"image (right); for {rows}, $x_s$ above $\\hat x_0$. Each column is one step, labelled $t \\to s$: $x_s$ "
        r"is the sample it drew, $\hat x_0$ the network's guess from $x_t$."
    )
