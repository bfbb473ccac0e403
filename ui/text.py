"""Every sentence and formula the page shows, built from numbers the library returns. No computation here
beyond formatting: the tabs pass in what `pipelines` computed."""

from __future__ import annotations

import math
import re
import statistics

from pipelines.pictures.units import format_bytes, format_duration

VARIANCES = {"fixed_small": "β̃_t (posterior variance)", "fixed_large": "β_t", "analytic": "σ*² (Analytic-DPM, optimal)"}


# ---------------------------------------------------------------------------------------------- page
def header(model_id: str, image_shape, num_train_timesteps: int, prediction_type: str) -> str:
    C, H, W = image_shape
    return (
        f"# DDPM, step by step\nModel **{model_id}**: {C}×{H}×{W} images, T = {num_train_timesteps} training "
        f"steps, {prediction_type} prediction. Every sample below comes from the same sampling loop "
        "(`PosteriorDDPMPipeline.denoise`); the other tabs ask why that loop needs a learned p_θ at all."
    )


def ms(seconds: float) -> str:
    """Seconds as "12.3 ms" or "45 µs"."""
    return f"{seconds * 1e3:.1f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.0f} µs"


# ---------------------------------------------------------------------------------------------- tab: sample
SAMPLE_EXPLANATION = r"""
**$x_t$** (left) is the noisy sample: pure Gaussian noise at $t = T$, an image at $t = 0$. Each step draws the
next, less noisy one from $p_\theta(x_{t-1}\mid x_t)$; the picture shown is the sample just drawn.

**$\hat x_0$** (right) is the network's one-shot guess of the final image from $x_t$ (Ho et al. eq. 15),
$\hat x_0 = \big(x_t - \sqrt{1-\bar\alpha_t}\,\epsilon_\theta(x_t, t)\big)/\sqrt{\bar\alpha_t}$: a blurry average of
plausible digits early, sharp at the end. $p_\theta$ is the tractable posterior $q(x_{t-1}\mid x_t, x_0)$ with
$x_0$ replaced by $\hat x_0$.

**$\eta$ (eta)** scales the noise added at each step: $1$ = DDPM's posterior (stochastic), $0$ = DDIM
(deterministic: the seed then fixes only the starting noise). With few steps, small $\eta$ usually looks cleaner.

**Steps** trade time for fidelity: the run visits $K$ of the $T$ training timesteps (the spacing decides which);
the cost is linear in $K$, and the chain matches training exactly only at $K = T$. The **variance** is the noise
of each step: $\tilde\beta_t = \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\beta_t$ (the posterior's, eq. 7) or
$\beta_t$ (an upper bound; needs $\eta = 1$). The two differ only near $t = 0$, which is why their curves in the
schedule plot lie on top of each other elsewhere.
"""


def step_label(k: int, num_steps: int, t: int, prev_t: int) -> str:
    """ "step k / K, t = 779 → 759": step k took x at t to the sample shown (x₀ on the last step)."""
    return f"step {k} / {num_steps}, t = {t} → {prev_t if prev_t >= 0 else 'x₀'}"


XT_TITLE = "**xₜ**: the noisy sample"
X0_TITLE = "**x̂₀**: the model's guess of the clean image"
FINAL_IMAGES_TITLE = "**Final images** (the last step's x₀)"
TRAJECTORY_TITLE = (
    "**Trajectory**: the run as an animation, xₜ (left) and x̂₀ (right) at evenly spaced steps, ending on the result."
)


def filmstrip_caption(num_frames: int) -> str:
    return (
        f"**Filmstrip**: {num_frames} evenly spaced steps of the run, noise (left) to image (right); for each "
        "of the first images, xₜ above x̂₀."
    )


# ---------------------------------------------------------------------------------------------- numbers
# gradio Markdown's math delimiters: $$…$$ on its own line, $…$ inline (KaTeX).
LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]


def sci_tex(x: float, digits: int = 3) -> str:
    """`sci` for use inside $…$: the same number as LaTeX without the delimiters."""
    shown = sci(x, digits)
    if shown.startswith(r"$\approx"):
        return r"\approx 0"
    return shown.strip("$").replace(",", "{,}")


def sci(x: float | None, digits: int = 3) -> str:
    """A number for the page: "0", "0.0123", "12.3", or LaTeX "$1.23\\times10^{-8}$" for tiny/huge values;
    values below 10⁻¹² (float64 rounding, denormals at small t) are shown as "≈ 0"."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if x == 0:
        return "0"
    if abs(x) < 1e-12:
        return r"$\approx 0$ ($<10^{-12}$)"
    if 1e-2 <= abs(x) < 1e5:
        return f"{x:.{digits}g}" if abs(x) < 1 else f"{x:,.{max(0, digits - 1 - int(math.log10(abs(x))))}f}"
    mantissa, exponent = f"{x:.{digits - 1}e}".split("e")
    return rf"${mantissa}\times10^{{{int(exponent)}}}$"


duration = format_duration  # milliseconds as a person reads them
size_bytes = format_bytes  # bytes in decimal units


# ---------------------------------------------------------------------------------------------- the model's data
# Phrases where "digits" are decimal digits, not images: kept as they are.
_NUMERIC_DIGITS = ("the same digits", "digits shown", "digits even when")


def for_data(markdown: str, noun: str = "digit", image_shape: tuple[int, int, int] | None = None) -> str:
    """The page's words for the model's data: the bundled MNIST data says digit, any other data says image, and the
    sizes are the model's (C×H×W) rather than MNIST's 32×32."""
    if noun == "digit" or not markdown:
        return markdown
    kept = {phrase: f"\x00{i}\x00" for i, phrase in enumerate(_NUMERIC_DIGITS)}
    for phrase, mark in kept.items():
        markdown = markdown.replace(phrase, mark)
    markdown = markdown.replace("real MNIST digits", "real images").replace(" MNIST ", " ")
    markdown = markdown.replace("; a digit is about 30 from pure noise", "").replace(
        ", and a digit is about 30 from pure noise", ""
    )
    if image_shape is not None:
        c, h, w = image_shape
        markdown = markdown.replace("tiny 32×32 digits", f"{c}×{h}×{w} images")
        markdown = markdown.replace("32×32 pixels", f"{c}×{h}×{w} values" if c > 1 else f"{h}×{w} pixels")
    markdown = re.sub(r"\bdigit(s?)\b", r"image\1", markdown)
    markdown = re.sub(r"\b([Aa]) image", r"\1n image", markdown)
    for phrase, mark in kept.items():
        markdown = markdown.replace(mark, phrase)
    return markdown


# ---------------------------------------------------------------------------------------------- tab: why p_θ
POSTERIOR_QUESTION = r"""
### The question: why learn $p_\theta(x_{t-1}\mid x_t)$ when $q(x_{t-1}\mid x_t,x_0)$ has a closed form?

