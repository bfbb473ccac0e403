"""The loss gap in 2-D: the trained network against the training loss's own optimum, on training and held-out points.

The simple loss of Ho et al. (eq. 14), E_{x_0, t, ε} ‖ε − ε̂(x_t, t)‖² with x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε, is
minimised over all functions, for x_0 uniform over N training points, by the exact posterior:
ε̂*(x_t, t) = (x_t − √ᾱ_t E[x_0 | x_t]) / √(1 − ᾱ_t) with E[x_0 | x_t] over the training set (`DatasetPosterior`).
On the training points nothing beats it, the network included; but it only gives back training points, and on
held-out points of the same distribution it is far off at small t, where it snaps x_t onto the nearest training
point. A network that generalises sits above the optimum on the training points and below it on held-out ones.

For each shipped pair of the 2-D ladders (`pipelines.transition.ladders`, models/transition2d/<dataset>/nNNNN/) the
loss of model A (trained on subset A) and of the optimum over subset A, on subset A (training) and on subset B
(held out: disjoint, from the same pool), per band [low, high) of t: `draws` paired draws (x_0 uniform over the
points, t uniform over the band, ε ~ N(0, I)) per band and split, the same draws for the network and the optimum.
Losses are per dimension (‖·‖² / 2); each with its standard error over the draws, and the paired difference
optimum − network with its own.

    python -m pipelines.transition.loss_gap --dataset two_moons [--draws K] [--seed S]
"""

from __future__ import annotations

import json
import math
import shlex
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import torch

from pipelines import toy2d
from pipelines.checks import check_int, check_seed
from pipelines.exact.posterior import DatasetPosterior
from pipelines.transition.ladders import DEFAULT_OUTPUT, check_dataset, load_pair_model, load_table, pair_folder, pool

DEFAULT_BANDS = ((0, 10), (10, 50), (50, 200), (200, 1000))


MIN_DRAWS, MAX_DRAWS, DEFAULT_DRAWS = 16, 200_000, 20_000


TABLE_NAME = "loss_gap.json"


DRAW_CHUNK = 4096  # draws per call of the exact posterior


SPLITS = ("train", "heldout")


LOSS_DEFINITION = (
    "E ||eps - eps_hat(x_t, t)||^2 / 2 (Ho et al. eq. 14, per dimension), x_t = sqrt(abar_t) x_0 + "
    "sqrt(1 - abar_t) eps; optimum: eps_hat = (x_t - sqrt(abar_t) E[x_0 | x_t]) / sqrt(1 - abar_t), E over the "
    "training subset A (DatasetPosterior)"
)


def check_draws(draws, name: str = "draws") -> int:
    return check_int(name, draws, MIN_DRAWS, MAX_DRAWS, meaning=" ((x_0, t, ε) draws per band and split)")


def check_bands(bands, T: int = 1000) -> tuple[tuple[int, int], ...]:
    """Bands [low, high) of t: pairs of integers with 0 <= low < high <= T."""
    message = f"bands must be a list of (low, high) integer pairs with 0 <= low < high <= {T}, got {bands!r}"
    try:
        values = tuple((int(low), int(high)) for low, high in bands)
    except (TypeError, ValueError):
        raise ValueError(message) from None
    if not values or any(not 0 <= low < high <= T for low, high in values):
        raise ValueError(message)
    return values


@dataclass
class LossGapRow:
    """One N and one band [t_low, t_high) of t: the mean loss (per dimension) and its standard error of the network
    (model A) and of the optimum (the exact posterior over subset A) on training (A) and held-out (B) draws, and the
    paired difference optimum − network (negative: the optimum is lower)."""

    num_points: int
    t_low: int
    t_high: int
    draws: int
    train_network: float
    train_network_se: float
    train_optimum: float
    train_optimum_se: float
    train_gap: float
    train_gap_se: float
    heldout_network: float
    heldout_network_se: float
    heldout_optimum: float
    heldout_optimum_se: float
    heldout_gap: float
    heldout_gap_se: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LossGapTable:
    """The rows of one data set, N by N and band by band, with how they were drawn."""

    dataset: str
    seed: int
    draws: int
    bands: tuple[tuple[int, int], ...]
    rows: list[LossGapRow]

    def row(self, num_points: int, t_low: int) -> LossGapRow:
        """The row of one N and the band starting at t_low."""
        for row in self.rows:
            if row.num_points == num_points and row.t_low == t_low:
                return row
        raise ValueError(f"no row for num_points={num_points}, t_low={t_low}")

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "seed": self.seed,
            "draws_per_band_and_split": self.draws,
            "bands": [list(band) for band in self.bands],
            "loss": LOSS_DEFINITION,
            "heldout": "subset B of the same pair: disjoint from A, from the same 4,000-point pool",
            "rows": [row.as_dict() for row in self.rows],
        }


def _mean_se(values: torch.Tensor) -> tuple[float, float]:
    return float(values.mean()), float(values.std() / math.sqrt(len(values))) if len(values) > 1 else math.nan


