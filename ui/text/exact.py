"""The words of the exact tab: its sentences and formulas (LaTeX), written for the data it shows.

`noun` is what one training image is called ("digit" for the bundled MNIST data, "image" for any other) and
`image_shape` the model's (C, H, W). The copy rule's threshold and verdict come from `pipelines.exact.neighbours`,
the module that owns the rule."""

from __future__ import annotations

import statistics

from pipelines.exact.comparisons import COMMIT_WEIGHT, SamplerComparison
from pipelines.exact.costs import StepCosts
from pipelines.exact.neighbours import COPY_RATIO_TEXT, chance_copy_fraction, copy_summary, is_copy_by_ratio
from ui.format import duration, image_values, sci, shown_ratio, size_bytes, tex_int
from ui.text.page import DIGIT_TO_NOISE, model_name

# The copy rule as the page writes it (LaTeX): d₁/d₂ < 1/3.
RULE = f"$d_1/d_2 < {COPY_RATIO_TEXT}$"


# Where an exact trajectory has committed to one training image: ≥ 99 % of the weight.
COMMITTED = f"{COMMIT_WEIGHT * 100:g} %"


# ---------------------------------------------------------------------------------------------- tab: exact sampler
def exact_intro(noun: str, image_shape: tuple[int, int, int]) -> str:
    """The tab's opening paragraph (markdown + LaTeX): the exact reverse step over the data set can only copy."""
    scale = f"; a digit is about {DIGIT_TO_NOISE} from a draw of pure noise" if noun == "digit" else ""
    return rf"""
With the training set standing in for the data, the reverse step is known exactly — the **exact** step (Bayes' rule
with the empirical distribution, see
the *Why do we need* $p_\theta$*?* tab):
$q(x_{{t-1}}\mid x_t)=\sum_{{i=1}}^{{N}} w_i\,q(x_{{t-1}}\mid x_t,x_0^i)$, a mixture over all $N$ training {noun}s with
weights $w_i=q(x_0^i\mid x_t)$. Sample with it from pure noise and every chain ends **on a training {noun},
exactly**: it can only copy. The model $p_\theta$, from the same noise and the same steps, draws {noun}s of its own.
Each sample is shown beside its nearest training {noun}, with the L2 distance over all {image_values(image_shape)}
(in $[-1,1]$ units{scale}).
"""


# Gallery labels are plain text, not Markdown: Unicode symbols, never TeX.
def gallery_label(sampler: str, noun: str) -> str:
    """The plain-text title of the "exact" or "model" gallery of "sample | nearest training image" pairs."""
    step = "exact q(xₜ₋₁ | xₜ)" if sampler == "exact" else "model p_θ(xₜ₋₁ | xₜ)"
    return f"{step}: sample | nearest training {noun}"


def gallery_title(sampler: str, noun: str) -> str:
    """The gallery's title as the page shows it above the pictures (Markdown + LaTeX, like the caption's)."""
    step = r"exact $q(x_{t-1}\mid x_t)$" if sampler == "exact" else r"model $p_\theta(x_{t-1}\mid x_t)$"
    return f"**{step}: sample | nearest training {noun}**"


def copy_rule(noun: str) -> str:
    """The copy rule every tab uses (`pipelines.exact.neighbours`), explained for the page."""
    return (
        f"A **copy**, by the copy rule every tab uses (Gu et al., TMLR 2025): a sample whose nearest training {noun} "
        f"is closer than ${COPY_RATIO_TEXT}$ of its second-nearest, {RULE} — a relative test, with no pixel scale. "
        "Even "
        f"new samples pass it by chance, about $({COPY_RATIO_TEXT})^d$ of the time in $d$ dimensions when the "
        "training points lie at random (then $(d_1/d_2)^d$, the ratio of the volumes of the balls out to the nearest "
        f"and the second-nearest, is uniform on $[0, 1]$): {chance_copy_fraction(2):.0%} in a plane, nothing for "
        "images. The absolute distance $d_1$ (L2 in $[-1, 1]$ "
        "units) is drawn above each pair, and $d_1 = 0$ is a pixel copy."
    )


