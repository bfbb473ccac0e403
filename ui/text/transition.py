"""The words of the transition tab ("Copies or new points?"): its sentences and formulas (LaTeX), written for the
data it shows (noun: "points" in 2-D, "digits" for MNIST). The copy rule's threshold is COPY_RATIO of
`pipelines.exact.neighbours`."""

from __future__ import annotations

from pipelines.exact.neighbours import COPY_RATIO_TEXT, chance_copy_fraction
from ui.format import tex_int
from ui.text.page import dataset_name

_RATIO = COPY_RATIO_TEXT  # "1/3"


# ---------------------------------------------------------------------------------------------- tab: transition
INTRO = r"""
## Copies or new points?

The exact reverse process over $N$ training points can only return one of them (tab "2-D world"). Does a trained
$p_\theta$ make new points because it is a network, or because it has seen enough data? The test of
Kadkhodaie et al. (ICLR 2024): split the data set's pool (4,000 points in 2-D; the 4,500 training digits on MNIST)
into two **disjoint** subsets A and B of $N$ each, train one $p_\theta$ on each with the same recipe, and sample
both **from the same noise**: the same starting $x_T$ and the same fresh Gaussian $z$ that each reverse step adds,
$x_{t-1}=\mu_\theta(x_t,t)+\sigma_t z$ with $z\sim\mathcal N(0,I)$ (Ho et al., Algorithm 2). If each model copies
its own subset, the two samples differ, since A and B share no point. If both have learned the same smooth density,
the two samples nearly coincide.

A sample $x$ is a **copy** when its nearest training point of its own subset is much closer than the second
nearest (Gu et al., TMLR 2025): $d_1 / d_2 < {ratio}$, with $d_1 = \min_i \|x - x_0^i\|$ and $d_2$ the second smallest
distance. Agreement is the median of $\|x_A - x_B\|$ over the noises, divided by the data's **spacing** (the median
distance from an item of the pool to its nearest other item). The exact processes of A and B, sampled
from the same noise, are the reference: each returns a point of its own subset, so they never agree.

The tab opens on **MNIST**: small UNets trained on two disjoint blocks of $N$ of the 4,500 training digits, for
$N = 16$, $256$ and $2{,}250$. There a "point" is a 32×32 image (the 28×28 digit padded by 2 pixels) and every
distance is over its 1,024 pixels. The same test on the 2-D data sets (two moons, eight Gaussians, a spiral; pool of
4,000 points, $N$ from 4 to 2,000) is in the data set menu.
""".replace("{ratio}", _RATIO)


PAIR_INTRO = r"""
### One pair, side by side
The two shipped models at one $N$ of the ladder, sampled from the same noises (seed 0). In 2-D: 256 samples each over
its own subset, then both together with the first pairs from the same noise joined by a segment. On MNIST: one column
per noise; under each model's sample, its nearest digit in its own block with $d_1/d_2$ ("copy" when below {ratio}).
The MNIST samples of seed 0 were recorded once (100 sampling steps of both UNets take 10–60 s here); the sampler is
deterministic for a given seed, so **Sample the pair live** with seed 0 draws the same digits, and another seed draws
new noises. The copy fractions in the picture's title are the table's (256 samples per model), as in the plot above.
""".replace("{ratio}", _RATIO)


