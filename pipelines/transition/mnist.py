"""The copy-to-new transition on MNIST: small UNets trained by `train.py` on disjoint blocks of the training digits.

The 2-D experiment of `pipelines.transition` with images (Kadkhodaie et al., ICLR 2024): for each N, model A is
trained on block 0 and model B on block 1 of a seeded permutation of the 4,500 training digits
(`train.py --subset_size N --subset_index 0|1 --subset_seed 0`, init seeds 0 and 1, one recipe for every N:
scripts/train_transition_mnist.sh). Each model folder records its block in `training_data.json`. Both models are
sampled from the same noise (one generator seed per chunk gives both the same x_T and the same z at every step);
so are the exact reverse processes of the two blocks (`DatasetPosterior`), the reference that never agrees.

A sample is a copy by the project's one rule (Gu et al., TMLR 2025): d₁ / d₂ < 1/3 against its own block.
Distances are L2 over the 1,024 pixels in model space ([-1, 1]); the spacing is the median distance from a training
digit to its nearest other training digit.

    python -m pipelines.transition.mnist   # measure the shipped pairs → models/transition-mnist/transition.json
    python -m pipelines.transition.mnist --examples_only   # the tab's side-by-side samples → pair_examples.npz
"""

from __future__ import annotations

import functools
import json
import re
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import torch

from pipelines.checks import check_int, check_seed
from pipelines.data.record import load_recorded_data, read_record
from pipelines.exact.neighbours import COPY_RATIO_TEXT, copy_fraction_by_ratio, is_copy_by_ratio, nearest_two
from pipelines.exact.posterior import DatasetPosterior
from pipelines.transition.ladders import TABLE_NAME, TransitionRow

DATASET = "mnist"


DEFAULT_FOLDER = Path(__file__).resolve().parents[2] / "models" / "transition-mnist"


SAMPLE_STEPS = 100  # respaced DDPM steps (η = 1, β̃) for models and exact processes alike


SAMPLE_CHUNK = 64  # the pipeline's largest batch


MIN_SAMPLES, MAX_SAMPLES, DEFAULT_SAMPLES = 8, 1024, 256


def pair_folders(folder: str | Path = DEFAULT_FOLDER) -> dict[int, tuple[Path, Path]]:
    """{N: (folder of model A, folder of model B)} for every complete pair n<N>-a / n<N>-b under folder."""
    found: dict[int, tuple[Path, Path]] = {}
    for a in sorted(Path(folder).glob("n*-a")):
        match = re.fullmatch(r"n(\d+)-a", a.name)
        b = a.with_name(a.name[:-1] + "b")
        if match and (a / "model_index.json").is_file() and (b / "model_index.json").is_file():
            found[int(match.group(1))] = (a, b)
    return dict(sorted(found.items()))


@functools.lru_cache(maxsize=8)
def load_model(folder: str | Path):
    """A shipped pair model's pipeline and its own training block (N, 1, 32, 32), from its training_data.json."""
    from pipelines.ddpm.pipeline import PosteriorDDPMPipeline

    record = read_record(folder)
    if record is None or record.subset is None:
        raise FileNotFoundError(f"{folder}: no training_data.json with a subset; train it with train.py --subset_size")
    pipe = PosteriorDDPMPipeline.from_pretrained(str(folder))
    pipe.set_progress_bar_config(disable=True)
    return pipe, load_recorded_data(record)[0]


@functools.lru_cache(maxsize=1)
def spacing() -> float:
    """Median distance from one of the 4,500 training digits to its nearest other training digit."""
    from pipelines.data.sources import load_mnist

    digits = load_mnist("train")[0]
    _, d2, _ = nearest_two(digits, digits)  # d1 = 0 is the digit itself
    return float(d2.median())


@torch.inference_mode()
def sample_model(pipe, num_samples: int, seed: int, num_inference_steps: int = SAMPLE_STEPS) -> torch.Tensor:
    """num_samples images (M, 1, 32, 32) in [-1, 1]; chunk k uses a generator seeded seed + k, so two models of one
    shape sampled with one seed start from the same x_T and get the same z at every step."""
    out = []
    for k, start in enumerate(range(0, num_samples, SAMPLE_CHUNK)):
        size = min(SAMPLE_CHUNK, num_samples - start)
        x = None
        generator = torch.Generator().manual_seed(seed + k)
        for record in pipe.denoise(size, generator, num_inference_steps, eta=1.0, progress=False):
            x = record.sample
        out.append(x.float())
    return torch.cat(out)


@torch.inference_mode()
def sample_exact(images: torch.Tensor, scheduler, num_samples: int, seed: int, steps: int = SAMPLE_STEPS):
    """num_samples images from the exact reverse process over `images`, seeded as `sample_model`."""
    posterior = DatasetPosterior(images, scheduler)
    out = []
    for k, start in enumerate(range(0, num_samples, SAMPLE_CHUNK)):
        size = min(SAMPLE_CHUNK, num_samples - start)
        out.append(posterior.sample(size, torch.Generator().manual_seed(seed + k), steps).float())
    return torch.cat(out)


