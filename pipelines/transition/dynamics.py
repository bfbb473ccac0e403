"""Training dynamics in 2-D: when the samples become good and when the network starts to copy, as it trains.

Bonnaire et al. (NeurIPS 2025, "Why diffusion models don't memorize") find two training times: samples become good
after τ_gen, which does not depend on N, while memorisation sets in only after τ_mem, which grows in proportion to
N. So between the two there is a window where a network generalises, and the window widens with N.

One run trains the 2-D ε-MLP with the transition ladder's recipe (model A of `ladders.TransitionPair`: the same
initialisation, batches, Adam and cosine learning rate over train_steps, through `toy2d.train_toy`) on N points
of a data set's pool, and every eval_every steps records:
- the simple loss (Ho et al. eq. 14, per dimension, as `loss_gap` defines it) on the N training points and on M
  held-out points (disjoint, from the same pool), over all t and over the small-t band where the gap lives, with
  the same (x_0, t, ε) draws at every checkpoint (`loss_gap.loss_draws`, the draws `loss_gap_rows` makes);
- the same losses of the empirical optimum (the exact posterior over the N points), the reference lines;
- the copy fraction by the project's rule (d₁/d₂ < 1/3 against the training points) of S samples of p_θ (η = 1,
  every step, `ladders.sample_model`), from the same noise at every checkpoint, and their median d₁.

The training points are the ladder's subset A at that N and seed; the held-out points are the last M of the same
seeded permutation of the pool, so they are the same for every N. Read off the curves: τ_gen, the first checkpoint
whose held-out loss (all t) is within GENERALISED_WITHIN of the run's lowest; τ_mem, the first checkpoint whose copy
fraction reaches MEMORISED_AT (None when the run never gets there).

    for checkpoint in training_dynamics("two_moons", 16, train_steps=10_000, eval_every=500):
        checkpoint.step, checkpoint.heldout_loss, checkpoint.copy_fraction
    record = run_dynamics("two_moons", (16, 1024))  # JSON-safe: per N the columns, the optimum, τ_gen and τ_mem

    python -m pipelines.transition.dynamics --dataset two_moons --num-points 16,1024 [--train-steps S] ...
"""

from __future__ import annotations

import json
import math
import shlex
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch

from pipelines import toy2d
from pipelines.checks import check_int
from pipelines.exact.neighbours import COPY_RATIO_TEXT, is_copy_by_ratio, nearest_two
from pipelines.exact.posterior import DatasetPosterior
from pipelines.transition import ladders
from pipelines.transition import loss_gap as gap

DEFAULT_NUM_POINTS = (8, 16, 1024)  # the shipped runs: two small N that start copying within the run, one large


DEFAULT_TRAIN_STEPS = 10_000  # the ladder's recipe length


DEFAULT_EVAL_EVERY = 250


MAX_CHECKPOINTS = 1000


MIN_HELDOUT, MAX_HELDOUT, DEFAULT_HELDOUT = 16, toy2d.POOL_SIZE - ladders.MAX_POINTS, 1000


DEFAULT_DRAWS = 4096  # (x_0, t, ε) draws per split and band, the same at every checkpoint


DEFAULT_SAMPLES = 256


SMALL_T_BAND = gap.DEFAULT_BANDS[0]  # where the optimum and the network part on held-out points


BANDS = {"all": (0, 1000), "small_t": SMALL_T_BAND}


GENERALISED_WITHIN = 0.05  # τ_gen: held-out loss within 5 % of the run's lowest


MEMORISED_AT = 0.5  # τ_mem: half the samples are copies


TABLE_NAME = "dynamics.json"


COLUMNS = (
    "step",
    "batch_loss",
    "train_loss",
    "heldout_loss",
    "train_loss_small_t",
    "heldout_loss_small_t",
    "copy_fraction",
    "nearest_median",
    "seconds",
)


def check_eval_every(eval_every, train_steps: int, name: str = "eval_every") -> int:
    """Steps between checkpoints: in [max(1, train_steps // MAX_CHECKPOINTS), train_steps]."""
    low = max(1, math.ceil(train_steps / MAX_CHECKPOINTS))
    return check_int(name, eval_every, low, train_steps, meaning=f" (steps between checkpoints, <= {MAX_CHECKPOINTS})")


