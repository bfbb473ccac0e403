"""The words of the posterior tab: its sentences and formulas (LaTeX), written for the data it shows.

`noun` is what one training image is called: "digit" for the bundled MNIST data, "image" for any other."""

from __future__ import annotations

import math

from ui.format import a_noun, duration, ms, sci, sci_tex, tex_int
from ui.text.page import DIGIT_TO_NOISE

# ---------------------------------------------------------------------------------------------- tab: why p_θ
POSTERIOR_QUESTION = r"""
### The question: why learn $p_\theta(x_{t-1}\mid x_t)$ when $q(x_{t-1}\mid x_t,x_0)$ has a closed form?

**Short answer:** that closed form (Ho et al. eq. 6–7) needs $x_0$, and at sampling time $x_0$ is exactly what we do
not have. Without $x_0$, the true reverse step $q(x_{t-1}\mid x_t)$ is a mixture over the entire data distribution,
which nobody has. With the training set standing in for it, it becomes a mixture over the {num_data} {noun}s — what
every tab calls the **exact** step ("true" is kept for the step over the data distribution) — computable here, for
millions of images only approximately (restricted to the nearest ones through an index, tab "Exact posterior
sampler"), and either way it only gives back training images. So DDPM uses $q(x_{t-1}\mid x_t,x_0)$ where $x_0$ *is*
known: as the **training target** of $p_\theta$.

Where to see each part:
1. **$x_0$ is what we do not have** — this tab: pick {a_noun} $x_0$ and a step $t$, press *Compare*; the tractable
   estimate below is the only one that reads $x_0$.
2. **The reverse step is a mixture over the data; over the training set it is the exact step** — this tab (the
   *exact* estimate, its candidates, and
   Bayes' rule below) and the **Exact posterior sampler** tab (its cost as the data set grows, and that it only
   copies training {noun}s).
3. **The tractable posterior is the training target** — this tab, *What training does with*
   $q(x_{t-1}\mid x_t,x_0)$, under the three estimates, and the numbers that check it on your {noun}.
4. **One Gaussian $p_\theta$ is enough for a small step** — tabs **Which variance for $p_\theta$?** (the exact step's
   width along a chain) and **2-D world** (where one big step splits and one Gaussian cannot follow).
5. **Why the trained $p_\theta$ makes new {noun}s although training's optimum copies** — tabs **Copies or new
   points?** (from which number $N$ of training images on) and **Why doesn't $p_\theta$ copy?** (how the network
   misses the optimum).

Timesteps are numbered $t = 0,\dots,T-1$ ($T = 1000$, as in diffusers; Ho et al. count $1,\dots,T$, so our $t$
is their $t - 1$): the sample at our $t = 0$ still carries a little noise ($\beta_0 = 10^{-4}$), and $x_0$ always means
the clean {noun}, one step further. $D$ is the number of values in {a_noun}.
"""


def posterior_question(num_data: int, noun: str) -> str:
    """The Why tab's opening question and short answer, for a data set of num_data training images."""
    return (
        POSTERIOR_QUESTION.replace("{num_data}", f"{num_data:,}")
        .replace("{noun}", noun)
        .replace("{a_noun}", a_noun(noun))
    )


ESTIMATE_LABELS = {"tractable": "tractable μ̃(xₜ, x₀)", "exact": "exact E[xₜ₋₁ | xₜ]", "model": "model μ_θ(xₜ, t)"}


ESTIMATE_HEADINGS = {
    "tractable": r"tractable $\tilde\mu_t(x_t,x_0)$",
    "exact": r"exact $E[x_{t-1}\mid x_t]$",
    "model": r"model $\mu_\theta(x_t,t)$",
}


