"""Is a model copying its training images? The memorization report, and its CLI.

For K samples of the model (seeded DDPM sampling): each sample's nearest and second-nearest training image (L2 over
all pixels in model space, `neighbours.nearest_two`) and the project's one copy rule, Gu et al.'s (TMLR 2025):
a sample is a copy when d₁ < d₂ / 3 (`neighbours.is_copy_by_ratio`, COPY_RATIO), with the absolute d₁ kept beside
it. The yardstick: the same two distances for the held-out images (real images the model never saw). How close
does a new image come to the training set, and how often does the rule call a genuinely new image a copy? A model
is flagged when more than FLAG_FRACTION of its samples are copies and that fraction is above the held-out images'.

    python -m pipelines.evaluation memorization --model DIR [--data PATH_OR_ID] [--num_samples 200]
        [--num_inference_steps 100] [--seed 0] [--batch_size 64] [--device cpu|cuda] [--output JSON_PATH]
        [--index none|auto|flat|ivf] [--shards DIR] [--shard_size S] [--index_parts K] [--nprobe P]

writes the report as JSON (default DIR/memorization-{K}-samples-{S}-steps.json) and a PNG beside it (the closest
pairs, sample | nearest training image, and the ratio histogram against the held-out yardstick). The data come
from `training_data.resolve_model_data`: the model folder's record or bundle, else --data; or, with --shards, from
a shard folder read shard by shard (memory does not grow with N). --index searches the neighbours through a FAISS
index (`pipelines.exact.index`) and reports its recall@2 against brute force. Bad flags: one line, exit status 2.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipelines import checks
from pipelines.data.shards import DEFAULT_SHARD_SIZE
from pipelines.exact.index import KINDS as INDEX_KINDS
from pipelines.exact.neighbours import COPY_RATIO, COPY_RATIO_TEXT, is_copy_by_ratio, nearest_two

PROG = "python -m pipelines.evaluation memorization"


DEFAULT_NUM_SAMPLES = 200


MAX_NUM_SAMPLES = 10_000


DEFAULT_STEPS = 100


FLAG_FRACTION = 0.05  # a model is flagged when more of its samples than this (and than held-out images) copy


NUM_PAIRS = 12  # the closest pairs the picture shows


RULE = (
    f"Gu et al. (TMLR 2025): a sample is a copy when d1 / d2 < {COPY_RATIO_TEXT} (d1, d2: L2 distance to the nearest "
    "and second-nearest training image, all pixels in [-1, 1])"
)


def check_num_samples(num_samples, name: str = "num_samples") -> int:
    return checks.check_int(name, num_samples, 1, MAX_NUM_SAMPLES, meaning=" (samples drawn)")


def sample_model(
    pipe,
    num_samples: int,
    num_inference_steps: int = DEFAULT_STEPS,
    seed: int = 0,
    batch_size: int = 64,
    progress: bool = True,
) -> torch.Tensor:
    """`num_samples` DDPM samples (η = 1) of `pipe`, (K, C, H, W) in [-1, 1], batch after batch from one CPU
    generator seeded by `seed`, with a tqdm bar over the batches."""
    from tqdm.auto import tqdm

    from pipelines.ddpm.pipeline import to_unit_range

    num_samples = check_num_samples(num_samples)
    batch_size = checks.check_batch_size(batch_size)
    generator = torch.Generator(device="cpu").manual_seed(checks.check_seed(seed))
    pipe.scheduler.timestep_plan(num_inference_steps=num_inference_steps)  # raises on a bad step count
    sizes = [min(batch_size, num_samples - start) for start in range(0, num_samples, batch_size)]
    batches = []
    for size in tqdm(sizes, desc="sampling", unit="batch", disable=not progress):
        last = None
        for last in pipe.denoise(size, generator, num_inference_steps, 1.0, None, None, progress=False):
            pass
        batches.append(to_unit_range(last.sample).cpu() * 2 - 1)
    return torch.cat(batches)


def quantiles(values) -> dict[str, float]:
    """min, 5 %, 25 %, median, 75 %, 95 %, max of a 1-D set of numbers."""
    array = np.asarray(values, dtype=float)
    points = {"min": 0.0, "q05": 0.05, "q25": 0.25, "median": 0.5, "q75": 0.75, "q95": 0.95, "max": 1.0}
    return {name: float(np.quantile(array, q)) for name, q in points.items()}


def _side(d1: torch.Tensor, d2: torch.Tensor, index: torch.Tensor) -> dict[str, Any]:
    copies = is_copy_by_ratio(d1, d2)
    ratio = d1 / d2.clamp_min(1e-12)
    return {
        "count": len(d1),
        "copies": int(copies.sum()),
        "copy_fraction": float(copies.double().mean()),
        "distinct_training_images_copied": int(index[copies].unique().numel()),
        "nearest_distance": quantiles(d1),
        "ratio": quantiles(ratio),
    }


def _nearest_two(queries: torch.Tensor, train, search) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]:
    """nearest_two by brute force (search None) or through a NeighbourIndex, with what the search reports."""
    if search is None:
        return (*nearest_two(queries, train), {"engine": "brute force (exact)"})
    d1, d2, index, result = search.nearest_two(queries)
    return d1, d2, index, {**result.summary(), "build_seconds": search.build_seconds, "cache": search.cache}


def memorization_report(samples: torch.Tensor, train, heldout: torch.Tensor | None, index=None) -> dict[str, Any]:
    """The report's numbers for samples (K, C, H, W), training images (N ≥ 2, …) and held-out images (M ≥ 0, …),
    all in [-1, 1]: the rule, the samples' side, the held-out yardstick (None when M = 0), per-sample distances,
    the closest pairs, whether the model is flagged, and a verdict sentence. index: a
    `pipelines.exact.index.NeighbourIndex` over train (a tensor or a ShardSet) to search through instead of brute
    force; "neighbour_search" then holds its kind, parts and the recall@2 it measured against brute force."""
    if len(train) < 2:
        raise ValueError(f"the copy rule needs at least 2 training images (a second-nearest), got {len(train)}")
    d1, d2, nearest, search = _nearest_two(samples, train, index)
    report: dict[str, Any] = {
        "rule": {"text": RULE, "copy_ratio": COPY_RATIO},
        "num_train": len(train),
        "num_heldout": 0 if heldout is None else len(heldout),
        "neighbour_search": {"samples": search},
        "samples": _side(d1, d2, nearest),
    }
    if heldout is not None and len(heldout):
        h1, h2, h_index, report["neighbour_search"]["heldout"] = _nearest_two(heldout, train, index)
        report["heldout"] = _side(h1, h2, h_index)
        report["median_distance_ratio"] = float(d1.median() / h1.median().clamp_min(1e-12))
        report["heldout_ratios"] = (h1 / h2.clamp_min(1e-12)).tolist()
    else:
        report["heldout"] = None
        report["heldout_note"] = "no held-out images: the model trained on every image, so there is no yardstick"
    ratio = d1 / d2.clamp_min(1e-12)
    order = torch.argsort(ratio, stable=True)[:NUM_PAIRS]
    report["closest_pairs"] = [
        {
            "sample": int(i),
            "training_index": int(nearest[i]),
            "nearest_distance": float(d1[i]),
            "ratio": float(ratio[i]),
            "copy": bool(is_copy_by_ratio(d1[i], d2[i])),
        }
        for i in order
    ]
    report["per_sample"] = {
        "nearest_distance": d1.tolist(),
        "second_distance": d2.tolist(),
        "nearest_index": nearest.tolist(),
    }
    held_fraction = report["heldout"]["copy_fraction"] if report["heldout"] else 0.0
    fraction = report["samples"]["copy_fraction"]
    report["flagged"] = bool(fraction > FLAG_FRACTION and fraction > held_fraction)
    report["verdict"] = verdict(report)
    return report


def verdict(report: dict[str, Any]) -> str:
    """The report in one or two sentences."""
    s = report["samples"]
    text = (
        f"{s['copies']} of {s['count']} samples ({s['copy_fraction']:.1%}) are copies by Gu et al.'s rule "
        f"(d1/d2 < {COPY_RATIO_TEXT}; median d1 {s['nearest_distance']['median']:.2f}). "
    )
    h = report["heldout"]
    if h:
        text += (
            f"Yardstick: {h['copies']} of {h['count']} held-out images ({h['copy_fraction']:.1%}) pass as copies; "
            f"their median d1 is {h['nearest_distance']['median']:.2f}. "
        )
    else:
        text += "No held-out images, so no yardstick. "
    search = report.get("neighbour_search", {}).get("samples", {})
    if search.get("recall_at_2") is not None:
        text += (
            f"Neighbours through {search['engine']} ({search['num_parts']} part(s)): recall@2 "
            f"{search['recall_at_2']:.3f} against brute force on {search['recall_sample']} samples. "
        )
    if report["flagged"]:
        return text + "The model copies its training images."
    return text + f"Not flagged (flagged above {FLAG_FRACTION:.0%} copies and above the held-out rate)."


# ------------------------------------------------------------------------------------------------------ the CLI
def build_parser() -> argparse.ArgumentParser:
    p = checks.OneLineParser(
        prog=PROG,
        description="Is the model copying its training images? Nearest and second-nearest training images of its "
        "samples, Gu et al.'s copy rule, the held-out yardstick; JSON + PNG.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--model", required=True, help="a model folder (stock diffusers DDPM layout) or Hub id")
    p.add_argument(
        "--data",
        default=None,
        help="its training images: a folder, a 🤗 data set id, or mnist "
        "(default: the model folder's training_data.json or training_images.safetensors)",
    )
    p.add_argument("--num_samples", type=int, default=DEFAULT_NUM_SAMPLES, help=f"K, 1 … {MAX_NUM_SAMPLES:,}")
    p.add_argument("--num_inference_steps", type=int, default=DEFAULT_STEPS, help="DDPM steps (η = 1), 1 … T")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--device", default=None, help="torch device for sampling (default: cuda if available, else cpu)")
    p.add_argument(
        "--output",
        default=None,
        help="JSON path (default: MODEL/memorization-K-samples-S-steps.json); the PNG goes beside it",
    )
    p.add_argument(
        "--index",
        default="none",
        help=f"nearest neighbours by brute force (none) or through a FAISS index: {', '.join(INDEX_KINDS)} "
        "(flat: exact; ivf: compressed, recall@2 reported)",
    )
    p.add_argument(
        "--shards",
        default=None,
        help="a shard folder (pipelines.data.shards) holding the training images, read shard by shard instead of "
        "loading them; written there from --data (an image folder, streamed) when it holds none yet",
    )
    p.add_argument(
        "--shard_size", type=int, default=DEFAULT_SHARD_SIZE, help="images per shard when --shards are written, >= 1"
    )
    p.add_argument("--index_parts", type=int, default=1, help="index parts searched one after another, 1 … shards")
    p.add_argument("--nprobe", type=int, default=None, help="ivf cells visited per query, 1 … nlist (default 8)")
    p.add_argument("--no_progress", action="store_true", help="no progress bar")
    return p


def _fail(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


def default_output_path(model: str, num_samples: int, num_inference_steps: int) -> Path:
    name = f"memorization-{num_samples}-samples-{num_inference_steps}-steps.json"
    folder = Path(model)
    return folder / name if folder.is_dir() else Path(name)


def _check_flags(args) -> None:
    check_num_samples(args.num_samples, "--num_samples")
    checks.check_int("--num_inference_steps", args.num_inference_steps, 1, meaning=" (at most the model's T)")
    checks.check_seed(args.seed, "--seed")
    checks.check_batch_size(args.batch_size, "--batch_size")
    if args.data is not None and not args.data.strip():
        raise ValueError("--data must not be empty (a folder, a 🤗 data set id, or mnist)")
    checks.check_choice("--index", args.index, ("none", *INDEX_KINDS))
    checks.check_int("--shard_size", args.shard_size, 1, meaning=" (images per shard)")
    checks.check_int("--index_parts", args.index_parts, 1, meaning=" (at most the shards)")
    if args.nprobe is not None:
        checks.check_int("--nprobe", args.nprobe, 1, meaning=" (at most the index's cells)")
    if args.shards is not None and not args.shards.strip():
        raise ValueError("--shards must not be empty (a shard folder)")


def _load_model(model: str, device: torch.device):
    """The pipeline on `device` (channels-last weights on a CPU, as app.py samples), loaded safely
    (`load_pipeline`: a folder or a Hub id, safetensors only); diffusers' loading bar silenced."""
    from diffusers.utils import logging as diffusers_logging

    from pipelines.hub.loading import load_pipeline

    bars_were_on = diffusers_logging.is_progress_bar_enabled()
    diffusers_logging.disable_progress_bar()
    try:
        pipe = load_pipeline(model).to(device)
    finally:
        if bars_were_on:
            diffusers_logging.enable_progress_bar()
    if device.type == "cpu":
        pipe.use_channels_last()
    return pipe


