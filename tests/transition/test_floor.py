"""The copy rule's floor on unseen points: (1/3)² for points scattered uniformly, and on the shipped 2-D pairs the
rate of the data's own unseen points, counted over the pool points in neither subset."""

import pytest
import torch

from pipelines.exact.neighbours import chance_copy_fraction
from pipelines.transition.floor import data_floor, unseen_copy_fraction
from pipelines.transition.ladders import DEFAULT_OUTPUT, shipped_datasets


def test_uniform_points_pass_the_rule_at_the_2d_chance_rate():
    g = torch.Generator().manual_seed(0)
    train, queries = torch.rand((2000, 2), generator=g), 0.1 + 0.8 * torch.rand((4000, 2), generator=g)
    assert unseen_copy_fraction(queries, train) == pytest.approx(chance_copy_fraction(2), abs=0.02)


@pytest.mark.skipif("two_moons" not in shipped_datasets(), reason="no shipped two_moons ladder")
def test_the_shipped_floor_counts_the_pool_points_in_neither_subset():
    rows = data_floor("two_moons")
    assert rows and all(n < 2000 for n, _, _ in rows)  # at N = 2,000 A and B take the whole pool
    for n, fraction, count in rows:
        assert count == 4000 - 2 * n and 0.0 <= fraction <= 1.0
        assert (DEFAULT_OUTPUT / "two_moons" / f"n{n:04d}").is_dir()
    large = [f for n, f, _ in rows if n >= 64]
    assert all(0.05 < f < 0.25 for f in large)  # near the 2-D rate, above it where the data lie on curves
