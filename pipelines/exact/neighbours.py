"""Distances between samples and a reference set, and the copy rules built on them.

Every distance in the project is the L2 distance over all values of a sample (all pixels of an image in model
space, both coordinates of a 2-D point). One squared-distance expansion (`sq_distances`), one chunked k-nearest
search (`nearest_neighbours`), and the project's one copy rule, Gu et al.'s ratio (TMLR 2025; `nearest_two`,
`is_copy_by_ratio`, `copy_fraction_by_ratio`, `copy_summary`): a sample is a copy when its nearest reference item is
closer than COPY_RATIO = 1/3 times the second-nearest. The absolute distance is always kept beside it, and
`is_exact_copy` (within COPY_DISTANCE: pixel-exact, what the exact sampler returns) is reported as its own count.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import torch

from pipelines.checks import check_int

# Temporaries are (queries, chunk) plus one (chunk, D) slice: about this many values per chunk.
CHUNK_ELEMENTS = 1 << 20


# A sample this close (L2 over all values, model space) to a reference item is a copy of it.
COPY_DISTANCE = 1e-3


# The project's one copy rule, Gu et al. (TMLR 2025): a copy when d_nearest / d_second_nearest < 1/3.
_COPY_FRACTION = Fraction(1, 3)
COPY_RATIO = float(_COPY_FRACTION)
COPY_RATIO_TEXT = str(_COPY_FRACTION)  # "1/3", as labels and messages write it


COPY_RULE = f"d1 / d2 < {COPY_RATIO_TEXT} (nearest / second-nearest training distance; Gu et al., TMLR 2025)"


def chance_copy_fraction(dimensions: int) -> float:
    """The share of genuinely new points the copy rule flags by chance when the training points are scattered at
    random (a Poisson process) in `dimensions` dimensions: the volumes of the balls out to the nearest and second
    nearest point are the first two arrivals of a Poisson process, so (d1/d2)^d is uniform on [0, 1] and
    P(d1/d2 < r) = r^d — 1/9 in a plane, nothing worth the name for images."""
    return COPY_RATIO**dimensions


def chunk_rows(chunk_size, dim: int, rows: int = 1) -> int:
    """Reference rows per chunk: chunk_size when given (an integer >= 1), else about CHUNK_ELEMENTS values in each
    (rows, chunk) and (chunk, dim) temporary."""
    if chunk_size is None:
        return max(1, CHUNK_ELEMENTS // max(dim, rows, 1))
    return check_int("chunk_size", chunk_size, 1, meaning=" (reference rows per chunk)")


def sq_distances(a: torch.Tensor, b: torch.Tensor, b_sq: torch.Tensor | None = None) -> torch.Tensor:
    """‖a_j − b_i‖² for rows a (B, D) and b (n, D), (B, n), by ‖a‖² − 2a·b + ‖b‖² (one matmul), clamped at 0.
    b_sq: ‖b_i‖² (n,) when the caller keeps it."""
    if b_sq is None:
        b_sq = (b * b).sum(1)
    return ((a * a).sum(1, keepdim=True) - 2.0 * (a @ b.T) + b_sq).clamp_min_(0.0)


def l2_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """The L2 distance over all values of two tensors of one shape, in float64."""
    return float((a.double() - b.double()).norm())


def _rows(name: str, value, dim_shape: tuple[int, ...] | None = None) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.ndim < 1 or value.is_complex():
        raise ValueError(f"{name} must be a real tensor of shape (N, …), got {type(value).__name__}")
    if value.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one item, got shape {tuple(value.shape)}")
    if dim_shape is not None and tuple(value.shape[1:]) != dim_shape:
        raise ValueError(f"{name} must have items of shape {dim_shape} (the reference's), got {tuple(value.shape)}")
    rows = value.detach().reshape(value.shape[0], -1).double().cpu()
    if not bool(torch.isfinite(rows).all()):
        raise ValueError(f"{name} must hold finite values")
    return rows


def nearest_neighbours(
    queries: torch.Tensor,
    reference: torch.Tensor,
    k: int = 1,
    exclude_self: bool = False,
    chunk_size: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The k nearest items of reference (N, …) to each query (B, …), by L2 distance over all values.

    Returns (distances (B, k) float64, indices (B, k) int64), nearest first. exclude_self: queries is the reference
    itself (B = N) and query i never counts as its own neighbour (the data's own spacing). The reference is read in
    chunks of chunk_size rows (None → about 2²⁰ values per temporary). The winners' distances are recomputed
    directly, not from the expansion, so an exact copy is at distance exactly 0."""
    ref = _rows("reference", reference)
    q = _rows("queries", queries, tuple(reference.shape[1:]))
    available = len(ref) - (1 if exclude_self else 0)
    if exclude_self and len(q) != len(ref):
        raise ValueError(f"exclude_self needs the queries to be the reference itself ({len(ref)} items), got {len(q)}")
    k = check_int("k", k, 1, max(available, 1), meaning=" (at most the reference's other items)")
    if available < 1:
        raise ValueError("exclude_self needs a reference of at least 2 items, got 1")
    chunk = chunk_rows(chunk_size, ref.shape[1], len(q))
    best = torch.full((len(q), k), math.inf, dtype=torch.float64)
    index = torch.zeros((len(q), k), dtype=torch.int64)
    ref_sq = (ref * ref).sum(1)
    for start in range(0, len(ref), chunk):
        sq = sq_distances(q, ref[start : start + chunk], ref_sq[start : start + chunk])
        if exclude_self:
            own = torch.arange(start, min(start + chunk, len(q)))
            sq[own, own - start] = math.inf
        columns = torch.arange(start, start + sq.shape[1]).expand(len(q), -1)
        values, picked = torch.cat([best, sq], 1).topk(k, dim=1, largest=False)
        index = torch.cat([index, columns], 1).gather(1, picked)
        best = values
    distances = (q.unsqueeze(1) - ref[index]).norm(dim=2)
    order = distances.argsort(dim=1, stable=True)
    return distances.gather(1, order), index.gather(1, order)