def check_num_heldout(num_heldout, name: str = "num_heldout") -> int:
    return check_int(name, num_heldout, MIN_HELDOUT, MAX_HELDOUT, meaning=" (held-out points)")


def dynamics_split(dataset: str, num_points: int, num_heldout: int = DEFAULT_HELDOUT, seed: int = 0):
    """Pool indices of the N training points (the ladder's subset A at this N and seed) and of the M held-out points
    (the last M of the same seeded permutation: disjoint from any N <= MAX_POINTS, the same for every N).
    Returns (train (N,), heldout (M,)), int64."""
    num_heldout = check_num_heldout(num_heldout)
    train, _ = ladders.disjoint_subsets(dataset, num_points, seed)
    _, second_half = ladders.disjoint_subsets(dataset, ladders.MAX_POINTS, seed)
    return train, second_half[len(second_half) - num_heldout :].clone()


@dataclass
class DynamicsCheckpoint:
    """One checkpoint of a run after `step` of num_steps optimizer steps.

    batch_loss: the last training batch's loss (eq. 14, mean over the batch). train_loss, heldout_loss: the simple
    loss per dimension on the fixed draws over all t, on the training and the held-out points; *_small_t: over
    SMALL_T_BAND. optimum_*: the same for the exact posterior over the training points (the same at every
    checkpoint). copy_fraction in [0, 1] and nearest_median (median d₁): of the S samples against the training
    points. seconds: wall time since the run started (training and evaluation)."""

    num_points: int
    step: int
    num_steps: int
    batch_loss: float
    train_loss: float
    heldout_loss: float
    train_loss_small_t: float
    heldout_loss_small_t: float
    optimum_train_loss: float
    optimum_heldout_loss: float
    optimum_train_loss_small_t: float
    optimum_heldout_loss_small_t: float
    copy_fraction: float
    nearest_median: float
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


SUFFIXES = {"all": "", "small_t": "_small_t"}  # a band's suffix in the checkpoint's names


def fixed_draws(train, heldout, draws: int, seed: int, alphas_cumprod: torch.Tensor) -> dict[str, gap.LossDraws]:
    """The loss draws of a run, by name ("train_loss", "heldout_loss_small_t", …): from one generator seeded seed,
    band by band (BANDS), the training split first, so they are the draws `loss_gap.loss_gap_rows` makes (with
    alphas_cumprod, ᾱ (T,), the optimum's: `DatasetPosterior.alphas_cumprod`)."""
    generator = torch.Generator().manual_seed(seed)
    out = {}
    for band_name, band in BANDS.items():
        for split, points in zip(gap.SPLITS, (train, heldout)):
            out[f"{split}_loss{SUFFIXES[band_name]}"] = gap.loss_draws(points, band, draws, generator, alphas_cumprod)
    return out


def _copies(model, train: torch.Tensor, num_samples: int, seed: int) -> dict[str, float]:
    samples = ladders.sample_model(model, num_samples, seed)
    d1, d2, _ = nearest_two(samples, train)
    return {"copy_fraction": float(is_copy_by_ratio(d1, d2).double().mean()), "nearest_median": float(d1.median())}


