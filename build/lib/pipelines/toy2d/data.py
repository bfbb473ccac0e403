"""The 2-D data sets: a fixed, seeded pool of 4,000 points each; N points are the first N of its shuffle.

A 2-D point is, for the scheduler, `DatasetPosterior` and the pipeline, a (2, 1, 1) image — two channels, one pixel
(`as_images` / `as_points`)."""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from pipelines.checks import check_choice, check_int
from pipelines.exact.neighbours import nearest_neighbours

POOL_SIZE = 4000  # each data set is a fixed pool of 4,000 points; N points are the first N of its seeded shuffle
MIN_POINTS, MAX_POINTS, DEFAULT_NUM_POINTS = 4, POOL_SIZE, 256
POINT_SHAPE = (2, 1, 1)  # a 2-D point as the pipeline sees it: two channels, one pixel
EXTENT = 0.95  # each pool is scaled so that its largest |coordinate| is this: inside [-1, 1]², the model space
POOL_SEED = 0


def _two_moons(rng: np.random.Generator) -> np.ndarray:
    angle = rng.uniform(0.0, math.pi, POOL_SIZE)
    upper = rng.integers(0, 2, POOL_SIZE) == 1
    x = np.where(upper, np.cos(angle), 1.0 - np.cos(angle))
    y = np.where(upper, np.sin(angle), 0.5 - np.sin(angle))
    return np.stack([x, y], 1) + rng.normal(0.0, 0.06, (POOL_SIZE, 2)) - [0.5, 0.25]


def _eight_gaussians(rng: np.random.Generator) -> np.ndarray:
    angle = rng.integers(0, 8, POOL_SIZE) * (math.pi / 4)
    return np.stack([np.cos(angle), np.sin(angle)], 1) + rng.normal(0.0, 0.08, (POOL_SIZE, 2))


def _spiral(rng: np.random.Generator) -> np.ndarray:
    turn = np.sqrt(rng.uniform(0.02, 1.0, POOL_SIZE)) * 3.0 * math.pi
    return np.stack([turn * np.cos(turn), turn * np.sin(turn)], 1) / (3.0 * math.pi) + rng.normal(
        0.0, 0.03, (POOL_SIZE, 2)
    )


DATASETS = {"two_moons": _two_moons, "eight_gaussians": _eight_gaussians, "spiral": _spiral}
DEFAULT_DATASET = "two_moons"


def check_dataset(dataset, name: str = "dataset") -> str:
    return check_choice(name, dataset, DATASETS)


def check_num_points(num_points, name: str = "num_points", integral_floats: bool = False) -> int:
    return check_int(name, num_points, MIN_POINTS, MAX_POINTS, integral_floats, " (training points)")


@functools.lru_cache(maxsize=None)
def _pool(dataset: str) -> torch.Tensor:
    rng = np.random.default_rng(POOL_SEED)
    points = DATASETS[dataset](rng)
    points = points * (EXTENT / np.abs(points).max())
    points = points[rng.permutation(POOL_SIZE)]
    return torch.from_numpy(points.astype(np.float32))


def load_points(dataset: str = DEFAULT_DATASET, num_points: int = DEFAULT_NUM_POINTS) -> torch.Tensor:
    """N points (N, 2) float32 of a toy data set, in [-EXTENT, EXTENT]²: the first N of a fixed seeded shuffle of
    its POOL_SIZE-point pool, so a smaller N is a subset of a larger one. dataset: one of DATASETS; N in
    [MIN_POINTS, MAX_POINTS]."""
    dataset = check_dataset(dataset)
    num_points = check_num_points(num_points)
    return _pool(dataset)[:num_points].clone()


def as_images(points) -> torch.Tensor:
    """(M, 2) points → (M, 2, 1, 1), the shape the scheduler, DatasetPosterior and the pipeline take."""
    points = torch.as_tensor(points)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must have shape (M, 2), got {tuple(points.shape)}")
    return points.reshape(-1, *POINT_SHAPE)


def as_points(images: torch.Tensor) -> torch.Tensor:
    """(M, 2, 1, 1) → (M, 2)."""
    return images.reshape(images.shape[0], 2)


def nearest_other_distances(points: torch.Tensor) -> torch.Tensor:
    """Each point's distance to its nearest other point of the set (N ≥ 2, 2) → (N,) float64: the data's own
    spacing, the yardstick for "is a sample a new point or a copy?" (`neighbours.nearest_neighbours`)."""
    return nearest_neighbours(
        torch.as_tensor(points).reshape(-1, 2), torch.as_tensor(points).reshape(-1, 2), exclude_self=True
    )[0][:, 0]