**Short answer:** that closed form (Ho et al. eq. 6–7) needs $x_0$, and at sampling time $x_0$ is exactly what we
do not have. Without $x_0$, the true reverse step $q(x_{t-1}\mid x_t)$ is a mixture over the entire data set —
computable for our {num_data} digits, hopeless for millions of images, and even then it only gives back training images.
So DDPM uses $q(x_{t-1}\mid x_t,x_0)$ where $x_0$ *is* known: as the **training target** of $p_\theta$.

Where to see each part:
1. **$x_0$ is what we do not have** — this tab: pick a digit $x_0$ and a step $t$, press *Compare*; the tractable
   estimate below is the only one that reads $x_0$.
2. **The true reverse step is a mixture over the data set** — this tab (the *exact* estimate, its candidates, and
   Bayes' rule below) and the **Exact posterior sampler** tab (its cost as the data set grows, and that it only
   copies training digits).
3. **The tractable posterior is the training target** — this tab, *What training does with*
   $q(x_{t-1}\mid x_t,x_0)$, after *Compare*.
"""


def posterior_question(num_data: int) -> str:
    """The Why tab's opening question and short answer, for a data set of num_data training digits."""
    return POSTERIOR_QUESTION.replace("{num_data}", f"{num_data:,}")


ESTIMATE_LABELS = {"tractable": "tractable μ̃(xₜ, x₀)", "exact": "exact E[xₜ₋₁ | xₜ]", "model": "model μ_θ(xₜ, t)"}
ESTIMATE_HEADINGS = {
    "tractable": r"tractable $\tilde\mu_t(x_t,x_0)$",
    "exact": r"exact $E[x_{t-1}\mid x_t]$",
    "model": r"model $\mu_\theta(x_t,t)$",
}
PAIR_NOTE = (
    r"Each picture: **left** its mean of $x_{t-1}$, **right** its guess $\hat x_0$ of the clean digit "
    r"(pixels in $[-1,1]$ shown black to white)."
)


def estimate_texts(num_data: int, num_pixels: int, num_parameters: int) -> dict[str, dict[str, str]]:
    """Title, formula (LaTeX) and what it needs, for each of the three estimates of the reverse step."""
    return {
        "tractable": {
            "title": r"Tractable posterior $q(x_{t-1}\mid x_t,x_0)$",
            "formula": r"$\tilde\mu_t(x_t,x_0)=\frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1-\bar\alpha_t}\,x_0"
            r"+\frac{\sqrt{\alpha_t}\,(1-\bar\alpha_{t-1})}{1-\bar\alpha_t}\,x_t$ (eq. 7)",
            "needs": r"$x_t$ and the clean digit $x_0$ — the very image we are trying to generate",
        },
        "exact": {
            "title": r"Exact reverse step $q(x_{t-1}\mid x_t)$ over the data set",
            "formula": r"$E[x_{t-1}\mid x_t]=\sum_{i=1}^{N} w_i\,\tilde\mu_t(x_t,x_0^i)$, "
            r"$w_i=q(x_0^i\mid x_t)\propto\exp\!\big(-\frac{\lVert x_t-\sqrt{\bar\alpha_t}\,x_0^i\rVert^2}"
            r"{2(1-\bar\alpha_t)}\big)$",
            "needs": rf"$x_t$ and all N = {num_data:,} training images ({num_data * num_pixels:,} numbers), "
            "compared at every step",
        },
        "model": {
            "title": r"Learned reverse step $p_\theta(x_{t-1}\mid x_t)$",
            "formula": r"$\mu_\theta(x_t,t)=\tilde\mu_t(x_t,\hat x_0)$, "
            r"$\hat x_0=\frac{x_t-\sqrt{1-\bar\alpha_t}\,\epsilon_\theta(x_t,t)}{\sqrt{\bar\alpha_t}}$ "
            "(eq. 11, 15)",
            "needs": rf"$x_t$ only — one call of the network ({num_parameters:,} parameters)",
        },
    }


def estimate_text(comparison, texts: dict[str, str], name: str, distance_to_x0: float, took: str) -> str:
    """The markdown under one estimate's picture: formula, what it needs, time, distances to the others
    (L2 over all pixels, in [-1, 1] units)."""
    others = [n for n in comparison.estimates if n != name]
    means = " · ".join(f"{n} {comparison.mean_distances[name][n]:.3f}" for n in others)
    x0s = " · ".join(f"{n} {comparison.x0_distances[name][n]:.3f}" for n in others)
    return (
        f"**{texts['title']}**\n\n{texts['formula']}\n\n"
        f"- **needs:** {texts['needs']}\n"
        f"- **took:** {took}\n"
        rf"- **L2 distance of its $x_{{t-1}}$ to:** {means} · $x_0$ {distance_to_x0:.3f}"
        "\n"
        rf"- **L2 distance of its $\hat x_0$ to:** {x0s}"
    )


def took_text(name: str, seconds: float, step_ms: dict) -> str:
    """ "took" for one estimate: the shared cost measurement for the exact and model steps (the numbers the Exact
    posterior sampler tab plots), this request's time for the tractable formula (a few vector operations)."""
    if name == "tractable":
        return f"{ms(seconds)} (this request)"
    value = step_ms.get(name)
    if value is None:
        return f"{ms(seconds)} (this request)"
    what = f"one step over N = {step_ms['N']:,} digits" if name == "exact" else "one UNet call + step"
    return f"{duration(value)} ({what}, median of the app's cost measurement)"