def exact_caption(result: SamplerComparison, heldout_median: float | None, num_heldout: int, noun: str) -> str:
    """The numbers of one /exact_sample run in words: copies by the copy rule, the distances beside them, and the
    held-out yardstick (heldout_median: the median distance of the num_heldout held-out images, None without)."""
    num_images = len(result.exact_nearest_distances)
    exact_d, model_d = result.exact_nearest_distances.tolist(), result.model_nearest_distances.tolist()
    exact_copies = copy_summary(
        result.exact_nearest_distances, result.exact_second_distances, result.exact_nearest_indices
    )["copies"]
    model_copies = copy_summary(
        result.model_nearest_distances, result.model_second_distances, result.model_nearest_indices
    )["copies"]
    steps = result.num_inference_steps
    lines = (
        f"Same seed ({result.seed}), same {steps} step{'s' if steps > 1 else ''}, same starting noise. Why "
        f"different {noun}s then? Each step draws from a different distribution — the exact mixture over the "
        f"training {noun}s, or $p_\\theta$'s one Gaussian — so the two chains part after the first step and end "
        f"on different {noun}s.\n\n"
        rf"- **exact $q(x_{{t-1}}\mid x_t)$:** {exact_copies}/{num_images} samples are copies of training "
        f"{noun}s by {RULE} (largest L2 distance $d_1$ to the nearest training {noun} {max(exact_d):.2f}), in "
        f"{result.exact_seconds:.2f} s\n"
        rf"- **model $p_\theta$:** {model_copies}/{num_images} copies by {RULE}; L2 distance $d_1$ to the nearest "
        f"training {noun}: median {statistics.median(model_d):.2f}, smallest {min(model_d):.2f}, in "
        f"{result.model_seconds:.2f} s\n"
    )
    if heldout_median is not None:
        lines += (
            f"- **for scale:** the {num_heldout:,} held-out real {noun}s (never trained "
            f"on) lie at median {heldout_median:.2f} from their nearest training {noun}\n"
        )
    else:
        lines += f"- **for scale:** {NO_HELDOUT}\n"
    return lines + (
        f"\n{copy_rule(noun)} The exact sampler can only give back what it was shown; a model that generalises draws "
        f"new {noun}s."
    )


NO_HELDOUT = (
    "no held-out images: the model's data holds none (training on a folder of images holds out a share of it, 10 % "
    "by default), so there is no yardstick of how far a genuinely new image lies"
)


def pair_caption(index: int, distance: float, second: float | None = None) -> str:
    """ "copy of #12: d₁/d₂ 0.00": the copy verdict by Gu et al.'s ratio (the absolute distance d₁ is drawn in the
    picture, above the pair: `pair_title`)."""
    if second is None or second <= 0:
        return f"nearest #{index}: d₁ {distance:.2f}"
    verdict = "copy of" if bool(is_copy_by_ratio(distance, second)) else "nearest"
    return f"{verdict} #{index}: d₁/d₂ {distance / second:.2f}"


def pair_label(index: int) -> str:
    """ "#12": drawn above the nearest training image of a pair, its index."""
    return f"#{index}"


def pair_title(distance: float, second: float | None = None) -> str:
    """ "copy: d₁ 0.00, d₁/d₂ 0.00": drawn above a "sample | nearest" pair, the copy verdict by Gu et al.'s ratio
    ("new" when the rule says it is not a copy) and the L2 distance d₁ to the nearest training image."""
    if second is None or second <= 0:
        return f"d₁ {distance:.2f}"
    verdict = "copy" if bool(is_copy_by_ratio(distance, second)) else "new"
    return f"{verdict}: d₁ {distance:.2f}, d₁/d₂ {distance / second:.2f}"


