"""The words of the mechanism tab ("Why doesn't p_θ copy?"): the puzzle, the 2-D denoisers, the loss gap, the
training time, and the local (patch) posterior on the model's images — sentences and formulas (LaTeX), the
sentences built from the numbers the tab computes. The copy rule is `pipelines.exact.neighbours`'."""

from __future__ import annotations

from pipelines.exact.neighbours import COPY_RATIO_TEXT
from ui.text.page import dataset_name

_RATIO = COPY_RATIO_TEXT  # "1/3"

# ---------------------------------------------------------------------------------------------- the puzzle
PUZZLE = r"""
## Why doesn't the trained p_θ copy?

**The puzzle.** Training's optimum copies, yet the trained network does not. Training minimises $L_{t-1}$, which
compares $p_\theta$ with the tractable posterior $q(x_{t-1}\mid x_t,x_0)$ on training images. Averaged over the
$N$ training images, its minimiser is the **exact posterior mean** $\mathbb E[x_0\mid x_t]$ over those $N$ images
(tab "Why do we need p_θ?"). A sampler built from that optimum returns a training image every time (tab "Exact
posterior sampler"). Yet a network trained toward it makes new images once $N$ is large (tab "Copies or new
points?"). So the network does **not** reach the optimum. This tab shows how it misses it, and why the miss makes
new images.

Two exact means are easy to confuse. The one over the $N$ training images is training's optimum, and it copies.
The one over the distribution the images came from (infinitely many images) is what we want, and it is not
computable. "Training learns the exact mean" (other tabs) is true of the second only for a network that misses
the first in the right way: this tab is about that miss.

**The answer, in four views.**
1. The optimum is a function a network does not learn. At small $t$ it must send every $x_t$ onto exactly one of
   the $N$ training points (view 1: its arrows end on points). A smooth network fitted to finitely many noisy
   examples interpolates *between* them instead, along the data's shape.
2. The losses confirm it. On the training points the optimum's loss is **lower** than the network's: the network
   has not reached it. On new points from the same distribution the optimum's loss is **higher** at every $N$,
   by far at small $N$: it has memorised the $N$ points, and the network generalises (view 2).
3. Reaching the optimum takes training time. Bonnaire et al. find that the time to start copying grows in
   proportion to $N$ while the time to make good samples does not; view 3's 2-D runs show the copying time growing
   with $N$. At small $N$ a normal training run gets there and copies; at large $N$ it stops long before.
4. On images the miss has a known shape. A convolutional network is **local**: each output pixel sees only a
   patch of $x_t$. The best denoiser with that constraint is the exact posterior over training **patches**
   instead of whole images. It assembles each new image from patches of different training images, and at
   small $t$, where a sample's details are decided, it predicts the trained UNet's output far better than the
   exact posterior does (view 4).
"""


# ---------------------------------------------------------------------------------------------- 1. fields
FIELDS_INTRO = r"""
### 1. The exact denoiser and the network's, over the plane
A **denoiser** maps a noisy point $x_t$ to a guess of the clean $x_0$ it came from. The **exact** one is
$\mathbb E[x_0\mid x_t]=\sum_i w_i\,x_0^i$, with
$w_i\propto\exp\!\big(-\lVert x_t-\sqrt{\bar\alpha_t}\,x_0^i\rVert^2/2(1-\bar\alpha_t)\big)$ over the $N$ training
points. It is the training loss's optimum. The **network's** is $\hat x_0=(x_t-\sqrt{1-\bar\alpha_t}\,
\epsilon_\theta(x_t,t))/\sqrt{\bar\alpha_t}$ (Ho et al. eq. 15), from the network trained on those same $N$
points: model A of tab "Copies or new points?", where for each $N$ two networks were trained on two disjoint sets of
$N$ points (A and B) from the same 4,000-point pool (the grey dots). Each arrow starts at a grid point $x_t$ and
ends at the guess. Its colour is the guess's distance to the nearest training point: 0 means "a training point".
"""


def fields_caption(dataset: str, num_points: int, t: int, alpha_bar: float, exact: float, network: float) -> str:
    """The sentence under the 2-D fields: median distances of each denoiser's guesses to the nearest training
    point (over the grid)."""
    ratio = network / exact if exact > 0 else float("inf")
    times = f"{ratio:,.0f}×" if ratio >= 10 else f"{ratio:.1f}×"
    return (
        f"**{dataset_name(dataset)}, $N = {num_points:,}$, $t = {t}$** ($\\bar\\alpha_t = {alpha_bar:.4f}$): "
        "the exact denoiser's "
        f"guesses lie a median {exact:.2g} from the nearest training point, the network's {network:.2g} "
        f"({times} farther). The exact one sends almost every $x_t$ onto a training point; the network sends it "
        f"near the data's shape, between the points as well as onto them."
    )