def explain_comparison(c, step_ms: dict | None = None, x0_coefficient: float | None = None) -> str:
    """A few plain sentences (markdown + LaTeX) that answer "why learn p_θ?" from the numbers of one comparison
    (a `pipelines.exact.posterior.PosteriorComparison`), then what training does with q(x_{t-1}|x_t,x_0).
    x0_coefficient: the weight of x_0 in μ̃_t at this step (the scheduler's posterior_mean_coef1, eq. 7)."""
    step_ms = step_ms or {}
    e = c.estimates
    d = c.mean_distances
    exact_took = duration(step_ms["exact"]) if step_ms.get("exact") is not None else ms(e["exact"].seconds)
    model_took = duration(step_ms["model"]) if step_ms.get("model") is not None else ms(e["model"].seconds)
    lines = [
        "### What the three estimates need",
        rf"At $t = {c.t}$, $x_t$ keeps $\sqrt{{\bar\alpha_t}} = {math.sqrt(c.alpha_bar):.3f}$ of the digit and "
        rf"$\sqrt{{1-\bar\alpha_t}} = {math.sqrt(1 - c.alpha_bar):.3f}$ of noise (all distances below: L2 over "
        rf"all {c.num_pixels:,} pixels, in $[-1,1]$ units; for scale, the noise one step adds has norm "
        rf"$\sqrt{{D\tilde\beta_t}} = {c.step_noise_norm:.3f}$, and a digit is about 30 from pure noise).",
        rf"**1. Tractable** $\tilde\mu_t(x_t,x_0)$ took {ms(e['tractable'].seconds)}, but it needs $x_0$ — the "
        r"image we are trying to generate. At sampling time we only have $x_t$, so this formula cannot drive a "
        "sampler.",
    ]
    who = (
        f"the source digit #{c.source_index}"
        if c.source_index is not None and c.argmax_index == c.source_index
        else f"training image #{c.argmax_index}"
    )
    lines.append(
        rf"**2. Exact** $E[x_{{t-1}}\mid x_t]$ needs no $x_0$, but it compares $x_t$ with all {c.num_data:,} "
        f"training images ({c.num_data * c.num_pixels:,} numbers): {exact_took} per step, for every step of every "
        f"sample, growing with the data set (the *Exact posterior sampler* tab extrapolates it to millions of "
        f"images). It puts {c.max_weight:.1%} of its weight on {who}; its effective number of candidates — how "
        rf"many training digits still share the weight, $1/\sum_i w_i^2$ ($N$ when all are equally likely, 1 when "
        rf"one has it all) — is {c.effective_n:,.1f}."
    )
    if c.max_weight > 0.99 and c.source_index is not None and c.argmax_index == c.source_index:
        lines.append(
            f"Here it has recognised the digit, so its mean is {d['exact']['tractable']:.3f} from the "
            "tractable mean: the exact sampler ends on a copy of a training image."
        )
    elif c.max_weight > 0.99:
        lines.append(
            "It is already certain of one training image: the exact sampler can only return copies of "
            "training images, never a new digit."
        )
    else:
        lines.append(
            f"It still hesitates between about {c.effective_n:,.0f} images, so its mean blurs them "
            f"({d['exact']['tractable']:.3f} from the tractable mean)."
        )
    x0d = c.x0_distances
    lines.append(
        rf"**3. Model** $\mu_\theta(x_t,t)$ needs only $x_t$ and one network call ({model_took}, "
        f"{c.num_parameters:,} parameters, the same cost whatever the data set's size): what it learned from the "
        f"data is in its weights. Its mean lands {d['model']['exact']:.3f} from the exact mean and "
        f"{d['model']['tractable']:.3f} from the tractable one; its $\\hat x_0$ is {x0d['model']['exact']:.3f} "
        r"from the exact $E[x_0\mid x_t]$."
    )
    if x0_coefficient is not None:
        lines.append(x0_coefficient_text(x0d["model"]["exact"], d["model"]["exact"], x0_coefficient))
    lines.append(training_loss_text(c))
    return "\n\n".join(lines)


def x0_coefficient_text(x0_distance: float, mean_distance: float, coefficient: float) -> str:
    """Why the model's x̂0 can be far from the exact one while its x_{t-1} is close: both means are μ̃_t of their
    x̂0, and μ̃_t weighs x̂0 by `coefficient`."""
    return (
        r"**Why its $\hat x_0$ can be far off while its $x_{t-1}$ is close:** both means are "
        r"$\tilde\mu_t(x_t,\hat x_0)=c_0\,\hat x_0+c_t\,x_t$ of their own $\hat x_0$ (eq. 7), with "
        rf"$c_0=\sqrt{{\bar\alpha_{{t-1}}}}\,\beta_t/(1-\bar\alpha_t)={sci_tex(coefficient, 3)}$ at this $t$. A "
        rf"difference in $\hat x_0$ reaches $x_{{t-1}}$ multiplied by $c_0$: {x0_distance:.3f} × "
        rf"${sci_tex(coefficient, 3)}$ ≈ {x0_distance * coefficient:.3f}, the {mean_distance:.3f} above. One step "
        r"only nudges $x_t$ towards its guess of the clean digit; $c_0$ grows towards 1 as $t$ nears 0, where a "
        r"wrong $\hat x_0$ would show."
    )


TRAINING_TARGET = r"""
### What training does with $q(x_{t-1}\mid x_t,x_0)$

During training we **do** have $x_0$: take a training image, draw $x_t\sim q(x_t\mid x_0)$ (eq. 4), and ask
$p_\theta(x_{t-1}\mid x_t)=\mathcal N\big(\mu_\theta(x_t,t),\sigma_t^2 I\big)$ to match the tractable posterior.
The loss term of step $t$ is (Ho et al. eq. 8)

$$L_{t-1} = D_{\mathrm{KL}}\big(q(x_{t-1}\mid x_t,x_0)\,\big\|\,p_\theta(x_{t-1}\mid x_t)\big)
= \frac{1}{2\sigma_t^2}\big\lVert\tilde\mu_t(x_t,x_0)-\mu_\theta(x_t,t)\big\rVert^2 + C,$$

where $C$ does not depend on $\theta$ (it is 0 for $\sigma_t^2=\tilde\beta_t$, used here). With the
ε-parametrisation — the network predicts the noise $\epsilon$ that was mixed into $x_t$, and the mean is computed
from that prediction — $\mu_\theta(x_t,t)=\frac{1}{\sqrt{\alpha_t}}\big(x_t-\frac{\beta_t}{\sqrt{1-\bar\alpha_t}}\,
\epsilon_\theta(x_t,t)\big)$ (eq. 11) it is a weighted noise-prediction error (eq. 12), and Ho et al. train on it
without the weight (eq. 14, $L_\text{simple}$):

$$L_{t-1} = \frac{\beta_t^2}{2\sigma_t^2\alpha_t(1-\bar\alpha_t)}\,\big\lVert\epsilon-\epsilon_\theta(x_t,t)\big\rVert^2
+ C,\qquad x_t=\sqrt{\bar\alpha_t}\,x_0+\sqrt{1-\bar\alpha_t}\,\epsilon .$$

**Why a target that needs $x_0$ teaches a step that does not.** The same $x_t$ could have come from many digits.
Averaged over them, $x_0\sim q(x_0\mid x_t)$, and because $\tilde\mu_t$ is linear in $x_0$ with
$E_{x_0\mid x_t}\,\tilde\mu_t(x_t,x_0)=E[x_{t-1}\mid x_t]$:

$$E_{x_0\mid x_t}\big\lVert\tilde\mu_t(x_t,x_0)-\mu\big\rVert^2
= \big\lVert E[x_{t-1}\mid x_t]-\mu\big\rVert^2
+ E_{x_0\mid x_t}\big\lVert\tilde\mu_t(x_t,x_0)-E[x_{t-1}\mid x_t]\big\rVert^2 .$$

The last term does not depend on $\mu$, so the averaged loss is smallest **exactly at the exact mean**
$\mu=E[x_{t-1}\mid x_t]$. Minimising the tractable loss over many $(x_0, x_t)$ pairs teaches $\mu_\theta$ the
exact mean without ever computing the mixture over the data set — and a network that generalises learns it for the
distribution of digits, not only for the {num_data} it was shown. The table after *Compare* checks this on your digit.
"""