def commit_intro(noun: str) -> str:
    """What the commit plot shows (markdown + LaTeX): n_eff and the largest weight along each exact trajectory."""
    return rf"""
### When does the exact sampler commit to one training {noun}?

For each exact trajectory, against $t$ (sampling runs left to right, from noise at $t = T - 1$ to the image; $t$
counts $0,\dots,T-1$, Ho et al.'s $t$ minus one): the **effective number of candidates**
$n_\text{{eff}}=1/\sum_i w_i^2$ — how many training {noun}s the weights $w_i=q(x_0^i\mid x_t)$ are still
spread over ($N$ when all are equally likely, 1 when one {noun} has all the weight) — and the **largest weight**
$\max_i w_i$. A ● marks the step where one {noun} first takes ≥ {COMMITTED} of the weight: from
there on the sample is that training {noun} plus shrinking noise. Trajectories that commit at the same step share one
spot: their ● are nested rings, one colour each, with their number above them. The dotted line at the top is $N$,
where every training {noun} is equally likely. The largest weight need not rise steadily: while the noise still
hides how two similar training {noun}s differ, the lead can pass from one to the other (the weight of the first
falls) before one of them takes it all.
"""


def commit_caption(commit_steps: list[int | None], timesteps: list[int], noun: str) -> str:
    """One sentence on where the exact trajectories committed: commit_steps, per trajectory, the index into
    timesteps of its first step with a weight >= COMMIT_WEIGHT (None if none)."""
    committed = [timesteps[k] for k in commit_steps if k is not None and 0 <= k < len(timesteps)]
    n = len(commit_steps)
    if not n:
        return ""
    if not committed:
        return f"None of the {n} exact trajectories put ≥ {COMMITTED} on one {noun} before the last step."
    return (
        f"{len(committed)} of {n} exact trajectories committed to one training {noun}, at "
        f"$t = {', '.join(str(t) for t in committed)}$ (median $t = {statistics.median(committed):g}$): long before "
        f"the image looks finished, the exact sampler has already chosen which training {noun} to copy."
    )


def distances_intro(noun: str) -> str:
    """What the distance strip shows: the held-out images' distances to the training set, the yardstick of new."""
    real = "real MNIST digits" if noun == "digit" else f"real {noun}s"
    return f"""
### The yardstick for "new"

How far from the training set is a genuinely new {noun}? The **held-out** {real} (never used for
training; how many are in the legend) give the scale: their L2 distance to the nearest training {noun}, beside the
same distance for this run's exact and model samples.
"""


def distance_plot_label(noun: str) -> str:
    """The distance strip's plain-text label."""
    return f"L2 distance to the nearest training {noun}"


def distances_caption(exact_d: list[float], model_d: list[float], heldout_median: float | None, noun: str) -> str:
    """The medians of the three nearest-training-image distance sets (exact samples, model samples, held-out real
    images; heldout_median None when none were held out), compared in words."""
    if heldout_median is None:
        median = statistics.median(model_d)
        return f"Median L2 distance to the nearest training {noun}: model samples {median:.2f}; {NO_HELDOUT}."
    e, m = statistics.median(exact_d), statistics.median(model_d)
    if m < 0.5 * heldout_median:
        verdict = f"closer to training {noun}s than real unseen {noun}s are: it may be copying"
    elif m <= 1.5 * heldout_median:
        side = "a little closer to" if m < heldout_median else "a little farther from"
        verdict = (
            f"{side} the training set than real unseen {noun}s are ({m:.2f} against {heldout_median:.2f}), far "
            f"from the exact samples' {e:.2f} — from {len(model_d)} sample"
            f"{'s' if len(model_d) > 1 else ''}, a hint that they are new, not a measurement (the *Copies or new "
            "points?* tab counts copies over 256 samples)"
        )
    else:
        verdict = (
            f"farther from the training set than real {noun}s are: new, but maybe not {noun}-like (look at the "
            "pictures)"
        )
    return (
        f"Median L2 distance to the nearest training {noun}: held-out real {noun}s {heldout_median:.2f}, exact "
        f"samples {e:.2f} (copies), model samples {m:.2f} — the model's samples are {verdict}."
    )


COST_PLOT_TITLE = "One reverse step: exact cost grows with N·D, the model's does not"


def data_mark(noun: str, costs: StepCosts, num_data: int | None = None) -> str:
    """The label of the measured point at the model's own data set (its N and D) on the cost plot; num_data: all
    the data's images when the point is only its first ones (data on disk, beyond the memory bound)."""
    what = "MNIST digits" if noun == "digit" else "your data"
    last = costs.rows[-1]
    if num_data is not None and num_data > last["N"]:
        return f"the first {last['N']:,} of {what} (N = {num_data:,}), D = {last['D']:,}"
    return f"{what}: N = {last['N']:,}, D = {last['D']:,}"