# ---------------------------------------------------------------------------------------------- 2. loss gap
LOSS_GAP_INTRO = r"""
### 2. The loss gap: the optimum wins on the training points and loses on new ones
The training loss per dimension, $L=\tfrac12\,\mathbb E\,\lVert\epsilon-\hat\epsilon(x_t,t)\rVert^2$ with
$x_t=\sqrt{\bar\alpha_t}\,x_0+\sqrt{1-\bar\alpha_t}\,\epsilon$ (Ho et al. eq. 14), over a band of small $t$
where the two differ most. It is measured for the network trained on the $N$ points of set A (view 1's network) and
for the optimum over A, whose $\hat\epsilon$ comes from the exact $\mathbb E[x_0\mid x_t]$ over A. Both are
evaluated on A's own points (**train**) and on set B's $N$ points (**held out**: the same distribution, never seen
by either).
"""


def loss_gap_caption(dataset: str, band: tuple[int, int], rows: list[dict]) -> str:
    """What the loss-gap rows (one band of t, sorted by N) say, from their numbers."""
    lower = [r for r in rows if r["train_optimum"] < r["train_network"]]
    worse = [r for r in rows if r["heldout_optimum"] > r["heldout_network"]]
    low, high = band
    parts = [f"**{dataset_name(dataset)}, $t$ in [{low}, {high})**:"]
    if len(lower) == len(rows):
        parts.append(
            f"on the training points the optimum's loss is lower than the network's at every $N$ "
            f"({_pair(rows[0], 'train')} at $N = {rows[0]['num_points']:,}$; {_pair(rows[-1], 'train')} at "
            f"$N = {rows[-1]['num_points']:,}$, optimum against network): the network never reaches the optimum."
        )
    else:
        ns = ", ".join(f"{r['num_points']:,}" for r in lower) or "no N"
        parts.append(f"on the training points the optimum's loss is lower than the network's at $N$ = {ns}.")
    if worse:
        first = worse[0]
        parts.append(
            f"On held-out points the optimum does worse than the network at {len(worse)} of {len(rows)} $N$ "
            f"({_pair(first, 'heldout')} at $N = {first['num_points']:,}$): what it learned is the $N$ points "
            f"themselves, and the network's extra training loss is what buys it a lower loss on points it never saw."
        )
    else:
        parts.append("On held-out points the optimum does no worse than the network at any $N$ of this table.")
    return " ".join(parts)


def _pair(row: dict, split: str) -> str:
    return f"{row[f'{split}_optimum']:.3g} against {row[f'{split}_network']:.3g}"


# ---------------------------------------------------------------------------------------------- 3. dynamics
DYNAMICS_INTRO = r"""
### 3. Training time: good samples early, copies only later (how much later with $N$: see the caption)
Bonnaire et al. (NeurIPS 2025) find two times in training: $\tau_{\text{gen}}$, after which samples are good,
which does not depend on $N$; and $\tau_{\text{mem}}$, after which the model starts to copy, which grows in
proportion to $N$. Below, the same 2-D $\epsilon$-network is trained at three $N$ with one recipe. At checkpoints
(every 250 steps) we record the training loss, the held-out loss (as in view 2) and the fraction of samples that
are copies. The times are read off the curves: $\tau_{\text{gen}}$ here is the first checkpoint whose held-out loss
is within 5 % of its lowest, $\tau_{\text{mem}}$ the first whose copy fraction reaches 1/2. A sample is a
**copy** when its nearest training point is much closer than the second nearest: $d_1/d_2 < {ratio}$ (Gu et al.,
TMLR 2025).
""".replace("{ratio}", _RATIO)


