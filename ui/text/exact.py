"""The words of the exact tab: its sentences and formulas (LaTeX), written for the data it shows."""

from __future__ import annotations

import statistics

from ui.format import duration, sci, size_bytes

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
