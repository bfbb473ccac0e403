"""Copies or new points: when a trained p_θ memorises its training set and when it generalises, as N grows.

The experiment of Kadkhodaie et al. (ICLR 2024) in 2-D: split the 4,000-point pool of a toy data set into two
disjoint N-point subsets A and B, train one p_θ on each with the same recipe, and sample both from the same noise
(the same x_T and the same noise at every reverse step). With few points each model copies its own subset, so the
two samples differ; past some N both models learn the same smooth density and the two samples nearly coincide.
The exact reverse processes of A and B (`DatasetPosterior`) are the reference: each returns one of its own
training points, so the two never agree, at any N.

A sample is a copy by the rule of Gu et al. (TMLR 2025): d₁ / d₂ < 1/3, where d₁ and d₂ are its distances to
the nearest and the second-nearest training point of its own subset. The absolute d₁ is kept beside the ratio.

    pair = TransitionPair("two_moons", num_points=16, train_steps=4000, seed=0)
    for record in pair.train():                  # both models, one optimizer step each per record
        ...
    row = pair.measure(num_samples=256, seed=0)  # TransitionRow: copy fractions, pair distance / spacing, exact
    rows = run_ladder("two_moons", (4, 16, 64, 256, 1000))
"""

from __future__ import annotations

import functools
import json
import math
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch

from pipelines import toy2d
from pipelines.checks import MAX_SEED, check_choice, check_int, check_seed
from pipelines.exact.neighbours import COPY_RATIO_TEXT, copy_fraction_by_ratio, is_copy_by_ratio, nearest_two
from pipelines.exact.posterior import DatasetPosterior

# ---------------------------------------------------------------------------------------------- the data
MIN_POINTS = 4


MAX_POINTS = toy2d.POOL_SIZE // 2  # two disjoint subsets of the pool


DEFAULT_LADDER = (4, 16, 64, 256, 1024, 2000)  # the shipped ladder


MIN_TRAIN_STEPS, MAX_TRAIN_STEPS, DEFAULT_TRAIN_STEPS = 100, 20_000, 10_000  # the shipped recipe: 10,000


MIN_SAMPLES, MAX_SAMPLES, DEFAULT_SAMPLES = 8, 1024, 256


MODEL_CONFIG = {"hidden_size": 64, "num_layers": 3}  # the recipe's p_θ: a ToyEpsilonMLP of this size


SAMPLE_STEPS = 1000  # every reverse step of the 1000-step schedule, for both the models and the exact processes


SAMPLE_CHUNK = 256  # samples per sampling call

# A run's seed gives its two models the seeds 2·seed and 2·seed + 1, both within the project's seed range.
MAX_MODEL_SEED = (MAX_SEED - 1) // 2


DEFAULT_OUTPUT = Path(__file__).resolve().parents[2] / "models" / "transition2d"


def check_dataset(dataset, name: str = "dataset") -> str:
    return check_choice(name, dataset, toy2d.DATASETS)


def check_num_points(num_points, name: str = "num_points", integral_floats: bool = False) -> int:
    return check_int(name, num_points, MIN_POINTS, MAX_POINTS, integral_floats, " (points per subset; 2N <= pool)")


def check_train_steps(train_steps, name: str = "train_steps", integral_floats: bool = False) -> int:
    return check_int(name, train_steps, MIN_TRAIN_STEPS, MAX_TRAIN_STEPS, integral_floats, " (optimizer steps)")


def check_num_samples(num_samples, name: str = "num_samples", integral_floats: bool = False) -> int:
    return check_int(name, num_samples, MIN_SAMPLES, MAX_SAMPLES, integral_floats, " (samples per model)")


def check_ladder(ladder, name: str = "ladder") -> tuple[int, ...]:
    """A strictly increasing sequence of N, each in [MIN_POINTS, MAX_POINTS]."""
    if isinstance(ladder, (str, bytes)) or not hasattr(ladder, "__iter__"):
        raise ValueError(f"{name} must be a list of integers in [{MIN_POINTS}, {MAX_POINTS}], got {ladder!r}")
    values = tuple(check_num_points(n, name) for n in ladder)
    if not values or any(b <= a for a, b in zip(values, values[1:])):
        raise ValueError(f"{name} must be a non-empty, strictly increasing list of N, got {list(values)}")
    return values


