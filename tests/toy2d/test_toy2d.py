"""The 2-D world's library (pipelines/toy2d/): the exact mixture against brute force, the KL estimates against
closed forms, small steps Gaussian and big ones not, the KL to p_θ split into its parts, the optimal variance beats
β̃, exact samples are copies, training lowers the loss."""

import math

import pytest
import torch

from pipelines import toy2d
from pipelines.exact.comparisons import compare_samplers
from pipelines.exact.neighbours import COPY_DISTANCE
from pipelines.exact.posterior import DatasetPosterior


@pytest.fixture(scope="module")
def moons():
    points = toy2d.load_points("two_moons", 64)
    return points, DatasetPosterior(toy2d.as_images(points), toy2d.toy_scheduler())


def test_points_are_nested_seeded_subsets_inside_model_space():
    small, big = toy2d.load_points("spiral", 16), toy2d.load_points("spiral", 400)
    assert torch.equal(small, big[:16]) and float(big.abs().max()) <= toy2d.EXTENT + 1e-6
    with pytest.raises(ValueError, match=r"num_points must be an integer in \[4, 4000\]"):
        toy2d.load_points("spiral", 3)


def test_exact_step_is_bayes_rule_over_the_points_by_brute_force(moons):
    points, posterior = moons
    x_t, t, prev_t = torch.tensor([0.1, -0.2], dtype=torch.float64), 120, 70
    weights, means, variance = toy2d.exact_step(posterior, x_t, t, prev_t)
    a = torch.cumprod(1 - toy2d.toy_scheduler().betas.double(), 0)
    logits = -((x_t - a[t].sqrt() * points.double()) ** 2).sum(1) / (2 * (1 - a[t]))
    assert torch.allclose(weights, torch.softmax(logits, 0), atol=1e-10)
    coef1 = a[prev_t].sqrt() * (1 - a[t] / a[prev_t]) / (1 - a[t])
    coef2 = (a[t] / a[prev_t]).sqrt() * (1 - a[prev_t]) / (1 - a[t])
    assert torch.allclose(means, coef1 * points.double() + coef2 * x_t, atol=1e-6)
    assert math.isclose(variance, float((1 - a[prev_t]) / (1 - a[t]) * (1 - a[t] / a[prev_t])), rel_tol=1e-5)
    # the mixture density at a point, summed by hand
    x = torch.tensor([[0.05, -0.1]], dtype=torch.float64)
    by_hand = (weights * torch.exp(-((x - means) ** 2).sum(1) / (2 * variance)) / (2 * math.pi * variance)).sum()
    assert math.isclose(
        float(toy2d.mixture_log_density(x, weights, means, variance)), float(by_hand.log()), rel_tol=1e-9
    )


def test_kl_of_a_gaussian_to_itself_is_zero_and_to_another_is_the_closed_form():
    mean, var = torch.tensor([[0.3, -0.1]], dtype=torch.float64), 0.04
    cov = var * torch.eye(2, dtype=torch.float64)
    other_mean, other_cov = torch.tensor([0.5, 0.0], dtype=torch.float64), 0.09 * torch.eye(2, dtype=torch.float64)
    same, other = toy2d.kl_mixture_to_gaussians(torch.ones(1), mean, var, [(mean[0], cov), (other_mean, other_cov)])
    assert abs(same.nats) < 1e-12  # float rounding of two ways to compute one log-density
    exact = toy2d.gaussian_kl(mean[0], cov, other_mean, other_cov)
    assert abs(other.nats - exact) < 4 * other.standard_error + 1e-3


def test_kl_of_two_far_components_to_their_moment_match_is_its_closed_form_limit():
    # p = ½N(−a, s²I) + ½N(a, s²I) with a ≫ s: H(p) → H(N(0, s²I)) + log 2, so KL(p ‖ q*) → ½log(1 + a²/s²) − log 2
    a, s2 = 1.0, 0.01
    means = torch.tensor([[-a, 0.0], [a, 0.0]], dtype=torch.float64)
    weights = torch.tensor([0.5, 0.5], dtype=torch.float64)
    best = toy2d.moment_matched(weights, means, s2)
    (kl,) = toy2d.kl_mixture_to_gaussians(weights, means, s2, [best], num_draws=20_000)
    limit = 0.5 * math.log(1 + a * a / s2) - math.log(2)
    assert abs(kl.nats - limit) < 4 * kl.standard_error + 1e-3, (kl, limit)


def test_one_small_step_is_nearly_gaussian_and_a_big_one_is_not(moons):
    _, posterior = moons
    view = toy2d.toy_step_view(posterior, toy2d.load_toy_model("two_moons"), (0.0, 0.0), 500, 500, strides=(1,))
    rows = view.as_dict()["stride_table"]
    assert [r["stride"] for r in rows] == [1, 500]
    assert rows[0]["kl_gaussian_nats"] < 1e-4 and rows[1]["kl_gaussian_nats"] > 0.5, rows