def _load(args):
    """(pipe, data) or ValueError naming the flag."""
    from pipelines.data.record import resolve_model_data

    device = args.device if args.device is not None else ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except RuntimeError as error:
        raise ValueError(f"--device {args.device!r} is not a torch device: {checks.first_line(error)}") from None
    try:
        pipe = _load_model(args.model, device)
    except Exception as error:  # a broken or missing folder, offline Hub: one line
        raise ValueError(f"--model {args.model!r}: {checks.first_line(error)}") from None
    T = pipe.scheduler.config.num_train_timesteps
    checks.check_int("--num_inference_steps", args.num_inference_steps, 1, T, meaning=" (the model's T)")
    folder = args.model if Path(args.model).is_dir() else None
    if args.shards is not None:
        return pipe, _shard_data(args, folder, tuple(pipe.image_shape))
    streamed = _streamed_data(args, folder, tuple(pipe.image_shape))
    if streamed is not None:
        return pipe, streamed
    data = resolve_model_data(folder, tuple(pipe.image_shape), args.data, flag="--data")
    return pipe, data


def _streamed_data(args, folder: str | None, image_shape: tuple[int, int, int]):
    """Data beyond the memory bound (record.MEMORY_BOUND_BYTES), as the app reads it: memory-mapped shards written
    once into the cache beside the model (pipelines.data.streamed), one shard held at a time; None when the data
    fit in memory (or their size cannot be told without loading them)."""
    from pipelines.data.record import MEMORY_BOUND_BYTES, ModelData, data_memory_bytes
    from pipelines.data.streamed import source_count, streamed_model_data

    if args.data == "mnist":
        return None
    count = source_count(folder, args.data)
    if count is None or data_memory_bytes(count, image_shape) <= MEMORY_BOUND_BYTES:
        return None
    streamed = streamed_model_data(folder, image_shape, args.data, flag="--data")
    if args.index == "none":  # brute force reads N·D values per sample batch from memory: through an index instead
        args.index = "auto"
    if args.index_parts == 1:  # one shard per part: one shard's values in memory at a time
        args.index_parts = streamed.shards.num_shards
    return ModelData(streamed.shards, streamed.heldout, streamed.record, f"{streamed.description}; {streamed.cache}")