TRAIN_INTRO = r"""
### Train the pair at this $N$
On a 2-D data set (its own menu below; an MNIST pair trains for about half an hour, so only the shipped ones are
shown): trains the two models of the recipe (data set, $N$, steps, seed) here, then samples both and both exact
processes from the same noises and adds the point (a star) to **your** plot of that data set's table, drawn below
(and above, when that data set is chosen there). Other users keep theirs; one training runs at a time on the
server, others wait in the queue.

The shipped 2-D pairs trained for 10,000 steps each (the sentence under the plot below says so for the data set
shown); the default here is 2,000, a few seconds. At small $N$ a shorter training copies **less**: a network stopped
early has not yet fitted its few points (tab "Why doesn't $p_\theta$ copy?", the training-length view). So your star
is comparable with the shipped table only when it trained for the same number of steps.
""" + (
    "\n**Reading a 2-D plot:** in 2-D the copy rule has a floor. For points scattered at random in the plane, "
    f"$(d_1/d_2)^2$ is uniform on $[0, 1]$, so even a genuinely new point has $d_1/d_2 < {_RATIO}$ with probability "
    f"$({_RATIO})^2$, about {chance_copy_fraction(2):.0%}. Data that lie along curves (two moons, a spiral) sit "
    f"higher, between that and the rate along a line, {chance_copy_fraction(1):.0%}: the sentence under this section's "
    "plot (and the one under the tab's first plot, when a 2-D data set is chosen there) gives, for the data set "
    "shown, how often the data's own unseen points pass the rule. A model's copy fraction "
    "is also a count over 256 samples, with a binomial standard error of about 2 percentage points. Together these "
    "explain copy fractions of 10–16 % at large $N$: that is the floor, not copying. In the 1,024 dimensions of a "
    'digit the floor is essentially 0, which is why the MNIST table reaches 0 %. In the right panel ("Do the two '
    "models agree?\") the solid line is the two models' distance from the same noise, the dotted line the exact "
    "processes'. Where the solid line drops below the dotted one, two models that share no training point agree "
    "with each other more than two copiers can: they have learned much the same density (the sentence under the "
    "tab's first plot gives the numbers when a 2-D data set is chosen there).\n"
)


TRAIN_EMPTY = (
    "No pair trained in this session yet. The plot below is the shipped table of the data set chosen here; choose "
    "$N$ and press **Train the pair at this N** to add your pair to it as a star."
)


NO_TABLE = "No shipped table for this data set yet."


def recipe_words(train_steps: int, mnist: bool, batch_size: int | None = None) -> str:
    """The shipped pairs' training length, from the table's recipe."""
    batch = f" on batches of {batch_size} {'digits' if mnist else 'points'}" if batch_size else ""
    return f"The shipped pairs each trained for {train_steps:,} steps{batch}, one recipe for every $N$. " + (
        ""
        if mnist
        else "A pair trained below for fewer steps copies less at small $N$, so compare at the same length. "
    )


def train_plot_words(dataset: str, floor, train_steps: int | None, between=()) -> str:
    """The sentence under the training section's plot: the shipped pairs' training length, the copy rule's floor
    on the data set's own unseen points (floor as in `floor_words`) and the N between copying and agreeing (between:
    (N, models' ratio, exact processes' ratio) as in `TransitionReading.between`)."""
    parts = []
    if train_steps:
        parts.append(
            f"On {dataset_name(dataset)} the shipped pairs (circles and squares) each trained for {train_steps:,} "
            "steps; a star trained for fewer steps copies less at small $N$."
        )
    if floor:
        cells = ", ".join(f"{f:.0%} at $N = {tex_int(n)}$" for n, f, _ in floor)
        parts.append(
            f"The copy rule's floor here: the data's own unseen points (pool points in neither subset) pass it against "
            f"A {cells}{_NO_UNSEEN}. Copy fractions near these are the floor, not copying."
        )
    if between:
        parts.append(_between_words(between, "points"))
    return " ".join(parts) or NO_TABLE


NO_ROWS = "No rows yet."


def recorded_pair_note(seed: int) -> str:
    """The second title line of the MNIST pair when it shows the recorded samples."""
    return f"Recorded samples of seed {seed} (sampled once; sampling live with seed {seed} returns the same pictures)"


def live_pair_note(seed: int) -> str:
    """The second title line of the MNIST pair when it was sampled live."""
    return f"Sampled live just now from the noises of seed {seed}"


def plot_title(dataset: str, mnist: bool) -> str:
    """The title of the table's plot."""
    return (
        "MNIST: two models on disjoint blocks of digits"
        if mnist
        else f"{dataset_name(dataset)}: two models on disjoint subsets"
    )


_NO_UNSEEN = " (none at $N = 2{,}000$: A and B then share out the whole pool of 4,000, leaving no unseen point)"


def yardstick_words(spacing: float, gap: tuple[int, float] | None) -> str:
    """How the spacing relates to the other tabs' yardsticks (gap: the 2-D tab's N and its median gap between
    neighbouring training points; None on MNIST)."""
    if gap is None:
        return (
            f"One spacing here is {spacing:.3g}, the median distance from a training digit to its nearest other one; "
            "it is about the held-out digits' median distance to their nearest training digit on tab \"Exact "
            'posterior sampler", the yardstick of a new digit there.'
        )
    n, value = gap
    return (
        f"One spacing here is {spacing:.3g}, the median distance from a point of the 4,000-point pool to its nearest "
        f'other one; it is smaller than the typical gap of {value:.3g} on tab "2-D world", which is over only its '
        f"$N = {tex_int(n)}$ training points, so more thinly spread."
    )


