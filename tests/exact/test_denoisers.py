"""compare_denoisers: the network, the local denoiser and the exact posterior along the network's own trajectory."""

import json

import numpy as np
import pytest
import torch
from diffusers.utils.torch_utils import randn_tensor

from pipelines import DatasetPosterior, LocalPosterior, PosteriorDDPMPipeline, PosteriorDDPMScheduler
from pipelines.exact.denoisers import (
    DEFAULT_BAND_EDGES,
    SAMPLERS,
    ModelRun,
    compare_denoisers,
    model_run,
    r2_along,
    r_squared,
)
from pipelines.exact.neighbours import is_copy_by_ratio, nearest_two

SHAPE, STEPS = (1, 8, 8), 5


@pytest.fixture(scope="module")
def data():
    return torch.rand((8, *SHAPE), generator=torch.Generator().manual_seed(0)) * 2 - 1


@pytest.fixture(scope="module")
def pipe(tiny_unet):
    return PosteriorDDPMPipeline(unet=tiny_unet, scheduler=PosteriorDDPMScheduler())


@pytest.fixture(scope="module")
def exact(data):
    return DatasetPosterior(data, PosteriorDDPMScheduler())


@pytest.fixture(scope="module")
def local(data):
    return LocalPosterior(data, 3, PosteriorDDPMScheduler())


@pytest.fixture(scope="module")
def comparison(pipe, local, exact):
    return compare_denoisers(pipe, local, exact, num_inference_steps=STEPS, seed=3, batch_size=2)


def test_r_squared_definition():
    y = torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(r_squared(y, y), torch.ones(3, dtype=torch.float64))
    mean = y.mean(dim=(1, 2, 3), keepdim=True).expand_as(y)
    assert torch.allclose(r_squared(mean, y), torch.zeros(3, dtype=torch.float64), atol=1e-12)
    y_hat = y + 0.1
    by_hand = 1 - ((y_hat - y) ** 2).sum((1, 2, 3)) / ((y - mean) ** 2).sum((1, 2, 3))
    assert torch.allclose(r_squared(y_hat, y), by_hand.double(), atol=1e-6)
    assert torch.isnan(r_squared(torch.zeros(1, 4), torch.ones(1, 4))).all()  # a constant target
    with pytest.raises(ValueError, match="one shape"):
        r_squared(torch.zeros(2, 4), torch.zeros(2, 5))


def test_shapes_and_summary(comparison, data):
    c = comparison
    assert c.timesteps.shape == (STEPS,) and list(c.timesteps) == sorted(c.timesteps, reverse=True)
    assert c.r2_local.shape == c.r2_exact.shape == (STEPS, 2)
    assert list(c.samples) == list(SAMPLERS)
    for name in SAMPLERS:
        assert c.samples[name].shape == (2, *SHAPE)
        assert c.nearest_distances[name].shape == c.copies[name].shape == (2,)
    bands = c.bands()
    assert [(b["low"], b["high"]) for b in bands] == list(zip(DEFAULT_BAND_EDGES, DEFAULT_BAND_EDGES[1:]))
    assert sum(b["steps"] for b in bands) == STEPS
    summary = json.loads(json.dumps(c.as_dict()))
    assert summary["timesteps"] == c.timesteps.tolist() and set(summary["samplers"]) == set(SAMPLERS)
    with pytest.raises(ValueError, match=r"edges must be a strictly increasing .* \[0, 1000\]"):
        c.bands((0, 500, 400))


def test_copy_verdicts_follow_nearest_two(comparison, data):
    for name in SAMPLERS:
        d1, d2, index = nearest_two(comparison.samples[name], data)
        assert torch.equal(comparison.nearest_distances[name], d1)
        assert torch.equal(comparison.nearest_indices[name], index)
        assert torch.equal(comparison.copies[name], is_copy_by_ratio(d1, d2))
    assert comparison.copies["exact"].all()  # the exact sampler returns training images
    summary = comparison.as_dict()["samplers"]["exact"]
    assert summary["copies"] == 2 and summary["copy_fraction"] == 1.0


def test_deterministic_for_a_seed(comparison, pipe, local, exact):
    again = compare_denoisers(pipe, local, exact, num_inference_steps=STEPS, seed=3, batch_size=2)
    np.testing.assert_array_equal(again.r2_local, comparison.r2_local)
    np.testing.assert_array_equal(again.r2_exact, comparison.r2_exact)
    for name in SAMPLERS:
        assert torch.equal(again.samples[name], comparison.samples[name])