def dynamics_caption(rows: list[dict]) -> str:
    """What the shipped training-dynamics record says: per N, τ_gen and τ_mem (None: not reached) and the final
    copy fraction. rows: [{"num_points", "tau_gen", "tau_mem", "final_copy_fraction", "train_steps"}]."""
    parts = []
    for r in rows:
        gen = f"$\\tau_{{gen}}$ = {r['tau_gen']:,}" if r["tau_gen"] is not None else "no $\\tau_{gen}$"
        if r["tau_mem"] is not None:
            mem = f"$\\tau_{{mem}}$ = {r['tau_mem']:,}"
        else:
            mem = f"the copy fraction never reaches 1/2 in {r['train_steps']:,} steps"
        parts.append(f"$N = {r['num_points']:,}$: {gen}, {mem} ({r['final_copy_fraction']:.0%} copies at the end)")
    words = "Read off the curves: " + "; ".join(parts) + "."
    mems = [r for r in rows if r["tau_mem"] is not None]
    if len(mems) >= 2 and mems[-1]["tau_mem"] > mems[0]["tau_mem"]:
        a, b = mems[0], mems[-1]
        words += (
            f" Copying starts later the larger $N$: {a['tau_mem']:,} steps at $N = {a['num_points']:,}$, "
            f"{b['tau_mem']:,} at $N = {b['num_points']:,}$"
        )
        never = [r for r in rows if r["tau_mem"] is None]
        words += f", and not at all at $N = {never[-1]['num_points']:,}$." if never else "."
    gens = [r["tau_gen"] for r in rows if r["tau_gen"] is not None]
    if gens and max(gens) > 2 * min(gens):
        words += (
            f" Here $\\tau_{{gen}}$ is not the same for every $N$ ({min(gens):,} to {max(gens):,} steps): the small "
            "$N$ reach their best held-out loss by the first checkpoint and then get worse as they copy, while the "
            "largest $N$ keeps improving slowly, so this definition finds it later. This run does not confirm that "
            "part of Bonnaire et al.'s claim; it does show the copying time growing with $N$."
        )
    return words


def no_dynamics(dataset: str, shipped: list[str]) -> str:
    """What the training-curves view says for a data set without a shipped record (shipped: those with one)."""
    others = ", ".join(dataset_name(d) for d in shipped) if shipped else "none yet"
    return f"No shipped training curves for {dataset_name(dataset)}; data sets with them: {others}."


# ---------------------------------------------------------------------------------------------- 4. local
LOCAL_INTRO = r"""
### 4. On the model's {noun}s: the local posterior makes new {noun}s
A **patch** $\Omega_p$ is the $P\times P$ square of pixels centred on pixel $p$ (pixels outside the image count
as 0, mid-grey on the $[-1,1]$ scale, as a zero-padded convolution sees them). If each output pixel may depend
only on the patch of $x_t$ around it, the best guess of $x_0(p)$ is no longer a posterior over whole training
images. It is a posterior over their patches at $p$ (Kamb & Ganguli, ICML 2025, the **LS machine**):

$$\hat x_0(p)=\sum_{n=1}^{N} w_n(p)\,x_0^n(p),\qquad
w_n(p)\propto\exp\Big(-\frac{\lVert x_t[\Omega_p]-\sqrt{\bar\alpha_t}\,x_0^n[\Omega_p]\rVert^2}
{2(1-\bar\alpha_t)}\Big).$$

Neighbouring pixels may follow different training {noun}s, so a sample becomes a **mosaic of training patches**:
something new. With $P$ as large as the whole image, every pixel sees all of $x_t$ and this is exactly the exact
posterior $\mathbb E[x_0\mid x_t]$. A convolutional network is also **equivariant**: the same weights at every
position, so a patch may come from anywhere in a training image. That variant (the **ELS machine**) searches the
patches at every position of every training {noun}. The patch size is fitted to the UNet, one number per $t$ (on
seeds 0 and 1, 40 steps): small at small $t$, larger when noisy. Above $t \approx 900$ every machine's guess is
close to the data's average and $r^2$ is near or below 0 (down to about $-0.4$) for every $P$, so the fitted $P$
jumps there without meaning. To see the match with no fitting, untick "calibrated" and move the slider. The slider
stops at $2\cdot 32-1 = 63$: a window of that side centred on any pixel covers the whole $32\times32$ image.

**How well does it predict the UNet?** Along the UNet's own sampling run from the seed, each step compares the
UNet's guess $\hat x_0$ with the local machine's and the exact posterior's at the same $x_t$ by
$r^2=1-\sum_p(\hat y_p-y_p)^2/\sum_p(y_p-\bar y)^2$, with $y$ the UNet's guess over the pixels. $r^2 = 1$ is a
perfect prediction, $0$ is no better than a flat grey image, and it is negative when worse. The three samplers
start from the same pure noise. The UNet and the local machine take Ho et al.'s step, one Gaussian around
$\tilde\mu(x_t,\hat x_0)$ with their own $\hat x_0$; the exact sampler draws each step from the true mixture (as on
tab "Exact posterior sampler"). Each sample is shown beside its nearest training {noun}.
"""