def training_target(num_data: int) -> str:
    """What training does with q(x_{t-1}|x_t,x_0), for a model trained on num_data digits."""
    return TRAINING_TARGET.replace("{num_data}", f"{num_data:,}")


BAYES = r"""
### Where the exact reverse step comes from: Bayes' rule

By Bayes' rule the true reverse step is

$$q(x_{t-1}\mid x_t)=\frac{q(x_t\mid x_{t-1})\,q(x_{t-1})}{q(x_t)} .$$

The forward step $q(x_t\mid x_{t-1})=\mathcal N\big(x_t;\sqrt{1-\beta_t}\,x_{t-1},\beta_t I\big)$ is known (eq. 2),
but $q(x_{t-1})=\int q(x_{t-1}\mid x_0)\,q(x_0)\,dx_0$ and $q(x_t)$ are marginals of the data distribution
$q(x_0)$. **"We don't know $q(x_{t-1})$ or $q(x_t)$ — is that correct?" Yes:** for the true distribution of
digits (or photos) nobody has $q(x_0)$, only samples from it, so this formula cannot be evaluated.

What we can do is replace $q(x_0)$ by the empirical distribution of the $N$ training images,
$\hat q(x_0)=\frac{1}{N}\sum_{i=1}^{N}\delta(x_0-x_0^i)$. Every marginal is then a finite mixture,
$\hat q(x_t)=\frac{1}{N}\sum_i\mathcal N\big(x_t;\sqrt{\bar\alpha_t}\,x_0^i,(1-\bar\alpha_t)I\big)$ (eq. 4), and
Bayes' rule gives the reverse step in closed form:

$$\hat q(x_{t-1}\mid x_t)=\sum_{i=1}^{N} w_i\;q(x_{t-1}\mid x_t,x_0^i),\qquad
w_i=q(x_0^i\mid x_t)=\frac{\exp\!\big(-\lVert x_t-\sqrt{\bar\alpha_t}\,x_0^i\rVert^2/2(1-\bar\alpha_t)\big)}
{\sum_{j=1}^{N}\exp\!\big(-\lVert x_t-\sqrt{\bar\alpha_t}\,x_0^j\rVert^2/2(1-\bar\alpha_t)\big)} .$$

That is the **exact** estimate on this page — exact **for the training set only**, not for the distribution of all
digits. Its mean is $E[x_{t-1}\mid x_t]=\sum_i w_i\,\tilde\mu_t(x_t,x_0^i)$. Every step reads all $N$ training
images, and a sampler built on it can only land on one of them (see the *Exact posterior sampler* tab).
"""

DIGIT_GALLERY_TITLE = "**Pick a training digit** (click one): it becomes x₀ and the comparison runs."
CANDIDATES_TITLE = (
    r"**The training digits the exact posterior weighs most**, $w_i=q(x_0^i\mid x_t)$ (above each: #index: weight)"
)


def candidate_caption(index: int, weight: float) -> str:
    """ "#75: 12.3%" — a candidate's index and its weight w_i, with digits even when the weight is tiny."""
    shown = f"{weight:.1%}" if weight >= 1e-3 else f"{weight * 100:.1e}%"
    return f"#{index}: {shown}"


def training_loss_text(c) -> str:
    """The numbers of "What training does with q(x_{t-1}|x_t,x_0)" for one comparison: L_{t-1} (eq. 8, nats summed
    over pixels, σ_t² = β̃_t) of the three means, for this x_0 and averaged over x_0 ~ q(x_0|x_t), and the result in
    one sentence."""
    head = r"### What training does with $q(x_{t-1}\mid x_t,x_0)$: the numbers"
    loss = c.training_loss
    if not loss:
        return (
            head + "\n\nAt $t = 0$ the step has no noise ($\\sigma_t^2 = 0$) and eq. 8 does not apply; "
            "pick $t \\geq 1$."
        )
    this, expected = loss["this_x0"], loss["expected"]
    lowest = min(expected.values())
    # The exact mean is the minimiser (up to float64 rounding, which matters when all three coincide at small t).
    best = "exact" if expected["exact"] <= lowest + 1e-9 * max(1.0, abs(lowest)) else min(expected, key=expected.get)
    # Ties as the reader sees them: every mean whose averaged loss shows the same digits as the smallest.
    smallest = [name for name in ("tractable", "exact", "model") if sci(expected[name]) == sci(expected[best])]
    rows = [
        "| mean $\\mu$ put into $L_{t-1}$ | for this $x_0$ (nats) | averaged over $x_0\\sim q(x_0\\mid x_t)$ (nats) |",
        "|---|---:|---:|",
    ]
    for name in ("tractable", "exact", "model"):
        mark = (
            ""
            if name not in smallest
            else " **(smallest)**"
            if len(smallest) == 1
            else " **(tied for smallest to the digits shown)**"
        )
        rows.append(f"| {ESTIMATE_HEADINGS[name]} | {sci(this[name])} | {sci(expected[name])}{mark} |")
    gap = expected["model"] - expected["exact"]
    scale = c.num_pixels / 2
    parts = [
        head,
        rf"$L_{{t-1}}=\lVert\tilde\mu_t(x_t,x_0)-\mu\rVert^2/2\sigma_t^2$ (eq. 8 without $C$), summed over the "
        rf"{c.num_pixels:,} pixels, with $\sigma_t^2=\tilde\beta_t={sci_tex(c.sigma2)}$, in **nats** (the unit of a "
        r"KL divergence taken with the natural log, as in a Gaussian's $-\ln$ density; 1 nat ≈ 1.44 bits). For scale: "
        r"a mean off by the "
        rf"noise of one step (norm $\sqrt{{D\sigma_t^2}}$) costs $D/2 = {scale:,.0f}$ nats.",
        "\n".join(rows),
    ]
    if best == "exact":
        others = [name for name in smallest if name != "exact"]
        tied = (
            f" (the {' and '.join(others)} mean{'s' if len(others) > 1 else ''} show{'' if len(others) > 1 else 's'}"
            " the same digits: the posterior over $x_0$ has all but collapsed on this one digit, so the means "
            "nearly coincide; in full precision the exact one is smaller)"
            if others
            else ""
        )
        result = (
            rf"**Result:** averaged over the digits that could have produced this $x_t$, the exact mean has "
            rf"the smallest loss ({sci(expected['exact'])} nats){tied}, as the identity above says; the model's "
            rf"mean is {sci(gap)} nats above that minimum. The tractable mean scores 0 on this $x_0$ only "
            rf"because it was given the answer; averaged over $x_0$ it scores {sci(expected['tractable'])}."
        )
    else:  # float64 rounding when all three means coincide (tiny t): say so rather than claim a winner
        result = (
            rf"**Result:** here the three averaged losses agree to rounding (the posterior over $x_0$ has "
            rf"collapsed on one digit), so the exact mean's minimum cannot be told apart; the model's mean "
            rf"is {sci(gap)} nats from it."
        )
    parts.append(result)
    if c.epsilon_mse is not None and c.epsilon_loss_weight is not None:
        parts.append(epsilon_form_text(c.epsilon_mse, c.epsilon_loss_weight, this["model"]))
    return "\n\n".join(parts)