def training_dynamics(
    dataset: str,
    num_points: int,
    train_steps: int = DEFAULT_TRAIN_STEPS,
    eval_every: int = DEFAULT_EVAL_EVERY,
    num_heldout: int = DEFAULT_HELDOUT,
    draws: int = DEFAULT_DRAWS,
    num_samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
) -> Iterator[DynamicsCheckpoint]:
    """Train the ladder's model A on N points and yield a `DynamicsCheckpoint` every eval_every steps (and at the
    last step). dataset: one of toy2d.DATASETS; N in [4, 2000]; train_steps in [100, 20000]; eval_every in
    [train_steps / 1000, train_steps]; num_heldout in [16, 2000]; draws in [16, 200000]; num_samples in [8, 1024];
    seed in [0, MAX_MODEL_SEED]. Every argument is checked before the first step. Stop early by not asking for
    the next checkpoint."""
    dataset = ladders.check_dataset(dataset)
    num_points = ladders.check_num_points(num_points)
    train_steps = ladders.check_train_steps(train_steps)
    eval_every = check_eval_every(eval_every, train_steps)
    draws, num_samples = gap.check_draws(draws), ladders.check_num_samples(num_samples)
    seed = check_int("seed", seed, 0, ladders.MAX_MODEL_SEED, meaning=" (the model's seed is 2·seed)")
    train_indices, heldout_indices = dynamics_split(dataset, num_points, num_heldout, seed)
    train, heldout = ladders.pool(dataset)[train_indices], ladders.pool(dataset)[heldout_indices]
    start = time.perf_counter()
    optimum = DatasetPosterior(toy2d.as_images(train), toy2d.toy_scheduler())
    fixed = fixed_draws(train, heldout, draws, seed, optimum.alphas_cumprod)
    optimum_numbers = {f"optimum_{name}": float(gap.optimum_losses(optimum, d).mean()) for name, d in fixed.items()}
    model = toy2d.new_toy_model(2 * seed, **ladders.MODEL_CONFIG)
    run = toy2d.train_toy(model, train, train_steps, 2 * seed)
    try:
        for progress in run:
            if progress.update % eval_every and progress.update != train_steps:
                continue
            numbers = {name: float(gap.network_losses(model, d).mean()) for name, d in fixed.items()}
            yield DynamicsCheckpoint(
                num_points=num_points,
                step=progress.update,
                num_steps=train_steps,
                batch_loss=progress.loss,
                seconds=time.perf_counter() - start,
                **numbers,
                **optimum_numbers,
                **_copies(model, train, num_samples, seed),
            )
    finally:
        run.close()


def generalisation_step(steps: Sequence[int], heldout_losses: Sequence[float], within: float = GENERALISED_WITHIN):
    """τ_gen: the first step whose held-out loss is within `within` (relative) of the lowest; None when empty."""
    if len(steps) != len(heldout_losses):
        raise ValueError(f"steps and heldout_losses must have one length, got {len(steps)} and {len(heldout_losses)}")
    if not steps:
        return None
    best = min(heldout_losses)
    return next(int(s) for s, loss in zip(steps, heldout_losses) if loss <= best * (1 + within))


def memorisation_step(steps: Sequence[int], copy_fractions: Sequence[float], at: float = MEMORISED_AT):
    """τ_mem: the first step whose copy fraction reaches `at`; None when no checkpoint does."""
    if len(steps) != len(copy_fractions):
        raise ValueError(f"steps and copy_fractions must have one length, got {len(steps)} and {len(copy_fractions)}")
    return next((int(s) for s, c in zip(steps, copy_fractions) if c >= at), None)


def run_record(checkpoints: Sequence[DynamicsCheckpoint]) -> dict[str, Any]:
    """One run's JSON-safe record from its checkpoints: the columns (COLUMNS, one value per checkpoint), the
    optimum's losses, τ_gen and τ_mem."""
    if not checkpoints:
        raise ValueError("checkpoints must hold at least one checkpoint, got none")
    last = checkpoints[-1]
    columns = {name: [getattr(c, name) for c in checkpoints] for name in COLUMNS}
    columns["seconds"] = [round(s, 2) for s in columns["seconds"]]
    return {
        "num_points": last.num_points,
        "train_steps": last.num_steps,
        "optimum": {
            band: {split: getattr(last, f"optimum_{split}_loss{suffix}") for split in gap.SPLITS}
            for band, suffix in SUFFIXES.items()
        },
        "tau_gen": generalisation_step(columns["step"], columns["heldout_loss"]),
        "tau_mem": memorisation_step(columns["step"], columns["copy_fraction"]),
        "seconds": round(last.seconds, 1),
        "checkpoints": columns,
    }


def live_record(dataset: str, runs: Sequence[Sequence[DynamicsCheckpoint]]) -> dict[str, Any]:
    """What `plot_training_dynamics` draws, from the checkpoints streamed so far (one list per N, each non-empty):
    {"dataset", "bands", "runs": [run_record per N]}; τ_gen and τ_mem as read off the curves so far."""
    return {
        "dataset": ladders.check_dataset(dataset),
        "bands": {name: list(band) for name, band in BANDS.items()},
        "runs": [run_record(checkpoints) for checkpoints in runs],
    }