def _between_words(between, noun: str) -> str:
    """The N where the models no longer copy but do not yet agree (between: (N, models' ratio, exact ratio))."""
    cells = ", ".join(f"{m:.1f} spacings against {e:.1f} at $N = {tex_int(n)}$" for n, m, e in between)
    return (
        f"Between copying and generalising: the models no longer copy, yet their samples from the same noise are "
        f"not clearly closer than the exact processes' ({cells}, models against exact processes): each makes new "
        f"{noun}, but not yet the same ones; agreement comes at larger $N$."
    )


def _spacings(value: float) -> str:
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


def floor_words(floor, most: float, num_samples: int) -> str:
    """The 2-D copy rule's floor on the data's own unseen points (floor: [(N, fraction, count)] of
    `pipelines.transition.floor.data_floor`), against the models' largest copy fraction from the N where they make
    new points on (most) over num_samples samples."""
    if not floor:
        return ""
    cells = ", ".join(f"{f:.0%} at $N = {tex_int(n)}$" for n, f, _ in floor if n >= 64) or ", ".join(
        f"{f:.0%} at $N = {tex_int(n)}$" for n, f, _ in floor
    )
    se = (most * (1 - most) / num_samples) ** 0.5
    return (
        f"The data's own unseen points (pool points in neither subset) pass the copy rule against A {cells}"
        f"{_NO_UNSEEN}: points along a curve have their two nearest training neighbours along it, closer to the "
        "1-D case. The "
        f"models' copy fractions are counts over {num_samples} samples, a standard error of about "
        f"{100 * se:.0f} percentage points at {most:.0%}, so what they show at large $N$ is this floor, not copying."
    )


def _both_rise_words(both_rise, noun: str) -> str:
    """Why the models' and the exact processes' pair distances can both grow from one N to the next."""
    where = ", ".join(f"from $N = {tex_int(n)}$ to ${tex_int(m)}$" for n, m in both_rise)
    return (
        f"Both lines of the right panel rise {where}. The spacing is one yardstick for the whole data set, the "
        "same at every $N$, so this is no change of unit: with few points, how far apart two copiers land from "
        f"the same noise depends on where A's and B's few {noun} happen to lie, and the table holds one draw of "
        "the subsets per $N$ (another draw moves the exact line by tens of spacings at small $N$)."
    )


def _floor_parts(r, floor, num_samples: int) -> list[str]:
    """The 2-D copy rule's floor: the chance rate for random points, and the data's own (`floor_words`) if known."""
    parts = []
    if floor:
        parts.append(
            f"In 2-D even a new point passes the copy rule: about {chance_copy_fraction(2):.0%} of the time for "
            f"points scattered at random ($({_RATIO})^2$, as $(d_1/d_2)^2$ is then uniform)."
        )
        if r.new_most is not None:
            parts.append(floor_words(floor, r.new_most, num_samples))
    else:
        parts.append(
            f"In 2-D even a new point passes the copy rule about {chance_copy_fraction(2):.0%} of the time "
            f"($({_RATIO})^2$: for points scattered "
            "at random, $(d_1/d_2)^2$ is uniform), so fractions near that are the rule's floor, not copying."
        )
    return parts