@pytest.fixture(scope="module")
def default_view(moons):
    _, posterior = moons
    return toy2d.toy_step_view(posterior, toy2d.load_toy_model("two_moons"), (0.0, 0.0), 60, 50, num_draws=20_000)


def test_the_kl_to_p_theta_is_the_best_gaussians_plus_its_gap_as_direct_draws_confirm(moons, default_view):
    # the view uses KL(exact ‖ p_θ) = KL(exact ‖ best) + KL(best ‖ p_θ); a direct Monte-Carlo estimate agrees
    _, posterior = moons
    step = default_view.step
    eye = torch.eye(2, dtype=torch.float64)
    direct = toy2d.kl_mixture_to_gaussians(
        default_view.weights,
        step.component_means,
        step.component_variance,
        [(step.model_mean, step.variances[name] * eye) for name in toy2d.VARIANCES],
        num_draws=40_000,
        seed=1,
    )
    for name, estimate in zip(toy2d.VARIANCES, direct):
        shown = step.kl_by_variance[name]
        assert abs(estimate.nats - shown.nats) < 4 * (estimate.standard_error + shown.standard_error), name
    assert step.kl_model.nats == pytest.approx(step.kl_gaussian.nats + default_view.kl_best_to_model)


def test_the_gap_splits_exactly_into_a_mean_part_and_a_variance_part(default_view):
    summary = default_view.as_dict()
    parts = summary["kl_model_mean_nats"] + summary["kl_model_variance_nats"]
    assert parts == pytest.approx(summary["kl_best_to_model_nats"], rel=1e-9)
    # the mean part is the closed form ‖μ_θ − μ‖² / 2σ², from the numbers the page quotes
    assert summary["kl_model_mean_nats"] == pytest.approx(0.5 * summary["model_mean_error_stds"] ** 2, rel=1e-9)
    # at the default point p_θ's β̃ is far too narrow: the variance, not the mean, is what p_θ misses
    assert summary["kl_model_variance_nats"] > 10 * summary["kl_model_mean_nats"]


def test_the_optimal_variance_beats_fixed_small_for_moderate_strides(default_view):
    summary = default_view.as_dict()
    table = {(r["stride"], r["variance"]): r for r in summary["variance_table"]}
    assert {r["variance"] for r in summary["variance_table"]} == set(toy2d.VARIANCES)
    for stride in (10, 50):
        analytic, tilde = table[stride, "analytic"], table[stride, "fixed_small"]
        assert analytic["kl_model_nats"] + 4 * analytic["standard_error"] < tilde["kl_model_nats"], (analytic, tilde)
        # σ*² lies between the two fixed choices (Bao et al.: β̃ ≤ σ*² ≤ β for DDPM)
        assert tilde["variance_value"] < analytic["variance_value"] < table[stride, "fixed_large"]["variance_value"]
    assert summary["model_std_analytic"] ** 2 == pytest.approx(table[50, "analytic"]["variance_value"])
    assert 0.0 < summary["gamma_t"] < 1.0


def test_the_2d_view_and_the_scheduler_share_the_variance_names(default_view):
    from pipelines.ddpm.scheduler import SAMPLING_VARIANCE_TYPES, VARIANCE_SYMBOLS
    from pipelines.toy2d.plots import VARIANCE_STYLES

    assert toy2d.VARIANCES == tuple(VARIANCE_SYMBOLS) == ("fixed_small", "fixed_large", "analytic")
    assert set(toy2d.VARIANCES) <= set(SAMPLING_VARIANCE_TYPES) and set(VARIANCE_STYLES) == set(toy2d.VARIANCES)
    step = default_view.step
    assert set(step.variances) == set(step.kl_by_variance) == set(toy2d.VARIANCES)
    summary = default_view.as_dict()
    assert set(summary["model_stds"]) == {r["variance"] for r in summary["variance_table"]} == set(toy2d.VARIANCES)
    # each name means what the scheduler means by it: its own variance of the step as p_mean_variance computes it
    scheduler = toy2d.toy_scheduler()
    model = toy2d.load_toy_model("two_moons")
    x_t = torch.zeros(1, *toy2d.POINT_SHAPE)
    eps = model(x_t, torch.tensor(default_view.t)).sample
    for name in ("fixed_small", "fixed_large"):
        out = scheduler.p_mean_variance(eps, x_t, default_view.t, default_view.prev_t, variance_type=name)
        assert float(torch.as_tensor(out.variance).reshape(-1)[0]) == pytest.approx(step.variances[name], rel=1e-5)