def disjoint_subsets(dataset: str, num_points: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two disjoint sets of pool indices, N each: the first N and the next N of a seeded permutation of the pool
    (so 2N <= 4,000). Returns (indices_a (N,), indices_b (N,)), int64."""
    check_dataset(dataset)
    num_points = check_num_points(num_points)
    order = torch.randperm(toy2d.POOL_SIZE, generator=torch.Generator().manual_seed(check_seed(seed)))
    return order[:num_points].clone(), order[num_points : 2 * num_points].clone()


def pool(dataset: str) -> torch.Tensor:
    """The whole 4,000-point pool of a data set (4000, 2)."""
    return toy2d.load_points(check_dataset(dataset), toy2d.POOL_SIZE)


@functools.lru_cache(maxsize=None)
def spacing(dataset: str) -> float:
    """The data's spacing: the median over the 4,000-point pool of each point's distance to its nearest other
    point of the pool. One yardstick per data set, the same at every N."""
    d1, d2, _ = nearest_two(pool(dataset), pool(dataset))
    return float(d2.median())  # d1 = 0 is the point itself; d2 is its nearest other point


# ---------------------------------------------------------------------------------------------- sampling
@torch.inference_mode()
def sample_model(model: toy2d.ToyEpsilonMLP, num_samples: int, seed: int) -> torch.Tensor:
    """num_samples points (M, 2) from p_θ (η = 1, every step); chunk k uses a generator seeded seed + k, so two
    models sampled with one seed start from the same x_T and get the same noise at every step."""
    pipe = toy2d.toy_pipeline(model)
    out = []
    for k, start in enumerate(range(0, num_samples, SAMPLE_CHUNK)):
        size = min(SAMPLE_CHUNK, num_samples - start)
        generator = torch.Generator().manual_seed(seed + k)
        x = None
        for record in pipe.denoise(size, generator, SAMPLE_STEPS, eta=1.0, progress=False):
            x = record.sample
        out.append(toy2d.as_points(x).float())
    return torch.cat(out)


@torch.inference_mode()
def sample_exact(points: torch.Tensor, num_samples: int, seed: int) -> torch.Tensor:
    """num_samples points (M, 2) from the exact reverse process of points (N, 2), seeded as `sample_model`."""
    posterior = DatasetPosterior(toy2d.as_images(points), toy2d.toy_scheduler())
    out = []
    for k, start in enumerate(range(0, num_samples, SAMPLE_CHUNK)):
        size = min(SAMPLE_CHUNK, num_samples - start)
        x = posterior.sample(size, torch.Generator().manual_seed(seed + k), SAMPLE_STEPS)
        out.append(toy2d.as_points(x).float())
    return torch.cat(out)


# ---------------------------------------------------------------------------------------------- one N
@dataclass
class TransitionRow:
    """One N of the transition. Distances are L2 in the [-1, 1]² model space; spacing is `spacing(dataset)`.

    copy_fraction_a/b: the fraction of model A's/B's samples that copy a point of its own subset (`is_copy_by_ratio`).
    nearest_median_a/b: the median d1 of those samples to their own subset. pair_distance_median: the median over
    the M noises of ‖x_A − x_B‖, A's and B's samples from the same noise. exact_*: the same for the exact reverse
    processes of A and B. train_seconds_a/b: wall time of each model's training."""

    dataset: str
    num_points: int
    train_steps: int
    seed: int
    num_samples: int
    spacing: float
    copy_fraction_a: float
    copy_fraction_b: float
    nearest_median_a: float
    nearest_median_b: float
    pair_distance_median: float
    exact_copy_fraction_a: float
    exact_copy_fraction_b: float
    exact_pair_distance_median: float
    train_seconds_a: float = math.nan
    train_seconds_b: float = math.nan
    final_loss_a: float = math.nan
    final_loss_b: float = math.nan

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "num_points": self.num_points,
            "train_steps": self.train_steps,
            "seed": self.seed,
            "num_samples": self.num_samples,
            "copy_fraction": {"a": self.copy_fraction_a, "b": self.copy_fraction_b},
            "nearest_distance_median": {"a": self.nearest_median_a, "b": self.nearest_median_b},
            "pair_distance_median": self.pair_distance_median,
            "spacing": self.spacing,
            "pair_distance_over_spacing": self.pair_distance_median / self.spacing,
            "exact": {
                "copy_fraction": {"a": self.exact_copy_fraction_a, "b": self.exact_copy_fraction_b},
                "pair_distance_median": self.exact_pair_distance_median,
                "pair_distance_over_spacing": self.exact_pair_distance_median / self.spacing,
            },
            "train_seconds": {"a": _rounded(self.train_seconds_a), "b": _rounded(self.train_seconds_b)},
            "final_loss": {"a": self.final_loss_a, "b": self.final_loss_b},
        }

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> "TransitionRow":
        exact = row["exact"]
        return cls(
            dataset=row["dataset"],
            num_points=int(row["num_points"]),
            train_steps=int(row["train_steps"]),
            seed=int(row["seed"]),
            num_samples=int(row["num_samples"]),
            spacing=float(row["spacing"]),
            copy_fraction_a=float(row["copy_fraction"]["a"]),
            copy_fraction_b=float(row["copy_fraction"]["b"]),
            nearest_median_a=float(row["nearest_distance_median"]["a"]),
            nearest_median_b=float(row["nearest_distance_median"]["b"]),
            pair_distance_median=float(row["pair_distance_median"]),
            exact_copy_fraction_a=float(exact["copy_fraction"]["a"]),
            exact_copy_fraction_b=float(exact["copy_fraction"]["b"]),
            exact_pair_distance_median=float(exact["pair_distance_median"]),
            train_seconds_a=_or_nan(row.get("train_seconds", {}).get("a")),
            train_seconds_b=_or_nan(row.get("train_seconds", {}).get("b")),
            final_loss_a=_or_nan(row.get("final_loss", {}).get("a")),
            final_loss_b=_or_nan(row.get("final_loss", {}).get("b")),
        )


