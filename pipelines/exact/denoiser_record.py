"""The shipped record of the network against the local (LS), the equivariant local (ELS) and the exact denoiser.

Along the network's own run from one seed (`denoisers.model_run`), per step: the median over the images of r² of
each denoiser's x̂_0 against the network's (`denoisers.r_squared`); per band of t the median over the band's
(step, image) values; then every sampler's samples from the same seed, each judged by the project's copy rule
against the data its denoiser holds (d₁, d₂, the nearest index, the copy flag); and what one call of each denoiser
costs. The local machines use the model's calibrated patch table (`calibration.load_patch_table`); LS and ELS
compute in float32 (which agrees with float64 to ~10⁻⁶), the exact posterior in float64.

ELS compares every pixel with every patch of every training image, so it is costly (local.py's docstring): it may
run on a seeded random subset of the training images (its copy verdict is then against that subset, the data it
samples from, and against the full set as well) and on the first `els_batch` images of the network's run.

    python -m pipelines.exact.denoisers --model models/ddpm-mnist [--seed 0] [--batch-size 16] [--steps 40]
        [--els-subset 300] [--els-batch 8] [--els-seed 0]

writes FOLDER/denoisers.json (with the command and the wall time) and FOLDER/denoisers_samples.npz (every sampler's
samples as uint8 (B, C, H, W) arrays: model, local, exact, equivariant).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from pipelines.checks import check_batch_size, check_int, check_seed
from pipelines.exact.local import LocalPosterior
from pipelines.exact.neighbours import COPY_RATIO, COPY_RULE, copy_summary, is_copy_by_ratio, nearest_two
from pipelines.exact.posterior import DatasetPosterior
from pipelines.exact.trajectory import DEFAULT_BAND_EDGES, ModelRun, model_run, r2_along

RECORD_FILE = "denoisers.json"
SAMPLES_FILE = "denoisers_samples.npz"


# The denoisers of the record, in the order its tables list them, and what each is.
DENOISERS = {
    "local": "LS machine: posterior over training patches at the same position (calibrated patch size per t)",
    "equivariant": "ELS machine: posterior over training patches at every position (calibrated patch size per t)",
    "exact": "the exact posterior E[x0 | x_t] over the whole training images (DatasetPosterior)",
}


def first_images(run: ModelRun, count: int) -> ModelRun:
    """The same run restricted to its first `count` images (1 ≤ count ≤ B)."""
    count = check_int("count", count, 1, run.x_t.shape[1])
    return replace(run, x_t=run.x_t[:, :count], x0=run.x0[:, :count], sample=run.sample[:count])


def els_subset(num_images: int, size: int, seed: int) -> np.ndarray:
    """`size` distinct indices in [0, num_images), sorted, drawn with a generator seeded `seed` (all when size is 0
    or ≥ num_images)."""
    if size <= 0 or size >= num_images:
        return np.arange(num_images)
    order = torch.randperm(num_images, generator=torch.Generator().manual_seed(seed))
    return np.sort(order[:size].numpy())


def _to_uint8(images: torch.Tensor) -> np.ndarray:
    return ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()


def _median(values: np.ndarray) -> float | None:
    values = np.asarray(values, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    return float(np.median(values)) if len(values) else None


def _verdict(samples: torch.Tensor, data: torch.Tensor) -> dict[str, Any]:
    """The copy rule for samples (B, …) against data (N ≥ 2, …): per sample d₁, d₂, d₁/d₂, the nearest index and the
    copy flag, and the counts."""
    d1, d2, index = nearest_two(samples.double(), data.double())
    return {
        "nearest_distances": [float(v) for v in d1],
        "second_distances": [float(v) for v in d2],
        "ratios": [float(a / b) if b > 0 else None for a, b in zip(d1.tolist(), d2.tolist())],
        "nearest_indices": [int(i) for i in index],
        "copy": [bool(c) for c in is_copy_by_ratio(d1, d2)],
        **copy_summary(d1, d2, index),
    }


def _timed(function, *args):
    start = time.perf_counter()
    value = function(*args)
    return value, time.perf_counter() - start


def _bands(timesteps: np.ndarray, r2: dict[str, np.ndarray], edges: Sequence[int]) -> list[dict[str, Any]]:
    rows = []
    for low, high in zip(edges, edges[1:]):
        inside = (timesteps >= low) & (timesteps < high)
        row = {"low": int(low), "high": int(high), "steps": int(inside.sum())}
        for name, values in r2.items():
            row[name] = _median(values[inside]) if inside.any() else None
        rows.append(row)
    return rows


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="denoisers", unit="stage", disable=not enabled)


@torch.inference_mode()
def record_denoisers(
    pipe,
    data: torch.Tensor,
    patch_table: Sequence[int],
    seed: int = 0,
    batch_size: int = 16,
    num_inference_steps: int = 40,
    els_subset_size: int = 300,
    els_batch: int = 8,
    els_seed: int = 0,
    progress: bool = False,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The record (a JSON-safe dict; see the module's docstring) and the samples ({"model", "local", "exact",
    "equivariant"} → uint8 (B, C, H, W)). pipe: a `PosteriorDDPMPipeline`; data: (N ≥ 2, C, H, W) in [-1, 1], its
    training images; patch_table: T odd patch sizes (one per t). els_subset_size: training images ELS holds (0 or ≥ N:
    all);
    els_batch: images of the run ELS is compared on and samples (1 ≤ els_batch ≤ batch_size)."""
    batch_size = check_batch_size(batch_size)
    els_batch = check_int("els_batch", els_batch, 1, batch_size)
    els_subset_size = check_int("els_subset_size", els_subset_size, 0)
    scheduler = pipe.scheduler
    local = LocalPosterior(data, patch_table, scheduler, dtype=torch.float32)
    exact = DatasetPosterior(data, scheduler)
    subset = els_subset(len(data), els_subset_size, check_seed(els_seed, "els_seed"))
    els = LocalPosterior(local.data[torch.from_numpy(subset)], patch_table, scheduler, True, torch.float32)
    bar = _progress(7, progress)
    run = model_run(pipe, batch_size, seed, num_inference_steps)
    bar.update()
    K = run.num_steps
    r2, seconds = {}, {}
    for name, denoiser, on in (
        ("local", local, run),
        ("exact", exact, run),
        ("equivariant", els, first_images(run, els_batch)),
    ):
        r2[name], wall = _timed(r2_along, on, denoiser)
        seconds[name] = {"per_call": wall / K, "batch": int(r2[name].shape[1]), "calls": K}
        bar.update()
    samples = {"model": run.sample}
    for name, denoiser, count in (
        ("local", local, batch_size),
        ("exact", exact, batch_size),
        ("equivariant", els, els_batch),
    ):
        samples[name], wall = _timed(denoiser.sample, count, torch.Generator().manual_seed(run.seed), K)
        seconds[name]["sample_seconds"] = wall
        bar.update()
    bar.close()
    seconds["model"] = {"per_call": run.seconds / K, "batch": batch_size, "calls": K, "sample_seconds": run.seconds}
    verdicts = {name: _verdict(samples[name], exact.data) for name in ("model", "local", "exact")}
    verdicts["equivariant"] = {**_verdict(samples["equivariant"], els.data), "against": "the ELS subset"}
    verdicts["equivariant_against_all"] = _verdict(samples["equivariant"], exact.data)
    record = _record(run, r2, verdicts, seconds, local, subset, els_batch)
    return record, {name: _to_uint8(images) for name, images in samples.items()}