def run_dynamics(
    dataset: str,
    num_points: Sequence[int] = DEFAULT_NUM_POINTS,
    train_steps: int = DEFAULT_TRAIN_STEPS,
    eval_every: int = DEFAULT_EVAL_EVERY,
    num_heldout: int = DEFAULT_HELDOUT,
    draws: int = DEFAULT_DRAWS,
    num_samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    progress: Callable[[float, str], None] | None = None,
) -> dict[str, Any]:
    """`training_dynamics` for each N in turn (a strictly increasing list), the whole as one JSON-safe record:
    {"dataset", "recipe", "definitions", "bands", "runs": [run_record per N]}. progress(fraction, message) after
    every checkpoint."""
    dataset = ladders.check_dataset(dataset)
    ladder = ladders.check_ladder(num_points, "num_points")
    train_steps = ladders.check_train_steps(train_steps)
    eval_every = check_eval_every(eval_every, train_steps)
    runs = []
    for k, n in enumerate(ladder):
        checkpoints: list[DynamicsCheckpoint] = []
        for checkpoint in training_dynamics(dataset, n, train_steps, eval_every, num_heldout, draws, num_samples, seed):
            checkpoints.append(checkpoint)
            if progress is not None:
                done = (k + checkpoint.step / train_steps) / len(ladder)
                progress(done, f"N = {n}: step {checkpoint.step}/{train_steps}, copies {checkpoint.copy_fraction:.0%}")
        runs.append(checkpoints)
    live = live_record(dataset, runs)
    return {
        "dataset": dataset,
        "recipe": {
            "model": {"class": "ToyEpsilonMLP", **ladders.MODEL_CONFIG},
            "train_steps": train_steps,
            "eval_every": eval_every,
            "batch_size": toy2d.TRAIN_BATCH_SIZE,
            "learning_rate": toy2d.TRAIN_LEARNING_RATE,
            "schedule": "Adam, cosine decay to 0 over train_steps (the transition ladder's model A)",
            "seed": seed,
            "num_heldout": check_num_heldout(num_heldout),
            "draws_per_split_and_band": draws,
            "num_samples": num_samples,
            "sampling": f"eta = 1, {ladders.SAMPLE_STEPS} steps, the same noise at every checkpoint",
        },
        "definitions": {
            "loss": gap.LOSS_DEFINITION,
            "heldout": "the last num_heldout points of the seeded permutation of the pool: disjoint from training",
            "copy_rule": f"d1 / d2 < {COPY_RATIO_TEXT} against the training points (Gu et al., TMLR 2025)",
            "tau_gen": f"first checkpoint whose held-out loss (all t) is within {GENERALISED_WITHIN:.0%} of the run's "
            "lowest",
            "tau_mem": f"first checkpoint whose copy fraction reaches {MEMORISED_AT:g} (null: not within the run)",
        },
        "bands": live["bands"],
        "runs": live["runs"],
    }


def table_path(dataset: str, output: str | Path | None = None) -> Path:
    return Path(output or ladders.DEFAULT_OUTPUT) / ladders.check_dataset(dataset) / TABLE_NAME


def load_dynamics(dataset: str, output: str | Path | None = None) -> dict[str, Any]:
    """The shipped record of a data set (`run_dynamics`'s, with the command and the wall time)."""
    path = table_path(dataset, output)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no training-dynamics record for {dataset}; make it with `python -m "
            f"pipelines.transition.dynamics --dataset {dataset}`"
        )
    return json.loads(path.read_text())


def nested_small_t(dataset: str, num_points: int, band: tuple[int, int]) -> tuple[int, float] | None:
    """(N, the optimum's training loss over the small-t band) of the shipped run with the least N above num_points,
    whose training set holds the ladder's set A at num_points (both are the first N of one seeded permutation); None
    without a record or when its small-t band is not `band`."""
    try:
        record = load_dynamics(dataset)
    except FileNotFoundError:
        return None
    if tuple(record["bands"]["small_t"]) != tuple(band):
        return None
    above = [r for r in record["runs"] if r["num_points"] > num_points]
    if not above:
        return None
    run = min(above, key=lambda r: r["num_points"])
    return run["num_points"], run["optimum"]["small_t"]["train"]


