"""DatasetPosterior: the exact q(x_{t-1}|x_t) over a finite data set, against Bayes' rule computed by brute force;
and the comparisons built on it (tractable vs exact vs model, exact vs model samplers, the cost of a step)."""

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from pipelines import DenoisingStep, PosteriorDDPMPipeline, PosteriorDDPMScheduler
from pipelines.exact_posterior import (
    COMMIT_WEIGHT,
    EXTRAPOLATION_SETS,
    STORAGE_BYTES_PER_VALUE,
    DatasetPosterior,
    StepCosts,
    compare_estimates,
    compare_samplers,
    heldout_nearest_distances,
    l2_distance,
    measure_model_step_cost,
    measure_step_cost,
    measure_step_costs,
    nearest_neighbours,
)

N, SHAPE = 20, (1, 8, 8)


@pytest.fixture(scope="module")
def data():
    """20 random 8×8 images in [-1, 1]: far apart from each other, like distinct digits."""
    return torch.rand((N, *SHAPE), generator=torch.Generator().manual_seed(0)) * 2 - 1


@pytest.fixture(scope="module")
def scheduler():
    return PosteriorDDPMScheduler()


@pytest.fixture(scope="module")
def posterior(data, scheduler):
    return DatasetPosterior(data, scheduler)


def alpha_bar(scheduler, t):
    """ᾱ_t in float64 from the betas (ᾱ_{-1} = 1), independently of the code under test."""
    return 1.0 if t < 0 else float(torch.cumprod(1 - scheduler.betas.double(), 0)[t])


def brute_force(data, x_t, t, prev_t, scheduler):
    """Bayes' rule term by term in float64: explicit Gaussian log-densities of q(x_t|x0_i), normalised, and the
    mixture mean Σ_i w_i μ̃(x_t, x0_i) with μ̃ from eq. 7 — no matmul trick, no linearity shortcut."""
    a_t, a_prev = alpha_bar(scheduler, t), alpha_bar(scheduler, prev_t)
    x0 = data.double().reshape(len(data), -1)
    x = x_t.double().reshape(len(x_t), -1)
    D = x.shape[1]
    weights, means = [], []
    for row in x:
        logp = torch.stack(
            [
                -((row - math.sqrt(a_t) * x0_i) ** 2).sum() / (2 * (1 - a_t))
                - D / 2 * math.log(2 * math.pi * (1 - a_t))
                for x0_i in x0
            ]
        )
        w = torch.exp(logp - torch.logsumexp(logp, 0))
        beta = 1 - a_t / a_prev
        mu = [
            math.sqrt(a_prev) * beta / (1 - a_t) * x0_i + math.sqrt(a_t / a_prev) * (1 - a_prev) / (1 - a_t) * row
            for x0_i in x0
        ]
        weights.append(w)
        means.append(sum(w_i * mu_i for w_i, mu_i in zip(w, mu)))
    return torch.stack(weights), torch.stack(means).reshape(x_t.shape)


def noisy(data, scheduler, t, seed=1, batch=3):
    """x_t near data images 0..batch-1 (plus noise): a realistic point where the posterior is not trivial."""
    g = torch.Generator().manual_seed(seed)
    return scheduler.add_noise(data[:batch], torch.randn((batch, *SHAPE), generator=g), t)


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
    samples = posterior.sample(12, steps, generator=torch.Generator().manual_seed(steps))
    assert samples.shape == (12, *SHAPE)
    index, distance = nearest_neighbours(samples, data)
    assert float(distance.max()) < 1e-6, distance
    assert len(set(index.tolist())) > 3  # different seeds land on different images, not one attractor


def test_denoise_yields_every_step_and_sample_consumes_it(data, scheduler, posterior):
    records = list(posterior.denoise(4, 10, generator=torch.Generator().manual_seed(7)))
    assert [r.timestep for r in records] == scheduler.timestep_plan(10).tolist()
    assert [r.prev_timestep for r in records][-1] == -1
    assert all(isinstance(r, DenoisingStep) and r.index == i and r.num_steps == 10 for i, r in enumerate(records))
    assert records[-1].sample.shape == (4, *SHAPE) and records[0].chosen_index.shape == (4,)
    assert torch.equal(records[-1].sample, data[records[-1].chosen_index])
    # effective_n falls as the chain commits to one image
    assert float(records[-1].effective_n.mean()) < float(records[0].effective_n.mean())
    again = posterior.sample(4, 10, generator=torch.Generator().manual_seed(7))
    assert torch.equal(again, records[-1].sample)