def pair_note(noun: str) -> str:
    """How to read each estimate's picture."""
    return (
        rf"Each picture: **left** its mean of $x_{{t-1}}$, **right** its guess $\hat x_0$ of the clean {noun} "
        r"(pixels in $[-1,1]$ shown black to white). At large $t$ the two guesses look different in kind: the exact "
        rf"$E[x_0\mid x_t]$ is a weighted average of training {noun}s, **blurry** while it hesitates between many; "
        r"the model's $\hat x_0=(x_t-\sqrt{1-\bar\alpha_t}\,\epsilon_\theta)/\sqrt{\bar\alpha_t}$ looks "
        r"**noisy**, because near $t = 999$ dividing by $\sqrt{\bar\alpha_t}\approx 0.006$ magnifies every error "
        r"of $\epsilon_\theta$ about 160-fold (about 60-fold at $t = 900$, 12-fold at $t = 700$)."
    )


def estimate_texts(num_data: int, num_pixels: int, num_parameters: int, noun: str) -> dict[str, dict[str, str]]:
    """Title, formula (LaTeX) and what it needs, for each of the three estimates of the reverse step."""
    return {
        "tractable": {
            "title": r"Tractable posterior $q(x_{t-1}\mid x_t,x_0)$",
            "formula": r"$\tilde\mu_t(x_t,x_0)=\frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1-\bar\alpha_t}\,x_0"
            r"+\frac{\sqrt{\alpha_t}\,(1-\bar\alpha_{t-1})}{1-\bar\alpha_t}\,x_t$ (eq. 7)",
            "needs": rf"$x_t$ and the clean {noun} $x_0$ — the very image we are trying to generate",
        },
        "exact": {
            "title": r"Exact reverse step $q(x_{t-1}\mid x_t)$ over the data set",
            "formula": r"$E[x_{t-1}\mid x_t]=\sum_{i=1}^{N} w_i\,\tilde\mu_t(x_t,x_0^i)$, "
            r"$w_i=q(x_0^i\mid x_t)\propto\exp\!\big(-\frac{\lVert x_t-\sqrt{\bar\alpha_t}\,x_0^i\rVert^2}"
            r"{2(1-\bar\alpha_t)}\big)$",
            "needs": rf"$x_t$ and all $N = {tex_int(num_data)}$ training images ({num_data * num_pixels:,} numbers), "
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


def estimate_text(comparison, texts: dict[str, str], name: str, took: str) -> str:
    """The markdown under one estimate's picture: formula, what it needs, time, distances to the others
    (L2 over all pixels, in [-1, 1] units). Not the distance of its mean to x_0: x_{t-1} still carries the noise
    of step t − 1, so that number measures the noise, not the estimate (the JSON summary keeps it)."""
    others = [n for n in comparison.estimates if n != name]
    means = " · ".join(f"{n} {comparison.mean_distances[name][n]:.3f}" for n in others)
    x0s = " · ".join(f"{n} {comparison.x0_distances[name][n]:.3f}" for n in others)
    return (
        f"**{texts['title']}**\n\n{texts['formula']}\n\n"
        f"- **needs:** {texts['needs']}\n"
        f"- **took:** {took}\n"
        rf"- **L2 distance of its mean of $x_{{t-1}}$ to:** {means}"
        "\n"
        rf"- **L2 distance of its $\hat x_0$ to:** {x0s}"
    )


def took_text(name: str, seconds: float, step_ms: dict, noun: str) -> str:
    """ "took" for one estimate: the shared cost measurement for the exact and model steps (the numbers the Exact
    posterior sampler tab plots), this request's time for the tractable formula (a few vector operations)."""
    if name == "tractable":
        return f"{ms(seconds)} ({ONCE})"
    value = step_ms.get(name)
    if value is None:
        return f"{ms(seconds)} ({ONCE})"
    what = f"one step over $N = {tex_int(step_ms['N'])}$ {noun}s" if name == "exact" else "one UNet call + step"
    return f"{duration(value)} ({what}, {MEDIAN})"


# The two timing bases of the tab, said wherever a time is: the tractable formula (a few vector operations) is timed
# once in this request; the exact and model steps are the app's one cost measurement (medians, batch 1).
ONCE = "timed once, in this request"
MEDIAN = "median of the app's cost measurement"


def explain_comparison(c, noun: str, step_ms: dict | None = None, x0_coefficient: float | None = None) -> str:
    """A few plain sentences (markdown + LaTeX) that answer "why learn p_θ?" from the numbers of one comparison
    (a `pipelines.exact.posterior.PosteriorComparison`), then what training does with q(x_{t-1}|x_t,x_0) (the
    derivation, `training_target`) and the numbers that check it on this x_t (`training_loss_text`).
    x0_coefficient: the weight of x_0 in μ̃_t at this step (the scheduler's posterior_mean_coef1, eq. 7)."""
    step_ms = step_ms or {}
    scale = f", and a digit is about {DIGIT_TO_NOISE} from a draw of pure noise" if noun == "digit" else ""
    e = c.estimates
    d = c.mean_distances
    exact_took = (
        f"{duration(step_ms['exact'])} per step ({MEDIAN}, batch 1)"
        if step_ms.get("exact") is not None
        else f"{ms(e['exact'].seconds)} per step ({ONCE})"
    )
    model_took = (
        f"{duration(step_ms['model'])}, {MEDIAN}"
        if step_ms.get("model") is not None
        else f"{ms(e['model'].seconds)}, {ONCE}"
    )
    lines = [
        "### What the three estimates need",
        rf"At $t = {c.t}$, $x_t$ keeps $\sqrt{{\bar\alpha_t}} = {math.sqrt(c.alpha_bar):.3f}$ of the {noun} and "
        rf"$\sqrt{{1-\bar\alpha_t}} = {math.sqrt(1 - c.alpha_bar):.3f}$ of noise (all distances below: L2 over "
        rf"all {c.num_pixels:,} pixels, in $[-1,1]$ units; for scale, the noise one step adds has norm "
        rf"$\sqrt{{D\tilde\beta_t}} = {c.step_noise_norm:.3f}${scale}).",
        rf"**1. Tractable** $\tilde\mu_t(x_t,x_0)$ took {ms(e['tractable'].seconds)} ({ONCE}), but it needs $x_0$ "
        r"— the image we are trying to generate. At sampling time we only have $x_t$, so this formula cannot drive a "
        "sampler.",
    ]
    who = (
        f"the source {noun} #{c.source_index}"
        if c.source_index is not None and c.argmax_index == c.source_index
        else f"training image #{c.argmax_index}"
    )
    lines.append(
        rf"**2. Exact** $E[x_{{t-1}}\mid x_t]$ needs no $x_0$, but it compares $x_t$ with all {c.num_data:,} "
        f"training images ({c.num_data * c.num_pixels:,} numbers): {exact_took}, for every step of every "
        f"sample, growing with the data set (the *Exact posterior sampler* tab extrapolates it to millions of "
        f"images). It puts {c.max_weight:.1%} of its weight on {who}; its effective number of candidates — how "
        rf"many training {noun}s still share the weight, $1/\sum_i w_i^2$ ($N$ when all are equally likely, 1 when "
        rf"one has it all) — is {c.effective_n:,.1f}."
    )
    if c.max_weight > 0.99 and c.source_index is not None and c.argmax_index == c.source_index:
        lines.append(
            f"Here it has recognised the {noun}, so its mean is {d['exact']['tractable']:.3f} from the "
            "tractable mean: the exact sampler ends on a copy of a training image."
        )
    elif c.max_weight > 0.99:
        lines.append(
            "It is already certain of one training image: the exact sampler can only return copies of "
            f"training images, never a new {noun}."
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
        lines.append(x0_coefficient_text(x0d["model"]["exact"], d["model"]["exact"], x0_coefficient, noun))
    # the derivation, then the numbers that check it (they refer to its identity)
    lines.append(training_target(c.num_data, noun).strip())
    lines.append(training_loss_text(c, noun))
    return "\n\n".join(lines)


def x0_coefficient_text(x0_distance: float, mean_distance: float, coefficient: float, noun: str) -> str:
    """Why the model's x̂0 can be far from the exact one while its x_{t-1} is close: both means are μ̃_t of their
    x̂0, and μ̃_t weighs x̂0 by `coefficient`."""
    return (
        r"**Why its $\hat x_0$ can be far off while its $x_{t-1}$ is close:** both means are "
        r"$\tilde\mu_t(x_t,\hat x_0)=c_0\,\hat x_0+c_t\,x_t$ of their own $\hat x_0$ (eq. 7), with "
        rf"$c_0=\sqrt{{\bar\alpha_{{t-1}}}}\,\beta_t/(1-\bar\alpha_t)={sci_tex(coefficient, 3)}$ at this $t$ "
        r"and $c_t=\sqrt{\alpha_t}\,(1-\bar\alpha_{t-1})/(1-\bar\alpha_t)$. A "
        rf"difference in $\hat x_0$ reaches $x_{{t-1}}$ multiplied by $c_0$: ${x0_distance:.3f} \times "
        rf"{sci_tex(coefficient, 3)} \approx {x0_distance * coefficient:.3f}$, the {mean_distance:.3f} above. One step "
        rf"only nudges $x_t$ towards its guess of the clean {noun}; $c_0$ grows towards 1 as $t$ nears 0, where a "
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

**Why a target that needs $x_0$ teaches a step that does not.** The same $x_t$ could have come from many {noun}s.
Averaged over them, $x_0\sim q(x_0\mid x_t)$, and because $\tilde\mu_t$ is linear in $x_0$ with
$E_{x_0\mid x_t}\,\tilde\mu_t(x_t,x_0)=E[x_{t-1}\mid x_t]$:

$$E_{x_0\mid x_t}\big\lVert\tilde\mu_t(x_t,x_0)-\mu\big\rVert^2
= \big\lVert E[x_{t-1}\mid x_t]-\mu\big\rVert^2
+ E_{x_0\mid x_t}\big\lVert\tilde\mu_t(x_t,x_0)-E[x_{t-1}\mid x_t]\big\rVert^2 .$$

The last term does not depend on $\mu$, so the averaged loss is smallest **exactly at the exact mean**
$\mu=E[x_{t-1}\mid x_t]$. Minimising the tractable loss over many $(x_0, x_t)$ pairs pulls $\mu_\theta$ towards the
exact mean without ever computing the mixture over the data set. Over the {num_data} {noun}s shown, that optimum is
the mean that copies them; a network that generalises stops short of it and approximates the mean for the whole
distribution of {noun}s instead (the *Why doesn't* $p_\theta$ *copy?* tab shows why and by how much). The numbers
below check this on your {noun}.
"""


def training_target(num_data: int, noun: str) -> str:
    """What training does with q(x_{t-1}|x_t,x_0), for a model trained on num_data images."""
    return TRAINING_TARGET.replace("{num_data}", f"{num_data:,}").replace("{noun}", noun)


_BAYES = r"""
### Where the exact reverse step comes from: Bayes' rule

By Bayes' rule the true reverse step is

$$q(x_{t-1}\mid x_t)=\frac{q(x_t\mid x_{t-1})\,q(x_{t-1})}{q(x_t)} .$$

The forward step $q(x_t\mid x_{t-1})=\mathcal N\big(x_t;\sqrt{1-\beta_t}\,x_{t-1},\beta_t I\big)$ is known (eq. 2),
but $q(x_{t-1})=\int q(x_{t-1}\mid x_0)\,q(x_0)\,dx_0$ and $q(x_t)$ are marginals of the data distribution
$q(x_0)$. **So neither $q(x_{t-1})$ nor $q(x_t)$ is known:** for the true distribution of
{kinds} nobody has $q(x_0)$, only samples from it, so this formula cannot be evaluated.

What we can do is replace $q(x_0)$ by the empirical distribution of the $N$ training images,
$\hat q(x_0)=\frac{1}{N}\sum_{i=1}^{N}\delta(x_0-x_0^i)$. Every marginal is then a finite mixture,
$\hat q(x_t)=\frac{1}{N}\sum_i\mathcal N\big(x_t;\sqrt{\bar\alpha_t}\,x_0^i,(1-\bar\alpha_t)I\big)$ (eq. 4), and
Bayes' rule gives the reverse step in closed form:

$$\hat q(x_{t-1}\mid x_t)=\sum_{i=1}^{N} w_i\;q(x_{t-1}\mid x_t,x_0^i),\qquad
w_i=q(x_0^i\mid x_t)=\frac{\exp\!\big(-\lVert x_t-\sqrt{\bar\alpha_t}\,x_0^i\rVert^2/2(1-\bar\alpha_t)\big)}
{\sum_{j=1}^{N}\exp\!\big(-\lVert x_t-\sqrt{\bar\alpha_t}\,x_0^j\rVert^2/2(1-\bar\alpha_t)\big)} .$$

That is the **exact** estimate on this page — exact **for the training set only**, not for the distribution of all
{noun}s. Its mean is $E[x_{t-1}\mid x_t]=\sum_i w_i\,\tilde\mu_t(x_t,x_0^i)$. Every step reads all $N$ training
images, and a sampler built on it can only land on one of them (see the *Exact posterior sampler* tab).
"""


def bayes(noun: str) -> str:
    """Where the exact reverse step comes from: Bayes' rule with the empirical distribution of the training set."""
    kinds = "digits (or photos)" if noun == "digit" else f"{noun}s"
    return _BAYES.replace("{kinds}", kinds).replace("{noun}", noun)


def gallery_title(noun: str) -> str:
    """The title of the gallery of training images to pick x₀ from (Markdown, also its plain label)."""
    return f"**Pick a training {noun}** (click one): it becomes $x_0$ and the comparison runs."


def index_info(noun: str, num_data: int) -> str:
    """The digit_index input's help line."""
    return f"which training {noun}, 0 … {num_data - 1} (unless an image is uploaded or drawn)"


def own_image(is_mnist: bool) -> str:
    """The title of the accordion with the upload (and, for MNIST, the sketchpad)."""
    return "… or upload or draw your own digit" if is_mnist else "… or upload your own image"


def upload_label(noun: str, is_mnist: bool, side: int) -> str:
    """The image input's label; other data than MNIST is resized and cropped to the model's side²."""
    resized = "" if is_mnist else f" (resized and cropped to {side}²)"
    return f"image: an uploaded {noun}, used instead of the index above{resized}"


SKETCH_LABEL = "draw a digit (white ink on dark is what MNIST looks like; any ink works)"


def x0_label(noun: str) -> str:
    """The plain label of the x₀ picture."""
    return f"x₀: the {noun}"


def candidates_title(noun: str) -> str:
    """The title (Markdown + LaTeX) of the training images the exact posterior weighs most."""
    return (
        rf"**The training {noun}s the exact posterior weighs most**, $w_i=q(x_0^i\mid x_t)$ (above each: #index: "
        "weight)"
    )


def candidates_label(noun: str) -> str:
    """The candidates gallery's plain label."""
    return f"the training {noun}s the exact posterior weighs most"


def candidate_caption(index: int, weight: float) -> str:
    """ "#75: 12.3%" — a candidate's index and its weight w_i, with digits even when the weight is tiny
    ("#15: 1.5×10⁻¹¹ %": drawn into the picture in DejaVu Sans, which has the superscripts)."""
    if weight >= 1e-3:
        return f"#{index}: {weight:.1%}"
    mantissa, exponent = f"{weight * 100:.1e}".split("e")  # as a person writes it: 2.7×10⁻⁵ %, not 2.7e-05%
    return f"#{index}: {mantissa}×10{str(int(exponent)).translate(_SUPERSCRIPTS)} %"


_SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def training_loss_text(c, noun: str) -> str:
    """The numbers of "What training does with q(x_{t-1}|x_t,x_0)" for one comparison: L_{t-1} (eq. 8, nats summed
    over pixels, σ_t² = β̃_t) of the three means, for this x_0 and averaged over x_0 ~ q(x_0|x_t), and the result in
    one sentence."""
    head = r"### Checking it on this $x_t$: the training loss of each mean"
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
            else " **(smallest, equal to 3 significant figures)**"
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
            f" (the {' and '.join(others)} {'means' if len(others) > 1 else 'mean'}"
            f"{chr(39) if len(others) > 1 else chr(39) + 's'} loss rounds to the same "
            f"{sci(expected['exact'])} to 3 significant figures — the posterior over $x_0$ has all but collapsed on "
            f"this one {noun}, so the means nearly coincide; "
            + "; ".join(_unrounded(expected[name] - expected["exact"], name) for name in others)
            + ")"
            if others
            else ""
        )
        result = (
            rf"**Result:** averaged over the {noun}s that could have produced this $x_t$, the exact mean has "
            rf"the smallest loss ({sci(expected['exact'])} nats){tied}, as the identity above says; the model's "
            rf"mean is {sci(gap)} nats above that minimum. The tractable mean scores 0 on this $x_0$ only "
            rf"because it was given the answer; averaged over $x_0$ it scores {sci(expected['tractable'])}."
        )
    else:  # float64 rounding when all three means coincide (tiny t): say so rather than claim a winner
        result = (
            rf"**Result:** here the three averaged losses agree to rounding (the posterior over $x_0$ has "
            rf"collapsed on one {noun}), so the exact mean's minimum cannot be told apart; the model's mean "
            rf"is {sci(gap)} nats from it."
        )
    parts.append(result)
    if c.epsilon_mse is not None and c.epsilon_loss_weight is not None:
        parts.append(epsilon_form_text(c.epsilon_mse, c.epsilon_loss_weight, this["model"]))
    return "\n\n".join(parts)


def _unrounded(difference: float, name: str) -> str:
    """How much larger the `name` mean's averaged loss is than the exact mean's, unrounded (or, below 10⁻¹² nats,
    that they agree to 12 decimal places: the page shows no finer digits, and the exact mean enters as float32)."""
    if abs(difference) < 1e-12:
        return f"unrounded, the {name} and exact losses agree to 12 decimal places, within $10^{{-12}}$ nats"
    return f"unrounded, the exact mean's is smaller than the {name} mean's by {sci(difference)} nats"


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
        gap = abs(product - model_loss) / max(abs(model_loss), 1e-300)
        if gap < 1e-6:  # float64 rounding only: nothing was clipped
            return head + (
                rf"the model's row for this $x_0$ (${sci_tex(model_loss)}$): the same loss computed two ways, "
                r"equal because no pixel of the model's $\hat x_0$ left $[-1,1]$."
            )
        return head + (
            rf"within {gap:.1%} of the model's row for this $x_0$ (${sci_tex(model_loss)}$): the same loss computed "
            r"two ways, equal whenever no pixel of the model's $\hat x_0$ leaves $[-1,1]$. The sampler clips "
            r"$\hat x_0$ to $[-1,1]$ before taking $\tilde\mu_t$ (the table keeps the mean its step really takes), "
            "and the pixels it clipped here make the small difference."
        )
    return head + (
        rf"not the model's row for this $x_0$ (${sci_tex(model_loss)}$): the sampler clips $\hat x_0$ to $[-1,1]$ "
        r"before taking $\tilde\mu_t$, and here clipping moved it, so the mean its step really takes (the "
        r"table's) is not the one eq. 12 describes. Without clipping the two are equal."
    )
