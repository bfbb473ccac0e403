"""DatasetPosterior: the exact q(x_{t-1}|x_t) over a finite data set, against Bayes' rule computed by brute force."""

import math

import numpy as np
import pytest
import torch

from helpers import exact_data
from helpers.exact_data import SHAPE, N, alpha_bar, brute_force, noisy
from pipelines import DenoisingStep, PosteriorDDPMScheduler
from pipelines.exact.neighbours import nearest_neighbours
from pipelines.exact.posterior import DatasetPosterior

# the shared fixtures (tests/helpers/exact_data.py)
data, posterior, scheduler = exact_data.data, exact_data.posterior, exact_data.scheduler


# ------------------------------------------------------------------------------------------ the posterior
@pytest.mark.parametrize(
    "t,prev_t", [(999, 998), (500, 499), (120, 119), (40, 39), (3, 2), (0, -1), (700, 300), (250, -1)]
)
def test_weights_and_mixture_mean_match_brute_force(data, scheduler, posterior, t, prev_t):
    x_t = noisy(data, scheduler, t)
    weights_ref, mean_ref = brute_force(data, x_t, t, prev_t, scheduler)
    weights = posterior.x0_posterior(x_t, t)
    assert weights.shape == (3, N)
    assert torch.allclose(weights.sum(1), torch.ones(3, dtype=weights.dtype))
    assert torch.allclose(weights, weights_ref, atol=1e-9, rtol=1e-6)
    assert torch.allclose(posterior.mean(x_t, t, prev_t).double(), mean_ref, atol=1e-5)
    x0_ref = (weights_ref @ data.double().reshape(N, -1)).reshape(x_t.shape)
    assert torch.allclose(posterior.predict_x0(x_t, t).double(), x0_ref, atol=1e-5)


def test_log_weights_are_stable_where_densities_underflow(data, scheduler, posterior):
    # At t = 0 the Gaussians are so narrow that every density but one underflows even in float64.
    x_t = noisy(data, scheduler, 0)
    log_w = posterior.x0_log_posterior(x_t, 0)
    assert torch.isfinite(log_w.logsumexp(1)).all()
    assert torch.allclose(log_w.logsumexp(1), torch.zeros(3, dtype=log_w.dtype), atol=1e-12)
    assert torch.equal(log_w.argmax(1), torch.arange(3))


@pytest.mark.parametrize("t", [300, 5])  # dense weights, and weights mostly exactly 0 (the sparse mean)
def test_chunking_and_float32_give_the_same_answer(data, scheduler, posterior, t):
    x_t = noisy(data, scheduler, t)
    ref = posterior.posterior(x_t, t)
    chunked = DatasetPosterior(data, scheduler, chunk_size=3).posterior(x_t, t)
    assert torch.allclose(chunked.weights, ref.weights, atol=1e-12)
    assert torch.allclose(chunked.posterior_mean, ref.posterior_mean, atol=1e-6)
    assert torch.allclose(chunked.pred_original_sample, ref.pred_original_sample, atol=1e-6)
    single = DatasetPosterior(data, scheduler, dtype=torch.float32).posterior(x_t, t)
    assert torch.allclose(single.weights.double(), ref.weights, atol=1e-4)
    assert torch.allclose(single.posterior_mean, ref.posterior_mean, atol=1e-4)


def test_per_sample_timesteps(data, scheduler, posterior):
    x_t = noisy(data, scheduler, 200)
    t = torch.tensor([900, 200, 5])
    weights = posterior.x0_posterior(x_t, t)
    for b in range(3):
        assert torch.allclose(weights[b], posterior.x0_posterior(x_t[b : b + 1], int(t[b]))[0])
        mean_b = posterior.mean(x_t[b : b + 1], int(t[b]))
        assert torch.allclose(posterior.mean(x_t, t)[b], mean_b[0], atol=1e-6)