def test_custom_timesteps_and_generator_lists(posterior, data):
    samples = posterior.sample(2, None, generator=torch.Generator().manual_seed(0), timesteps=[900, 500, 100, 10])
    assert float(nearest_neighbours(samples, data)[1].max()) < 1e-6
    gens = [torch.Generator().manual_seed(s) for s in (3, 4)]
    pair = posterior.sample(2, 8, generator=gens)
    first = posterior.sample(1, 8, generator=[torch.Generator().manual_seed(3)])
    assert torch.equal(pair[:1], first)


def test_deterministic_given_a_generator(posterior):
    a = posterior.sample(6, 15, generator=torch.Generator().manual_seed(11))
    b = posterior.sample(6, 15, generator=torch.Generator().manual_seed(11))
    c = posterior.sample(6, 15, generator=torch.Generator().manual_seed(12))
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
        (lambda p, x: p.step(x, 10, 10), r"prev_t must be in \[-1, t - 1\]"),
        (lambda p, x: p.mean(x, 10, -2), r"prev_t must be in \[-1, t - 1\]"),
        (lambda p, x: p.x0_posterior(torch.zeros(3, 1, 16, 16), 5), r"x_t must have shape \(B, 1, 8, 8\)"),
        (lambda p, x: p.x0_posterior(torch.zeros(3, 3, 8, 8), 5), r"x_t must have shape \(B, 1, 8, 8\)"),
        (lambda p, x: p.x0_posterior(torch.zeros(1, 8, 8), 5), r"x_t must have shape"),
        (lambda p, x: p.x0_posterior(torch.full((1, 1, 8, 8), float("nan")), 5), r"x_t must hold finite"),
        (
            lambda p, x: p.step(x, 10, generator=[torch.Generator()]),
            r"generator must be one torch.Generator or a list of 3",
        ),
        (lambda p, x: p.sample(0, 10), r"batch_size must be an integer >= 1, got 0"),
        (lambda p, x: p.sample(1, 0), r"num_inference_steps must be an integer in \[1, 1000\]"),
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


# ------------------------------------------------------------------------------------------ tab helpers
@pytest.fixture(scope="module")
def pipe(tiny_unet):
    return PosteriorDDPMPipeline(unet=tiny_unet, scheduler=PosteriorDDPMScheduler())


def test_compare_estimates(pipe, posterior, data, scheduler):
    c = compare_estimates(data[3], 40, pipe, posterior, generator=torch.Generator().manual_seed(0))
    assert list(c.estimates) == ["tractable", "exact", "model"]
    for e in c.estimates.values():
        assert e.mean.shape == e.pred_original_sample.shape == (1, *SHAPE)
    # x_t is q(x_t|x_0) with the generator's first draw
    noise = torch.randn((1, *SHAPE), generator=torch.Generator().manual_seed(0))
    assert torch.allclose(c.x_t, scheduler.add_noise(data[3:4], noise, 40))
    mean, variance = scheduler.q_posterior(data[3:4], c.x_t, 40, 39)
    assert torch.allclose(c.estimates["tractable"].mean, mean)
    assert c.step_noise_norm == pytest.approx(math.sqrt(64 * float(variance)))
    assert torch.allclose(c.estimates["exact"].mean, posterior.mean(c.x_t, 40), atol=1e-6)
    with torch.no_grad():
        out = scheduler.step(pipe.unet(c.x_t, torch.tensor(40)).sample, 40, c.x_t, prev_timestep=39)
    assert torch.allclose(c.estimates["model"].mean, out.posterior_mean, atol=1e-6)
    assert torch.allclose(c.estimates["model"].pred_original_sample, out.pred_original_sample, atol=1e-6)
    for table, attr in ((c.mean_distances, "mean"), (c.x0_distances, "pred_original_sample")):
        for a in table:
            assert table[a][a] == 0.0
            for b in table:
                assert table[a][b] == table[b][a]
                direct = float((getattr(c.estimates[a], attr) - getattr(c.estimates[b], attr)).double().norm())
                assert l2_distance(getattr(c.estimates[a], attr), getattr(c.estimates[b], attr)) == pytest.approx(
                    direct
                )
                assert table[a][b] == pytest.approx(direct, abs=1e-6)
    assert c.source_index == 3 and c.argmax_index == 3 and c.max_weight > 0.99
    summary = json.loads(json.dumps(c.as_dict()))
    assert summary["t"] == 40 and summary["exact_posterior"]["source_index"] == 3
    assert summary["alpha_bar"] == pytest.approx(float(posterior.alphas_cumprod[40]))


