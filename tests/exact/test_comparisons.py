"""The comparisons built on DatasetPosterior: tractable vs exact vs model at one step (with the training loss of
eq. 8), exact vs model samplers from the same noise, when the exact sampler commits, the held-out yardstick."""

import json
import math

import numpy as np
import pytest
import torch

from helpers import exact_data
from helpers.exact_data import SHAPE, N, alpha_bar, brute_force
from pipelines import PosteriorDDPMPipeline, PosteriorDDPMScheduler
from pipelines.exact.comparisons import COMMIT_WEIGHT, compare_estimates, compare_samplers, heldout_nearest_distances
from pipelines.exact.neighbours import l2_distance, nearest_neighbours
from pipelines.exact.posterior import DatasetPosterior

# the shared fixtures (tests/helpers/exact_data.py)
data, pipe, posterior, scheduler = exact_data.data, exact_data.pipe, exact_data.posterior, exact_data.scheduler


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


# ------------------------------------------------------------------------------ when the exact sampler commits
def test_compare_samplers_records_when_the_exact_sampler_commits(pipe, posterior, data, scheduler):
    c = compare_samplers(pipe, posterior, seed=3, num_images=3, num_inference_steps=5)
    assert c.timesteps == scheduler.timestep_plan(5).tolist()
    assert c.exact_effective_n.shape == c.exact_max_weight.shape == (3, 5)
    assert torch.equal(c.exact_samples, posterior.sample(3, torch.Generator().manual_seed(3), 5).float())
    assert (c.exact_effective_n[:, 0] > N / 2).all()  # t near T: nearly uniform weights
    assert torch.allclose(c.exact_effective_n[:, -1], torch.ones(3, dtype=torch.float64), atol=1e-9)
    assert torch.allclose(c.exact_max_weight[:, -1], torch.ones(3, dtype=torch.float64), atol=1e-9)
    # Σ w² lies between max w² and max w: 1 / max w <= effective_n <= 1 / max w²
    w, n_eff = c.exact_max_weight, c.exact_effective_n
    assert (1 / w <= n_eff * (1 + 1e-9)).all() and (n_eff <= (1 / w**2) * (1 + 1e-9)).all()
    for b, k in enumerate(c.exact_commit_step):
        assert k is not None and float(w[b, k]) >= COMMIT_WEIGHT and (w[b, :k] < COMMIT_WEIGHT).all()
    records = list(posterior.denoise(3, torch.Generator().manual_seed(3), 5))
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
    assert nearest_neighbours(heldout, data)[1][:, 0].tolist() == index
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