def _record(run, r2, verdicts, seconds, local, subset, els_batch) -> dict[str, Any]:
    ts = run.timesteps
    per_step = {name: [_median(row) for row in values] for name, values in r2.items()}
    same = {f"{name}_first_{els_batch}": v[:, :els_batch] for name, v in r2.items() if name != "equivariant"}
    return {
        "seed": run.seed,
        "num_inference_steps": run.num_steps,
        "batch_size": int(run.x_t.shape[1]),
        "num_images": local.num_images,
        "denoisers": DENOISERS,
        "dtypes": {"local": "float32", "equivariant": "float32", "exact": "float64"},
        "equivariant_subset": {
            "size": int(len(subset)),
            "of": local.num_images,
            "indices": [int(i) for i in subset],
            "images_compared": els_batch,
            "note": f"ELS holds {len(subset)} of the {local.num_images} training images (a seeded random subset) "
            f"and is compared on the first {els_batch} images of the run; its copy verdict is against that subset",
        },
        "timesteps": [int(t) for t in ts],
        "patch_sizes": [local.patch_size_at(int(t)) for t in ts],
        "r2_definition": "1 - sum (x0_hat - x0_model)^2 / sum (x0_model - mean x0_model)^2 per image, at the "
        "model's own x_t (eta = 1); per step the median over images, per band the median over its steps and images",
        "r2_median": per_step,
        "r2": {
            name: [[float(v) if np.isfinite(v) else None for v in row] for row in values] for name, values in r2.items()
        },
        "bands": _bands(ts, r2, DEFAULT_BAND_EDGES),
        "bands_same_images": _bands(ts, {**same, "equivariant": r2["equivariant"]}, DEFAULT_BAND_EDGES),
        "samplers": verdicts,
        "copy_rule": COPY_RULE,
        "copy_ratio": COPY_RATIO,
        "seconds": seconds,
        "threads": torch.get_num_threads(),
    }


