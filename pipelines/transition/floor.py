"""The copy rule's floor on a 2-D data set's own unseen points: how often a point of the data itself, never trained
on, passes d₁/d₂ < 1/3 against a training subset. For points scattered uniformly in the plane that rate is (1/3)²
(`neighbours.chance_copy_fraction(2)`); data that lie along curves (two moons, a spiral) sit between the 2-D and
the 1-D rate (1/3), so a model that makes genuinely new points near the data passes the rule more often than 11 %.

For each shipped pair (N < 2,000) the reference is subset A and the queries are the pool points in neither A nor
B (4,000 − 2N of them): new points from the same distribution, which no model has seen.
"""

from __future__ import annotations

import functools

import torch

from pipelines import toy2d
from pipelines.exact.neighbours import is_copy_by_ratio, nearest_two
from pipelines.transition.ladders import DEFAULT_OUTPUT, check_dataset, load_table, pair_folder, pool


def unseen_copy_fraction(points: torch.Tensor, train: torch.Tensor) -> float:
    """The fraction of points (M, 2) that the copy rule calls copies of train (N ≥ 2, 2)."""
    d1, d2, _ = nearest_two(toy2d.as_images(points), toy2d.as_images(train))
    return float(is_copy_by_ratio(d1, d2).float().mean())


def _subset(folder, which: str) -> torch.Tensor:
    import json

    return torch.tensor(json.loads((folder / which / "subset.json").read_text())["pool_indices"])


@functools.lru_cache(maxsize=None)
def data_floor(dataset: str) -> tuple[tuple[int, float, int], ...]:
    """Per shipped N with unseen pool points left: (N, the fraction of them the rule calls copies of subset A, their
    number). Shipped pairs only (models/transition2d/<dataset>/nNNNN/{a,b}/subset.json)."""
    dataset = check_dataset(dataset)
    points = pool(dataset)
    out = []
    for row in load_table(dataset)["rows"]:
        n = int(row["num_points"])
        folder = pair_folder(DEFAULT_OUTPUT, dataset, n)
        a, b = _subset(folder, "a"), _subset(folder, "b")
        unseen = torch.ones(len(points), dtype=torch.bool)
        unseen[a] = unseen[b] = False
        if int(unseen.sum()) >= 100 and n >= 2:
            out.append((n, unseen_copy_fraction(points[unseen], points[a]), int(unseen.sum())))
    return tuple(out)