def _rounded(seconds: float) -> float | None:
    return None if math.isnan(seconds) else round(seconds, 2)


def _or_nan(value) -> float:
    return math.nan if value is None else float(value)


@dataclass
class PairTrainStep:
    """One optimizer step of both models: step = 1 … num_steps, each model's batch loss (ε-MSE, Ho et al. eq. 14)."""

    step: int
    num_steps: int
    loss_a: float
    loss_b: float


@dataclass
class TransitionPair:
    """Two p_θ of one recipe on two disjoint N-point subsets A and B of a data set's pool.

    The recipe: a ToyEpsilonMLP of MODEL_CONFIG, initialised with seed 2·seed (A) and 2·seed + 1 (B), trained by
    `toy2d.train_toy` for train_steps with its defaults (batch 256, Adam, cosine learning rate) and the same
    batch seeds as the initialisation. The subsets: `disjoint_subsets(dataset, N, seed)`."""

    dataset: str
    num_points: int
    train_steps: int = DEFAULT_TRAIN_STEPS
    seed: int = 0
    indices_a: torch.Tensor = field(init=False)
    indices_b: torch.Tensor = field(init=False)
    model_a: toy2d.ToyEpsilonMLP = field(init=False)
    model_b: toy2d.ToyEpsilonMLP = field(init=False)
    train_seconds_a: float = field(init=False, default=math.nan)
    train_seconds_b: float = field(init=False, default=math.nan)
    final_loss_a: float = field(init=False, default=math.nan)
    final_loss_b: float = field(init=False, default=math.nan)

    def __post_init__(self):
        self.dataset = check_dataset(self.dataset)
        self.num_points = check_num_points(self.num_points)
        self.train_steps = check_train_steps(self.train_steps)
        self.seed = check_int("seed", self.seed, 0, MAX_MODEL_SEED, meaning=" (model seeds are 2·seed, 2·seed + 1)")
        self.indices_a, self.indices_b = disjoint_subsets(self.dataset, self.num_points, self.seed)
        self.model_a = toy2d.new_toy_model(2 * self.seed, **MODEL_CONFIG)
        self.model_b = toy2d.new_toy_model(2 * self.seed + 1, **MODEL_CONFIG)

    @property
    def points_a(self) -> torch.Tensor:
        return pool(self.dataset)[self.indices_a]

    @property
    def points_b(self) -> torch.Tensor:
        return pool(self.dataset)[self.indices_b]

    def train(self) -> Iterator[PairTrainStep]:
        """Train both models, one step of each per record (each timed on its own)."""
        runs = [
            toy2d.train_toy(self.model_a, self.points_a, self.train_steps, 2 * self.seed),
            toy2d.train_toy(self.model_b, self.points_b, self.train_steps, 2 * self.seed + 1),
        ]
        seconds, losses = [0.0, 0.0], [math.nan, math.nan]
        for step in range(1, self.train_steps + 1):
            for k, run in enumerate(runs):
                start = time.perf_counter()
                losses[k] = next(run).loss
                seconds[k] += time.perf_counter() - start
            self.train_seconds_a, self.train_seconds_b = seconds
            self.final_loss_a, self.final_loss_b = losses
            yield PairTrainStep(step, self.train_steps, losses[0], losses[1])
        for run in runs:
            run.close()

    def measure(self, num_samples: int = DEFAULT_SAMPLES, seed: int = 0) -> TransitionRow:
        """Sample both models and both exact processes from the same M noises and build the row."""
        num_samples = check_num_samples(num_samples)
        seed = check_seed(seed)
        a, b = self.points_a, self.points_b
        model_a, model_b = sample_model(self.model_a, num_samples, seed), sample_model(self.model_b, num_samples, seed)
        exact_a, exact_b = sample_exact(a, num_samples, seed), sample_exact(b, num_samples, seed)
        d1_a, d2_a, _ = nearest_two(model_a, a)
        d1_b, d2_b, _ = nearest_two(model_b, b)
        return TransitionRow(
            dataset=self.dataset,
            num_points=self.num_points,
            train_steps=self.train_steps,
            seed=self.seed,
            num_samples=num_samples,
            spacing=spacing(self.dataset),
            copy_fraction_a=float(is_copy_by_ratio(d1_a, d2_a).double().mean()),
            copy_fraction_b=float(is_copy_by_ratio(d1_b, d2_b).double().mean()),
            nearest_median_a=float(d1_a.median()),
            nearest_median_b=float(d1_b.median()),
            pair_distance_median=float((model_a - model_b).norm(dim=1).median()),
            exact_copy_fraction_a=copy_fraction_by_ratio(exact_a, a),
            exact_copy_fraction_b=copy_fraction_by_ratio(exact_b, b),
            exact_pair_distance_median=float((exact_a - exact_b).norm(dim=1).median()),
            train_seconds_a=self.train_seconds_a,
            train_seconds_b=self.train_seconds_b,
            final_loss_a=self.final_loss_a,
            final_loss_b=self.final_loss_b,
        )

    def save(self, folder: str | Path) -> None:
        """folder/a and folder/b: each model (config.json + safetensors) and subset.json (its pool indices)."""
        for name, model, indices in (("a", self.model_a, self.indices_a), ("b", self.model_b, self.indices_b)):
            target = Path(folder) / name
            model.save_pretrained(target, safe_serialization=True)
            subset = {"dataset": self.dataset, "seed": self.seed, "pool_indices": indices.tolist()}
            (target / "subset.json").write_text(json.dumps(subset) + "\n")