@pytest.mark.parametrize("t,prev_t", [(600, 599), (600, 100), (10, 9), (1, 0)])
def test_one_image_gives_the_tractable_posterior(data, scheduler, t, prev_t):
    # N = 1: q(x_0|x_t) is a point mass, so q(x_{t-1}|x_t) = q(x_{t-1}|x_t,x_0) exactly (eq. 6-7).
    one = DatasetPosterior(data[:1], scheduler)
    x_t = noisy(data, scheduler, t, batch=1).expand(256, *SHAPE)
    mean_ref, var_ref = scheduler.q_posterior(data[:1], x_t, t, prev_t)
    out = one.step(x_t, t, prev_t, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out.weights, torch.ones(256, 1, dtype=out.weights.dtype))
    assert torch.allclose(out.posterior_mean, mean_ref, atol=1e-6)
    assert torch.allclose(out.posterior_variance, var_ref)
    # The draws: mean and variance of the Gaussian, within sampling error over 256 × 64 values.
    residual = (out.prev_sample - mean_ref).double()
    var = float(var_ref)
    assert abs(float(residual.mean())) < 5 * math.sqrt(var / residual.numel())
    assert abs(float(residual.var()) / var - 1) < 0.05


def test_step_draws_components_with_the_posterior_weights(data, scheduler):
    # Two images, and an x_t between them: the chosen components must follow q(x_0|x_t) (here ~0.3 / 0.7).
    two = DatasetPosterior(data[:2], scheduler)
    t = 400
    w = None
    for shift in np.linspace(-0.5, 0.5, 41):
        x = (0.5 + shift) * data[0:1] + (0.5 - shift) * data[1:2]
        x_t = math.sqrt(alpha_bar(scheduler, t)) * x
        w = two.x0_posterior(x_t, t)[0]
        if 0.25 < float(w[0]) < 0.4:
            break
    assert 0.25 < float(w[0]) < 0.4
    g = torch.Generator().manual_seed(0)
    draws = torch.cat([two.step(x_t.expand(64, *SHAPE), t, generator=g).chosen_index for _ in range(40)])
    freq = float((draws == 0).double().mean())
    assert abs(freq - float(w[0])) < 4 * math.sqrt(float(w[0] * w[1]) / len(draws))


def test_final_step_returns_the_chosen_image(data, scheduler, posterior):
    x_t = noisy(data, scheduler, 30)
    out = posterior.step(x_t, 30, -1, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out.prev_sample, data[out.chosen_index])
    assert float(out.posterior_variance) == 0.0


def test_weights_concentrate_on_the_nearest_image_at_small_t(data, scheduler, posterior):
    for t in (0, 5, 20):
        x_t = noisy(data, scheduler, t, seed=t, batch=N)
        out = posterior.posterior(x_t, t)
        assert (out.max_weight > 0.99).all()
        assert torch.equal(out.argmax_index, torch.arange(N))
        assert torch.allclose(out.effective_n, torch.ones(N, dtype=out.effective_n.dtype), atol=0.03)
    # …and spread over the whole data set at t = T − 1, where x_t carries almost nothing of x_0.
    far = posterior.posterior(noisy(data, scheduler, 999), 999)
    assert (far.effective_n > N / 2).all()


def test_ideal_model_output_reproduces_the_mean_through_scheduler_step(data, scheduler, posterior):
    # E[x_0|x_t] is the ideal denoiser: fed as a model output through the DDPM step it gives the exact mean.
    for t, prev_t in [(900, 899), (400, 380), (50, 49)]:
        x_t = noisy(data, scheduler, t)
        out = posterior.posterior(x_t, t, prev_t)
        ideal = posterior.ideal_model_output(x_t, t, out.pred_original_sample)
        step = scheduler.step(ideal, t, x_t, prev_timestep=prev_t, generator=torch.Generator().manual_seed(0))
        assert torch.allclose(step.posterior_mean, out.posterior_mean, atol=1e-4)