def test_the_step_view_says_how_gaussian_the_step_is(default_view, moons):
    assert default_view.stride_shape == "splits"  # the tab's default: a small stride is Gaussian, a big one splits
    _, posterior = moons
    late = toy2d.toy_step_view(posterior, toy2d.load_toy_model("two_moons"), (0.5, 0.3), 5, 5, num_draws=2000)
    assert late.stride_shape in ("one_mode", "never")


def test_a_users_bad_step_is_refused_by_name(moons):
    _, posterior = moons
    model = toy2d.load_toy_model("two_moons")
    for args, words in [
        (((0.0, 0.0), 0, 1), r"t must be an integer in \[1, 999\]"),
        (((0.0, 0.0), 60, 61), r"stride must be an integer in \[1, 60\]"),
        (((0.0, float("nan")), 60, 50), "x_t must be one finite 2-D point"),
    ]:
        with pytest.raises(ValueError, match=words):
            toy2d.toy_step_view(posterior, model, *args)


def test_the_view_computes_the_weights_once_and_reuses_them_for_every_stride(moons, monkeypatch):
    _, posterior = moons
    calls = []
    original = DatasetPosterior.x0_posterior
    monkeypatch.setattr(DatasetPosterior, "x0_posterior", lambda self, *a: calls.append(a) or original(self, *a))
    view = toy2d.toy_step_view(posterior, toy2d.load_toy_model("two_moons"), (0.1, 0.2), 300, 100, num_draws=2000)
    assert len(calls) == 1 and [r.prev_t for r in view.stride_rows] == [299, 290, 200, 0]


def test_the_density_grid_is_the_mixture_density(default_view):
    step = default_view.step
    xs, ys, density = default_view.density_xs, default_view.density_ys, default_view.density
    j, k = len(xs) // 3, len(ys) // 2
    point = torch.tensor([[float(xs[j]), float(ys[k])]], dtype=torch.float64)
    expected = toy2d.mixture_log_density(point, default_view.weights, step.component_means, step.component_variance)
    assert math.isclose(float(density[k, j]), float(expected.exp()), rel_tol=1e-6)


def test_exact_samples_are_copies_and_the_shipped_model_makes_new_points(moons):
    points, posterior = moons
    pipe = toy2d.toy_pipeline(toy2d.load_toy_model("two_moons"))
    result = compare_samplers(pipe, posterior, seed=0, num_images=64, num_inference_steps=20, num_trajectories=2)
    assert bool((result.exact_nearest_distances < COPY_DISTANCE).all())
    assert float((result.model_nearest_distances < COPY_DISTANCE).double().mean()) < 0.1
    assert result.exact_trajectories.shape == (21, 2, 2, 1, 1)
    assert torch.equal(result.exact_trajectories[0], result.model_trajectories[0])  # the same x_T


def test_training_lowers_the_loss_and_is_repeatable():
    points = toy2d.load_points("eight_gaussians", 32)
    first = [p.loss for p in toy2d.train_toy(toy2d.new_toy_model(1), points, 300, seed=1)]
    again = [p.loss for p in toy2d.train_toy(toy2d.new_toy_model(1), points, 300, seed=1)]
    assert first == again
    assert sum(first[-50:]) / 50 < 0.8 * sum(first[:50]) / 50
    with pytest.raises(ValueError, match=r"train_steps must be an integer in \[100, 20000\]"):
        next(toy2d.train_toy(toy2d.new_toy_model(0), points, 20_001))


def test_the_pruned_mixture_density_equals_the_full_sum():
    points = toy2d.load_points("spiral", 4000).double()
    weights = torch.softmax(-((points - 0.2) ** 2).sum(1) / 0.05, 0)
    x = toy2d.sample_mixture(weights, points, 1e-3, 2000, torch.Generator().manual_seed(0))
    fast = toy2d.mixture_log_density(x, weights, points, 1e-3, dtype=torch.float32)
    rows = x[:50]
    full = torch.logsumexp(
        torch.log(weights) - ((rows[:, None, :] - points[None]) ** 2).sum(-1) / 2e-3 - math.log(2 * math.pi * 1e-3), 1
    )
    assert torch.allclose(fast[:50], full, atol=1e-4)


def test_kl_draws_stop_once_the_standard_error_is_within_the_tolerance():
    means = torch.tensor([[-0.3, 0.0], [0.3, 0.0]], dtype=torch.float64)
    weights = torch.tensor([0.5, 0.5], dtype=torch.float64)
    best = toy2d.moment_matched(weights, means, 0.01)
    (loose,) = toy2d.kl_mixture_to_gaussians(weights, means, 0.01, [best], 10_000, tolerance=(0.05, 0.0))
    (tight,) = toy2d.kl_mixture_to_gaussians(weights, means, 0.01, [best], 10_000, tolerance=(0.002, 0.0))
    assert loose.num_draws < tight.num_draws <= 10_000 and loose.standard_error <= 0.05
    assert abs(loose.nats - tight.nats) < 4 * loose.standard_error
