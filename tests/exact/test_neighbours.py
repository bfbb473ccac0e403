"""Nearest neighbours against brute force (images and 2-D points, chunked or not, a set against itself), and the
copy rule on hand-built cases."""

import math

import pytest
import torch

from pipelines.exact.neighbours import (
    COPY_DISTANCE,
    copy_summary,
    is_copy_by_ratio,
    is_exact_copy,
    l2_distance,
    nearest_distances,
    nearest_neighbours,
    sq_distances,
)


def brute_force(queries, reference, k, exclude_self=False):
    """Every pairwise distance by torch.cdist in float64, sorted: the k smallest per query."""
    d = torch.cdist(queries.reshape(len(queries), -1).double(), reference.reshape(len(reference), -1).double())
    if exclude_self:
        d.fill_diagonal_(math.inf)
    values, indices = d.sort(dim=1, stable=True)
    return values[:, :k], indices[:, :k]


@pytest.fixture(scope="module")
def images():
    return torch.rand((30, 1, 6, 6), generator=torch.Generator().manual_seed(0)) * 2 - 1


@pytest.mark.parametrize("chunk_size", [None, 1, 4, 7, 1000])
@pytest.mark.parametrize("k", [1, 2, 5])
def test_images_match_brute_force_for_any_chunking(images, chunk_size, k):
    queries = torch.rand((9, 1, 6, 6), generator=torch.Generator().manual_seed(1)) * 2 - 1
    distances, indices = nearest_neighbours(queries, images, k=k, chunk_size=chunk_size)
    want_d, want_i = brute_force(queries, images, k)
    assert distances.shape == indices.shape == (9, k) and distances.dtype == torch.float64
    assert torch.equal(indices, want_i)
    assert torch.allclose(distances, want_d, atol=1e-12)


@pytest.mark.parametrize("chunk_size", [None, 3, 64])
def test_a_set_against_itself_excludes_each_point(chunk_size):
    points = torch.randn((200, 2), generator=torch.Generator().manual_seed(2))
    distances, indices = nearest_neighbours(points, points, k=2, exclude_self=True, chunk_size=chunk_size)
    want_d, want_i = brute_force(points, points, 2, exclude_self=True)
    assert torch.equal(indices, want_i) and torch.allclose(distances, want_d, atol=1e-12)
    assert bool((indices != torch.arange(200)[:, None]).all())  # nobody is their own neighbour
    assert bool((distances > 0).all())


def test_exclude_self_keeps_a_duplicate_at_distance_zero():
    points = torch.tensor([[0.0, 0.0], [0.0, 0.0], [3.0, 4.0]])
    distances, indices = nearest_neighbours(points, points, exclude_self=True)
    assert indices[:, 0].tolist() == [1, 0, 0] and distances[:, 0].tolist() == [0.0, 0.0, 5.0]


def test_an_exact_copy_is_at_distance_exactly_zero(images):
    distances, indices = nearest_neighbours(images[[4, 9, 4]] * 1.0, images)
    assert indices[:, 0].tolist() == [4, 9, 4] and distances[:, 0].tolist() == [0.0, 0.0, 0.0]
    assert nearest_distances(images[[4]], images).tolist() == [0.0]


def test_sq_distances_is_the_expansion_of_the_squared_l2_distance():
    a = torch.randn((5, 3), dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    b = torch.randn((7, 3), dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    assert torch.allclose(sq_distances(a, b), torch.cdist(a, b) ** 2)
    assert bool((sq_distances(a, a).diagonal() >= 0).all())  # clamped: rounding never gives a negative square
    assert l2_distance(a[0], b[0]) == pytest.approx(float(torch.cdist(a[:1], b[:1])))


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda x: nearest_neighbours(x, x[:0]), r"reference must hold at least one item"),
        (lambda x: nearest_neighbours(x[:, :, :3], x), r"queries must have items of shape \(1, 6, 6\)"),
        (lambda x: nearest_neighbours(x, x, k=31), r"k must be an integer in \[1, 30\]"),
        (lambda x: nearest_neighbours(x, x, k=30, exclude_self=True), r"k must be an integer in \[1, 29\]"),
        (lambda x: nearest_neighbours(x[:3], x, exclude_self=True), r"exclude_self needs the queries to be"),
        (
            lambda x: nearest_neighbours(x[:1], x[:1], exclude_self=True),
            r"exclude_self needs a reference of at least 2",
        ),
        (lambda x: nearest_neighbours(x, x, chunk_size=0), r"chunk_size must be an integer >= 1"),
        (lambda x: nearest_neighbours(x * float("nan"), x), r"queries must hold finite values"),
        (lambda x: nearest_neighbours([[0.0]], x), r"queries must be a real tensor"),
    ],
)
def test_bad_inputs_name_the_parameter(images, call, match):
    with pytest.raises(ValueError, match=match):
        call(images)


def test_the_copy_rule_on_hand_built_cases():
    # the one rule is d1 / d2 < 1/3; pixel-exact copies (d1 < COPY_DISTANCE) are counted beside it
    d1 = torch.tensor([0.0, COPY_DISTANCE / 2, 0.3, 0.34, 2.0])
    d2 = torch.tensor([1.0, 1.0, 1.0, 1.0, 2.1])
    indices = torch.tensor([3, 3, 8, 1, 2])
    assert is_exact_copy(d1).tolist() == [True, True, False, False, False]  # within COPY_DISTANCE, strictly
    assert is_copy_by_ratio(d1, d2).tolist() == [True, True, True, False, False]
    assert copy_summary(d1, d2, indices) == {"copies": 3, "copy_fraction": 0.6, "distinct_copies": 2, "pixel_copies": 2}
    # one reference item (no second-nearest): only a pixel-exact copy counts
    assert copy_summary(d1, None, indices)["copies"] == 2
    none = copy_summary(torch.tensor([1.0, 2.0]), torch.tensor([1.5, 2.5]), torch.tensor([0, 1]))
    assert none == {"copies": 0, "copy_fraction": 0.0, "distinct_copies": 0, "pixel_copies": 0}


def test_the_copy_rules_chance_floor_is_what_random_points_give():
    """The page says new points pass d1/d2 < 1/3 by chance (1/3)^d of the time for points scattered at random: in
    a plane about 11 % (the 2-D tabs' copy rates near that are the rule's floor, not copying)."""
    import numpy as np

    from pipelines.exact.neighbours import COPY_RATIO, chance_copy_fraction

    rng = np.random.default_rng(0)
    for dim in (1, 2):
        points = rng.uniform(0, 1, (20_000, dim))
        new = rng.uniform(0.3, 0.7, (2_000, dim))  # away from the edges
        ratios = []
        for chunk in np.split(new, 8):
            d2 = ((chunk[:, None, :] - points[None, :, :]) ** 2).sum(-1)
            two = np.sqrt(np.partition(d2, 1, axis=1)[:, :2])
            ratios.append(two[:, 0] / two[:, 1])
        measured = float(np.mean(np.concatenate(ratios) < COPY_RATIO))
        assert abs(measured - chance_copy_fraction(dim)) < 0.025, (dim, measured)
    assert round(chance_copy_fraction(2), 2) == 0.11 and chance_copy_fraction(1024) < 1e-300
