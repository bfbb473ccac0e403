"""Calibrating the local denoiser's patch size per timestep against the trained network (Kamb & Ganguli calibrate
one P per noise level).

Along the network's own trajectories (`denoisers.model_trajectory`: x_T drawn as `pipe.denoise` draws it, then
each step's sample, η = 1), at each step's t and for each candidate P, the median over the images of

    r² = 1 − Σ_p (x̂_0^P − x̂_0^net)² / Σ_p (x̂_0^net − mean x̂_0^net)²      (`denoisers.r_squared`, per image)

where x̂_0^P is `LocalPosterior(data, P).predict_x0(x_t, t)` (the LS machine) and x̂_0^net the network's x̂_0. The
best P of a step is the candidate with the highest median r² (the smaller P on a tie). The table for all T
timesteps gives each t the best P of the NEAREST calibrated step (|t − t_k| smallest; on a tie the smaller t_k),
so a step's choice covers the timesteps halfway to its neighbours. For comparison, the exact posterior's median r²
at each step (the whole-image window: `DatasetPosterior` over the same data).

    python -m pipelines.exact.calibration --model models/ddpm-mnist [--steps 40] [--seeds 0] [--batch-size 4]
        [--candidates 1,3,5,7,9,11,13,15]

writes FOLDER/local_patch_sizes.json (the calibration, the command, the wall time), over the images the model was
trained on (its training_data.json, as the app loads them; the mnist train digits when it records none);
`load_patch_table` reads its table back, a sequence of T odd integers for `LocalPosterior(data, table)`.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from pipelines.checks import check_batch_size, check_int, check_seed, first_line, is_int, short_repr
from pipelines.exact.local import LocalPosterior
from pipelines.exact.trajectory import DEFAULT_BAND_EDGES, _check_edges, model_trajectory, r_squared

PATCH_TABLE_FILE = "local_patch_sizes.json"


DEFAULT_CANDIDATES = (1, 3, 5, 7, 9, 11, 13, 15)


R2_DEFINITION = (
    "median over images of 1 - sum (x0_local(P) - x0_model)^2 / sum (x0_model - mean x0_model)^2, at the model's own "
    "x_t (eta = 1)"
)


TABLE_RULE = "each t in [0, T) takes the best P of the nearest calibrated step (on a tie, the smaller t_k)"


def check_candidates(candidates, largest: int, name: str = "candidates") -> tuple[int, ...]:
    """Distinct odd integers in [1, largest], sorted."""
    message = f"{name} must be distinct odd integers in [1, {largest}], got {short_repr(candidates)}"
    if isinstance(candidates, (str, bytes)) or not hasattr(candidates, "__iter__"):
        raise ValueError(message)
    values = list(candidates)
    if not values or not all(is_int(v) and 1 <= v <= largest and v % 2 == 1 for v in values):
        raise ValueError(message)
    if len(set(int(v) for v in values)) != len(values):
        raise ValueError(message)
    return tuple(sorted(int(v) for v in values))


def nearest_table(timesteps: Sequence[int], best: Sequence[int], T: int) -> list[int]:
    """The per-timestep table (T,): each t takes best[k] of the calibrated step t_k nearest to it (on a tie, the
    smaller t_k)."""
    steps = np.asarray(timesteps, dtype=np.int64)
    order = np.argsort(steps, kind="stable")  # ascending t: argmin then picks the smaller t_k on a tie
    distance = np.abs(np.arange(T)[:, None] - steps[order][None, :])
    return [int(best[order[k]]) for k in distance.argmin(1)]


@dataclass
class PatchCalibration:
    """K calibrated steps, the candidates P. timesteps: (K,) each step's t (descending, as sampled); r2: (K, len(
    candidates)) the median r² of each candidate; r2_exact: (K,) the exact posterior's; best: (K,) the chosen P
    per step; table: (T,) the chosen P per timestep (see `TABLE_RULE`)."""

    timesteps: np.ndarray
    candidates: tuple[int, ...]
    r2: np.ndarray
    r2_exact: np.ndarray
    best: np.ndarray
    table: list[int]
    num_inference_steps: int
    seeds: tuple[int, ...]
    batch_size: int
    num_images: int

    @property
    def num_train_timesteps(self) -> int:
        return len(self.table)

    def best_r2(self) -> np.ndarray:
        """(K,) the median r² of each step's chosen P."""
        columns = [self.candidates.index(int(p)) for p in self.best]
        return self.r2[np.arange(len(self.best)), columns]

    def bands(self, edges: Sequence[int] = DEFAULT_BAND_EDGES) -> list[dict[str, Any]]:
        """Per band [low, high) of t: the steps in it, the (lower) median of their best P, the median of their best
        r², the median of the exact posterior's r² (None for a band without steps)."""
        edges = _check_edges(edges, self.num_train_timesteps)
        best_r2, rows = self.best_r2(), []
        for low, high in zip(edges, edges[1:]):
            inside = (self.timesteps >= low) & (self.timesteps < high)
            row = {"low": low, "high": high, "steps": int(inside.sum()), "best": None, "r2_best": None}
            row["r2_exact"] = None
            if inside.any():
                chosen = np.sort(self.best[inside])
                row["best"] = int(chosen[(len(chosen) - 1) // 2])
                row["r2_best"] = _median(best_r2[inside])
                row["r2_exact"] = _median(self.r2_exact[inside])
            rows.append(row)
        return rows

    def as_dict(self) -> dict[str, Any]:
        return {
            "num_inference_steps": self.num_inference_steps,
            "seeds": list(self.seeds),
            "batch_size": self.batch_size,
            "num_images": self.num_images,
            "num_train_timesteps": self.num_train_timesteps,
            "candidates": list(self.candidates),
            "timesteps": [int(t) for t in self.timesteps],
            "r2": [[_finite(v) for v in row] for row in self.r2],
            "r2_exact": [_finite(v) for v in self.r2_exact],
            "best": [int(p) for p in self.best],
            "r2_definition": R2_DEFINITION,
            "table_rule": TABLE_RULE,
            "bands": self.bands(),
            "table": list(self.table),
        }


def _finite(value) -> float | None:
    return float(value) if np.isfinite(value) else None


def _median(values: np.ndarray) -> float | None:
    values = values[np.isfinite(values)]
    return float(np.median(values)) if len(values) else None


def _best(r2: np.ndarray, candidates: Sequence[int]) -> np.ndarray:
    """Per row the candidate with the highest r² (NaN counts as −∞; the first, i.e. smallest P, on a tie)."""
    filled = np.where(np.isfinite(r2), r2, -np.inf)
    return np.asarray(candidates, dtype=np.int64)[filled.argmax(1)]


@torch.inference_mode()
def calibrate_patch_sizes(
    pipe,
    data: torch.Tensor,
    candidates: Sequence[int] = DEFAULT_CANDIDATES,
    num_inference_steps: int = 40,
    seeds: Sequence[int] = (0,),
    batch_size: int = 4,
) -> PatchCalibration:
    """The best patch size per step along the network's trajectories (pipe: a `PosteriorDDPMPipeline`; data:
    (N, C, H, W) in [-1, 1], its training images), then per timestep; see the module's docstring. One
    `LocalPosterior` per candidate, built once over the same data."""
    data = torch.as_tensor(data)
    if data.ndim != 4 or tuple(data.shape[1:]) != tuple(pipe.image_shape) or len(data) < 1:
        raise ValueError(f"data must be (N, *{tuple(pipe.image_shape)}) training images, got {tuple(data.shape)}")
    T = int(pipe.scheduler.config.num_train_timesteps)
    steps = check_int("num_inference_steps", num_inference_steps, 1, T)
    batch_size = check_batch_size(batch_size)
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__") or not list(seeds):
        raise ValueError(f"seeds must be a non-empty list of seeds, got {short_repr(seeds)}")
    seeds = tuple(check_seed(s) for s in seeds)
    first = LocalPosterior(data, 1, pipe.scheduler)
    candidates = check_candidates(candidates, first.max_patch_size)
    locals_ = [LocalPosterior(first.data, p, pipe.scheduler) for p in candidates]
    exact = first.exact
    per_seed_r2, per_seed_exact, timesteps = [], [], None
    for seed in seeds:
        ts, r2, r2_exact = [], [], []
        for t, x_t, target, _ in model_trajectory(pipe, batch_size, seed, steps):
            ts.append(t)
            r2.append(torch.stack([r_squared(local.predict_x0(x_t, t), target) for local in locals_], 1))
            r2_exact.append(r_squared(exact.predict_x0(x_t, t), target))
        timesteps = np.array(ts)
        per_seed_r2.append(torch.stack(r2).numpy())  # (K, B, candidates)
        per_seed_exact.append(torch.stack(r2_exact).numpy())  # (K, B)
    r2 = np.nanmedian(np.concatenate(per_seed_r2, 1), axis=1)  # over the images of every seed
    r2_exact = np.nanmedian(np.concatenate(per_seed_exact, 1), axis=1)
    best = _best(r2, candidates)
    return PatchCalibration(
        timesteps=timesteps,
        candidates=candidates,
        r2=r2,
        r2_exact=r2_exact,
        best=best,
        table=nearest_table(timesteps, best, T),
        num_inference_steps=steps,
        seeds=seeds,
        batch_size=batch_size,
        num_images=len(data),
    )


# ---------------------------------------------------------------------------------------------- the file
def save_patch_table(folder: str | os.PathLike, calibration: PatchCalibration, command: str, wall: float) -> Path:
    """FOLDER/local_patch_sizes.json: the command, the wall time (s) and `calibration.as_dict()`."""
    path = Path(folder) / PATCH_TABLE_FILE
    record = {"command": command, "wall_seconds": round(float(wall), 1), **calibration.as_dict()}
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path


def load_patch_table(folder: str | os.PathLike, num_train_timesteps: int | None = None) -> list[int] | None:
    """The per-timestep patch sizes in FOLDER/local_patch_sizes.json; None when there is no such file. ValueError
    when its "table" is not T odd positive integers (T: num_train_timesteps, else the file's own)."""
    path = Path(folder) / PATCH_TABLE_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not a JSON file ({error})") from None
    table = record.get("table") if isinstance(record, dict) else None
    T = num_train_timesteps if num_train_timesteps is not None else (record or {}).get("num_train_timesteps")
    if not is_int(T) or T < 1:
        raise ValueError(f"{path}: num_train_timesteps must be a positive integer, got {short_repr(T)}")
    if not isinstance(table, list) or len(table) != T:
        raise ValueError(f'{path}: "table" must be a list of {T} odd integers (one per timestep)')
    bad = [(t, v) for t, v in enumerate(table) if not (is_int(v) and v >= 1 and v % 2 == 1)]
    if bad:
        t, v = bad[0]
        raise ValueError(f'{path}: "table" must hold odd positive integers, got {short_repr(v)} at t = {t}')
    return [int(v) for v in table]


# ---------------------------------------------------------------------------------------------- the CLI
def _int_list(text: str) -> list[int]:
    import argparse

    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated integers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("must hold at least one integer")
    return values


def _build_parser():
    from pipelines.checks import OneLineParser, non_empty

    p = OneLineParser(
        prog="python -m pipelines.exact.calibration",
        description=f"Calibrate the local denoiser's patch size per timestep; writes FOLDER/{PATCH_TABLE_FILE}.",
    )
    p.add_argument("--model", required=True, type=non_empty, help="a DDPM model folder (stock diffusers layout)")
    p.add_argument("--steps", type=int, default=40, help="sampling steps of the network's trajectories")
    p.add_argument("--seeds", type=_int_list, default=[0], help="comma-separated seeds, one trajectory batch each")
    p.add_argument("--batch-size", type=int, default=4, help="images per trajectory")
    p.add_argument("--candidates", type=_int_list, default=list(DEFAULT_CANDIDATES), help="comma-separated odd P")
    return p


def _check_flags(parser, args) -> None:
    try:
        check_int("--steps", args.steps, 1, 1000, meaning=" (sampling steps)")
        for seed in args.seeds:
            check_seed(seed, "--seeds")
        check_int("--batch-size", args.batch_size, 1, 4096)
        check_candidates(args.candidates, 63, "--candidates")
    except ValueError as error:
        parser.error(str(error))


def _load(parser, folder: str):
    from diffusers.utils import logging as diffusers_logging

    from pipelines.ddpm.pipeline import PosteriorDDPMPipeline, check_model_folder

    diffusers_logging.disable_progress_bar()
    try:
        check_model_folder(folder)
        pipe = PosteriorDDPMPipeline.from_pretrained(folder)
    except Exception as error:  # a broken or missing folder: one line, not a traceback
        parser.error(f"--model {folder!r} could not be loaded: {first_line(error)}")
    pipe.set_progress_bar_config(disable=True)
    return pipe, training_images(parser, folder, tuple(pipe.image_shape))


def training_images(parser, folder: str, image_shape: tuple[int, int, int]) -> torch.Tensor:
    """The images a model folder was trained on (its training_data.json or the bundle beside it, as the app loads
    them); the 4,500 mnist train digits for a folder that records none. A parser error (one line) when they are
    missing, changed, or of another shape than the model's."""
    from pipelines.data.record import BUNDLE_FILE, DataError, read_record, resolve_model_data
    from pipelines.data.sources import load_mnist

    try:
        if read_record(folder) is None and not (Path(folder) / BUNDLE_FILE).is_file():
            data = load_mnist("train")[0]
        else:
            data = resolve_model_data(folder, image_shape, flag="--model").train
    except DataError as error:
        parser.error(f"--model {folder!r}: {first_line(error)}")
    if tuple(data.shape[1:]) != tuple(image_shape):
        parser.error(f"--model draws {tuple(image_shape)} images, its training images are {tuple(data.shape[1:])}")
    return data


def model_for_cli(parser, args):
    """The CLIs' shared start (this one's and `python -m pipelines.exact.denoisers`'): the model of --model and the
    images it was trained on, with --steps checked against its T: (pipe, data, T); bad input ends in one line."""
    pipe, data = _load(parser, args.model)
    T = int(pipe.scheduler.config.num_train_timesteps)
    try:
        check_int("--steps", args.steps, 1, T, meaning=" (sampling steps)")
    except ValueError as error:
        parser.error(str(error))
    return pipe, data, T


def main(argv: Sequence[str] | None = None) -> int:
    """The CLI: 0 done, 2 bad input (one line)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _build_parser()
    args = parser.parse_args(argv)
    _check_flags(parser, args)
    pipe, data, _ = model_for_cli(parser, args)
    try:
        check_candidates(args.candidates, 2 * max(pipe.image_shape[1:]) - 1, "--candidates")
    except ValueError as error:
        parser.error(str(error))
    command = "python -m pipelines.exact.calibration " + " ".join(shlex.quote(a) for a in argv)
    start = time.perf_counter()
    calibration = calibrate_patch_sizes(pipe, data, args.candidates, args.steps, args.seeds, args.batch_size)
    wall = time.perf_counter() - start
    path = save_patch_table(args.model, calibration, command, wall)
    for row in calibration.bands():
        if row["steps"]:
            print(
                f"t∈[{row['low']},{row['high']}) {row['steps']:3d} steps: best P {row['best']:2d} r² "
                f"{_fmt(row['r2_best'])} | exact posterior r² {_fmt(row['r2_exact'])}"
            )
    print(f"wrote {path} in {wall:.1f} s")
    return 0


def _fmt(value: float | None) -> str:
    return "  n/a" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    sys.exit(main())