def save_record(folder: str | os.PathLike, record: dict, samples: dict, command: str, wall: float) -> Path:
    """FOLDER/denoisers.json (the command, the wall time, the record) and FOLDER/denoisers_samples.npz."""
    folder = Path(folder)
    np.savez_compressed(folder / SAMPLES_FILE, **samples)
    path = folder / RECORD_FILE
    load = list(os.getloadavg()) if hasattr(os, "getloadavg") else None  # other jobs on the cores lengthen every time
    body = {"command": command, "wall_seconds": round(float(wall), 1), "load_average_at_end": load, **record}
    body["samples_file"] = SAMPLES_FILE
    path.write_text(json.dumps(body, indent=1) + "\n")
    return path


def load_samples(folder: str | os.PathLike) -> dict[str, np.ndarray] | None:
    """The samples FOLDER/denoisers_samples.npz holds ({"model", "local", "exact", "equivariant"} → uint8 (B, C, H,
    W)), or None when there is no such file."""
    path = Path(folder) / SAMPLES_FILE
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


# ---------------------------------------------------------------------------------------------- the CLI
def _build_parser():
    from pipelines.checks import OneLineParser, non_empty

    p = OneLineParser(
        prog="python -m pipelines.exact.denoisers",
        description=f"The network against the LS, ELS and exact denoisers; writes FOLDER/{RECORD_FILE}.",
    )
    p.add_argument("--model", required=True, type=non_empty, help="a DDPM model folder with local_patch_sizes.json")
    p.add_argument("--seed", type=int, default=0, help="the seed of the network's run and of every sampler")
    p.add_argument("--batch-size", type=int, default=16, help="images of the run (UNet, LS, exact)")
    p.add_argument("--steps", type=int, default=40, help="sampling steps")
    p.add_argument("--els-subset", type=int, default=300, help="training images ELS holds (0 or more than N: all)")
    p.add_argument("--els-batch", type=int, default=8, help="images ELS is compared on and samples")
    p.add_argument("--els-seed", type=int, default=0, help="the seed of ELS's random subset")
    return p


def _check_flags(parser, args) -> None:
    try:
        check_seed(args.seed, "--seed")
        check_int("--batch-size", args.batch_size, 1, 4096)
        check_int("--steps", args.steps, 1, 1000, meaning=" (sampling steps)")
        check_int("--els-subset", args.els_subset, 0, 10**7, meaning=" (0: all training images)")
        check_int("--els-batch", args.els_batch, 1, args.batch_size, meaning=" (at most --batch-size)")
        check_seed(args.els_seed, "--els-seed")
    except ValueError as error:
        parser.error(str(error))


def main(argv: Sequence[str] | None = None) -> int:
    """The CLI: 0 done, 2 bad input (one line)."""
    from pipelines.exact.calibration import PATCH_TABLE_FILE, load_patch_table, model_for_cli

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _build_parser()
    args = parser.parse_args(argv)
    _check_flags(parser, args)
    pipe, data, T = model_for_cli(parser, args)
    try:
        table = load_patch_table(args.model, T)
    except ValueError as error:
        parser.error(str(error))
    if table is None:
        parser.error(f"--model {args.model!r} has no {PATCH_TABLE_FILE}: run python -m pipelines.exact.calibration")
    env = " ".join(f"{k}={os.environ[k]}" for k in ("OMP_NUM_THREADS",) if k in os.environ)
    command = (env + " " if env else "") + "python -m pipelines.exact.denoisers " + shlex.join(argv)
    start = time.perf_counter()
    record, samples = record_denoisers(
        pipe, data, table, args.seed, args.batch_size, args.steps, args.els_subset, args.els_batch, args.els_seed, True
    )
    wall = time.perf_counter() - start
    path = save_record(args.model, record, samples, command, wall)
    for row in record["bands"]:
        if row["steps"]:
            cells = " | ".join(f"{name} {_fmt(row[name])}" for name in DENOISERS)
            print(f"t∈[{row['low']},{row['high']}) {row['steps']:3d} steps: r² {cells}")
    for name, verdict in record["samplers"].items():
        print(f"{name}: {verdict['copies']} copies of {len(verdict['copy'])}")
    print(f"wrote {path} in {wall:.1f} s")
    return 0


def _fmt(value: float | None) -> str:
    return "  n/a" if value is None else f"{value:.3f}"