def transition_sentence(reading, noun: str = "points", floor=None, num_samples: int = 256) -> str:
    """What the table says, in one paragraph built from its numbers (`ui.tabs.transition.TransitionReading`);
    floor: the 2-D data's own floor (`floor_words`), None where there is none (MNIST, a live-only table)."""
    r = reading
    parts = []
    if r.copying_until is not None:
        where = (
            f"at $N = {tex_int(r.copying_until)}$"
            if r.copying_until == r.first_n
            else f"up to $N = {tex_int(r.copying_until)}$"
        )
        parts.append(
            f"With few points a trained $p_\\theta$ copies too: {where} at least "
            f"{r.copying_least:.0%} of the samples of each model are copies of its own training {noun} "
            f"($d_1/d_2 < {_RATIO}$), and the two models, from the same noise, land {_spacings(r.first_ratio)} "
            f"spacings apart at $N = {tex_int(r.first_n)}$ ({_spacings(r.first_exact_ratio)} for the exact processes)."
        )
    else:
        parts.append(f"At $N = {tex_int(r.first_n)}$, {r.first_copies:.0%} of the samples are copies.")
    if r.new_from is not None:
        share = "no sample is a copy" if r.new_most == 0 else f"at most {r.new_most:.0%} are copies"
        parts.append(f"From $N = {tex_int(r.new_from)}$ {share}: the models make new {noun}.")
        if r.agreeing:
            pairs = ", ".join(
                f"{model:.1f} against {exact:.1f} at $N = {tex_int(n)}$" for n, model, exact in r.agreeing
            )
            parts.append(
                f"From $N = {tex_int(r.agreeing[0][0])}$ the two models, trained on disjoint {noun}, also agree "
                f"more than the exact processes: their samples from the same noise are {pairs} spacings apart "
                f"(models against exact processes). They sample much the same learned density rather than their "
                f"own {noun} — they generalise, though the two samples are not yet identical."
            )
        if r.between:
            parts.append(_between_words(r.between, noun))
        if r.rises:
            steps = "; ".join(
                f"from $N = {tex_int(n)}$ to ${tex_int(m)}$ it grows from {a:.1f} to {b:.1f} spacings"
                for n, a, m, b in r.rises
            )
            parts.append(
                f"The models' distance does not fall at every step ({steps}): the table has one pair per $N$ and "
                f"one seed, so it cannot say whether such a step is more than the variation between training runs."
            )
        elif not r.agreeing:
            parts.append(
                f"But at $N = {tex_int(r.last_n)}$ the two models' samples from the same noise are still "
                f"{r.last_ratio:.1f} spacings apart, not clearly closer than the exact processes' "
                f"({r.last_exact_ratio:.1f}): they have not learned the same density."
            )
    else:
        parts.append(
            f"Even at $N = {tex_int(r.last_n)}$, {r.last_copies:.0%} of the samples are copies: with this "
            f"recipe the models have not yet reached the $N$ where the two agree."
        )
    if r.agreeing:
        same = abs(r.first_ratio / r.first_exact_ratio - 1) < 0.25 if r.first_exact_ratio > 0 else False
        start = (
            f"at $N = {tex_int(r.first_n)}$, where the models copy, their line lies on the exact processes' "
            f"({_spacings(r.first_ratio)} against {_spacings(r.first_exact_ratio)}: each returns its own subset's "
            "points); "
            if same
            else ""
        )
        parts.append(
            f'Read the right panel ("Do the two models agree?") this way: {start}from $N = '
            f"{tex_int(r.agreeing[0][0])}$ "
            f"the models' line drops below the exact one, to {min(m for _, m, _ in r.agreeing):.1f} spacings, while "
            f"the exact line stays at {_spacings(r.exact_low)} or more: the gap between the two lines is what the "
            "models share and the exact processes cannot."
        )
    if noun == "points":
        parts += _floor_parts(r, floor, num_samples)
    if r.both_rise:
        parts.append(_both_rise_words(r.both_rise, noun))
    parts.append(
        f"The exact processes of A and B copy {r.exact_copies:.0%} of the time at every $N$ and stay "
        f"{_spacings(r.exact_low)} to {_spacings(r.exact_high)} spacings apart: they never agree."
    )
    return " ".join(parts)


def training_status(step: int, train_steps: int) -> str:
    """The live pair training's status line while it trains."""
    return f"Training both models: step {step:,} of {train_steps:,}."


SAMPLING_STATUS = "Sampling both models and both exact processes from the same noise…"


def trained_row_text(row: dict) -> str:
    """The live pair's numbers once it is measured (a `TransitionRow.as_dict()`)."""
    return (
        f"$N = {tex_int(row['num_points'])}$: copies {row['copy_fraction']['a']:.0%} (A), "
        f"{row['copy_fraction']['b']:.0%} (B); "
        f"the two models' samples from the same noise are {row['pair_distance_over_spacing']:.1f} spacings apart "
        f"(exact processes: {row['exact']['pair_distance_over_spacing']:.1f})."
    )