def shared_with_loss_gap(record: dict) -> tuple | None:
    """The first N of a dynamics record that the data set's loss-gap table also holds, over the small-t band:
    (N, band, the loss-gap row, {"optimum", "optimum_train", "network"} of this record: the optimum's held-out and
    training loss and the network's held-out loss at the last checkpoint); None when they share none."""
    try:
        table = gap.load_loss_gap(record["dataset"])
    except FileNotFoundError:
        return None
    band = tuple(record["bands"]["small_t"])
    rows = {r["num_points"]: r for r in table["rows"] if (r["t_low"], r["t_high"]) == band}
    for run in record["runs"]:
        if run["num_points"] in rows:
            view3 = {
                "optimum": run["optimum"]["small_t"]["heldout"],
                "optimum_train": run["optimum"]["small_t"]["train"],
                "network": run["checkpoints"]["heldout_loss_small_t"][-1],
            }
            return run["num_points"], band, rows[run["num_points"]], view3
    return None


def main(argv: Sequence[str] | None = None) -> None:
    """python -m pipelines.transition.dynamics --dataset two_moons --num-points 16,1024: train one model per N,
    measure it every --eval-every steps, and write <output>/<dataset>/dynamics.json (the record, the command,
    the wall time)."""
    from tqdm import tqdm

    from pipelines.checks import OneLineParser

    parser = OneLineParser(description=main.__doc__)
    parser.add_argument("--dataset", default=toy2d.DEFAULT_DATASET, help=f"one of {', '.join(toy2d.DATASETS)}")
    parser.add_argument("--num-points", default=",".join(map(str, DEFAULT_NUM_POINTS)), help="comma-separated N")
    parser.add_argument("--train-steps", type=int, default=DEFAULT_TRAIN_STEPS)
    parser.add_argument("--eval-every", type=int, default=DEFAULT_EVAL_EVERY)
    parser.add_argument("--heldout", type=int, default=DEFAULT_HELDOUT, help="held-out points")
    parser.add_argument("--draws", type=int, default=DEFAULT_DRAWS, help="(x_0, t, ε) draws per split and band")
    parser.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, help="samples for the copy fraction")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=str(ladders.DEFAULT_OUTPUT))
    args = parser.parse_args(argv)
    try:
        dataset = ladders.check_dataset(args.dataset, "--dataset")
        try:
            ladder = [int(n) for n in args.num_points.split(",")]
        except ValueError:
            raise ValueError(f"--num-points must be comma-separated integers, got {args.num_points!r}") from None
        ladder = ladders.check_ladder(ladder, "--num-points")
        train_steps = ladders.check_train_steps(args.train_steps, "--train-steps")
        eval_every = check_eval_every(args.eval_every, train_steps, "--eval-every")
        num_heldout = check_num_heldout(args.heldout, "--heldout")
        draws = gap.check_draws(args.draws, "--draws")
        num_samples = ladders.check_num_samples(args.samples, "--samples")
        seed = check_int("--seed", args.seed, 0, ladders.MAX_MODEL_SEED)
    except ValueError as error:
        parser.error(str(error))
    torch.set_num_threads(1)  # a 64-wide MLP on batches of 256: more threads only contend
    command = "python -m pipelines.transition.dynamics " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    start = time.perf_counter()
    with tqdm(total=1000, unit="‰", desc=dataset) as bar:

        def report(fraction: float, message: str) -> None:
            bar.update(round(fraction * 1000) - bar.n)
            bar.set_postfix_str(message)

        record = run_dynamics(dataset, ladder, train_steps, eval_every, num_heldout, draws, num_samples, seed, report)
    record = {"command": command, "wall_seconds": round(time.perf_counter() - start, 1), **record}
    path = table_path(dataset, args.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1) + "\n")
    for run in record["runs"]:
        c = run["checkpoints"]
        print(
            f"N={run['num_points']:5d} tau_gen {run['tau_gen']} tau_mem {run['tau_mem']} final copies "
            f"{c['copy_fraction'][-1]:.2f} held-out {c['heldout_loss'][-1]:.4f} ({run['seconds']:.0f} s)"
        )
    print(f"wrote {path} in {record['wall_seconds']} s")


if __name__ == "__main__":
    main()