def cost_text(
    costs: StepCosts,
    exact_ms: float,
    num_data: int,
    noun: str,
    image_shape: tuple[int, int, int],
    num_steps: int,
    at_scale: bool = False,
) -> str:
    """What one exact step costs, measured (exact_ms: one step over the num_data training images) and
    extrapolated to the data sets of `costs` for a num_steps-step sample, in words (markdown). at_scale: the data
    are on disk beyond the memory bound, measured on their first images only, and the page searches an index."""
    c, h, w = image_shape
    size = f"tiny {h}×{w} digits" if noun == "digit" else f"{c}×{h}×{w} images"
    measured = costs.rows[-1]["N"]
    intro = (
        f"Measured in this app, batch of 1, the same protocol for both, on the first {measured:,} of the "
        f"{num_data:,} {noun}s (all of them are on disk): one model step (a UNet call) takes "
        f"**{duration(costs.model_ms)}**, whatever $N$ is; one brute-force exact step over all {num_data:,} would "
        f"take **{duration(exact_ms)}** by the fit $c\\cdot N\\cdot D$ "
        f"($c = {sci(costs.ms_per_element).strip('$')}$ ms per number), reading every training image at every "
        "step — this page does not run it: it searches an index "
        "(below). Extrapolated:"
        if at_scale
        else None
    )
    intro = intro or (
        f"Measured in this app, batch of 1, the same protocol for both: one exact step over $N = {tex_int(num_data)}$ "
        f"{noun}s takes **{duration(exact_ms)}**; one model step (a UNet call) **{duration(costs.model_ms)}**, "
        f"whatever $N$ is. At {num_data:,} {size} the exact step is cheap — that is why this page can "
        "run it — but it reads every training image at every step, so it grows like $c\\cdot N\\cdot D$ "
        f"($c = {sci(costs.ms_per_element).strip('$')}$ ms per number, fitted to the measured points):"
    )
    bullets = []
    for e in costs.extrapolated:
        name = e["name"] + (" (web-scale)" if "LAION" in e["name"] else "")
        bullets.append(
            f"- {name}: $N = {tex_int(e['N'])}$ images × $D = {tex_int(e['D'])}$ numbers → {duration(e['ms'])} per "
            f"step, {duration(e['ms'] * num_steps)} for one {num_steps:,}-step sample, with "
            f"{size_bytes(e['bytes'])} of images in memory (float32)"
        )
    closing = (
        "**By brute force, feasible only for toy data — and even then it copies** (the galleries above). The model "
        "pays for the data once, in training, and keeps what it learned in its weights."
    )
    return "\n\n".join(["### What one exact step costs", intro, "\n".join(bullets), closing])


def cost_source_measured(repeats: int) -> str:
    """Where the cost numbers come from: this app's measurement at first use."""
    return (
        f"Cost: measured in this app at first use (median of at least {repeats} steps per point, "
        "on this machine, so other requests running at the same time can slow it; a separate benchmark run of the "
        "project, outside this app on 2 CPU cores, gives steadier numbers)"
    )


def cost_note(source: str, model_id: str, model_ms: float | None) -> str:
    """The note under the cost plot: the source of its numbers, and what the model's line is."""
    if model_ms is None:
        return source + "."
    return (
        f"{source}. Model line: {model_name(model_id)}, one UNet call + step, batch 1, measured in this app — "
        "this model, at its own image size: a UNet for ImageNet-sized images is larger and slower per call, but its "
        "cost too does not grow with $N$. Index lines (■): a separate benchmark run of the project on 2 CPU cores, "
        "not measured in this app."
    )