@pytest.mark.parametrize("steps", [20, 50])
def test_samples_from_noise_are_training_images(data, posterior, steps):
    samples = posterior.sample(12, num_inference_steps=steps, generator=torch.Generator().manual_seed(steps))
    assert samples.shape == (12, *SHAPE)
    distance, index = nearest_neighbours(samples, data)
    assert float(distance.max()) < 1e-6, distance
    assert len(set(index[:, 0].tolist())) > 3  # different seeds land on different images, not one attractor


def test_denoise_yields_every_step_and_sample_consumes_it(data, scheduler, posterior):
    records = list(posterior.denoise(4, num_inference_steps=10, generator=torch.Generator().manual_seed(7)))
    assert [r.timestep for r in records] == scheduler.timestep_plan(10).tolist()
    assert [r.prev_timestep for r in records][-1] == -1
    assert all(isinstance(r, DenoisingStep) and r.index == i and r.num_steps == 10 for i, r in enumerate(records))
    assert records[-1].sample.shape == (4, *SHAPE) and records[0].chosen_index.shape == (4,)
    assert torch.equal(records[-1].sample, data[records[-1].chosen_index])
    # effective_n falls as the chain commits to one image
    assert float(records[-1].effective_n.mean()) < float(records[0].effective_n.mean())
    again = posterior.sample(4, num_inference_steps=10, generator=torch.Generator().manual_seed(7))
    assert torch.equal(again, records[-1].sample)


def test_custom_timesteps_and_generator_lists(posterior, data):
    samples = posterior.sample(
        2, num_inference_steps=None, generator=torch.Generator().manual_seed(0), timesteps=[900, 500, 100, 10]
    )
    assert float(nearest_neighbours(samples, data)[0].max()) < 1e-6
    gens = [torch.Generator().manual_seed(s) for s in (3, 4)]
    pair = posterior.sample(2, num_inference_steps=8, generator=gens)
    first = posterior.sample(1, num_inference_steps=8, generator=[torch.Generator().manual_seed(3)])
    assert torch.equal(pair[:1], first)


def test_deterministic_given_a_generator(posterior):
    a = posterior.sample(6, num_inference_steps=15, generator=torch.Generator().manual_seed(11))
    b = posterior.sample(6, num_inference_steps=15, generator=torch.Generator().manual_seed(11))
    c = posterior.sample(6, num_inference_steps=15, generator=torch.Generator().manual_seed(12))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_default_data_is_the_mnist_train_split():
    mnist = DatasetPosterior()
    assert len(mnist) == 4500 and mnist.image_shape == (1, 32, 32)
    x_t = torch.randn(1, 1, 32, 32)
    assert mnist.x0_posterior(x_t, 500).shape == (1, 4500)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda p, x: p.x0_posterior(x, 1000), r"t must be in \[0, 999\], got 1000"),
        (lambda p, x: p.x0_posterior(x, -1), r"t must be in \[0, 999\], got -1"),
        (lambda p, x: p.mean(x, 2.5), r"t must be an integer"),
        (lambda p, x: p.x0_posterior(x, torch.tensor([1, 2])), r"t must be an integer or 3 integers"),
        (lambda p, x: p.step(x, 10, 10), r"prev_t must be in \[-1, 9\] for t 10, got 10"),
        (lambda p, x: p.mean(x, 10, -2), r"prev_t must be in \[-1, 9\] for t 10, got -2"),
        (lambda p, x: p.x0_posterior(torch.zeros(3, 1, 16, 16), 5), r"x_t must have shape \(B, 1, 8, 8\)"),
        (lambda p, x: p.x0_posterior(torch.zeros(3, 3, 8, 8), 5), r"x_t must have shape \(B, 1, 8, 8\)"),
        (lambda p, x: p.x0_posterior(torch.zeros(1, 8, 8), 5), r"x_t must have shape"),
        (lambda p, x: p.x0_posterior(torch.full((1, 1, 8, 8), float("nan")), 5), r"x_t must hold finite"),
        (
            lambda p, x: p.step(x, 10, generator=[torch.Generator()]),
            r"generator must be one torch.Generator or a list of 3",
        ),
        (lambda p, x: p.sample(0, num_inference_steps=10), r"batch_size must be an integer >= 1, got 0"),
        (lambda p, x: p.sample(1, num_inference_steps=0), r"num_inference_steps must be an integer in \[1, 1000\]"),
    ],
)
def test_bad_inputs_raise_value_error_naming_the_parameter(posterior, data, scheduler, call, match):
    with pytest.raises(ValueError, match=match):
        call(posterior, noisy(data, scheduler, 10))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(data=torch.zeros(0, 1, 8, 8)), r"data must hold at least one image"),
        (dict(data=torch.zeros(8, 8)), r"data must have shape \(B, C, H, W\)"),
        (dict(data=torch.full((2, 1, 8, 8), 255.0)), r"data must hold values in \[-1, 1\]"),
        (dict(data=[[0.0]]), r"data must be a tensor"),
        (dict(data=torch.zeros(2, 1, 8, 8), chunk_size=0), r"chunk_size must be an integer >= 1"),
        (dict(data=torch.zeros(2, 1, 8, 8), dtype=torch.float16), r"dtype must be torch.float32 or torch.float64"),
        (dict(data=torch.zeros(2, 1, 8, 8), scheduler="ddpm"), r"scheduler must be a PosteriorDDPMScheduler"),
    ],
)
def test_bad_construction_raises_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DatasetPosterior(**kwargs)