def _shard_data(args, folder: str | None, image_shape: tuple[int, int, int]):
    """ModelData whose train is the --shards ShardSet (written from a --data image folder, streamed, when the
    folder holds no shards yet); DataError naming the flag for a shape or content hash that is not the model's."""
    from pipelines.data.record import ModelData, read_record
    from pipelines.data.shards import MANIFEST_FILE, ShardSet, shards_from_folder

    path = Path(args.shards)
    if not (path / MANIFEST_FILE).is_file():
        if args.data is None or not Path(args.data).is_dir():
            raise ValueError(f"--shards {args.shards!r} holds no shards: pass --data IMAGE_FOLDER to write them there")
        shards_from_folder(args.data, path, image_shape[1], image_shape[0], args.shard_size)
    shards = ShardSet(path)
    if shards.image_shape != image_shape:
        raise ValueError(
            f"--shards {args.shards!r}: the images are {'×'.join(map(str, shards.image_shape))} but the model draws "
            f"{'×'.join(map(str, image_shape))}"
        )
    record = read_record(folder) if folder is not None else None
    if record is not None and record.content_hash and record.num_images == len(shards):
        shards.check_hash(record.content_hash, "--shards")
    description = f"{len(shards):,} training images in shards {args.shards} (held out: {shards.num_heldout:,})"
    return ModelData(shards, shards.heldout(), record, description)