# ---------------------------------------------------------------------------------------------- at scale, the index
def scale_caption(scale: dict, noun: str) -> str:
    """At scale, the lines under a run's caption: the exact sampler restricted to the k nearest of N with the bound
    on the rest's weight (largest over the steps, and from which t it is small), and the index's recall@2."""
    bounds = scale["rest_bound_per_step"]
    late = scale.get("rest_below_0.01_from_t")
    when = (
        f" It is largest near pure noise, where the weight is spread over many {noun}s; from $t$ = {late} on it is "
        "below 0.01."
        if late is not None and bounds and max(bounds) >= 0.01
        else ""
    )
    recall = scale.get("recall_at_2")
    engine = (
        "The index is exact (flat): the nearest and second-nearest found are the true ones."
        if recall is None
        else f"Compressed index: recall@2 against brute force, measured on a sample of its searches: {recall:.3f}."
    )
    return (
        f"\n\n**At this data set's size:** restricted to the {scale['k']} nearest of "
        f"$N = {tex_int(scale['N'])}$ training "
        f"{noun}s; the rest can hold at most {max(bounds, default=0.0):.2g} of the weight (the largest over the "
        f"{len(bounds)} steps).{when} {engine}"
    )


def spacing_info(plan: list[int], spacing: str, trailing: list[int]) -> str:
    """The K slider's info: which timesteps both samplers visit (the model's own spacing) against the Sample
    tab's default (trailing), and why the difference does not matter here."""

    def ends(p):
        return f"{p[0]}, {p[1]}, …, {p[-1]}" if len(p) > 2 else ", ".join(map(str, p))

    return (
        f"both samplers visit the model's own {spacing} timesteps ({ends(plan)} at the default K); trailing "
        f"spacing, the Sample tab's, would visit {ends(trailing)} at this K; the exact sampler copies with any spacing"
    )


def model_line_label(model_id: str, num_parameters: int, image_shape, model_ms: float) -> str:
    """The cost plot's model line, named honestly: which model, its size, what it draws."""
    c, h, w = image_shape
    return (
        f"model $p_\\theta$: {model_name(model_id)} ({num_parameters / 1e6:.1f} M parameters, {c}×{h}×{w}), "
        f"one UNet call ({duration(model_ms)}), any N"
    )


def index_text(index_costs, costs: StepCosts, noun: str, batch: int) -> str:
    """The sentence the index lines' numbers give, like with like: at the largest benchmarked N, both searches were
    timed per query in a batch of `batch` (the exact flat search reads every image, as brute force does; the
    compressed one reads a part), beside the app's batch-1 brute-force step at that N and D (the fit c·N·D), whose
    gap to the flat search is batching, not the index. It still only gives back training images."""
    if not index_costs:
        return ""
    largest = max(r["N"] for r in index_costs)
    rows = {r["kind"]: r for r in index_costs if r["N"] == largest}
    best = min(rows.values(), key=lambda r: r["ms_per_query"])
    brute = costs.ms_per_element * best["N"] * best["D"]
    flat = rows.get("flat")
    if flat is not None and best is not flat:
        searches = (
            f"an exact (flat) search for the nearest training images, which still reads every image, takes "
            f"{duration(flat['ms_per_query'])} per query, and a compressed (IVF, 8-bit) FAISS index "
            f"**{duration(best['ms_per_query'])}**: the index itself saves "
            f"{shown_ratio(duration(flat['ms_per_query']), duration(best['ms_per_query'])):.1f}×"
        )
    else:
        what = "compressed (IVF, 8-bit)" if best["kind"] == "ivf" else "exact (flat)"
        searches = f"a {what} FAISS search for the nearest training images takes **{duration(best['ms_per_query'])}**"
    return (
        f"**Through an index** (the ■ lines, measured in a separate benchmark run on 2 CPU cores, not in this app; "
        f"per query when {batch:,} queries are answered together): at $N = {tex_int(largest)}$ images of "
        f"$D = {tex_int(best['D'])}$ numbers, {searches}. One brute-force exact step at batch 1, as this app runs it, "
        f"would take {duration(brute)} there (the fit above); its gap to the flat search, which reads as many "
        "images, is the batch, not the index. Restricted to "
        "the nearest images (with a bound on the weight of the rest), the exact step becomes affordable at scale — "
        f"and it still only gives back training {noun}s: its weights are the exact posterior's, a mixture of the "
        "images it was shown."
    )