def nearest_distances(queries: torch.Tensor, reference: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
    """Each query's distance to its nearest reference item, (B,) float64 (`nearest_neighbours` with k = 1)."""
    return nearest_neighbours(queries, reference, chunk_size=chunk_size)[0][:, 0]


def is_exact_copy(distances: torch.Tensor) -> torch.Tensor:
    """Pixel-exact copies: True where a sample's nearest reference item lies within COPY_DISTANCE (what the exact
    sampler returns). Reported beside the copy rule, never instead of it."""
    return torch.as_tensor(distances) < COPY_DISTANCE


def copy_summary(d1: torch.Tensor, d2: torch.Tensor | None, indices: torch.Tensor) -> dict[str, Any]:
    """The copy rule's counts for samples with nearest distances d1 (B,), second-nearest d2 (B,) and nearest indices
    (B,): {"copies", "copy_fraction", "distinct_copies" (how many different items were copied), "pixel_copies"
    (d1 < COPY_DISTANCE, pixel-exact)}. With one reference item (d2 None) only a pixel-exact copy counts."""
    copies = is_exact_copy(d1) if d2 is None else is_copy_by_ratio(d1, d2)
    count = int(copies.sum())
    return {
        "copies": count,
        "copy_fraction": count / max(int(copies.numel()), 1),
        "distinct_copies": int(torch.as_tensor(indices)[copies].unique().numel()),
        "pixel_copies": int(is_exact_copy(d1).sum()),
    }


def nearest_two(
    queries: torch.Tensor, reference: torch.Tensor, index=None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For each query (M, …): its distance to the nearest (d1) and the second-nearest (d2) item of reference (N ≥ 2,
    …) and the nearest item's index: (d1 (M,), d2 (M,), index (M,)), float64 (`nearest_neighbours` with k = 2).
    index: a `pipelines.exact.index.NeighbourIndex` over the reference to search instead of brute force (the
    reference is then not read; the index's recall is on its `nearest_two`)."""
    if index is not None:
        return index.nearest_two(torch.as_tensor(queries))[:3]
    if isinstance(reference, torch.Tensor) and len(reference) < 2:
        raise ValueError(f"reference must hold at least 2 items for a second-nearest distance, got {len(reference)}")
    distances, indices = nearest_neighbours(torch.as_tensor(queries), torch.as_tensor(reference), k=2)
    return distances[:, 0], distances[:, 1], indices[:, 0]


def is_copy_by_ratio(d1, d2) -> torch.Tensor:
    """Gu et al.'s rule, elementwise: d1 / d2 < COPY_RATIO (written d1 < COPY_RATIO · d2, so d2 = 0 is never a
    copy of nothing)."""
    d1, d2 = torch.as_tensor(d1, dtype=torch.float64), torch.as_tensor(d2, dtype=torch.float64)
    return d1 < COPY_RATIO * d2


def copy_fraction_by_ratio(samples: torch.Tensor, reference: torch.Tensor) -> float:
    """The fraction of samples (M, …) that copy an item of reference (N ≥ 2, …) by Gu et al.'s ratio rule."""
    d1, d2, _ = nearest_two(samples, reference)
    return float(is_copy_by_ratio(d1, d2).double().mean())