def test_compare_estimates_refuses_bad_inputs(pipe, posterior, data):
    with pytest.raises(ValueError, match=r"t must be an integer in \[0, 999\], got 1000"):
        compare_estimates(data[0], 1000, pipe, posterior)
    with pytest.raises(ValueError, match=r"x0 must have shape \(B, 1, 8, 8\)"):
        compare_estimates(torch.zeros(1, 16, 16), 10, pipe, posterior)
    with pytest.raises(ValueError, match=r"x0 must hold values in \[-1, 1\]"):
        compare_estimates(data[0] * 200, 10, pipe, posterior)
    other = DatasetPosterior(data, PosteriorDDPMScheduler(beta_schedule="squaredcos_cap_v2"))
    with pytest.raises(ValueError, match=r"dataset_posterior's scheduler must have the model's noise schedule"):
        compare_estimates(data[0], 10, pipe, other)
    wrong_size = DatasetPosterior(torch.zeros(2, 1, 4, 4))
    with pytest.raises(ValueError, match=r"dataset_posterior's images \(1, 4, 4\) must match"):
        compare_estimates(data[0], 10, pipe, wrong_size)


def test_nearest_neighbours(data):
    samples = data[[5, 2, 17]] + 0.01 * torch.randn((3, *SHAPE), generator=torch.Generator().manual_seed(0))
    index, distance = nearest_neighbours(samples, data, chunk_size=4)
    assert index.tolist() == [5, 2, 17]
    assert torch.allclose(
        distance, torch.cdist(samples.reshape(3, -1).double(), data.reshape(N, -1).double()).min(1).values
    )
    index, distance = nearest_neighbours(data[[4, 9]], data)
    assert index.tolist() == [4, 9] and distance.tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match=r"samples must have shape \(B, 1, 8, 8\)"):
        nearest_neighbours(torch.zeros(2, 1, 4, 4), data)
    with pytest.raises(ValueError, match=r"data must hold at least one image"):
        nearest_neighbours(data[:1], data[:0])


def test_compare_samplers(pipe, posterior, data):
    c = compare_samplers(pipe, posterior, seed=3, num_images=3, num_inference_steps=5)
    assert c.exact_samples.shape == c.model_samples.shape == (3, *SHAPE)
    assert float(c.exact_nearest_distances.max()) < 1e-6  # the exact sampler copies training images
    assert torch.equal(c.exact_samples, data[c.exact_nearest_indices])
    assert float(c.model_nearest_distances.min()) > 1e-3  # an (untrained) model does not
    summary = json.loads(json.dumps(c.as_dict()))
    assert summary["exact"]["copies"] == 3 and summary["model"]["copies"] == 0
    again = compare_samplers(pipe, posterior, seed=3, num_images=3, num_inference_steps=5)
    assert torch.equal(again.exact_samples, c.exact_samples) and torch.equal(again.model_samples, c.model_samples)
    with pytest.raises(ValueError, match=r"seed must be an integer"):
        compare_samplers(pipe, posterior, seed=-1)
    with pytest.raises(ValueError, match=r"num_inference_steps must be an integer in \[1, 1000\]"):
        compare_samplers(pipe, posterior, num_inference_steps=0)


def test_measure_step_cost(data):
    rows = measure_step_cost(data, sizes=(5, 20), repeats=2)
    assert [r["n"] for r in rows] == [5, 20]
    assert all(r["median_ms"] > 0 and r["min_ms"] <= r["median_ms"] <= r["max_ms"] for r in rows)
    assert rows[1]["data_bytes"] == 20 * 64 * 8 == DatasetPosterior(data).data_bytes
    with pytest.raises(ValueError, match=r"sizes must be integers in \[1, 20\]"):
        measure_step_cost(data, sizes=(5, 21))


