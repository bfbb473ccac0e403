"""The words of the toy tab: its sentences and formulas (LaTeX), written for the data it shows."""

from __future__ import annotations

import math

from pipelines.exact.neighbours import COPY_RATIO_TEXT, chance_copy_fraction
from pipelines.toy2d import HEAVY_WEIGHT, VARIANCES
from pipelines.toy2d.plots import SHORT_STEP
from pipelines.toy2d.plots import STRIDE_VARIANCE_SYMBOLS as VARIANCE_SYMBOLS
from ui.format import nats as nats_plain
from ui.format import sci, tex_int, times

LOSS_WINDOW = 100  # the live training's loss is the mean over its last this many updates

# The data sets as a student reads them (the API's ids are the keys).
DATASET_NAMES = {"two_moons": "two moons", "eight_gaussians": "eight Gaussians", "spiral": "spiral"}


def dataset_name(dataset: str) -> str:
    """A data set's id → its name on the page ("two_moons" → "two moons")."""
    return DATASET_NAMES.get(dataset, dataset.replace("_", " "))


def nats(value: float) -> str:
    """A KL in nats, tiny values in LaTeX scientific notation as the other tabs write them."""
    return sci(value) if value and abs(value) < 1e-3 else nats_plain(value)


def plan_words(timesteps) -> str:
    """A sampler's K steps and their stride as drawn: "K = 100 steps of stride Δ = 10 (t = 990 → 980 → … → 0,
    then to x_0)"; strides that differ are given as a range."""
    plan = [int(t) for t in timesteps]
    if not plan:
        return "$K = 0$ steps"
    strides = sorted({a - b for a, b in zip(plan, plan[1:])})
    if not strides:
        return f"$K = 1$ step ($t$ = {plan[0]} to $x_0$)"
    if len(strides) == 1:
        stride = f"stride $\\Delta = {strides[0]}$"
    else:
        stride = f"strides $\\Delta$ from {strides[0]} to {strides[-1]}"
    path = r" \to ".join(str(t) for t in plan[:2]) + (r" \to \dots \to " + str(plan[-1]) if len(plan) > 2 else "")
    steps = f"$K = {len(plan)}$ step{'s' if len(plan) > 1 else ''}"
    return f"{steps} of {stride} ($t = {path}$, then to $x_0$)"