@dataclass
class LossDraws:
    """Paired draws of the simple loss: x_0 (D, 2), t (D,), ε (D, 2), ᾱ_t (D, 1) and x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε
    (eq. 4), float64. The same draws judge the network and the optimum (and one network at every checkpoint)."""

    x0: torch.Tensor
    t: torch.Tensor
    eps: torch.Tensor
    alpha_bar: torch.Tensor
    x_t: torch.Tensor


def loss_draws(points: torch.Tensor, band: tuple[int, int], draws: int, generator, alphas_cumprod) -> LossDraws:
    """`draws` paired draws: x_0 uniform over points (M, 2), t uniform over [low, high), ε ~ N(0, I), in that order
    from generator; alphas_cumprod: ᾱ (T,) of the schedule."""
    x0 = points.double()[torch.randint(len(points), (draws,), generator=generator)]
    t = torch.randint(band[0], band[1], (draws,), generator=generator)
    eps = torch.randn((draws, 2), generator=generator, dtype=torch.float64)
    a = alphas_cumprod[t].double().unsqueeze(1)
    return LossDraws(x0, t, eps, a, a.sqrt() * x0 + (1 - a).sqrt() * eps)  # eq. 4


@torch.inference_mode()
def network_losses(model: toy2d.ToyEpsilonMLP, d: LossDraws) -> torch.Tensor:
    """The network's loss per draw, per dimension, float64 (D,)."""
    network = model(toy2d.as_images(d.x_t.float()), d.t).sample.reshape(len(d.t), 2).double()
    return ((d.eps - network) ** 2).mean(1)


@torch.inference_mode()
def optimum_losses(optimum: DatasetPosterior, d: LossDraws) -> torch.Tensor:
    """The optimum's loss per draw, per dimension, float64 (D,): ε̂* from E[x_0 | x_t] over its training points."""
    x0_hat = torch.cat(  # E[x_0 | x_t] in chunks of draws: the weights are (chunk, N)
        [
            toy2d.as_points(optimum.predict_x0(toy2d.as_images(d.x_t[k : k + DRAW_CHUNK]), d.t[k : k + DRAW_CHUNK]))
            for k in range(0, len(d.t), DRAW_CHUNK)
        ]
    ).double()
    best = (d.x_t - d.alpha_bar.sqrt() * x0_hat) / (1 - d.alpha_bar).sqrt()  # the optimum's ε̂
    return ((d.eps - best) ** 2).mean(1)


def split_losses(
    model: toy2d.ToyEpsilonMLP,
    optimum: DatasetPosterior,
    points: torch.Tensor,
    band: tuple[int, int],
    draws: int,
    generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-draw losses (per dimension, float64 (draws,)) of the network and of the optimum on `draws` paired draws
    (`loss_draws` from points (M, 2) over the band)."""
    d = loss_draws(points, band, draws, generator, optimum.alphas_cumprod)
    return network_losses(model, d), optimum_losses(optimum, d)


def loss_gap_rows(
    model: toy2d.ToyEpsilonMLP,
    train: torch.Tensor,
    heldout: torch.Tensor,
    draws: int = DEFAULT_DRAWS,
    seed: int = 0,
    bands: Sequence[tuple[int, int]] = DEFAULT_BANDS,
) -> list[LossGapRow]:
    """The rows of one model: trained on train (N, 2), judged on train and on heldout (M, 2), per band. A
    generator seeded `seed` makes every draw, band by band, the training split first."""
    draws, seed = check_draws(draws), check_seed(seed)
    optimum = DatasetPosterior(toy2d.as_images(train), toy2d.toy_scheduler())
    bands = check_bands(bands, optimum.num_train_timesteps)
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for band in bands:
        numbers = {}
        for split, points in zip(SPLITS, (train, heldout)):
            network, best = split_losses(model, optimum, points, band, draws, generator)
            numbers[f"{split}_network"], numbers[f"{split}_network_se"] = _mean_se(network)
            numbers[f"{split}_optimum"], numbers[f"{split}_optimum_se"] = _mean_se(best)
            numbers[f"{split}_gap"], numbers[f"{split}_gap_se"] = _mean_se(best - network)
        rows.append(LossGapRow(len(train), band[0], band[1], draws, **numbers))
    return rows


@torch.inference_mode()
def optimum_loss_by_point(
    points: torch.Tensor, band: tuple[int, int], draws: int = DEFAULT_DRAWS, seed: int = 0
) -> list[tuple[float, float]]:
    """Why the optimum's training loss is not 0 at small t: per training point (N ≥ 2, 2), (the optimum's mean loss
    on the draws whose x_0 is that point, the distance to its nearest other training point). The optimum returns
    x_0 itself, and so ε̂ = ε, only where the noise √(1 − ᾱ_t) is small against that distance; two points closer
    than a few noise widths share x_t's and each takes the blame for the other."""
    draws, seed = check_draws(draws), check_seed(seed)
    pts = points.double()
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 2:
        raise ValueError(f"points must have shape (N >= 2, 2), got {tuple(points.shape)}")
    optimum = DatasetPosterior(toy2d.as_images(pts), toy2d.toy_scheduler())
    d = loss_draws(pts, check_bands([band], optimum.num_train_timesteps)[0], draws, torch.Generator().manual_seed(seed),
                   optimum.alphas_cumprod)  # fmt: skip
    losses = optimum_losses(optimum, d)
    which = torch.cdist(d.x0, pts).argmin(1)
    gaps = torch.cdist(pts, pts) + torch.diag(torch.full((len(pts),), math.inf, dtype=torch.float64))
    nearest = gaps.min(1).values
    return [
        (float(losses[which == i].mean()) if bool((which == i).any()) else math.nan, float(nearest[i]))
        for i in range(len(pts))
    ]