def epsilon_form_text(epsilon_mse: float, weight: float, model_loss: float) -> str:
    """The model's row of the loss table in the ε form (eq. 12): weight × ‖ε − ε_θ‖², and whether that product is
    the row — it is exactly when clipping x̂0 to [-1, 1] changed nothing."""
    product = epsilon_mse * weight
    agree = abs(product - model_loss) <= 0.02 * max(abs(model_loss), 1e-300)
    head = (
        r"In the ε form (the network predicts the noise $\epsilon$ in $x_t$; the mean follows from it, eq. 11): "
        rf"the network's noise error is $\lVert\epsilon-\epsilon_\theta\rVert^2 = {sci_tex(epsilon_mse)}$ (what "
        rf"$L_\text{{simple}}$ trains on), and the eq. 12 weight is "
        rf"$\beta_t^2/2\sigma_t^2\alpha_t(1-\bar\alpha_t) = {sci_tex(weight)}$; their product, "
        rf"${sci_tex(product)}$ nats, is "
    )
    if agree:
        return head + (
            rf"the model's row for this $x_0$ (${sci_tex(model_loss)}$) to within rounding. The two are equal "
            r"whenever the model's $\hat x_0$ lies inside $[-1,1]$; when it does not, this model clips $\hat x_0$ "
            r"before taking $\tilde\mu_t$, and the table keeps the mean its step really takes."
        )
    return head + (
        rf"not the model's row for this $x_0$ (${sci_tex(model_loss)}$): this model clips $\hat x_0$ to $[-1,1]$ "
        r"before taking $\tilde\mu_t$, and here clipping moved it, so the mean its step really takes (the "
        r"table's) is not the one eq. 12 describes. Without clipping the two are equal."
    )


# ---------------------------------------------------------------------------------------------- tab: exact sampler
EXACT_INTRO = r"""
With a finite data set the true reverse step is known exactly (Bayes' rule with the empirical distribution, see
the *Why do we need* $p_\theta$*?* tab):
$q(x_{t-1}\mid x_t)=\sum_{i=1}^{N} w_i\,q(x_{t-1}\mid x_t,x_0^i)$, a mixture over all $N$ training digits with
weights $w_i=q(x_0^i\mid x_t)$. Sample with it from pure noise and every chain ends **on a training digit,
exactly**: it can only copy. The model $p_\theta$, from the same noise and the same steps, draws digits of its own.
Each sample is shown beside its nearest training digit, with the L2 distance over all 32×32 pixels
(in $[-1,1]$ units; a digit is about 30 from pure noise).
"""


# Gallery labels are plain text, not Markdown: Unicode symbols, never TeX.
EXACT_GALLERY_LABEL = "exact q(xₜ₋₁ | xₜ): sample | nearest training digit"
MODEL_GALLERY_LABEL = "model p_θ(xₜ₋₁ | xₜ): sample | nearest training digit"


COPY_RULE = (
    "A **copy**, by the project's one rule (Gu et al. 2025): a sample whose nearest training digit is closer than "
    "1/3 of its second-nearest, d₁/d₂ < 1/3 — a relative test, so it means the same for any image size; the absolute "
    "distance d₁ (L2 in [-1, 1] units) is shown beside it (d= above each nearest image), and d₁ = 0 is a pixel copy."
)


def exact_caption(summary: dict, num_images: int) -> str:
    """The numbers of one /exact_sample run in words (copies by Gu et al.'s ratio rule, distances beside them)."""
    exact, model = summary["exact"], summary["model"]
    exact_d, model_d = exact["nearest_distances"], model["nearest_distances"]
    steps = summary["num_inference_steps"]
    lines = (
        f"Same seed ({summary['seed']}), same {steps} step{'s' if steps > 1 else ''}, same starting noise.\n\n"
        rf"- **exact $q(x_{{t-1}}\mid x_t)$:** {exact['copies']}/{num_images} samples are copies of training "
        f"digits by d₁/d₂ < 1/3 (largest L2 distance d₁ to the nearest training digit {max(exact_d):.2f}), in "
        f"{exact['seconds']:.2f} s\n"
        rf"- **model $p_\theta$:** {model['copies']}/{num_images} copies by d₁/d₂ < 1/3; L2 distance d₁ to the nearest "
        f"training digit: median {statistics.median(model_d):.2f}, smallest {min(model_d):.2f}, in "
        f"{model['seconds']:.2f} s\n"
    )
    heldout = summary.get("heldout_nearest_distance_median")
    if heldout is not None:
        lines += (
            f"- **for scale:** the {summary['num_heldout']:,} held-out real digits (never trained "
            f"on) lie at median {heldout:.2f} from their nearest training digit\n"
        )
    else:
        lines += f"- **for scale:** {NO_HELDOUT}\n"
    return lines + (
        f"\n{COPY_RULE} The exact sampler can only give back what it was shown; a model that generalises draws new "
        "digits."
    )


NO_HELDOUT = (
    "no held-out images: the model's data holds none (train.py holds out --heldout_fraction of a folder, 10 % by "
    "default), so there is no yardstick of how far a genuinely new image lies"
)


def pair_caption(index: int, distance: float, second: float | None = None) -> str:
    """ "copy of #12: d₁/d₂ 0.00": the copy verdict by Gu et al.'s ratio (the absolute distance d₁ is drawn in the
    picture, above the nearest image: `pair_label`)."""
    if second is None or second <= 0:
        return f"nearest #{index}: d₁ {distance:.2f}"
    ratio = distance / second
    return f"{'copy of' if ratio < 1 / 3 else 'nearest'} #{index}: d₁/d₂ {ratio:.2f}"


def pair_label(index: int, distance: float) -> str:
    """ "#12 d=0.00": drawn above the nearest training image of a pair, its index and its L2 distance d₁ (the
    pictures' font has no subscripts)."""
    return f"#{index} d={distance:.2f}" if distance < 100 else f"#{index} d={distance:.1f}"