def _train_seconds(folder: Path) -> float:
    summary = folder / "training_summary.json"
    return float(json.loads(summary.read_text())["seconds_this_run"]) if summary.is_file() else float("nan")


def measure_pair(
    folder_a: str | Path, folder_b: str | Path, num_samples: int = DEFAULT_SAMPLES, seed: int = 0
) -> dict[str, Any]:
    """One row of the table (as `TransitionRow.as_dict()`, dataset "mnist") for the pair A, B."""
    num_samples = check_int("num_samples", num_samples, MIN_SAMPLES, MAX_SAMPLES)
    seed = check_seed(seed)
    (pipe_a, data_a), (pipe_b, data_b) = load_model(str(folder_a)), load_model(str(folder_b))
    a, b = sample_model(pipe_a, num_samples, seed), sample_model(pipe_b, num_samples, seed)
    exact_a = sample_exact(data_a, pipe_a.scheduler, num_samples, seed)
    exact_b = sample_exact(data_b, pipe_b.scheduler, num_samples, seed)
    d1_a, d2_a, _ = nearest_two(a, data_a)
    d1_b, d2_b, _ = nearest_two(b, data_b)
    steps = json.loads((Path(folder_a) / "training_summary.json").read_text())["global_step"]
    row = TransitionRow(
        dataset=DATASET,
        num_points=len(data_a),
        train_steps=int(steps),
        seed=seed,
        num_samples=num_samples,
        spacing=spacing(),
        copy_fraction_a=float(is_copy_by_ratio(d1_a, d2_a).double().mean()),
        copy_fraction_b=float(is_copy_by_ratio(d1_b, d2_b).double().mean()),
        nearest_median_a=float(d1_a.median()),
        nearest_median_b=float(d1_b.median()),
        pair_distance_median=float((a - b).flatten(1).norm(dim=1).median()),
        exact_copy_fraction_a=copy_fraction_by_ratio(exact_a, data_a),
        exact_copy_fraction_b=copy_fraction_by_ratio(exact_b, data_b),
        exact_pair_distance_median=float((exact_a - exact_b).flatten(1).norm(dim=1).median()),
        train_seconds_a=_train_seconds(Path(folder_a)),
        train_seconds_b=_train_seconds(Path(folder_b)),
    ).as_dict()
    row["final_loss"] = {"a": None, "b": None}  # train.py logs its losses, it does not record a final one
    return row


@torch.inference_mode()
def pair_examples(folder_a: str | Path, folder_b: str | Path, count: int = 6, seed: int = 0) -> dict[str, Any]:
    """The first `count` same-noise samples of A and B, each with its nearest digit of its own block and d₁/d₂."""
    count = check_int("count", count, 1, SAMPLE_CHUNK)
    out: dict[str, Any] = {}
    for name, folder in (("a", folder_a), ("b", folder_b)):
        pipe, data = load_model(str(folder))
        samples = sample_model(pipe, count, seed)
        d1, d2, index = nearest_two(samples, data)
        out[name] = {"samples": samples, "nearest": data[index], "ratio": (d1 / d2).tolist(), "distance": d1.tolist()}
    return out


EXAMPLES_NAME = "pair_examples.npz"  # the side-by-side view's samples of every shipped pair, recorded once


EXAMPLES_COUNT = 6  # same-noise columns per pair in the record (the tab's view)


def write_pair_examples(folder: str | Path = DEFAULT_FOLDER, count: int = EXAMPLES_COUNT, seed: int = 0) -> Path:
    """Record `pair_examples(A, B, count, seed)` of every shipped pair into <folder>/pair_examples.npz (images as
    float16, d₁/d₂ and d₁ as computed from the float32 samples), so that the tab draws them without sampling: the
    sampler is deterministic for a fixed seed on the CPU, so the record is what a live re-sample returns."""
    import numpy as np

    count = check_int("count", count, 1, SAMPLE_CHUNK)
    seed = check_seed(seed)
    arrays: dict[str, Any] = {}
    start = time.perf_counter()
    for n, (a, b) in pair_folders(folder).items():
        examples = pair_examples(a, b, count, seed)
        for name, part in examples.items():
            for key in ("samples", "nearest"):
                arrays[f"n{n}_{name}_{key}"] = part[key].numpy().astype(np.float16)
            for key in ("ratio", "distance"):
                arrays[f"n{n}_{name}_{key}"] = np.asarray(part[key], dtype=np.float64)
    meta = {"count": count, "seed": seed, "steps": SAMPLE_STEPS, "seconds": round(time.perf_counter() - start, 1)}
    arrays["meta"] = np.asarray(json.dumps(meta))
    path = Path(folder) / EXAMPLES_NAME
    np.savez_compressed(path, **arrays)
    return path


