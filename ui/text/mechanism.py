"""The words of the mechanism tab ("Why doesn't p_θ copy?"): the puzzle, the 2-D denoisers, the loss gap, the
training time, and the local (patch) posterior on the model's images — sentences and formulas (LaTeX), the
sentences built from the numbers the tab computes. The copy rule is `pipelines.exact.neighbours`'."""

from __future__ import annotations

from pipelines.exact.neighbours import COPY_RATIO_TEXT
from ui.format import sci, shown_ratio, tex_int
from ui.text.page import dataset_name

_RATIO = COPY_RATIO_TEXT  # "1/3"


# ---------------------------------------------------------------------------------------------- the puzzle
PUZZLE = r"""
## Why doesn't the trained $p_\theta$ copy?

**The puzzle.** Training's optimum copies, yet the trained network does not. Training minimises $L_{t-1}$, which
compares $p_\theta$ with the tractable posterior $q(x_{t-1}\mid x_t,x_0)$ on training images. Averaged over the
$N$ training images, its minimiser is the **exact posterior mean** $E[x_0\mid x_t]$ over those $N$ images.
(Tab *Why do we need $p_\theta$?* names the step's mean $E[x_{t-1}\mid x_t]$ instead: the same thing, since
$\tilde\mu(x_t,x_0)$ is linear in $x_0$, so $E[x_{t-1}\mid x_t]=\tilde\mu(x_t,E[x_0\mid x_t])$.)
A sampler built from that optimum returns a training image every time (tab "Exact posterior sampler"). Yet a
network trained toward it makes new images once $N$ is large (tab "Copies or new points?"). So the network does
**not** reach the optimum. This tab shows how it misses it, and why the miss makes new images.

Two exact means are easy to confuse. The one over the $N$ training images is training's optimum, and it copies.
The one over the distribution the images came from (infinitely many images) is what we want, and it is not
computable. The other tabs say that training pulls $p_\theta$ towards the exact step's mean, that over $N$ images
this optimum copies, and that a network which generalises stops short of it. It comes near the second mean only by
missing the first in the right way: this tab is about that miss.

**The answer, in four views.**
1. The optimum is a function a network does not learn. At small $t$ it must send every $x_t$ onto exactly one of
   the $N$ training points (view 1: its arrows end on points). A smooth network fitted to finitely many noisy
   examples interpolates *between* them instead, along the data's shape.
2. The losses confirm it. At small $t$, on the training points, the optimum's loss is **lower** than the
   network's: the network has not reached it. On new points from the same distribution, at the smallest $t$
   ($t<10$), the optimum's loss is **higher** at every $N$, by far at small $N$: it has memorised the $N$ points,
   and the network generalises. At larger $t$ the noise hides more of which point $x_t$ came from and the gap
   narrows; for $t \ge 200$ the two agree (view 2, band by band).
3. Reaching the optimum takes training time. Bonnaire et al. (NeurIPS 2025) find that the time to start copying
   grows in proportion to $N$ while the time to make good samples does not; view 3's 2-D runs show the copying time
   growing with $N$ (the second part, they do not confirm). At small $N$ a normal training run gets there and
   copies; at large $N$ it stops long before.
4. On images the miss has a known shape. A convolutional network is **local**: each output pixel sees only a patch
   of $x_t$ (the Sample tab's UNet also has attention at low resolution, which sees the whole image; view 4 measures
   how local it behaves all the same). The best denoiser under that one constraint is the exact posterior over
   training **patches** instead of whole images (Kamb & Ganguli's **LS machine**, for "local score"; adding the
   network's other constraint, the same weights at every position, gives their **ELS machine**, "equivariant local
   score"). It assembles each new image from patches of different training images, and at small $t$, where a
   sample's details are decided, it predicts the trained UNet's output far better than the exact posterior does
   (view 4).

**Why the miss makes new images, step by step.**
- The loss rewards, at each $x_t$, the average of the clean images that could have made it. Over $N$ images that
  average collapses onto one training image at small $t$: a function that jumps from one image to the next across
  the space of $x_t$ (view 1's exact arrows all end on points).
- A network does not build that function. It is smooth (nearby inputs give nearby outputs) and, as a convolutional
  network, local (each output pixel sees a patch). It is fitted by gradient steps on noisy draws, and the steps
  needed to carve the jumps grow with $N$ (view 3). So it settles near the best smooth, local function it reaches.
- The best local function is the patch posterior (view 4): each pixel's guess averages the training pixels whose
  surrounding *patch* matches the patch of $x_t$ there. With many training images a patch has near-matches in
  many of them, and neighbouring pixels pick matches from different images.
- So each step pulls $x_t$ towards a mosaic that agrees with some training image in every small window but with
  no training image as a whole. The chain follows these guesses down to $t = 0$ and ends at a new image made of
  training patches: it looks like the data and is not a copy. With few training images there are few patches to
  choose from, and a run of normal length reaches the exact optimum anyway (view 3): then it copies.
"""