COMMIT_INTRO = r"""
### When does the exact sampler commit to one training digit?

For each exact trajectory, against $t$ (sampling runs left to right, from noise at $t = T$ to the image at
$t = 0$): the **effective number of candidates** $n_\text{eff}=1/\sum_i w_i^2$ — how many training digits the
weights $w_i=q(x_0^i\mid x_t)$ are still spread over ($N$ when all are equally likely, 1 when one digit has all
the weight) — and the **largest weight** $\max_i w_i$. A ● marks the step where one digit first takes ≥ 99 % of
the weight: from there on the sample is that training digit plus shrinking noise.
"""


def commit_caption(summary: dict) -> str:
    """One sentence on where the exact trajectories committed."""
    exact = summary.get("exact", {})
    steps, timesteps = exact.get("commit_step") or [], exact.get("timesteps") or []
    committed = [timesteps[k] for k in steps if k is not None and 0 <= k < len(timesteps)]
    n = len(steps)
    if not n:
        return ""
    if not committed:
        return f"None of the {n} exact trajectories put ≥ 99 % on one digit before the last step."
    return (
        f"{len(committed)} of {n} exact trajectories committed to one training digit, at $t$ = "
        f"{', '.join(str(t) for t in committed)} (median $t$ = {statistics.median(committed):g}): long before "
        "the image looks finished, the exact sampler has already chosen which training digit to copy."
    )


DISTANCES_INTRO = r"""
### A yardstick for "new"

How far from the training set is a genuinely new digit? The **held-out** real MNIST digits (never used for
training; how many is in the legend) give the scale: their L2 distance to the nearest training digit, beside the
same distance for this run's exact and model samples.
"""


def distances_caption(summary: dict) -> str:
    """The medians of the three nearest-training-digit distance sets, compared in words."""
    heldout = summary.get("heldout_nearest_distance_median")
    exact_d = summary["exact"]["nearest_distances"]
    model_d = summary["model"]["nearest_distances"]
    if heldout is None:
        median = statistics.median(model_d)
        return f"Median L2 distance to the nearest training digit: model samples {median:.2f}; {NO_HELDOUT}."
    e, m = statistics.median(exact_d), statistics.median(model_d)
    if m < 0.5 * heldout:
        verdict = "closer to training digits than real unseen digits are: it may be copying"
    elif m <= 1.5 * heldout:
        verdict = "about as far from the training set as real unseen digits: as new as a real new digit"
    else:
        verdict = (
            "farther from the training set than real digits are: new, but maybe not digit-like (look at the pictures)"
        )
    return (
        f"Median L2 distance to the nearest training digit: held-out real digits {heldout:.2f}, exact "
        f"samples {e:.2f} (copies), model samples {m:.2f} — the model's samples are {verdict}."
    )


COST_PLOT_TITLE = "One reverse step: exact cost grows with N·D, the model's does not"


def cost_text(cost: dict, num_data: int, num_steps: int | None = None) -> str:
    """What one exact step costs, measured and extrapolated, in words (markdown)."""
    rows = {r["N"]: r["ms"] for r in cost["measured"]}
    here = rows.get(num_data)
    D = cost.get("D")
    here = cost["ms_per_element"] * num_data * D if here is None and D else here
    steps = num_steps or 1000
    intro = (
        f"Measured in this app, batch of 1, the same protocol for both: one exact step over N = {num_data:,} "
        f"digits takes **{duration(here)}**; one model step (a UNet call) **{duration(cost['model_ms'])}**, "
        f"whatever N is. At {num_data:,} tiny 32×32 digits the exact step is cheap — that is why this page can "
        "run it — but it reads every training image at every step, so it grows like $c\\cdot N\\cdot D$ "
        f"($c$ = {sci(cost['ms_per_element'])} ms per number, fitted to the measured points):"
    )
    bullets = []
    for e in cost["extrapolated"]:
        name = e["name"] + (" (web-scale)" if "LAION" in e["name"] else "")
        bullets.append(
            f"- **{name}**: N = {e['N']:,} images × D = {e['D']:,} numbers → {duration(e['ms'])} per "
            f"step, {duration(e['ms'] * steps)} for one {steps:,}-step sample, with "
            f"{size_bytes(e['bytes'])} of images in memory (float32)"
        )
    closing = (
        "**Feasible only for toy data — and even then it copies** (the galleries above). The model pays for "
        "the data once, in training, and keeps what it learned in its weights."
    )
    return "\n\n".join(["### What one exact step costs", intro, "\n".join(bullets), closing])


def cost_source_measured(repeats: int) -> str:
    return (
        f"Cost: measured in this app at first use (median of at least {repeats} steps per point, "
        "pipelines.exact.costs.measure_step_costs; bench/bench_exact_posterior.py gives steadier numbers)"
    )


def cost_note(source: str, model_id: str, model_ms: float | None) -> str:
    if model_ms is None:
        return source + "."
    return f"{source}. Model line: {model_id}, one UNet call + step, batch 1, measured in this app."


# ---------------------------------------------------------------------------------------------- tab: 2-D world
TOY_INTRO = r"""
## The same question in two dimensions, where every density can be drawn
Here a data set is $N$ points $x_0^1,\dots,x_0^N$ in the plane, and the forward process is the image
model's ($T = 1000$, $\beta_t$ linear from $10^{-4}$ to $0.02$):
$q(x_t\mid x_0)=\mathcal N(\sqrt{\bar\alpha_t}\,x_0,\,(1-\bar\alpha_t)I)$.
By Bayes' rule the **true reverse step** over these points is a mixture with one Gaussian per training point:

$$q(x_{t-\Delta}\mid x_t)=\sum_{i=1}^{N} w_i\; q(x_{t-\Delta}\mid x_t, x_0^i),\qquad
w_i = q(x_0^i\mid x_t)\propto \exp\Big(-\frac{\lVert x_t-\sqrt{\bar\alpha_t}\,x_0^i\rVert^2}{2(1-\bar\alpha_t)}\Big).$$

Each component is the **tractable posterior**, mean $\tilde\mu(x_t, x_0^i)$ and variance
$\tilde\beta=\frac{1-\bar\alpha_{t-\Delta}}{1-\bar\alpha_t}\big(1-\frac{\bar\alpha_t}{\bar\alpha_{t-\Delta}}\big)$
(Ho et al. eq. 7, for a step of $\Delta$). The **learned** step is one Gaussian,
$p_\theta(x_{t-\Delta}\mid x_t)=\mathcal N(\mu_\theta(x_t,t),\,\sigma^2 I)$, with $\mu_\theta$ from a small
network $\epsilon_\theta(x_t,t)$ (an MLP) in Ho et al.'s **ε-parametrisation**: the network guesses the noise
$\epsilon$ that was added to make $x_t$, that guess gives $\hat x_0=(x_t-\sqrt{1-\bar\alpha_t}\,\epsilon_\theta)/
\sqrt{\bar\alpha_t}$, and $\mu_\theta=\tilde\mu(x_t,\hat x_0)$. The sampler uses $\sigma^2=\tilde\beta$; below,
$p_\theta$ is also drawn with the forward variance $\beta=1-\bar\alpha_t/\bar\alpha_{t-\Delta}$ and with
$\sigma^{*2}$, the variance that is best on average over $x_t$ (Bao et al. 2022, Analytic-DPM):
$\sigma^{*2}=\tilde\beta+\frac{\beta^2}{\alpha_{t|t-\Delta}(1-\bar\alpha_t)}(1-\Gamma_t)$ with
$\Gamma_t=E_{x_t\sim q(x_t)}\lVert\epsilon_\theta(x_t,t)\rVert^2/2$, averaged here over noised training points.
"""