def load_pair_examples(num_points: int, folder: str | Path = DEFAULT_FOLDER) -> tuple[dict[str, Any], dict] | None:
    """The recorded `pair_examples` of the pair at N and the record's {count, seed, steps, seconds}; None when the
    folder has no record or the record has no pair at N."""
    import numpy as np

    path = Path(folder) / EXAMPLES_NAME
    if not path.is_file():
        return None
    with np.load(path) as record:
        if f"n{num_points}_a_samples" not in record:
            return None
        meta = json.loads(str(record["meta"]))
        examples = {
            name: {
                "samples": torch.from_numpy(record[f"n{num_points}_{name}_samples"].astype(np.float32)),
                "nearest": torch.from_numpy(record[f"n{num_points}_{name}_nearest"].astype(np.float32)),
                "ratio": record[f"n{num_points}_{name}_ratio"].tolist(),
                "distance": record[f"n{num_points}_{name}_distance"].tolist(),
            }
            for name in ("a", "b")
        }
    return examples, meta


def load_table(folder: str | Path = DEFAULT_FOLDER) -> dict[str, Any]:
    path = Path(folder) / TABLE_NAME
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no MNIST transition table; make it with `python -m pipelines.transition.mnist`"
        )
    return json.loads(path.read_text())


def main(argv: Sequence[str] | None = None) -> None:
    """python -m pipelines.transition.mnist: sample every shipped pair and both exact processes from the same
    noises and write <folder>/transition.json (the table, the command, the recipe, the training wall times)."""
    from pipelines.checks import OneLineParser

    parser = OneLineParser(prog="python -m pipelines.transition.mnist", description=main.__doc__)
    parser.add_argument("--folder", default=str(DEFAULT_FOLDER), help="holds n<N>-a and n<N>-b model folders")
    parser.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, help=f"M, in [{MIN_SAMPLES}, {MAX_SAMPLES}]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--examples_only",
        action="store_true",
        help=f"only record the tab's side-by-side samples of every pair (--seed) into <folder>/{EXAMPLES_NAME}",
    )
    args = parser.parse_args(argv)
    try:
        num_samples = check_int("--samples", args.samples, MIN_SAMPLES, MAX_SAMPLES)
        seed = check_seed(args.seed, "--seed")
        pairs = pair_folders(args.folder)
        if not pairs:
            raise ValueError(f"--folder {args.folder!r} holds no complete pair n<N>-a, n<N>-b")
    except ValueError as error:
        parser.error(str(error))
    if args.examples_only:
        path = write_pair_examples(args.folder, EXAMPLES_COUNT, seed)
        print(f"wrote {path}")
        return
    command = ("python -m pipelines.transition.mnist " + shlex.join(argv if argv is not None else sys.argv[1:])).strip()
    start = time.perf_counter()
    rows = []
    for n, (a, b) in pairs.items():
        rows.append(measure_pair(a, b, num_samples, seed))
        row = rows[-1]
        print(
            f"N={n:5d} copies A {row['copy_fraction']['a']:.2f} B {row['copy_fraction']['b']:.2f} "
            f"pair/spacing {row['pair_distance_over_spacing']:.2f} exact pair/spacing "
            f"{row['exact']['pair_distance_over_spacing']:.2f} ({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
    recipe = json.loads((next(iter(pairs.values()))[0] / "training_summary.json").read_text())["config"]
    table = {
        "dataset": DATASET,
        "command": command,
        "wall_seconds": round(time.perf_counter() - start, 1),
        "recipe": {
            "training": "bash scripts/train_transition_mnist.sh (train.py, one recipe for every N)",
            "model": {"block_out_channels": recipe["block_out_channels"], "layers_per_block": 1, "attention": False},
            "train_steps": recipe["max_train_steps"],
            "batch_size": recipe["train_batch_size"],
            "learning_rate": recipe["learning_rate"],
            "seeds": "model A: init seed 0, block 0; model B: init seed 1, block 1; blocks: permutation seed 0",
            "sampling": f"eta = 1, {SAMPLE_STEPS} respaced steps, chunk k of 64 seeded seed + k (same noise)",
            "copy_rule": f"d1 / d2 < {COPY_RATIO_TEXT} against the model's own block (Gu et al., TMLR 2025)",
            "spacing": "median nearest-other distance within the 4,500 training digits",
        },
        "rows": rows,
    }
    path = Path(args.folder) / TABLE_NAME
    path.write_text(json.dumps(table, indent=1) + "\n")
    print(f"wrote {path} in {table['wall_seconds']} s")


if __name__ == "__main__":
    main()