def local_intro(noun: str) -> str:
    """The local view's introduction, for the data shown (noun: "digit" for MNIST, "image" otherwise)."""
    return LOCAL_INTRO.replace("{noun}", noun)


def patch_words(calibrated: bool, patch_size: int, has_table: bool) -> str:
    """How the local machine's patch size was chosen, as the caption says it."""
    if calibrated and has_table:
        return "the calibrated patch size per $t$"
    if calibrated:
        return f"$P = {patch_size}$ (this model ships no calibrated table)"
    return f"$P = {patch_size}$ at every step"


def _sample_words(name: str, row: dict, noun: str) -> str:
    verdict = "a **copy**" if row["copy"] else "**new**"
    return (
        f"{name}: {verdict} ($d_1 = {row['d1']:.2f}$, $d_1/d_2 = {row['ratio']:.2f}$, nearest: training {noun} "
        f"#{row['nearest']})"
    )


def local_caption(summary: dict, noun: str) -> str:
    """The sentence under the three samples and the r² curves, from the run's summary."""
    s = summary["samplers"]
    samples = "; ".join(
        _sample_words(label, s[key], noun)
        for key, label in (("model", "the UNet"), ("local", "the local machine"), ("exact", "the exact posterior"))
    )
    r2 = summary["r2_median"]
    low = summary["r2_band"]
    return (
        f"**Seed {summary['seed']}, {summary['num_inference_steps']} steps, {summary['patch']}.** {samples}. "
        f"Along the UNet's run, the median $r^2$ to the UNet's $\\hat x_0$ is {r2['local']:.2f} for the local machine "
        f"and {r2['exact']:.2f} for the exact posterior over all steps; below $t = {low['high']}$, "
        f"{low['local']:.2f} against {low['exact']:.2f}. Copy rule: $d_1/d_2 < {_RATIO}$, $d_1$ and $d_2$ the L2 "
        f"distances to the nearest and second-nearest training {noun} over all pixel values in $[-1, 1]$."
    )


RECORD_INTRO = r"""
#### The shipped measurement: every machine, more samples
"""


def record_text(record: dict, label: str, noun: str) -> str:
    """A paragraph and a Markdown table from a shipped denoiser record (`python -m pipelines.exact.denoisers`):
    the median r² to the UNet's x̂0 per band of t for the LS, ELS and exact machines, and each sampler's copies."""
    rows = ["| $t$ band | steps | local (LS) | equivariant (ELS) | exact |", "|---|---:|---:|---:|---:|"]
    for band in record.get("bands", []):
        cells = [_r2(band.get(key)) for key in ("local", "equivariant", "exact")]
        rows.append(f"| [{band['low']}, {band['high']}) | {band['steps']} | " + " | ".join(cells) + " |")
    names = {"model": "UNet", "local": "LS", "equivariant": "ELS", "exact": "exact"}
    copies = []
    for key, name in names.items():
        flags = record.get("samplers", {}).get(key, {}).get("copy")
        if flags:
            copies.append(f"{name} {sum(flags)} of {len(flags)}")
    subset = record.get("equivariant_subset") or {}
    return (
        f"**{label}.** Median $r^2$ to the UNet's $\\hat x_0$ per band of $t$, over {record.get('batch_size')} "
        f"{noun}s from seed {record.get('seed')} ({record.get('num_inference_steps')} steps, the calibrated patch "
        f"size per $t$, fitted on seeds 0 and 1: try another seed above for runs it was not fitted on). "
        f"Copies by the rule: {', '.join(copies)}. ELS compares every pixel with every patch of "
        f"every training {noun}, too slow for a click: here it searches {subset.get('size', 0):,} of the "
        f"{subset.get('of', 0):,} training {noun}s (a seeded random subset) for {subset.get('images_compared', 0)} "
        f"{noun}s, so its column rests on {subset.get('images_compared', 0)} {noun}s.\n\n" + "\n".join(rows)
    )


def _r2(value) -> str:
    return "–" if value is None else f"{value:.2f}"


NO_RECORD = "No shipped measurement for this model yet."