def _neighbour_index(args, data):
    """The NeighbourIndex --index asks for over the training images (None for brute force); a tensor's images are
    first turned into shards beside the model (reused while their content hash is the same)."""
    if args.index == "none":
        return None
    from pipelines.data.shards import ShardSet, shards_for
    from pipelines.exact.index import NeighbourIndex

    train = data.train
    if not isinstance(train, ShardSet) and args.index != "flat":
        model = Path(args.model)
        train = shards_for(
            train, (model if model.is_dir() else Path(".")) / "neighbour-shards", source=data.description
        )
    parts = checks.check_int(
        "--index_parts", args.index_parts, 1, getattr(train, "num_shards", 1), meaning=" (at most the shards)"
    )
    return NeighbourIndex(train, kind=args.index, num_parts=parts, nprobe=args.nprobe)


def run(argv: list[str]) -> int:
    """The CLI. Returns the exit status: 0 done, 2 bad input."""
    start = time.perf_counter()
    args = build_parser().parse_args(argv)
    try:
        _check_flags(args)
        pipe, data = _load(args)
    except ValueError as error:  # DataError is a ValueError
        return _fail(checks.first_line(error))
    sample_start = time.perf_counter()
    samples = sample_model(
        pipe, args.num_samples, args.num_inference_steps, args.seed, args.batch_size, not args.no_progress
    )
    sampling_seconds = time.perf_counter() - sample_start
    try:
        index = _neighbour_index(args, data)
    except ValueError as error:
        return _fail(checks.first_line(error))
    try:
        report = memorization_report(samples, data.train, data.heldout, index=index)
    except ValueError as error:
        return _fail(f"--data: {checks.first_line(error)}")
    output = (
        Path(args.output)
        if args.output
        else default_output_path(args.model, args.num_samples, args.num_inference_steps)
    )
    picture = output.with_suffix(".png")
    report = {
        "command": f"{PROG} {shlex.join(argv)}",
        "model": args.model,
        "data": data.description,
        "image_shape": list(pipe.image_shape),
        "num_samples": args.num_samples,
        "num_inference_steps": args.num_inference_steps,
        "eta": 1.0,
        "seed": args.seed,
        "batch_size": args.batch_size,
        "device": str(pipe.device),
        "sampling_seconds": sampling_seconds,
        "picture": picture.name,
        **report,
    }
    from pipelines.evaluation.plots import plot_memorization

    report["wall_seconds"] = time.perf_counter() - start
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        picture.write_bytes(plot_memorization(report, samples, data.train))
        output.write_text(json.dumps(report, indent=1) + "\n")
    except OSError as error:
        return _fail(f"--output {str(output)!r} could not be written: {error.strerror or error}")
    print(report["verdict"])
    print(f"wrote {output} and {picture} ({report['wall_seconds']:.0f} s)")
    return 0