# ---------------------------------------------------------------------------------------------- 1. fields
FIELDS_INTRO = r"""
### 1. The exact denoiser and the network's, over the plane
A **denoiser** maps a noisy point $x_t$ to a guess of the clean $x_0$ it came from. The **exact** one is
$E[x_0\mid x_t]=\sum_i w_i\,x_0^i$, with
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
    ratio = shown_ratio(f"{network:.2g}", f"{exact:.2g}") if exact > 0 else float("inf")  # of the numbers shown
    times = f"{ratio:,.0f}×" if ratio >= 10 else f"{ratio:.1f}×"
    return (
        f"**{dataset_name(dataset)}, $N = {tex_int(num_points)}$, $t = {t}$** ($\\bar\\alpha_t = {alpha_bar:.4f}$): "
        "the exact denoiser's "
        f"guesses lie a median {exact:.2g} from the nearest training point, the network's {network:.2g} "
        f"({times} farther). The exact one sends almost every $x_t$ onto a training point; the network sends it "
        f"near the data's shape, between the points as well as onto them."
        + (
            f" Grid points far from all the data, as in the corners, are not typical $x_t$ here: at this $t$ the "
            f"noise moves a point by about {(1 - alpha_bar) ** 0.5:.2g} (its standard deviation), so training never "
            "showed the network such an $x_t$; its arrows there may point away from the data, even off the frame."
            if alpha_bar > 0.96
            else ""
        )
    )


# ---------------------------------------------------------------------------------------------- 2. loss gap
LOSS_GAP_INTRO = r"""
### 2. The loss gap: the optimum wins on the training points and loses on new ones, at small $t$
The training loss per dimension, $L=\tfrac12\,E\,\lVert\epsilon-\hat\epsilon(x_t,t)\rVert^2$ with
$x_t=\sqrt{\bar\alpha_t}\,x_0+\sqrt{1-\bar\alpha_t}\,\epsilon$ (Ho et al. eq. 14), $t$ uniform over each of four
bands (one panel each; the smallest $t$, where the two part, first), 20,000 draws of $(x_0, t, \epsilon)$ per band and
split, the same draws for both. It is measured for the network trained on the $N$ points of set A (view 1's network) and
for the optimum over A, whose $\hat\epsilon=(x_t-\sqrt{\bar\alpha_t}\,E[x_0\mid x_t])/\sqrt{1-\bar\alpha_t}$
comes from the exact $E[x_0\mid x_t]$ over A (nothing clipped; the $\tfrac12$ averages the two
coordinates). Both are evaluated on A's own points (**train**) and on set B's $N$ points (**held out**: the same
distribution, never seen by either).
"""


def _agree(row: dict, split: str) -> bool:
    """The optimum and the network agree on a split: their paired difference is within twice its standard error,
    or within 1 % of the network's loss."""
    gap, se = row[f"{split}_gap"], row[f"{split}_gap_se"]
    return abs(gap) <= 2 * se or abs(gap) <= 0.01 * abs(row[f"{split}_network"])


def _ns(rows: list[dict]) -> str:
    return ", ".join(tex_int(r["num_points"]) for r in rows)


def _band_words(rows: list[dict]) -> str:
    """One band's rows (sorted by N): where the optimum is lower, higher or level with the network, per split."""
    low, high = rows[0]["t_low"], rows[0]["t_high"]
    train_lower = [r for r in rows if not _agree(r, "train") and r["train_gap"] < 0]
    held_higher = [r for r in rows if not _agree(r, "heldout") and r["heldout_gap"] > 0]
    held_lower = [r for r in rows if not _agree(r, "heldout") and r["heldout_gap"] < 0]
    level = [r for r in rows if _agree(r, "train") and _agree(r, "heldout")]
    words = [f"- **$t \\in [{low}, {high})$**:"]
    if len(train_lower) == len(rows):
        words.append(f"on the training points the optimum is lower at every $N$ ({_pair(rows[0], 'train')} at "
                     f"$N = {tex_int(rows[0]['num_points'])}$)")  # fmt: skip
    elif train_lower:
        words.append(f"on the training points the optimum is lower at $N = {_ns(train_lower)}$")
    train_level = [r for r in rows if _agree(r, "train") and r not in level]
    if train_level:
        words.append(f"on the training points the two agree at $N = {_ns(train_level)}$")
    if len(held_higher) == len(rows):
        words.append(
            f"on held-out points it is higher at every $N$: {_pair(rows[0], 'heldout')} at "
            f"$N = {tex_int(rows[0]['num_points'])}$, {_pair(rows[-1], 'heldout')} at $N = "
            f"{tex_int(rows[-1]['num_points'])}$"
        )
    elif held_higher:
        words.append(f"on held-out points it is higher at $N = {_ns(held_higher)}$ only")
    if held_lower:
        words.append(f"on held-out points the optimum is slightly lower at $N = {_ns(held_lower)}$")
    if len(level) == len(rows):
        words.append("the two agree at every $N$, on training and on held-out points")
    elif level:
        words.append(f"the two agree at $N = {_ns(level)}$, on training and on held-out points")
    return words[0] + " " + "; ".join(words[1:]) + "."


def loss_gap_caption(dataset: str, rows: list[dict]) -> str:
    """What the loss-gap rows say, band by band (rows of every band and N). "Agree": the paired difference optimum −
    network within twice its standard error or 1 % of the loss."""
    bands = sorted({(r["t_low"], r["t_high"]) for r in rows})
    by_band = {b: sorted((r for r in rows if (r["t_low"], r["t_high"]) == b), key=lambda r: r["num_points"])
               for b in bands}  # fmt: skip
    parts = [f"**{dataset_name(dataset)}**, panel by panel ("
             "the optimum against the network; they **agree** where they differ by less than twice the standard "
             "error of their paired difference, or by less than 1 %)."]  # fmt: skip
    parts.append("\n\n" + "\n".join(_band_words(by_band[b]) for b in bands) + "\n\n")
    parts.append(
        "So the optimum loses on new points at small $t$ (by far while $N$ is small), and not at larger $t$. At "
        "larger $t$ the noise hides which training point $x_t$ came from: the optimum's weights "
        "spread over many points, its guess becomes a smooth average, and it predicts new points as well as the "
        "network does. That is why the network can match it at large $t$ and differs from it where it matters "
        "for copying, near $t = 0$."
    )
    last = by_band[bands[-1]]
    below = [r for r in last if r["heldout_network"] < r["train_network"]]
    if below:
        r = below[0]
        above = [q for q in last if q["heldout_network"] > q["train_network"]]
        parts.append(
            f"At $t \\in [{bands[-1][0]}, {bands[-1][1]})$ the held-out loss is even a little below the training "
            "loss at "
            f"$N = {_ns(below)}$ ({r['heldout_network']:.3f} against {r['train_network']:.3f} for the network at "
            f"$N = {tex_int(r['num_points'])}$), for the optimum as for the network. Nothing there has "
            f"learned the points "
            "(the two denoisers agree): set B is simply a different draw of $N$ points from the data than A, and "
            "the loss at large $t$ depends on where the points lie. The standard errors count the draws of $t$ and "
            "$\\epsilon$, not which $N$ points were drawn"
            + (f"; at $N = {_ns(above)}$ the difference goes the other way." if above else ".")
        )
    return " ".join(parts)


def _pair(row: dict, split: str) -> str:
    return f"{sci(row[f'{split}_optimum'])} against {sci(row[f'{split}_network'])}"


def why_not_zero(
    band: tuple[int, int], n: int, loss: float, by_point: list, widths: list[float], nested: tuple | None = None
) -> str:
    """Why the optimum's training loss at the smallest t and N is not 0 (by_point: per training point of set A, its
    mean loss and the distance to its nearest other point; widths: the noise √(1 − ᾱ_t) at the band's two ends;
    nested: (N, the optimum's training loss there) of view 3's smallest run, a superset of this set A, or None)."""
    crowded = [(lo, d) for lo, d in by_point if lo >= 1e-6]
    alone = [(lo, d) for lo, d in by_point if lo < 1e-6]
    head = (
        f"**Why the optimum's training loss is not 0 at $t \\in [{band[0]}, {band[1]})$** ({loss:.3g} at "
        f"$N = {tex_int(n)}$): "
        if crowded
        else f"**The optimum's training loss at $t \\in [{band[0]}, {band[1]})$ is about 0** ({loss:.2g} at "
        f"$N = {tex_int(n)}$, every training point far from the others): "
    )
    words = (
        head + f"at such $t$ the noise $\\sqrt{{1-\\bar\\alpha_t}}$ is {widths[0]:.2g} to {widths[1]:.2g}. For a "
        "training point whose nearest other point is many noise widths away, $x_t$ says which point it came from, "
        "the optimum's guess is that point, $\\hat\\epsilon = \\epsilon$ and the loss is 0. Two points closer than "
        "a few noise widths share their $x_t$'s, and the optimum must split its guess between them."
    )
    if crowded and alone:
        near = ", ".join(f"{lo:.2g}" for lo, _ in crowded)
        dists = " and ".join(sorted({f"{d:.2g}" for _, d in crowded}))
        far = ", ".join(f"{d:.2g}" for _, d in alone)
        words += (
            f" In set A at $N = {tex_int(n)}$, {len(crowded)} points lie {dists} from their nearest "
            f"neighbour; the draws "
            f"from them lose {near}. The other {len(alone)} (nearest neighbour {far} away) lose less than $10^{{-6}}$. "
            "The mean is the share of draws from crowded points times their loss, so it depends on the set's "
            "closest pairs, not on $N$ alone."
        )
        if nested is not None:
            words += (
                " The sets are nested (the first $N$ of one shuffled pool), so view 3's "
                f"$N = {tex_int(nested[0])}$ holds the same close points among more others, and its loss is lower "
                f"({nested[1]:.2g})."
            )
        words += (
            " As $N$ grows more points have a near neighbour, and the optimum's training loss climbs toward the "
            "network's."
        )
    return words


# ---------------------------------------------------------------------------------------------- 3. dynamics
DYNAMICS_INTRO = r"""
### 3. Training time: good samples early, copies only later (how much later with $N$: see the caption)
Bonnaire et al. find two times in training: $\tau_{\text{gen}}$, after which samples are good,
which does not depend on $N$; and $\tau_{\text{mem}}$, after which the model starts to copy, which grows in
proportion to $N$. Below, the same 2-D $\epsilon$-network is trained at three $N$ with one recipe. At checkpoints
(every 250 steps) we record the training loss, the held-out loss and the fraction of samples that are copies.
These runs are not view 2's numbers read again: each network is trained afresh (view 2's recipe, initialisation and
batches, on the same set A at $N = 16$; the sets are nested, the first $N$ of one shuffled pool), the held-out loss is
taken on 1,000 pool points outside every set rather than on set B's $N$, and with 4,096 draws rather than 20,000. At
$t<10$ the optimum's held-out loss is set by the few held-out points farthest from every training point, so it moves
with the held-out set (the caption compares the two views at the same $N$). The times are read off the curves:
$\tau_{\text{gen}}$ here is the first checkpoint whose held-out loss is within 5 % of its lowest, $\tau_{\text{mem}}$
the first whose copy fraction reaches 1/2. A sample is a
**copy** when its nearest training point is much closer than the second nearest: $d_1/d_2 < {ratio}$ (Gu et al.,
TMLR 2025).
""".replace("{ratio}", _RATIO)


def dynamics_caption(rows: list[dict]) -> str:
    """What the shipped training-dynamics record says: per N, τ_gen and τ_mem (None: not reached) and the final
    copy fraction. rows: [{"num_points", "tau_gen", "tau_mem", "final_copy_fraction", "train_steps"}]."""
    parts = []
    for r in rows:
        gen = f"$\\tau_{{gen}} = {tex_int(r['tau_gen'])}$" if r["tau_gen"] is not None else "no $\\tau_{gen}$"
        if r["tau_mem"] is not None:
            mem = f"$\\tau_{{mem}}$ = {r['tau_mem']:,}"
        else:
            mem = f"the copy fraction never reaches 1/2 in {r['train_steps']:,} steps"
        parts.append(
            f"$N = {tex_int(r['num_points'])}$: {gen}, {mem} ({r['final_copy_fraction']:.0%} copies at the end)"
        )
    words = "Read off the curves: " + "; ".join(parts) + "."
    mems = [r for r in rows if r["tau_mem"] is not None]
    if len(mems) >= 2 and mems[-1]["tau_mem"] > mems[0]["tau_mem"]:
        a, b = mems[0], mems[-1]
        words += (
            f" Copying starts later the larger $N$: {a['tau_mem']:,} steps at $N = {tex_int(a['num_points'])}$, "
            f"{b['tau_mem']:,} at $N = {tex_int(b['num_points'])}$"
        )
        never = [r for r in rows if r["tau_mem"] is None]
        words += f", and not at all at $N = {tex_int(never[-1]['num_points'])}$." if never else "."
    gens = [r["tau_gen"] for r in rows if r["tau_gen"] is not None]
    if gens and max(gens) > 2 * min(gens):
        words += (
            f" Here $\\tau_{{gen}}$ is not the same for every $N$ ({min(gens):,} to {max(gens):,} steps): the small "
            "$N$ reach their best held-out loss by the first checkpoint and then get worse as they copy, while the "
            "largest $N$ keeps improving slowly, so this definition finds it later. This run does not confirm that "
            "part of Bonnaire et al.'s claim; it does show the copying time growing with $N$."
        )
    return words


def views_compared(n: int, band: tuple[int, int], view2: dict, view3: dict) -> str:
    """The same N and band of t in view 2 (its row) and view 3 (its run's optimum and last checkpoint)."""
    return (
        f" At $N = {tex_int(n)}$ and $t \\in [{band[0]}, {band[1]})$ the held-out losses differ from view 2's "
        f"as expected "
        f"from the other held-out points and draws: the optimum's {view3['optimum']:.3g} here against "
        f"{view2['heldout_optimum']:.3g} there, the network's {view3['network']:.3g} against "
        f"{view2['heldout_network']:.3g}; on the training points, the same set in both, the optimum's "
        f"{view3['optimum_train']:.4g} against {view2['train_optimum']:.4g}."
    )


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
posterior $E[x_0\mid x_t]$. A convolutional network is also **equivariant**: the same weights at every
position, so a patch may come from anywhere in a training image. That variant (the **ELS machine**, "equivariant
local score"; the first is the **LS machine**, "local score") searches the patches at every position of every
training {noun}. The patch size is fitted to the UNet, one number per $t$: along the UNet's own runs from seeds 0
and 1 (4 {noun}s each, 40 steps), the $P$ from 1 to 15 whose $r^2$ to the UNet (defined below) is highest.

{fit} To see the match with no fitting, untick "calibrated" and move the slider. The slider
stops at $2\cdot 32-1 = 63$: a window of that side centred on any pixel covers the whole $32\times32$ image.

**How well does it predict the UNet?** Along the UNet's own sampling run from the seed, each step compares the
UNet's guess $\hat x_0$ with the local machine's and the exact posterior's at the same $x_t$ by
$r^2=1-\sum_p(\hat y_p-y_p)^2/\sum_p(y_p-\bar y)^2$, with $y$ the UNet's guess over the pixels and $\bar y$ its
mean value. $r^2 = 1$ is a perfect prediction; $0$ is no better than predicting every pixel as $\bar y$, the UNet
image's own mean (a flat image of that value); it is negative when worse. The three samplers
start from the same pure noise. The UNet and the local machine take Ho et al.'s step, one Gaussian around
$\tilde\mu(x_t,\hat x_0)$ with their own $\hat x_0$; the exact sampler draws each step from the exact mixture (as on
tab "Exact posterior sampler"). Each sample is shown beside its nearest training {noun}.
"""


def local_intro(noun: str, fit: dict | None = None) -> str:
    """The local view's introduction, for the data shown (noun: "digit" for MNIST, "image" otherwise); fit: where
    the calibrated patch size means something (`patch_fit_words`' dict), None without a calibration record."""
    return LOCAL_INTRO.replace("{fit}", patch_fit_words(fit) if fit else "").replace("{noun}", noun)


def patch_fit_words(fit: dict) -> str:
    """Where the fitted patch size means something, from the calibration: fit = {"t_star": the largest calibrated
    t at and below which P moves r² by at least "threshold"; "spread": (least, most) change of r² with P there;
    "above": the most r² changes with P above t_star; "jumps": the fitted P above t_star, from T down; "largest":
    the largest P tried; "floor": the least r² above t_star; "p0": P at t = 0; "pmax": the largest P below t_star}."""
    jumps = ", ".join(str(p) for p in fit["jumps"])
    return (
        f"Below $t \\approx {fit['t_star']}$ the fit means something: there the best and the worst $P$ differ in "
        f"$r^2$ by {fit['spread'][0]:.2f} to {fit['spread'][1]:.2f} (step by step), "
        f"and the fitted $P$ grows, roughly, with $t$, from {fit['p0']} "
        f"at $t = 0$ to {fit['pmax']} (the largest $P$ tried is {fit['largest']}; where the fit says "
        f'{fit["largest"]} it means "{fit["largest"]} or more"). '
        'Above it (shaded in the plot below when "calibrated" is ticked), every $P$ gives an $r^2$ within '
        f"{fit['above']:.2f} of the others: the noise is so large that each machine's guess is a blurred average of "
        "many training images whatever window it looks through. There the fitted $P$ (at the fit's own calibrated "
        "timesteps, which are not all the plot's steps; from the top: "
        f"{jumps}) jumps without meaning, and near the top $r^2$ is near or below 0 for every $P$ (down to "
        f"${fit['floor']:.2f}$ in the fit, over its 8 {{noun}}s of seeds 0 and 1; the plot below follows one "
        "{noun}'s run, of the seed chosen there, so its first points sit a little apart from that): every machine's "
        "guess is "
        "close to the data's average rather than to the UNet's."
    )


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