def test_exact_against_itself_and_the_whole_window(pipe, exact, data):
    """exact as both denoisers: identical r². The local denoiser at the whole-image window is the exact one."""
    same = compare_denoisers(pipe, exact, exact, num_inference_steps=STEPS, seed=1)
    np.testing.assert_array_equal(same.r2_local, same.r2_exact)
    assert torch.equal(same.samples["local"], same.samples["exact"])
    whole = LocalPosterior(data, 2 * 8 - 1, PosteriorDDPMScheduler())
    c = compare_denoisers(pipe, whole, exact, num_inference_steps=STEPS, seed=1)
    np.testing.assert_allclose(c.r2_local, c.r2_exact, atol=1e-6)


def test_the_three_loops_start_from_one_x_T(pipe, local, exact):
    """Each sampler's first step is its denoiser at the same x_T: the first draw of a generator seeded alike."""
    seed, t0 = 5, None
    x_T = randn_tensor((2, *SHAPE), generator=torch.Generator().manual_seed(seed), dtype=torch.float32)
    first = next(pipe.denoise(2, torch.Generator().manual_seed(seed), STEPS, progress=False))
    t0 = first.timestep
    with torch.no_grad():
        expected = pipe.scheduler.step(
            pipe.unet(x_T, torch.tensor(t0)).sample, t0, x_T, prev_timestep=first.prev_timestep
        )
    assert torch.allclose(first.pred_original_sample, expected.pred_original_sample, atol=1e-6)
    for denoiser in (local, exact):
        record = next(denoiser.denoise(2, torch.Generator().manual_seed(seed), STEPS))
        assert record.timestep == t0
        assert torch.allclose(record.pred_original_sample, denoiser.predict_x0(x_T, t0), atol=1e-6)


def test_bad_arguments(pipe, local, exact):
    with pytest.raises(ValueError, match=r"num_inference_steps must be an integer in \[1, 1000\], got 0"):
        compare_denoisers(pipe, local, exact, num_inference_steps=0)
    with pytest.raises(ValueError, match="seed"):
        compare_denoisers(pipe, local, exact, seed=-1)
    with pytest.raises(ValueError, match="local must be"):
        compare_denoisers(pipe, object(), exact)
    other = DatasetPosterior(torch.zeros(3, 1, 4, 4), PosteriorDDPMScheduler())
    with pytest.raises(ValueError, match=r"exact's images \(1, 4, 4\) must match"):
        compare_denoisers(pipe, local, other)


# ------------------------------------------------------------------------------------------ the cached run
@pytest.fixture(scope="module")
def run(pipe):
    return model_run(pipe, batch_size=2, seed=3, num_inference_steps=STEPS)


def test_model_run_keeps_the_networks_inputs_and_estimates(pipe, run):
    assert isinstance(run, ModelRun) and run.num_steps == STEPS and run.seconds > 0
    assert run.timesteps.dtype == np.int64 and list(run.timesteps) == sorted(run.timesteps, reverse=True)
    assert run.x_t.shape == run.x0.shape == (STEPS, 2, *SHAPE) and run.sample.shape == (2, *SHAPE)
    assert (run.x_t.dtype, run.x0.dtype, run.sample.dtype) == (torch.float32, torch.float64, torch.float32)
    steps = list(pipe.denoise(2, torch.Generator().manual_seed(3), STEPS, progress=False))
    x_T = randn_tensor((2, *SHAPE), generator=torch.Generator().manual_seed(3), dtype=torch.float32)
    assert torch.equal(run.x_t[0], x_T)
    for k, step in enumerate(steps):
        assert step.timestep == run.timesteps[k]
        assert torch.equal(run.x0[k], step.pred_original_sample.double())
        if k + 1 < STEPS:
            assert torch.equal(run.x_t[k + 1], step.sample.float())  # each step's draw is the next input
    assert torch.equal(run.sample, steps[-1].sample.float())


def test_r2_along_is_compare_denoisers_r2(run, local, exact, comparison):
    np.testing.assert_array_equal(r2_along(run, local), comparison.r2_local)
    np.testing.assert_array_equal(r2_along(run, exact), comparison.r2_exact)
    k = 2
    by_hand = r_squared(local.predict_x0(run.x_t[k].double(), int(run.timesteps[k])), run.x0[k])
    np.testing.assert_array_equal(r2_along(run, local)[k], by_hand.numpy())


def test_r2_along_in_float32_matches_float64(run, data, local):
    fast = LocalPosterior(data, 3, PosteriorDDPMScheduler(), dtype=torch.float32)
    np.testing.assert_allclose(r2_along(run, fast), r2_along(run, local), atol=1e-4)


def test_model_run_bad_arguments(pipe, run):
    with pytest.raises(ValueError, match=r"num_inference_steps must be an integer in \[1, 1000\]"):
        model_run(pipe, 1, 0, 0)
    with pytest.raises(ValueError, match="batch_size"):
        model_run(pipe, 0, 0, 3)
    with pytest.raises(ValueError, match="seed"):
        model_run(pipe, 1, -1, 3)
    with pytest.raises(ValueError, match="denoiser must have a predict_x0"):
        r2_along(run, object())
