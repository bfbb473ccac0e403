"""The exact posterior restricted to the k nearest training images (through the index) against DatasetPosterior over
all N: the same weights on the k, the rest's true weight within the reported bound, the whole posterior at k = N."""

import pytest
import torch

from pipelines import DatasetPosterior
from pipelines.data.shards import write_shards
from pipelines.exact.index import NeighbourIndex
from pipelines.exact.nearest_posterior import nearest_posterior


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    g = torch.Generator().manual_seed(0)
    data = torch.randint(0, 256, (200, 1, 6, 6), generator=g).float() / 127.5 - 1
    shards = write_shards(tmp_path_factory.mktemp("s") / "s", data, shard_size=64)
    exact = DatasetPosterior(data)
    noise = torch.randn(4, 1, 6, 6, generator=g)
    return data, NeighbourIndex(shards, kind="flat", num_parts=2), exact, noise


@pytest.mark.parametrize("t", [50, 400, 900])
def test_the_k_nearest_carry_the_exact_weights_and_the_rest_stays_under_the_bound(setup, t):
    data, index, exact, noise = setup
    a = exact.alphas_cumprod[t]
    x_t = (a.sqrt() * data[[3, 70, 150, 199]].double() + (1 - a).sqrt() * noise).float()
    full = exact.x0_posterior(x_t, t)  # (B, N)
    near = nearest_posterior(x_t, t, index, k=8)
    assert near.indices.shape == (4, 8) and torch.allclose(near.weights.sum(1), torch.ones(4, dtype=torch.float64))
    on_k = full.gather(1, near.indices)
    assert torch.equal(near.indices[:, 0], full.argmax(1))  # the heaviest image is the nearest one
    rest = 1 - on_k.sum(1)
    assert bool((rest <= near.rest_bound + 1e-12).all())  # the bound holds
    assert torch.allclose(near.weights, on_k / on_k.sum(1, keepdim=True), atol=1e-9)
    assert bool(((near.weights - full.gather(1, near.indices)).abs() <= near.rest_bound[:, None] + 1e-9).all())
    assert near.recall_at_2 == 1.0


def test_with_every_image_it_is_the_full_posterior(setup):
    data, index, exact, noise = setup
    x_t = noise.float()
    near = nearest_posterior(x_t, 999, index, k=len(data))
    assert torch.equal(near.rest_bound, torch.zeros(4, dtype=torch.float64))
    assert torch.allclose(near.x0_mean, exact.predict_x0(x_t, 999).float(), atol=1e-5)


def test_late_in_the_chain_the_bound_is_tiny_and_the_mean_is_the_nearest_image(setup):
    data, index, _, noise = setup
    x_t = data[[5]] + 1e-3 * noise[:1]
    near = nearest_posterior(x_t, 0, index, k=2)
    assert near.indices[0, 0] == 5 and float(near.rest_bound[0]) < 1e-12
    assert torch.allclose(near.x0_mean, data[[5]], atol=1e-6)


def test_bad_input_is_refused_by_name(setup):
    data, index, _, noise = setup
    with pytest.raises(ValueError, match=r"t must be in \[0, 999\]"):
        nearest_posterior(noise, 1000, index)
    with pytest.raises(ValueError, match=r"k must be an integer in \[1, 200\]"):
        nearest_posterior(noise, 10, index, k=0)
    with pytest.raises(ValueError, match="index must be a NeighbourIndex"):
        nearest_posterior(noise, 10, data)