def smallest_set_by_point(dataset: str, num_points: int, band: tuple[int, int]) -> tuple[list, list[float]]:
    """`optimum_loss_by_point` for set A of the shipped pair at num_points, and the noise √(1 − ᾱ_t) at the band's
    two ends: (by_point, [width at low, width at high − 1])."""
    _, indices = load_pair_model(pair_folder(DEFAULT_OUTPUT, check_dataset(dataset), num_points), "a")
    by_point = optimum_loss_by_point(pool(dataset)[indices], band)
    alpha_bar = toy2d.toy_scheduler().alphas_cumprod.double()
    return by_point, [float((1 - alpha_bar[t]).sqrt()) for t in (band[0], band[1] - 1)]


def shipped_ladder(dataset: str, output: str | Path | None = None) -> list[int]:
    """The N of a data set's shipped pairs (its transition.json)."""
    return [int(row["num_points"]) for row in load_table(dataset, output)["rows"]]


def loss_gap(
    dataset: str,
    draws: int = DEFAULT_DRAWS,
    seed: int = 0,
    bands: Sequence[tuple[int, int]] = DEFAULT_BANDS,
    output: str | Path | None = None,
) -> LossGapTable:
    """The loss gap of every shipped pair of a data set (model A; train = subset A, held out = subset B)."""
    dataset = check_dataset(dataset)
    draws, seed, bands = check_draws(draws), check_seed(seed), check_bands(bands)
    points = pool(dataset)
    rows = []
    for n in shipped_ladder(dataset, output):
        folder = pair_folder(output or DEFAULT_OUTPUT, dataset, n)
        model, indices_a = load_pair_model(folder, "a")
        _, indices_b = load_pair_model(folder, "b")
        rows.extend(loss_gap_rows(model, points[indices_a], points[indices_b], draws, seed, bands))
    return LossGapTable(dataset, seed, draws, bands, rows)


def table_path(dataset: str, output: str | Path | None = None) -> Path:
    return Path(output or DEFAULT_OUTPUT) / check_dataset(dataset) / TABLE_NAME


def load_loss_gap(dataset: str, output: str | Path | None = None) -> dict[str, Any]:
    """The shipped loss-gap table of a data set (`LossGapTable.as_dict()` with the command and the wall time)."""
    path = table_path(dataset, output)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no loss-gap table for {dataset}; make it with `python -m pipelines.transition.loss_gap "
            f"--dataset {dataset}`"
        )
    return json.loads(path.read_text())


def main(argv: Sequence[str] | None = None) -> None:
    """python -m pipelines.transition.loss_gap --dataset two_moons: the loss gap of every shipped pair, written to
    <output>/<dataset>/loss_gap.json (the table, the command, the wall time)."""
    from pipelines.checks import OneLineParser

    parser = OneLineParser(description=main.__doc__)
    parser.add_argument("--dataset", default=toy2d.DEFAULT_DATASET, help=f"one of {', '.join(toy2d.DATASETS)}")
    parser.add_argument("--draws", type=int, default=DEFAULT_DRAWS, help="(x_0, t, ε) draws per band and split")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT))
    args = parser.parse_args(argv)
    try:
        dataset = check_dataset(args.dataset, "--dataset")
        draws = check_draws(args.draws, "--draws")
        seed = check_seed(args.seed, "--seed")
        shipped_ladder(dataset, args.output)  # the shipped pairs are there, or one line says how to make them
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    command = "python -m pipelines.transition.loss_gap " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    start = time.perf_counter()
    table = loss_gap(dataset, draws, seed, output=args.output)
    summary = {"command": command, "wall_seconds": round(time.perf_counter() - start, 1), **table.as_dict()}
    path = table_path(dataset, args.output)
    path.write_text(json.dumps(summary, indent=1) + "\n")
    for row in table.rows:
        print(
            f"N={row.num_points:5d} t∈[{row.t_low},{row.t_high}) train net {row.train_network:.4f} opt "
            f"{row.train_optimum:.4f} | held-out net {row.heldout_network:.4f} opt {row.heldout_optimum:.4f}"
        )
    print(f"wrote {path} in {summary['wall_seconds']} s")


if __name__ == "__main__":
    main()