def load_pair_model(folder: str | Path, which: str) -> tuple[toy2d.ToyEpsilonMLP, torch.Tensor]:
    """A shipped model of a pair (which: "a" or "b") and its subset's pool indices."""
    which = check_choice("which", which, ("a", "b"))
    target = Path(folder) / which
    if not (target / "config.json").is_file():
        raise FileNotFoundError(
            f"{target}: no saved model (config.json); make it with `python -m pipelines.transition`"
        )
    model = toy2d.ToyEpsilonMLP.from_pretrained(target, use_safetensors=True).eval()
    indices = torch.tensor(json.loads((target / "subset.json").read_text())["pool_indices"])
    return model, indices


def pair_folder(output: str | Path, dataset: str, num_points: int) -> Path:
    return Path(output) / dataset / f"n{num_points:04d}"


def run_pair(
    dataset: str,
    num_points: int,
    train_steps: int = DEFAULT_TRAIN_STEPS,
    num_samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    progress: Callable[[float, str], None] | None = None,
    output: str | Path | None = None,
) -> TransitionRow:
    """Train the pair at one N (reporting progress(fraction, message) every 5 %), measure it, save it under
    output/<dataset>/n<NNNN>/ when output is given."""
    pair = TransitionPair(dataset, num_points, train_steps, seed)
    num_samples = check_num_samples(num_samples)
    every = max(1, pair.train_steps // 20)
    for record in pair.train():
        if progress is not None and (record.step % every == 0 or record.step == record.num_steps):
            progress(record.step / record.num_steps, f"N = {num_points}: step {record.step}/{record.num_steps}")
    row = pair.measure(num_samples, seed)
    if output is not None:
        pair.save(pair_folder(output, dataset, pair.num_points))
    return row


def run_ladder(
    dataset: str,
    ladder: Sequence[int] = DEFAULT_LADDER,
    train_steps: int = DEFAULT_TRAIN_STEPS,
    num_samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    progress: Callable[[float, str], None] | None = None,
    output: str | Path | None = None,
) -> list[TransitionRow]:
    """`run_pair` for every N of the ladder, in order; progress(fraction of the whole ladder, message)."""
    ladder = check_ladder(ladder)
    dataset = check_dataset(dataset)
    rows = []
    for k, n in enumerate(ladder):

        def rung(fraction: float, message: str, k: int = k) -> None:
            if progress is not None:
                progress((k + fraction) / len(ladder), message)

        rows.append(run_pair(dataset, n, train_steps, num_samples, seed, rung, output))
    return rows


# ---------------------------------------------------------------------------------------------- the shipped table
TABLE_NAME = "transition.json"


def table_path(dataset: str, output: str | Path | None = None) -> Path:
    return Path(output or DEFAULT_OUTPUT) / check_dataset(dataset) / TABLE_NAME


def load_table(dataset: str, output: str | Path | None = None) -> dict[str, Any]:
    """The shipped table of a data set: {"dataset", "command", "wall_seconds", "recipe", "rows": [row dicts]}."""
    path = table_path(dataset, output)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no transition table for {dataset}; make it with `python -m pipelines.transition --dataset "
            f"{dataset}`"
        )
    return json.loads(path.read_text())