def test_measure_model_step_cost_times_the_model_step(pipe):
    cost = measure_model_step_cost(pipe, repeats=2, batch_size=3)
    assert cost["repeats"] == 2 and cost["batch_size"] == 3 and cost["t"] == 500
    assert 0 < cost["min_ms"] <= cost["median_ms"] <= cost["max_ms"]
    with pytest.raises(ValueError, match=r"repeats must be an integer >= 1, got 0"):
        measure_model_step_cost(pipe, repeats=0)


def test_bench_quick_writes_json_and_png(tmp_path):
    path = Path(__file__).resolve().parents[1] / "bench" / "bench_exact_posterior.py"
    spec = importlib.util.spec_from_file_location("bench_exact_posterior", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--quick", "--output-dir", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "exact_posterior.json").read_text())
    assert [r["n"] for r in result["series"]["float64"]] == [100, 250]
    assert result["machine"]["torch_threads"] >= 1
    assert (tmp_path / "exact_posterior.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------------------------------ training loss (eq. 8)
def step_coefficients(scheduler, t, prev_t):
    """β_t, α_t, σ_t² = β̃_t and posterior_mean_coef1/2 of the step t → prev_t, from ᾱ alone (eq. 7)."""
    a_t, a_prev = alpha_bar(scheduler, t), alpha_bar(scheduler, prev_t)
    beta = 1 - a_t / a_prev
    coef1 = math.sqrt(a_prev) * beta / (1 - a_t)
    coef2 = math.sqrt(a_t / a_prev) * (1 - a_prev) / (1 - a_t)
    return beta, 1 - beta, (1 - a_prev) / (1 - a_t) * beta, coef1, coef2


def model_mean(pipe, x_t, t, clip=True):
    """μ_θ(x_t, t) = coef1·x̂_0 + coef2·x_t with x̂_0 from ε_θ (eq. 15), clipped to [-1, 1] like the default step."""
    scheduler = pipe.scheduler
    a_t = alpha_bar(scheduler, t)
    with torch.no_grad():
        eps = pipe.unet(x_t, torch.tensor(t)).sample.double()
    x0 = (x_t.double() - math.sqrt(1 - a_t) * eps) / math.sqrt(a_t)
    if clip:
        x0 = x0.clamp(-1, 1)
    _, _, _, coef1, coef2 = step_coefficients(scheduler, t, t - 1)
    return coef1 * x0 + coef2 * x_t.double(), eps


@pytest.mark.parametrize("t", [40, 300, 700, 999])
def test_training_loss_matches_brute_force_over_the_data_set(pipe, posterior, data, scheduler, t):
    c = compare_estimates(data[3], t, pipe, posterior, generator=torch.Generator().manual_seed(0))
    x_t = c.x_t.double()
    _, _, sigma2, _, _ = step_coefficients(scheduler, t, t - 1)
    assert c.sigma2 == pytest.approx(sigma2, rel=1e-9)
    weights, exact_mean = brute_force(data, c.x_t, t, t - 1, scheduler)
    tractable = scheduler.q_posterior(data[3:4].double(), x_t, t, t - 1)[0]
    means = {"model": model_mean(pipe, c.x_t, t)[0], "exact": exact_mean, "tractable": tractable}
    assert torch.allclose(means["model"].float(), c.estimates["model"].mean, atol=1e-5)
    # μ̃(x_t, x_0^i) of every training image, one by one, and the average of ‖μ̃_i − μ‖² under q(x_0^i | x_t)
    mu_i = [scheduler.q_posterior(data[i : i + 1].double(), x_t, t, t - 1)[0] for i in range(N)]
    for name, mu in means.items():
        this = float(((tractable - mu) ** 2).sum()) / (2 * sigma2)
        expected = sum(float(weights[0, i]) * float(((mu_i[i] - mu) ** 2).sum()) for i in range(N)) / (2 * sigma2)
        assert c.training_loss["this_x0"][name] == pytest.approx(this, rel=1e-6, abs=1e-12), name
        assert c.training_loss["expected"][name] == pytest.approx(expected, rel=1e-6, abs=1e-12), name
    assert c.training_loss["this_x0"]["tractable"] == 0.0
    loss = c.training_loss["expected"]
    assert loss["exact"] <= loss["model"] and loss["exact"] <= loss["tractable"]
    if t >= 300:  # the posterior still hesitates: the exact mean is strictly the best, and its loss is not 0
        assert loss["exact"] < loss["model"] and loss["exact"] < loss["tractable"] and loss["exact"] > 0
    summary = json.loads(json.dumps(c.as_dict()))
    assert summary["training_loss"] == c.training_loss and summary["sigma2"] == c.sigma2
    # the public pieces: E_i‖μ̃_i − μ‖² for a batch of means, and tr Cov[x_0 | x_t]
    batch = torch.cat([means[n] for n in ("model", "exact", "tractable")])
    sq = posterior.expected_sq_distance(x_t.expand(3, *SHAPE), t, batch)
    assert sq.dtype == torch.float64 and sq.shape == (3,)
    for k, name in enumerate(("model", "exact", "tractable")):
        assert float(sq[k]) / (2 * sigma2) == pytest.approx(loss[name], rel=1e-6, abs=1e-12)
    x0 = data.double().reshape(N, -1)
    m = weights[0] @ x0
    spread = float((weights[0] * ((x0 - m) ** 2).sum(1)).sum())
    assert float(posterior.x0_variance(c.x_t, t)[0]) == pytest.approx(spread, rel=1e-6, abs=1e-12)


@pytest.mark.parametrize("t", [1, 40, 500, 999])
def test_model_training_loss_is_the_weighted_epsilon_mse(tiny_unet, posterior, data, t):
    # Ho et al. eq. 12: for μ_θ = μ̃(x_t, x̂_0(ε_θ)), L_{t-1} = β_t² / (2σ² α_t (1 − ᾱ_t)) ‖ε − ε_θ‖² (no clipping).
    pipe = PosteriorDDPMPipeline(unet=tiny_unet, scheduler=PosteriorDDPMScheduler(clip_sample=False))
    c = compare_estimates(data[5], t, pipe, posterior, generator=torch.Generator().manual_seed(0))
    noise = torch.randn((1, *SHAPE), generator=torch.Generator().manual_seed(0))
    assert torch.equal(c.noise, noise)
    beta, alpha, sigma2, _, _ = step_coefficients(pipe.scheduler, t, t - 1)
    _, eps = model_mean(pipe, c.x_t, t, clip=False)
    mse = float(((noise.double() - eps) ** 2).sum())
    weight = beta**2 / (2 * sigma2 * alpha * (1 - alpha_bar(pipe.scheduler, t)))
    assert c.epsilon_mse == pytest.approx(mse, rel=1e-6)
    assert c.epsilon_loss_weight == pytest.approx(weight, rel=1e-9)
    assert c.training_loss["this_x0"]["model"] == pytest.approx(weight * mse, rel=1e-4)
    assert c.as_dict()["epsilon_loss"]["loss"] == pytest.approx(weight * mse, rel=1e-9)


def test_training_loss_is_undefined_at_t_zero(pipe, posterior, data):
    c = compare_estimates(data[0], 0, pipe, posterior, generator=torch.Generator().manual_seed(0))
    assert c.training_loss is None and c.sigma2 == 0.0 and c.epsilon_loss_weight is None and c.epsilon_mse > 0
    summary = json.loads(json.dumps(c.as_dict()))
    assert summary["training_loss"] is None and summary["epsilon_loss"]["loss"] is None


def test_expected_sq_distance_refuses_bad_inputs(posterior, data, scheduler):
    x_t = noisy(data, scheduler, 10)
    with pytest.raises(ValueError, match=r"mean must hold one image per x_t \(3\), got 2"):
        posterior.expected_sq_distance(x_t, 10, x_t[:2])
    with pytest.raises(ValueError, match=r"mean must have shape \(B, 1, 8, 8\)"):
        posterior.expected_sq_distance(x_t, 10, torch.zeros(3, 1, 4, 4))
    with pytest.raises(ValueError, match=r"t must be in \[0, 999\], got 1000"):
        posterior.expected_sq_distance(x_t, 1000, x_t)
    with pytest.raises(ValueError, match=r"prev_t must be in \[-1, t - 1\]"):
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


# ------------------------------------------------------------------------------ when the exact sampler commits
def test_compare_samplers_records_when_the_exact_sampler_commits(pipe, posterior, data, scheduler):
    c = compare_samplers(pipe, posterior, seed=3, num_images=3, num_inference_steps=5)
    assert c.timesteps == scheduler.timestep_plan(5).tolist()
    assert c.exact_effective_n.shape == c.exact_max_weight.shape == (3, 5)
    assert torch.equal(c.exact_samples, posterior.sample(3, 5, torch.Generator().manual_seed(3)).float())
    assert (c.exact_effective_n[:, 0] > N / 2).all()  # t near T: nearly uniform weights
    assert torch.allclose(c.exact_effective_n[:, -1], torch.ones(3, dtype=torch.float64), atol=1e-9)
    assert torch.allclose(c.exact_max_weight[:, -1], torch.ones(3, dtype=torch.float64), atol=1e-9)
    # Σ w² lies between max w² and max w: 1 / max w <= effective_n <= 1 / max w²
    w, n_eff = c.exact_max_weight, c.exact_effective_n
    assert (1 / w <= n_eff * (1 + 1e-9)).all() and (n_eff <= (1 / w**2) * (1 + 1e-9)).all()
    for b, k in enumerate(c.exact_commit_step):
        assert k is not None and float(w[b, k]) >= COMMIT_WEIGHT and (w[b, :k] < COMMIT_WEIGHT).all()
    records = list(posterior.denoise(3, 5, torch.Generator().manual_seed(3)))
    assert torch.equal(n_eff[:, 2], records[2].effective_n.double())
    summary = json.loads(json.dumps(c.as_dict()))["exact"]
    assert summary["timesteps"] == c.timesteps and summary["commit_step"] == c.exact_commit_step
    assert summary["effective_n"] == n_eff.tolist() and summary["max_weight"] == w.tolist()
    assert len(summary["effective_n"]) == 3 and all(len(row) == 5 for row in summary["effective_n"])
    assert "heldout_nearest_distance_median" not in c.as_dict()


def test_commit_step_is_none_when_the_chain_never_commits(tiny_unet, data):
    # One step from t = T − 1: the only weights seen are nearly uniform.
    trailing = PosteriorDDPMScheduler(timestep_spacing="trailing")
    pipe = PosteriorDDPMPipeline(unet=tiny_unet, scheduler=trailing)
    c = compare_samplers(pipe, DatasetPosterior(data, trailing), seed=0, num_images=2, num_inference_steps=1)
    assert c.timesteps == [999] and c.exact_commit_step == [None, None]
    assert (c.exact_max_weight < COMMIT_WEIGHT).all()
    assert json.loads(json.dumps(c.as_dict()))["exact"]["commit_step"] == [None, None]


# ------------------------------------------------------------------------------------------ held-out yardstick
def test_heldout_nearest_distances_give_the_known_offsets(pipe, posterior, data):
    index, offsets = [2, 7, 11], torch.tensor([0.1, 0.25, 0.5])
    D = int(np.prod(SHAPE))
    towards_zero = -torch.sign(data[index]) / math.sqrt(D)  # a unit vector per image that stays in [-1, 1]
    heldout = data[index] + offsets.reshape(3, 1, 1, 1) * towards_zero
    distances = heldout_nearest_distances(heldout, data)
    assert distances.dtype == torch.float64 and distances.shape == (3,)
    assert torch.allclose(distances, offsets.double(), atol=1e-6)
    assert nearest_neighbours(heldout, data)[0].tolist() == index
    c = compare_samplers(pipe, posterior, seed=0, num_images=1, num_inference_steps=3, heldout=heldout)
    assert torch.allclose(c.heldout_nearest_distances, offsets.double(), atol=1e-6)
    summary = json.loads(json.dumps(c.as_dict()))
    assert summary["heldout_nearest_distance_median"] == pytest.approx(0.25, abs=1e-6)
    assert summary["num_heldout"] == 3
    with pytest.raises(ValueError, match=r"heldout must hold values in \[-1, 1\]"):
        heldout_nearest_distances(heldout * 255, data)
    with pytest.raises(ValueError, match=r"heldout must have the data's image shape \(1, 8, 8\)"):
        heldout_nearest_distances(torch.zeros(2, 1, 4, 4), data)
    with pytest.raises(ValueError, match=r"heldout must hold at least one image"):
        compare_samplers(pipe, posterior, heldout=data[:0])


# ------------------------------------------------------------------------------------------ one cost protocol
def test_measure_step_costs_one_protocol_and_a_linear_extrapolation(pipe, data):
    targets = [("a", 1000, 64), ("twice a", 2000, 64), *EXTRAPOLATION_SETS]
    costs = measure_step_costs(pipe, data, sizes=(5, 10, 20), repeats=2, batch_size=2, min_seconds=0, targets=targets)
    assert isinstance(costs, StepCosts)
    assert [r["N"] for r in costs.rows] == [5, 10, 20] and all(r["D"] == 64 for r in costs.rows)
    assert all(0 < r["min_ms"] <= r["ms"] <= r["max_ms"] and r["repeats"] >= 2 for r in costs.rows)
    assert costs.rows[2]["data_bytes"] == 20 * 64 * 8
    assert costs.model_ms > 0 and costs.model_min_ms <= costs.model_ms <= costs.model_max_ms
    assert costs.model_repeats >= 2 and costs.batch_size == 2 and costs.t == 500 and costs.dtype == "float64"
    assert costs.torch_threads == torch.get_num_threads() and costs.model_device == "cpu"
    # c: least squares through the origin on the larger half of the sizes
    assert costs.fit_sizes == [10, 20]
    fit = [r for r in costs.rows if r["N"] in (10, 20)]
    c = sum(r["ms"] * r["N"] * 64 for r in fit) / sum((r["N"] * 64) ** 2 for r in fit)
    assert costs.ms_per_element == pytest.approx(c, rel=1e-12) and c > 0
    rows = {r["name"]: r for r in costs.extrapolated}
    assert list(rows) == [name for name, _, _ in targets]
    for name, n, d in targets:
        assert rows[name]["N"] == n and rows[name]["D"] == d
        assert rows[name]["ms"] / (n * d) == pytest.approx(c, rel=1e-12)
        assert rows[name]["bytes"] == n * d * 4 == n * d * STORAGE_BYTES_PER_VALUE
    assert rows["twice a"]["ms"] == pytest.approx(2 * rows["a"]["ms"], rel=1e-12)
    assert rows["CIFAR-10"]["N"] == 50_000 and rows["CIFAR-10"]["D"] == 3_072
    assert rows["ImageNet 64×64"]["N"] == 1_281_167 and rows["ImageNet 64×64"]["D"] == 12_288
    assert rows["LAION-400M at 64×64×3"]["N"] == 400_000_000 and rows["LAION-400M at 64×64×3"]["D"] == 12_288
    summary = json.loads(json.dumps(costs.as_dict()))
    assert summary["extrapolated"] == costs.extrapolated and summary["storage_bytes_per_value"] == 4


def test_measure_step_costs_takes_more_repeats_where_the_step_is_fast(pipe, data):
    costs = measure_step_costs(pipe, data, sizes=(20,), repeats=1, min_seconds=0.05, targets=())
    assert costs.rows[0]["repeats"] > 1 and costs.extrapolated == [] and costs.fit_sizes == [20]
    assert costs.ms_per_element == pytest.approx(costs.rows[0]["ms"] / (20 * 64), rel=1e-12)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(sizes=(0,)), r"sizes must be integers in \[1, 20\]"),
        (dict(sizes=(5, 21)), r"sizes must be integers in \[1, 20\]"),
        (dict(sizes=()), r"sizes must be integers"),
        (dict(sizes="5"), r"sizes must be integers"),
        (dict(repeats=0), r"repeats must be an integer >= 1, got 0"),
        (dict(batch_size=0), r"batch_size must be an integer >= 1, got 0"),
        (dict(t=1000), r"t must be an integer in \[1, 999\], got 1000"),
        (dict(t=0), r"t must be an integer in \[1, 999\], got 0"),
        (dict(dtype=torch.float16), r"dtype must be torch.float32 or torch.float64"),
        (dict(seed=-1), r"seed must be an integer in \[0, 4294967295\], got -1"),
        (dict(min_seconds=-1), r"min_seconds must be a number in \[0, 600\]"),
        (dict(targets=[("x", 0, 64)]), r"targets must be \(name, N, D\) triples"),
        (dict(targets="CIFAR"), r"targets must be \(name, N, D\) triples"),
        (dict(data=torch.zeros(8, 8)), r"data must have shape \(B, C, H, W\)"),
    ],
)
def test_measure_step_costs_refuses_bad_arguments(pipe, data, kwargs, match):
    with pytest.raises(ValueError, match=match):
        measure_step_costs(pipe, **{"data": data, "sizes": (5,), "repeats": 1, "min_seconds": 0, **kwargs})