# ---------------------------------------------------------------------------------------------- tab: 2-D world
TOY_INTRO = r"""
## The same question in two dimensions, where every density can be drawn
Here a data set is $N$ points $x_0^1,\dots,x_0^N$ in the plane, and the forward process is the image
model's ($T = 1000$, $\beta_t$ linear from $10^{-4}$ to $0.02$; timesteps are numbered $t = 0,\dots,999$ as in
diffusers, Ho et al.'s $t$ minus one, so a step to $t-\Delta = 0$ still leaves a little noise and $x_0$ is the clean
point):
$q(x_t\mid x_0)=\mathcal N(\sqrt{\bar\alpha_t}\,x_0,\,(1-\bar\alpha_t)I)$.
By Bayes' rule the **exact reverse step** over these points is a mixture with one Gaussian per training point:

$$q(x_{t-\Delta}\mid x_t)=\sum_{i=1}^{N} w_i\; q(x_{t-\Delta}\mid x_t, x_0^i),\qquad
w_i = q(x_0^i\mid x_t)\propto \exp\Big(-\frac{\lVert x_t-\sqrt{\bar\alpha_t}\,x_0^i\rVert^2}{2(1-\bar\alpha_t)}\Big).$$

Each component is the **tractable posterior** of the step from $t$ to $s = t-\Delta$: mean
$\tilde\mu(x_t, x_0^i)$ and variance $\tilde\beta_{t|s}=\frac{1-\bar\alpha_s}{1-\bar\alpha_t}\,\beta_{t|s}$, where
$\beta_{t|s}=1-\bar\alpha_t/\bar\alpha_s$ is the variance the forward process adds from $s$ to $t$ (Ho et al. eq. 7 for
a step of $\Delta$; for $\Delta = 1$ they are Ho et al.'s $\tilde\beta_t$ and $\beta_t$; for a stride of $\Delta$,
$\beta_{t|s}\approx\beta_{s+1}+\dots+\beta_t$, the sum of its $\Delta$ one-step variances). The **learned** step is
one Gaussian, $p_\theta(x_{t-\Delta}\mid x_t)=\mathcal N(\mu_\theta(x_t,t),\,\sigma^2 I)$, with $\mu_\theta$ from a
small network $\epsilon_\theta(x_t,t)$ (an MLP) in Ho et al.'s **ε-parametrisation**: the network guesses the noise
$\epsilon$ that was added to make $x_t$, that guess gives $\hat x_0=(x_t-\sqrt{1-\bar\alpha_t}\,\epsilon_\theta)/
\sqrt{\bar\alpha_t}$, and $\mu_\theta=\tilde\mu(x_t,\hat x_0)$. The sampler uses $\sigma^2=\tilde\beta_{t|s}$; below,
$p_\theta$ is also drawn with the forward variance $\beta_{t|s}$ and with $\sigma^{*2}$, the variance that is best
**on average over** $x_t\sim q(x_t)$ — not at every $x_t$ (Bao et al. 2022, Analytic-DPM):
$\sigma^{*2}=\tilde\beta_{t|s}+\frac{\beta_{t|s}^2}{\alpha_{t|s}(1-\bar\alpha_t)}(1-\Gamma_t)$ with
$\alpha_{t|s}=\bar\alpha_t/\bar\alpha_s=1-\beta_{t|s}$ and $\Gamma_t=E_{x_t\sim q(x_t)}
\lVert\epsilon_\theta(x_t,t)\rVert^2/2$ (the network's mean squared noise guess per coordinate, averaged here over
noised training points).
"""


TOY_STEP_INTRO = r"""
### 1. One reverse step: when is one Gaussian enough?
Place $x_t$ (click the plane, or use the sliders) and choose $t$ and the stride $\Delta$. **Left**, the whole plane:
the training points, $x_t$, and the component means $\tilde\mu(x_t,x_0^i)$ shaded by their weight $w_i$. **Right**,
zoomed on the step: the exact density (grey), $p_\theta$'s Gaussian (orange: solid with $\tilde\beta_{t|s}$, dashed
with $\beta_{t|s}$, dotted with $\sigma^{*2}$; $s = t-\Delta$), the **best Gaussian** (blue, dashed), and the tractable
$q(x_{t-\Delta}\mid x_t, x_0)$ of the heaviest $x_0$ (green, dotted): the training target for that one point.
The best Gaussian comes from **moment matching**: the Gaussian with the mixture's own mean and covariance is the one
closest to it in $\mathrm{KL}(\text{exact}\,\Vert\,\cdot)$, so no Gaussian $p_\theta$ can do better. Distances
between densities are KL divergences in **nats** (natural-log units: $\mathrm{KL}=E_{\text{exact}}[\log
q_{\text{exact}}-\log q]$; 0 means identical, 0.01 is hard to see, 1 is a clearly different shape).
"""


TOY_SAMPLE_INTRO = r"""
### 2. The exact sampler and $p_\theta$ from the same noise: copies or new points?
$M$ points start from the same pure noise; one sampler draws every step from the exact mixture above, the other from
$p_\theta$, $K$ steps each, every step a stride of about $\Delta = 1000/K$ timesteps ($K = 100$ steps of
$\Delta = 10$; the pictures' titles and the text below give the strides taken). The exact process can only end
**on** a training point (its last step is a draw of one $x_0^i$), however many points it is given: it returns the
data set, never a new point. $p_\theta$ has learned a smooth $\epsilon_\theta$ from the same $N$ points and fills
in the shape between them.
"""