TOY_STEP_INTRO = r"""
### 1. One reverse step: when is one Gaussian enough?
Place $x_t$ (click the plane, or use the sliders) and choose $t$ and the stride $\Delta$. **Left**, the whole plane:
the training points, $x_t$, and the component means $\tilde\mu(x_t,x_0^i)$ shaded by their weight $w_i$. **Right**,
zoomed on the step: the exact density (grey), $p_\theta$'s Gaussian (orange: solid with $\tilde\beta$, dashed with
$\beta$, dotted with $\sigma^{*2}$), the **best Gaussian** (blue, dashed), and the tractable
$q(x_{t-\Delta}\mid x_t, x_0)$ of the heaviest $x_0$ (green, dotted): the training target for that one point.
The best Gaussian comes from **moment matching**: the Gaussian with the mixture's own mean and covariance is the one
closest to it in $\mathrm{KL}(\text{exact}\,\Vert\,\cdot)$, so no Gaussian $p_\theta$ can do better. Distances
between densities are KL divergences in **nats** (natural-log units: $\mathrm{KL}=E_{\text{exact}}[\log
q_{\text{exact}}-\log q]$; 0 means identical, 0.01 is hard to see, 1 is a clearly different shape).
"""

TOY_SAMPLE_INTRO = r"""
### 2. The exact sampler and $p_\theta$ from the same noise: copies or new points?
$M$ points start from the same $x_T$; one sampler draws every step from the exact mixture above, the other from
$p_\theta$, $K$ steps each. The exact process can only end **on** a training point (its last step is a draw of one
$x_0^i$), however many points it is given: it returns the data set, never a new point. $p_\theta$ has learned a smooth
$\epsilon_\theta$ from the same $N$ points and fills in the shape between them.
"""

TOY_TRAIN_INTRO = r"""
### 3. Train $p_\theta$ yourself
Training never computes the mixture. Each optimizer update draws training points $x_0$, times $t$ and noise
$\epsilon$, and regresses $\epsilon_\theta(x_t,t)$ on $\epsilon$ (Ho et al. eq. 14). That is the loss $L_{t-1}$
comparing $p_\theta$ with the tractable $q(x_{t-1}\mid x_t,x_0)$ of **one** $x_0$; averaged over the $x_0$ that could
have produced $x_t$ it is smallest at the exact mean $\sum_i w_i\,\tilde\mu(x_t,x_0^i)$ — so $p_\theta$ learns the
exact step's mean without ever computing it, and the loss stays above 0 (several $x_0$ fit one $x_t$). Try a small $N$
(say 16), train, then sample above. **Your model drives only your views** (this browser session, or one
`gradio_client.Client`); everyone else keeps the shipped one. One training runs at a time on the server; others wait
in the queue. The picture updates about twice a second while it trains; the line under it counts the updates.
"""


def nats(value: float, error: float | None = None) -> str:
    """A KL in nats for the page: 3 significant digits, ± its standard error when given."""
    shown = f"{value:.3g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
    return shown if error is None else f"{shown} ± {error:.1g}"


def toy_model_line(info: dict) -> str:
    """Which p_θ drives the views of a data set."""
    where = (
        "shipped weights (`models/toy2d/`)"
        if info["source"] == "shipped"
        else f"**trained in this session** (final loss {info['final_loss']:.4f})"
    )
    return (
        f"**$p_\\theta$ for {info['dataset']}:** {where}, trained on N = {info['num_points']:,} points for "
        f"{info['train_steps']:,} steps, seed {info['seed']}."
    )


VARIANCE_NAMES = {"beta_tilde": r"$\tilde\beta$", "beta": r"$\beta$", "analytic": r"$\sigma^{*2}$"}


def toy_step_text(summary: dict) -> str:
    """The numbers of one reverse step and the sentences they support."""
    t, prev_t = summary["t"], summary["prev_t"]
    lines = [
        f"**At $x_t$ = ({summary['x_t'][0]:.2f}, {summary['x_t'][1]:.2f}), step $t$ = {t} → {prev_t} "
        f"($\\Delta$ = {summary['stride']}), N = {summary['num_points']:,} points:**",
        f"- $\\mathrm{{KL}}(\\text{{exact}}\\,\\Vert\\,p_\\theta)$ = "
        f"**{nats(summary['kl_model_nats'], summary['kl_model_standard_error'])} nats**; "
        f"$\\mathrm{{KL}}(\\text{{exact}}\\,\\Vert\\,\\text{{best Gaussian}})$ = "
        f"**{nats(summary['kl_gaussian_nats'], summary['kl_gaussian_standard_error'])} nats**. "
        f"How computed: {summary['kl_method']}: the mean of $\\log q_{{\\text{{exact}}}}-\\log q$ over the draws, "
        "with a **control variate** (a quantity with known mean 0, here $q/q_{\\text{exact}}-1$, added with the "
        "weight that cancels most of the noise), ± one standard error.",
        f"- Components with weight ≥ {summary['heavy_weight']:.0%}: **{summary['num_heavy']}** of "
        f"{summary['num_points']:,}, the heaviest (training point #{summary['exact_top'][0][0]}, circled green) "
        f"{summary['exact_top'][0][1]:.1%}; **effective number** $1/\\sum_i w_i^2$ = "
        f"{summary['exact_effective_n']:.1f} "
        "(how many equally weighted training points would give the same spread of weights: 1 when one $x_0$ has all "
        f"the weight, N when all are equal). Each component's standard deviation $\\sqrt{{\\tilde\\beta}}$ = "
        f"{summary['component_std']:.3g}.",
        "",
        *_stride_table(summary),
        "",
        _stride_sentence(summary),
        "",
        _split_sentence(summary),
    ]
    return "\n".join(lines)


