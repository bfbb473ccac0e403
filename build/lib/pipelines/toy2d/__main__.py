"""python -m pipelines.toy2d: train the shipped p_θ of each data set into models/toy2d/<dataset>/."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np

from pipelines.checks import OneLineParser, check_seed
from pipelines.toy2d.data import DATASETS, DEFAULT_NUM_POINTS, check_dataset, check_num_points, load_points
from pipelines.toy2d.model import WEIGHTS_DIR, new_toy_model
from pipelines.toy2d.training import SHIPPED_TRAIN_STEPS, check_train_steps, train_toy


def main(argv: Sequence[str] | None = None) -> None:
    """python -m pipelines.toy2d --dataset two_moons: train the shipped p_θ of a data set into models/toy2d/."""
    parser = OneLineParser(prog="python -m pipelines.toy2d", description=main.__doc__)
    parser.add_argument("--dataset", default="all", help=f"one of {', '.join(DATASETS)}, or all (default)")
    parser.add_argument("--num_points", type=int, default=DEFAULT_NUM_POINTS)
    parser.add_argument("--train_steps", type=int, default=SHIPPED_TRAIN_STEPS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output_dir", default=str(WEIGHTS_DIR))
    args = parser.parse_args(argv)
    try:
        names = list(DATASETS) if args.dataset == "all" else [check_dataset(args.dataset, "--dataset")]
        check_num_points(args.num_points, "--num_points")
        check_train_steps(args.train_steps, "--train_steps")
        check_seed(args.seed, "--seed")
    except ValueError as error:
        parser.error(str(error))
    for name in names:
        start = time.perf_counter()
        model = new_toy_model(args.seed)
        losses = [r.loss for r in train_toy(model, load_points(name, args.num_points), args.train_steps, args.seed)]
        model.save_pretrained(Path(args.output_dir) / name, safe_serialization=True)
        print(
            f"{name}: {args.train_steps} steps on {args.num_points} points in {time.perf_counter() - start:.1f} s, "
            f"loss of the last 500 updates {np.mean(losses[-500:]):.4f}"
        )


if __name__ == "__main__":
    main()