TOY_TRAIN_INTRO = r"""
### 3. Train $p_\theta$ yourself
Training never computes the mixture. Each optimizer update draws training points $x_0$, times $t$ and noise
$\epsilon$, and regresses $\epsilon_\theta(x_t,t)$ on $\epsilon$: Ho et al.'s $L_\text{simple}$ (eq. 14). For each $t$
that is the loss $L_{t-1}$ — comparing $p_\theta$ with the tractable $q(x_{t-1}\mid x_t,x_0)$ of **one** $x_0$ — up to
a per-$t$ weight, which $L_\text{simple}$ drops (eq. 12; the *Why do we need* $p_\theta$*?* tab derives it).
Averaged over the $x_0$ that could have produced $x_t$ it is smallest at the exact mean
$\sum_i w_i\,\tilde\mu(x_t,x_0^i)$ — so training pulls $p_\theta$ towards the exact step's mean without ever computing
it, and the loss stays above 0 (several $x_0$ fit one $x_t$). Over $N$ training points that optimum copies them; a
network that generalises stops short of it (tab *Why doesn't* $p_\theta$ *copy?*). Try a small $N$ (say 16), train,
then sample above. **Your model drives only your views** (this browser session, or one
API client); everyone else keeps the shipped one. The server runs one training at a time; others wait
in the queue. The picture updates about twice a second while it trains; the line under it counts the updates.
"""


def model_words(info: dict) -> str:
    """Which p_θ, in a few words: "the shipped p_θ (trained on N = 256 points, 10,000 updates, seed 0)"."""
    how = f"trained on $N = {tex_int(info['num_points'])}$ points, {info['train_steps']:,} updates, seed {info['seed']}"
    if info["source"] == "shipped":
        return f"the shipped $p_\\theta$ ({how})"
    return f"**your $p_\\theta$, trained in this session** ({how})"


def toy_model_line(info: dict) -> str:
    """Which p_θ drives the views of a data set (loss: the mean over the last updates, as the Done line says it)."""
    where = (
        "the weights shipped with the demo"
        if info["source"] == "shipped"
        else f"**trained in this session** (mean loss over its last {LOSS_WINDOW} updates {info['final_loss']:.4f})"
    )
    return (
        f"**$p_\\theta$ for {dataset_name(info['dataset'])}:** {where}, trained on $N = {tex_int(info['num_points'])}$ "
        "points for "
        f"{info['train_steps']:,} updates, seed {info['seed']}. Every view below uses it, except the training section, "
        "which trains a model of your own."
    )


def toy_step_text(view, model_info: dict | None = None, mnist=None, one_step_beta: float | None = None) -> str:
    """The numbers of one reverse step and the sentences they support. `view`: a `pipelines.toy2d.ToyStepView`;
    model_info: which p_θ (`ToyCache.model_for`'s info); mnist: the variance tab's default chain
    (`ui.tabs.variance.ChainReading`), quoted beside this step's variances, or None; one_step_beta: Ho et al.'s β_t
    of the one step t → t − 1, quoted beside this stride's β_{t|s}, or None."""
    step, n = view.step, len(view.points)
    beta = step.variances["fixed_large"]
    against = "" if one_step_beta is None else f", against {one_step_beta:.2g} for one step ($\\beta_{{{view.t}}}$)"
    which = f" $p_\\theta$: {model_words(model_info)}." if model_info else ""
    lines = [
        f"**At $x_t$ = ({float(view.x_t[0]):.2f}, {float(view.x_t[1]):.2f}), step $t$ = {view.t} → {view.prev_t} "
        f"($\\Delta = {view.stride}$), $N = {tex_int(n)}$ points.**{which}",
        f"- $\\mathrm{{KL}}(\\text{{exact}}\\,\\Vert\\,p_\\theta)$ = **{nats(step.kl_model.nats)} nats**; "
        f"$\\mathrm{{KL}}(\\text{{exact}}\\,\\Vert\\,\\text{{best Gaussian}})$ = "
        f"**{nats(step.kl_gaussian.nats)} nats** (both ± {sci(step.kl_gaussian.standard_error, 1)}: one Monte-Carlo "
        f"estimate, and the difference is exact). How computed: {view.kl_method}: the mean of "
        "$\\log q_{\\text{exact}}-\\log q$ over the draws, "
        "with a **control variate** (a quantity with known mean 0, here $q/q_{\\text{exact}}-1$, added with the "
        "weight that cancels most of the noise), ± one standard error.",
        f"- Components with weight ≥ {HEAVY_WEIGHT:.0%}: **{view.num_heavy}** of "
        f"{n:,}, the heaviest (training point #{view.heaviest_index}, circled green) "
        f"{view.heaviest_weight:.1%}; **effective number** $1/\\sum_i w_i^2$ = {view.effective_number:.1f} "
        "(how many equally weighted training points would give the same spread of weights: 1 when one $x_0$ has all "
        f"the weight, $N$ when all are equal). Each component's variance $\\tilde\\beta_{{t|s}}$ = "
        f"{step.component_variance:.3g} (standard deviation {step.component_variance**0.5:.3g}); this stride's "
        f"$\\beta_{{t|s}}$ = {beta:.3g}{against}.",
        _means_line(view),
        "",
        *_stride_table(view),
        "",
        _stride_sentence(view),
        "",
        _split_sentence(view),
        "",
        variance_sentence(view, mnist),
    ]
    return "\n".join(lines)