def _stride_table(summary: dict) -> list[str]:
    """KL(exact ‖ best Gaussian) and KL(exact ‖ p_θ) with each variance, for each stride."""
    t = summary["t"]
    by_stride: dict[int, dict[str, dict]] = {}
    for row in summary["variance_table"]:
        by_stride.setdefault(row["stride"], {})[row["variance"]] = row
    head = " | ".join(f"$p_\\theta$ with {VARIANCE_NAMES[name]}" for name in VARIANCE_NAMES)
    lines = [
        "KL divergences from the exact step, in nats:",
        "",
        f"| stride $\\Delta$ | step | best Gaussian | {head} |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for row in summary["stride_table"]:
        mine = " (this step)" if row["stride"] == summary["stride"] else ""
        cells = " | ".join(
            nats(by_stride[row["stride"]][name]["kl_model_nats"], by_stride[row["stride"]][name]["standard_error"])
            for name in VARIANCE_NAMES
        )
        lines.append(
            f"| {row['stride']}{mine} | {t} → {row['prev_t']} | "
            f"{nats(row['kl_gaussian_nats'], row['standard_error'])} | {cells} |"
        )
    return lines


def _stride_sentence(summary: dict) -> str:
    table = summary["stride_table"]
    small, big = table[0], table[-1]
    if small["kl_gaussian_nats"] < 0.01 and big["kl_gaussian_nats"] > 0.1:
        return (
            f"From this $x_t$, a step of $\\Delta$ = {small['stride']} is nearly Gaussian (the best Gaussian misses "
            f"by {nats(small['kl_gaussian_nats'])} nats), a step of $\\Delta$ = {big['stride']} is not "
            f"({nats(big['kl_gaussian_nats'])} nats: it lands on several separate parts of the data). That is why "
            "one Gaussian $p_\\theta$ is enough for DDPM's many small steps (Sohl-Dickstein et al. 2015: the reverse "
            "of a small Gaussian step is itself nearly Gaussian), and why a few big steps blur: one Gaussian must "
            "cover several modes. With the right variance ($\\beta$ or $\\sigma^{*2}$ rather than "
            "$\\tilde\\beta$) $p_\\theta$ comes close to the best Gaussian for moderate strides; for big strides "
            "no Gaussian is close."
        )
    if big["kl_gaussian_nats"] <= 0.1:
        return (
            f"From this $x_t$ even $\\Delta$ = {big['stride']} is nearly Gaussian "
            f"({nats(big['kl_gaussian_nats'])} nats): every point the step could head for lies in one direction. "
            "Move $x_t$ between two parts of the data, or lower $t$, to see a step split."
        )
    return (
        f"Here even $\\Delta$ = {small['stride']} is not quite Gaussian ({nats(small['kl_gaussian_nats'])} "
        "nats): near $t$ = 0 the weights pick out single training points."
    )


def _split_sentence(summary: dict) -> str:
    """KL(exact ‖ p_θ) = what no Gaussian removes + KL(best ‖ p_θ), the latter split into mean and variance."""
    total, mean_part, variance_part = (
        summary["kl_best_to_model_nats"],
        summary["kl_model_mean_nats"],
        summary["kl_model_variance_nats"],
    )
    return (
        "$\\mathrm{KL}(\\text{exact}\\,\\Vert\\,p_\\theta) = \\mathrm{KL}(\\text{exact}\\,\\Vert\\,\\text{best})"
        " + \\mathrm{KL}(\\text{best}\\,\\Vert\\,p_\\theta)$: the first part no Gaussian can remove; the second, "
        f"**{nats(total)} nats** (closed form between two Gaussians), is what this $p_\\theta$ misses. It splits "
        "exactly into a part from the mean, $\\lVert\\mu_\\theta-\\mu\\rVert^2/2\\sigma^2$, and a part from the "
        f"variance: **of {nats(total)} nats, {nats(mean_part)} come from the mean** (it is "
        f"{summary['model_mean_error']:.3g} from the exact mean, {summary['model_mean_error_stds']:.2g} of "
        f"$p_\\theta$'s standard deviations $\\sigma$ = {summary['model_std']:.3g}) **and {nats(variance_part)} "
        f"from the variance**. With $\\sigma^{{*2}}$ ($\\Gamma_t$ = {summary['gamma_t']:.3f}) $p_\\theta$'s standard "
        f"deviation would be {summary['model_std_analytic']:.3g} instead of {summary['model_std']:.3g}."
    )


def toy_sample_text(summary: dict) -> str:
    """Copies vs new points, from the numbers of one run of both samplers (the copy rule: d₁/d₂ < 1/3)."""
    M, N = summary["num_samples"], summary["num_points"]
    exact_median = statistics.median(summary["exact_nearest_distances"])
    model_median = statistics.median(summary["model_nearest_distances"])
    return (
        f"A sample is a **copy** when its nearest training point is less than a third as far as the second nearest "
        f"($d_1/d_2 < 1/3$, Gu et al. 2025).\n\n"
        f"**Exact sampler:** {summary['exact_copy_fraction']:.0%} of {M:,} samples are copies "
        f"({summary['exact_pixel_copies']:,} lie exactly on a training point, $d_1$ < {summary['copy_distance']:g}); "
        f"they hit {summary['exact_distinct_points']:,} distinct points of N = {N:,}; median $d_1$ {exact_median:.3g}."
        f"\n\n**$p_\\theta$:** {summary['model_copy_fraction']:.0%} copies by the same rule "
        f"({summary['model_pixel_copies']:,} exactly on a point); median $d_1$ {model_median:.3g}, against a typical "
        f"gap of {summary['training_spacing_median']:.3g} between neighbouring training points. "
        f"Both used K = {summary['num_inference_steps']} steps from the same noise (seed {summary['seed']}); "
        f"exact {summary['exact_seconds']:.2f} s, $p_\\theta$ {summary['model_seconds']:.2f} s."
    )


def toy_train_text(summary: dict) -> str:
    """The live training's status line."""
    loss = "" if summary["loss"] is None else f", loss of the last batch {summary['loss']:.4f}"
    if not summary["done"]:
        return (
            f"Training $p_\\theta$ on N = {summary['num_points']:,} points of {summary['dataset']}: update "
            f"{summary['step']:,} of {summary['train_steps']:,}{loss}, {summary['seconds']:.1f} s so far."
        )
    return (
        f"**Done:** {summary['train_steps']:,} updates on N = {summary['num_points']:,} points in "
        f"{summary['seconds']:.1f} s{loss}. The views of {summary['dataset']} above now use this model (for this "
        "session only); press **Use the shipped p_θ again** to go back."
    )