def test_stock_ddpm_scheduler_is_converted(data):
    from diffusers import DDPMScheduler

    p = DatasetPosterior(data, DDPMScheduler(num_train_timesteps=50))
    assert isinstance(p.scheduler, PosteriorDDPMScheduler) and p.num_train_timesteps == 50
    with pytest.raises(ValueError, match=r"t must be in \[0, 49\]"):
        p.x0_posterior(data[:1], 50)


def test_expected_sq_distance_refuses_bad_inputs(posterior, data, scheduler):
    x_t = noisy(data, scheduler, 10)
    with pytest.raises(ValueError, match=r"mean must hold one image per x_t \(3\), got 2"):
        posterior.expected_sq_distance(x_t, 10, x_t[:2])
    with pytest.raises(ValueError, match=r"mean must have shape \(B, 1, 8, 8\)"):
        posterior.expected_sq_distance(x_t, 10, torch.zeros(3, 1, 4, 4))
    with pytest.raises(ValueError, match=r"t must be in \[0, 999\], got 1000"):
        posterior.expected_sq_distance(x_t, 1000, x_t)
    with pytest.raises(ValueError, match=r"prev_t must be in \[-1, 9\]"):
        posterior.expected_sq_distance(x_t, 10, x_t, prev_t=10)
    with pytest.raises(ValueError, match=r"t must be an integer in \[0, 999\]"):
        posterior.x0_variance(x_t, 2.5)


def test_x0_variance_in_float32_and_per_sample_t(posterior, data, scheduler):
    x_t = noisy(data, scheduler, 300)
    ref = posterior.x0_variance(x_t, 300)
    assert (ref > 0).all()
    single = DatasetPosterior(data, scheduler, dtype=torch.float32).x0_variance(x_t, 300)
    assert single.dtype == torch.float64 and torch.allclose(single, ref, rtol=1e-4)
    t = torch.tensor([900, 300, 5])
    per_sample = posterior.expected_sq_distance(x_t, t, x_t)
    for b in range(3):
        one = posterior.expected_sq_distance(x_t[b : b + 1], int(t[b]), x_t[b : b + 1])
        assert float(per_sample[b]) == pytest.approx(float(one[0]), rel=1e-9)