def _means_line(view) -> str:
    """How far the step moves x_t: the exact and p_θ means' distances from x_t, and where the plane shows them."""
    x_t = view.x_t.double()
    exact = float((view.step.exact_mean.double() - x_t).norm())
    model = float((view.step.model_mean.double() - x_t).norm())
    where = (
        " On the plane (left) both lie on the × of $x_t$, too close to draw an arrow; in the zoom (right) too the "
        "◆ (exact) and □ ($p_\\theta$) sit on the × — at its scale they are one spot."
        if max(exact, model) < SHORT_STEP
        else " On the plane (left) an arrow from $x_t$ points to each."
    )
    return (
        f"- The step's means: the exact mean lies {exact:.3g} from $x_t$, $p_\\theta$'s {model:.3g} (and "
        f"{view.model_mean_error:.3g} from each other).{where}"
    )


def _stride_table(view) -> list[str]:
    """KL(exact ‖ best Gaussian) and KL(exact ‖ p_θ) with each variance, for each stride; the Monte-Carlo error
    once per row (every column of a row shares it: KL(exact ‖ p_θ) = KL(exact ‖ best) + a closed form)."""
    head = " | ".join(f"$p_\\theta$ with {VARIANCE_SYMBOLS[name]}" for name in VARIANCES)
    lines = [
        "KL divergences from the exact step, in nats (± : the row's Monte-Carlo standard error, the same for every "
        "column of the row; each row's step goes from $t$ to $s = t-\\Delta$):",
        "",
        f"| stride $\\Delta$ | step | best Gaussian | {head} | ± |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for row in view.stride_rows:
        stride = view.t - row.prev_t
        mine = " (this step)" if row.prev_t == view.prev_t else ""
        cells = " | ".join(_math(nats(row.kl_by_variance[name].nats)) for name in VARIANCES)
        lines.append(
            f"| {stride}{mine} | {view.t} → {row.prev_t} | {_math(nats(row.kl_gaussian.nats))} | {cells} | "
            f"{_error(row.kl_gaussian.standard_error)} |"
        )
    return lines


def _error(value: float) -> str:
    """A Monte-Carlo standard error for the table's ± column, every row in one form: "$2\\times10^{-2}$"."""
    if not value or not math.isfinite(value):
        return _math(sci(value, 1))
    mantissa, exponent = f"{value:.0e}".split("e")
    return rf"${mantissa}\times10^{{{int(exponent)}}}$"


def _math(number: str) -> str:
    """A table's number in LaTeX like its tiny neighbours ("$0.0779$" beside "$1.02\\times10^{-7}$"): one type."""
    return number if number.startswith("$") or not number[:1].isdigit() else f"${number.replace(',', '{,}')}$"


def variance_sentence(view, mnist=None) -> str:
    """p_θ's three variances against the exact step's at this x_t, and — side by side — what the variance tab's
    MNIST chain says (mnist: its `ChainReading`, or None): one story, two settings."""
    step, true = view.step, view.step.true_variance
    ratios = {name: value / true for name, value in step.variances.items()}
    closest = min(ratios, key=lambda name: abs(math.log(ratios[name])))
    words = (
        f"**Which variance, here?** At this $x_t$ the exact step's variance per coordinate is {true:.3g}: "
        + ", ".join(f"{VARIANCE_SYMBOLS[name]} is {_ratio_words(ratios[name])}" for name in VARIANCES)
        + f" of it, so {VARIANCE_SYMBOLS[closest]} is the closest width here. "
        "This does not contradict the variance tab. $\\sigma^{*2}$ is optimal **on average over** "
        "$x_t\\sim q(x_t)$ (Bao et al.: it minimises the KL averaged over $x_t$), not at every point: it is about "
        "the exact step's variance averaged over typical $x_t$. Most $x_t$ lie near one noised training point, "
        "where the "
        "step is narrow; this $x_t$ sits between two parts of the data, where a large stride spreads the step "
        "over both, so the exact step's variance here is wider than average and even $\\sigma^{*2}$ is too narrow."
    )
    setting = (
        "the *Which variance for* $p_\\theta$*?* tab (MNIST, "
        + (f"{mnist.num_steps} steps of stride {mnist.stride:.0f}" if mnist else "a few dozen small steps")
        + ", $x_t$ drawn from $q(x_t)$)"
    )
    if mnist is None:
        return words + f" Compare {setting}: there the steps are small and $x_t$ typical."
    # the variance tab's σ*² column: with the model's Γ_t where it has one, else with the exact Γ_t (the average true
    # variance by construction), else not measured
    if mnist.model_ratio is not None:
        model = f"{_ratio_words(mnist.model_ratio)} at worst (the network's $\\Gamma_t$)"
    elif mnist.exact_sigma_ratio is not None:
        model = f"{mnist.exact_sigma_ratio:.3f}× (the exact $\\Gamma_t$: the average, by construction)"
    else:
        model = "–"
    head = " | ".join(VARIANCE_SYMBOLS[name] for name in VARIANCES)
    gamma = {"analytic": " (the network's $\\Gamma_t$)"}  # which Γ_t each σ*² uses, said in its cell
    here = " | ".join(_ratio_words(ratios[name]) + gamma.get(name, "") for name in VARIANCES)
    return "\n".join(
        [
            words,
            "",
            "Variance of $p_\\theta$ ÷ the exact step's variance, in the two settings:",
            "",
            f"| setting | {head} |",
            "|---|---:|---:|---:|",
            f"| this tab: 2-D, one step of $\\Delta = {view.stride}$ from $x_t$ between two parts of the data | "
            f"{here} |",
            f"| {setting}, where it is furthest from 1 | within {abs(mnist.small_ratio - 1):.1%} | "
            f"up to {times(mnist.large_ratio)} too wide | {model} |",
            "",
            "Both rows are right: $\\tilde\\beta_{t|s}$ fits a small step from a typical $x_t$ and is too narrow for a "
            "large stride from a point between modes, like this one.",
        ]
    )


def _ratio_words(ratio: float) -> str:
    """A variance / the true variance in words: "21.5× too narrow", "0.89×", "3.2× too wide"."""
    if ratio < 0.5:
        return f"{times(1 / ratio)} too narrow"
    if ratio > 2:
        return f"{times(ratio)} too wide"
    return f"{ratio:.2f}×"


def _stride_sentence(view) -> str:
    """What the stride table says; which case it is (`ToyStepView.stride_shape`) is the library's call."""
    small, big = view.stride_rows[0], view.stride_rows[-1]
    small_stride, big_stride = view.t - small.prev_t, view.t - big.prev_t
    if view.stride_shape == "splits":
        return (
            f"From this $x_t$, a step of $\\Delta = {small_stride}$ is nearly Gaussian (the best Gaussian misses "
            f"by {nats(small.kl_gaussian.nats)} nats), a step of $\\Delta = {big_stride}$ is not "
            f"({nats(big.kl_gaussian.nats)} nats: it lands on several separate parts of the data). That is why "
            "one Gaussian $p_\\theta$ is enough for DDPM's many small steps (Sohl-Dickstein et al. 2015: the reverse "
            "of a small Gaussian step is itself nearly Gaussian), and why a few big steps blur: one Gaussian must "
            "cover several modes. From this point between modes a wider variance ($\\beta_{t|s}$ or $\\sigma^{*2}$) "
            "brings $p_\\theta$ closer to the best Gaussian for moderate strides than $\\tilde\\beta_{t|s}$ does; for "
            "big strides no Gaussian is close. (From a typical $x_t$ near the data, $\\tilde\\beta_{t|s}$ is the right "
            "width: tab *Which variance for* $p_\\theta$*?*.)"
        )
    if view.stride_shape == "one_mode":
        return (
            f"From this $x_t$ even $\\Delta = {big_stride}$ is nearly Gaussian "
            f"({nats(big.kl_gaussian.nats)} nats): every point the step could head for lies in one direction. "
            "Move $x_t$ between two parts of the data, or lower $t$, to see a step split."
        )
    return (
        f"Here even $\\Delta = {small_stride}$ is not quite Gaussian ({nats(small.kl_gaussian.nats)} "
        "nats): near $t$ = 0 the weights pick out single training points."
    )


def _split_sentence(view) -> str:
    """KL(exact ‖ p_θ) = what no Gaussian removes + KL(best ‖ p_θ), the latter split into mean and variance."""
    total, mean_part, variance_part = view.kl_best_to_model, view.kl_model_mean, view.kl_model_variance
    return (
        "$\\mathrm{KL}(\\text{exact}\\,\\Vert\\,p_\\theta) = \\mathrm{KL}(\\text{exact}\\,\\Vert\\,\\text{best})"
        " + \\mathrm{KL}(\\text{best}\\,\\Vert\\,p_\\theta)$: the first part no Gaussian can remove; the second, "
        f"**{nats(total)} nats** (closed form between two Gaussians), is what this $p_\\theta$ misses. It splits "
        "exactly into a part from the mean, $\\lVert\\mu_\\theta-\\mu\\rVert^2/2\\sigma^2$, and a part from the "
        f"variance: **of {nats(total)} nats, {nats(mean_part)} come from the mean** (it is "
        f"{view.model_mean_error:.3g} from the exact mean, {view.model_mean_error_stds:.2g} of "
        f"$p_\\theta$'s standard deviations $\\sigma$ = {view.model_std:.3g}) **and {nats(variance_part)} "
        f"from the variance**. With $\\sigma^{{*2}}$ ($\\Gamma_t$ = {view.gamma_t:.3f}) $p_\\theta$'s standard "
        f"deviation would be {view.step.variances['analytic'] ** 0.5:.3g} instead of {view.model_std:.3g}."
    )


def toy_sample_text(summary: dict, exact_median: float, model_median: float) -> str:
    """Copies vs new points, from the numbers of one run of both samplers (`ToyTab.toy_sample`'s summary) and the
    median nearest-training-point distance of each sampler; the copy rule is `pipelines.exact.neighbours`'."""
    M, N = summary["num_samples"], summary["num_points"]
    info = summary["model"]
    ratio = COPY_RATIO_TEXT
    plan = (
        plan_words(summary["timesteps"])
        if summary.get("timesteps")
        else f"$K = {summary['num_inference_steps']}$ steps"
    )
    trained_on = (
        ""
        if info["num_points"] == N
        else f" Note: this $p_\\theta$ was trained on $N = {tex_int(info['num_points'])}$ points, the exact "
        "sampler uses "
        f"$N = {tex_int(N)}$."
    )
    return (
        f"**The copy rule** (the one rule every tab uses, Gu et al., TMLR 2025): a sample is a **copy** when its "
        f"nearest training point is closer than {ratio} of the distance to the second nearest ($d_1/d_2 < {ratio}$)."
        f"\n\n**Which model and which $N$:** {model_words(info)}; the exact sampler over the first "
        f"$N = {tex_int(N)}$ points; $M = {tex_int(M)}$ samples each, {plan}.{trained_on} (The *Copies or new points?* "
        "tab's 2-D pairs are other models — two per $N$, each trained on its own disjoint subset, sampled 256 times — "
        "so their copy rates at the same $N$ differ from this one's.)"
        f"\n\n**Exact sampler:** {summary['exact_copy_fraction']:.0%} of {M:,} samples are copies "
        f"({summary['exact_pixel_copies']:,} lie exactly on a training point, $d_1$ < {summary['copy_distance']:g}); "
        f"they hit {summary['exact_distinct_points']:,} distinct points of $N = {tex_int(N)}$; median $d_1$ = "
        f"{exact_median:.3g}."
        f"\n\n**$p_\\theta$:** {summary['model_copy_fraction']:.0%} copies by the same rule, "
        f"{summary['model_pixel_copies']:,} of them exactly on a point (new points scattered at random in 2-D pass "
        f"the rule by chance about {chance_copy_fraction(2):.0%} of the time, $({COPY_RATIO_TEXT})^2$; points along a "
        "curve like these more often: tab *Copies or new points?* measures that floor on the data); "
        f"median $d_1$ = {model_median:.3g}, against a typical "
        f"gap of {summary['training_spacing_median']:.3g} between neighbouring training points. "
        f"Both used the same {summary['num_inference_steps']} steps from the same noise (seed {summary['seed']}); "
        f"exact {summary['exact_seconds']:.2f} s, $p_\\theta$ {summary['model_seconds']:.2f} s."
    )


def toy_train_text(summary: dict) -> str:
    """The live training's status line (the loss: the mean over the last LOSS_WINDOW updates, the number the model
    line quotes; the last batch's beside it)."""
    loss = (
        ""
        if summary["loss"] is None
        else f", mean loss over the last {min(LOSS_WINDOW, summary['step'])} updates {summary['final_loss']:.4f} "
        f"(last batch {summary['loss']:.4f})"
    )
    name = dataset_name(summary["dataset"])
    if not summary["done"]:
        if not summary["step"]:
            return (
                f"**Not trained yet:** update 0 of {summary['train_steps']:,} — what training starts from, the "
                f"untrained network's samples (seed {summary['seed']}). They pile up on the edges of the dashed "
                "square: the untrained network's noise guess $\\epsilon_\\theta$ is small and unrelated to the "
                "noise, so its "
                "$\\hat x_0=(x_t-\\sqrt{1-\\bar\\alpha_t}\\,\\epsilon_\\theta)/\\sqrt{\\bar\\alpha_t}$ lies far "
                "outside the data, and the sampler clips $\\hat x_0$ to $[-1, 1]^2$ at every step (as it does for "
                "images). Training moves them onto the data. Press **Train $p_\\theta$** to train it on "
                f"$N = {tex_int(summary['num_points'])}$ points of {name}."
                if summary.get("preview")
                else f"Training $p_\\theta$ on $N = {tex_int(summary['num_points'])}$ points of {name}: update 0 "
                f"of {summary['train_steps']:,}."
            )
        return (
            f"Training $p_\\theta$ on $N = {tex_int(summary['num_points'])}$ points of {name}: update "
            f"{summary['step']:,} of {summary['train_steps']:,}{loss}, {summary['seconds']:.1f} s so far."
        )
    return (
        f"**Done:** {summary['train_steps']:,} updates on $N = {tex_int(summary['num_points'])}$ points in "
        f"{summary['seconds']:.1f} s{loss}. The views of {name} above are redrawn with this model (for "
        "this session only); press **Use the shipped p_θ again** to go back."
    )
