"""The patch-size fit checked: where it means something (`patch_fit`, from the calibration record's r² per P), and
on a seed it was not fitted on: the median r² of the LS machine (the calibrated patch
size per t) and of the exact posterior to the network's x̂₀, per band of t, along the network's own run from a seed
other than the calibration's (`local_patch_sizes.json` lists its seeds). The shipped denoiser record
(`denoiser_record`) runs from seed 0, one of the calibration's; this record says whether its r² holds out of sample.

    python -m pipelines.exact.heldout_seed --model models/ddpm-mnist --seed 2 [--batch-size 16] [--steps 40]

writes FOLDER/denoisers_heldout_seed.json: {"command", "seed", "batch_size", "num_inference_steps",
"calibration_seeds", "bands": [{"low", "high", "steps", "local", "exact"}]}.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from pipelines.exact.calibration import PATCH_TABLE_FILE
from pipelines.exact.local import LocalPosterior
from pipelines.exact.posterior import DatasetPosterior
from pipelines.exact.trajectory import DEFAULT_BAND_EDGES, model_run, r2_along

HELDOUT_FILE = "denoisers_heldout_seed.json"


@torch.inference_mode()
def heldout_bands(pipe, data: torch.Tensor, table: Sequence[int], seed: int, batch_size: int, steps: int) -> list:
    """Per band of DEFAULT_BAND_EDGES: the median over its steps and images of r² to the network's x̂₀, of the LS
    machine with the patch table and of the exact posterior, along the network's run from seed."""
    local = LocalPosterior(data, table, pipe.scheduler, dtype=torch.float32)
    exact = DatasetPosterior(data, pipe.scheduler)
    run = model_run(pipe, batch_size, seed, steps)
    r2 = {"local": r2_along(run, local), "exact": r2_along(run, exact)}
    ts = np.asarray(run.timesteps)
    bands = []
    for low, high in zip(DEFAULT_BAND_EDGES, DEFAULT_BAND_EDGES[1:]):
        inside = (ts >= low) & (ts < high)
        row: dict[str, Any] = {"low": int(low), "high": int(high), "steps": int(inside.sum())}
        for name, values in r2.items():
            finite = values[inside][np.isfinite(values[inside])]
            row[name] = float(np.median(finite)) if len(finite) else None
        bands.append(row)
    return bands


def load_heldout(folder) -> dict | None:
    """The shipped held-out-seed record of a model folder, or None."""
    path = Path(folder) / HELDOUT_FILE
    return json.loads(path.read_text()) if path.is_file() else None


FIT_THRESHOLD = 0.05  # the patch size "means something" where the choice of P moves r² by at least this


def patch_fit(folder) -> dict | None:
    """Where a model's calibrated patch size means something (the dict the mechanism tab's words read), from its
    calibration record (r² per calibrated t and candidate P): below the largest t at and below which P moves r² by at
    least FIT_THRESHOLD. None without a record."""
    path = Path(folder) / PATCH_TABLE_FILE
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    ts, best = np.asarray(record["timesteps"]), np.asarray(record["best"])
    r2 = np.asarray(record["r2"], dtype=np.float64)
    spread = r2.max(axis=1) - r2.min(axis=1)
    order = np.argsort(ts)  # from t = 0 up
    meaningful = np.cumprod(spread[order] >= FIT_THRESHOLD).astype(bool)
    if not meaningful.any() or meaningful.all():
        return None
    below, above = order[meaningful], order[~meaningful]
    top = above[np.argsort(-ts[above])]
    return {
        "t_star": int(ts[below].max()),
        "threshold": FIT_THRESHOLD,
        "spread": (float(spread[below].min()), float(spread[below].max())),
        "above": float(spread[above].max()),
        "jumps": [int(p) for p in best[top]],
        "largest": int(max(record["candidates"])),
        "floor": float(r2[above].min()),
        "p0": int(best[order[0]]),
        "pmax": int(best[below].max()),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """The CLI: 0 done, 2 bad input (one line)."""
    from pipelines.checks import OneLineParser, check_int, check_seed, non_empty
    from pipelines.exact.calibration import _load, load_patch_table

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = OneLineParser(prog="python -m pipelines.exact.heldout_seed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, type=non_empty, help="a DDPM model folder with a patch table")
    parser.add_argument("--seed", type=int, default=2, help="a seed the calibration did not use")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args(argv)
    try:
        check_seed(args.seed, "--seed")
        check_int("--batch-size", args.batch_size, 1, 4096)
        check_int("--steps", args.steps, 1, 1000, meaning=" (sampling steps)")
    except ValueError as error:
        parser.error(str(error))
    pipe, data = _load(parser, args.model)
    T = int(pipe.scheduler.config.num_train_timesteps)
    table = load_patch_table(args.model, T)
    if table is None:
        parser.error(f"--model {args.model!r} has no {PATCH_TABLE_FILE}: run python -m pipelines.exact.calibration")
    fitted = json.loads((Path(args.model) / PATCH_TABLE_FILE).read_text()).get("seeds", [])
    if args.seed in fitted:
        parser.error(f"--seed {args.seed} is one the patch table was fitted on ({fitted}); choose another")
    start = time.perf_counter()
    bands = heldout_bands(pipe, data, table, args.seed, args.batch_size, args.steps)
    record = {
        "command": "python -m pipelines.exact.heldout_seed " + shlex.join(argv),
        "wall_seconds": round(time.perf_counter() - start, 1),
        "seed": args.seed,
        "batch_size": args.batch_size,
        "num_inference_steps": args.steps,
        "calibration_seeds": fitted,
        "bands": bands,
    }
    path = Path(args.model) / HELDOUT_FILE
    path.write_text(json.dumps(record, indent=1) + "\n")
    for row in (b for b in bands if b["steps"]):
        print(f"t∈[{row['low']},{row['high']}) r² local {row['local']:.3f} exact {row['exact']:.3f}")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