def shipped_datasets(output: str | Path | None = None) -> list[str]:
    """The data sets with a shipped table, in DATASETS order."""
    return [name for name in toy2d.DATASETS if table_path(name, output).is_file()]


# ---------------------------------------------------------------------------------------------- command line
def main(argv: Sequence[str] | None = None) -> None:
    """python -m pipelines.transition --dataset two_moons: train and save the pair at every N of the ladder and
    write <output>/<dataset>/transition.json (the table, the command, the wall time)."""
    from pipelines.checks import OneLineParser

    parser = OneLineParser(description=main.__doc__)
    parser.add_argument("--dataset", default=toy2d.DEFAULT_DATASET, help=f"one of {', '.join(toy2d.DATASETS)}")
    parser.add_argument("--ladder", default=",".join(map(str, DEFAULT_LADDER)), help="comma-separated N")
    parser.add_argument("--train-steps", type=int, default=DEFAULT_TRAIN_STEPS)
    parser.add_argument("--samples", type=int, default=DEFAULT_SAMPLES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT))
    args = parser.parse_args(argv)
    try:
        dataset = check_dataset(args.dataset, "--dataset")
        try:
            ladder = [int(n) for n in args.ladder.split(",")]
        except ValueError:
            raise ValueError(f"--ladder must be comma-separated integers, got {args.ladder!r}") from None
        ladder = check_ladder(ladder, "--ladder")
        train_steps = check_train_steps(args.train_steps, "--train-steps")
        num_samples = check_num_samples(args.samples, "--samples")
        seed = check_int("--seed", args.seed, 0, MAX_MODEL_SEED)
    except ValueError as error:
        parser.error(str(error))
    torch.set_num_threads(1)  # a 64-wide MLP on batches of 256: more threads only contend
    command = "python -m pipelines.transition " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    start = time.perf_counter()

    def report(fraction: float, message: str) -> None:
        if message.endswith(f" {train_steps}/{train_steps}"):  # each pair's end of training
            print(f"[{fraction:6.1%}] {message} ({time.perf_counter() - start:.0f} s)", flush=True)

    rows = run_ladder(dataset, ladder, train_steps, num_samples, seed, report, args.output)
    table = {
        "dataset": dataset,
        "command": command,
        "wall_seconds": round(time.perf_counter() - start, 1),
        "recipe": {
            "model": {"class": "ToyEpsilonMLP", **MODEL_CONFIG},
            "train_steps": train_steps,
            "batch_size": toy2d.TRAIN_BATCH_SIZE,
            "learning_rate": toy2d.TRAIN_LEARNING_RATE,
            "seeds": "model A: init and batches 2·seed; model B: 2·seed + 1; subsets: permutation seeded seed",
            "sampling": f"eta = 1, {SAMPLE_STEPS} steps, samples chunk k seeded seed + k (same noise for A and B)",
            "copy_rule": f"d1 / d2 < {COPY_RATIO_TEXT} against the model's own subset (Gu et al., TMLR 2025)",
            "spacing": "median nearest-other distance within the 4,000-point pool",
        },
        "rows": [row.as_dict() for row in rows],
    }
    path = table_path(dataset, args.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(table, indent=1) + "\n")
    for row in rows:
        d = row.as_dict()
        print(
            f"N={row.num_points:5d} copies A {row.copy_fraction_a:.2f} B {row.copy_fraction_b:.2f} "
            f"pair/spacing {d['pair_distance_over_spacing']:.2f} exact pair/spacing "
            f"{d['exact']['pair_distance_over_spacing']:.2f} "
            f"train {row.train_seconds_a:.0f}+{row.train_seconds_b:.0f} s"
        )
    print(f"wrote {path} in {table['wall_seconds']} s")


if __name__ == "__main__":
    main()
