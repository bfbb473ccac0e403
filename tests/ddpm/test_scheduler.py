"""PosteriorDDPMScheduler: parity with diffusers 0.42, the math against Bayes' rule, the documented fixes, errors."""

import itertools
import math

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler

from pipelines import PosteriorDDPMScheduler

SHAPE = (2, 1, 6, 6)


def fake_model(x: torch.Tensor, t: int, learned: bool) -> torch.Tensor:
    """A deterministic stand-in for a UNet: depends on x and t, outputs variance values in [-1, 1] when learned."""
    out = torch.tanh(0.7 * x + 0.3 * math.cos(t / 97.0)) * 1.3
    if learned:
        out = torch.cat([out, torch.tanh(x * (t / 1000.0) - 0.2)], dim=1)
    return out


def trajectories(config: dict, K: int, seed: int = 0, dtype=torch.float64):
    """Run diffusers' DDPMScheduler and ours side by side from the same x_T, with generators in the same state.

    In float64 (the default), diffusers' ᾱ table is replaced by the exact float64 one computed from the same
    float32 betas, so what remains is the formulas: "float32 rounding aside". (diffusers' float32 1 − ᾱ_t loses
    up to ~1% near t = 0 to cancellation; our tables are computed in float64.)"""
    ref = DDPMScheduler(**config)
    ours = PosteriorDDPMScheduler(**config)
    if dtype == torch.float64:
        ref.alphas_cumprod = alphas_cumprod64(ours)
        ref.one = torch.tensor(1.0, dtype=torch.float64)
    ref.set_timesteps(K)
    plan = ours.timestep_plan(K).tolist()
    assert plan == ref.timesteps.tolist()
    learned = config.get("variance_type", "fixed_small").startswith("learned")
    x_ref = x_ours = torch.randn(SHAPE, generator=torch.Generator().manual_seed(seed), dtype=dtype)
    g_ref, g_ours = torch.Generator().manual_seed(seed + 1), torch.Generator().manual_seed(seed + 1)
    for i, t in enumerate(plan):
        prev = plan[i + 1] if i + 1 < len(plan) else -1
        out_ref = ref.step(fake_model(x_ref, t, learned), t, x_ref, generator=g_ref)
        out = ours.step(fake_model(x_ours, t, learned), t, x_ours, generator=g_ours, prev_timestep=prev)
        yield t, prev, out_ref, out
        x_ref, x_ours = out_ref.prev_sample, out.prev_sample


def alphas_cumprod64(scheduler: PosteriorDDPMScheduler) -> torch.Tensor:
    """ᾱ_t = Π_{s≤t} (1 − β_s) in float64, from the scheduler's public β_t: computed here, independently of the
    scheduler's own tables (its float32 `alphas_cumprod` is off by up to 1.7e-4 of 1 − ᾱ_t near t = 0)."""
    return torch.cumprod(1.0 - scheduler.betas.double(), dim=0)


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / max(1.0, float(b.abs().max())))


PARITY_CASES = [
    (schedule, prediction, variance, spacing, clip, K)
    for schedule, prediction, variance, clip in itertools.product(
        ["linear", "scaled_linear", "squaredcos_cap_v2", "sigmoid"],
        ["epsilon", "sample", "v_prediction"],
        ["fixed_small", "fixed_large", "learned_range"],
        ["clip", "threshold"],
    )
    for spacing, K in [
        ("leading", 1000),
        ("leading", 50),
        ("linspace", 50),
        ("trailing", 50),
        ("leading", 13),
        ("linspace", 13),
        ("trailing", 13),
    ]
]


@pytest.mark.parametrize("schedule,prediction,variance,spacing,clip,K", PARITY_CASES)
def test_trajectory_matches_diffusers(schedule, prediction, variance, spacing, clip, K):
    config = dict(
        beta_schedule=schedule,
        prediction_type=prediction,
        variance_type=variance,
        timestep_spacing=spacing,
        clip_sample=clip == "clip",
        thresholding=clip == "threshold",
        sample_max_value=2.0,
    )
    worst = 0.0
    for t, prev, out_ref, out in trajectories(config, K):
        if prev < 0 and t > 0 and variance != "fixed_small":
            # Documented fix: diffusers adds noise on a final step with t > 0 (trailing: t = 19 for 50 steps);
            # we return the posterior mean there. Same x̂0, and ours is noise-free.
            assert rel_err(out.pred_original_sample, out_ref.pred_original_sample) <= 2e-4
            assert torch.equal(out.prev_sample, out.posterior_mean)
            continue
        worst = max(
            worst,
            rel_err(out.prev_sample, out_ref.prev_sample),
            rel_err(out.pred_original_sample, out_ref.pred_original_sample),
        )
    assert worst <= 2e-4


@pytest.mark.parametrize("schedule", ["linear", "scaled_linear", "sigmoid"])
@pytest.mark.parametrize("K", [1000, 50])
def test_float32_trajectory_matches_diffusers(schedule, K):
    """Stock float32 on both sides: the same images up to float32 rounding."""
    worst = 0.0
    for t, prev, out_ref, out in trajectories(dict(beta_schedule=schedule), K, dtype=torch.float32):
        worst = max(worst, rel_err(out.prev_sample, out_ref.prev_sample))
    assert worst <= 2e-4


@pytest.mark.parametrize("prediction", ["epsilon", "sample", "v_prediction"])
@pytest.mark.parametrize("K", [50, 13])
def test_eta_zero_is_diffusers_ddim(prediction, K):
    config = dict(prediction_type=prediction, clip_sample=True)
    ddim = DDIMScheduler(**config, set_alpha_to_one=True)
    ours = PosteriorDDPMScheduler(**config)
    ddim.set_timesteps(K)
    plan = ours.timestep_plan(K).tolist()
    assert plan == ddim.timesteps.tolist()
    x_ref = x = torch.randn(SHAPE, generator=torch.Generator().manual_seed(3))
    for i, t in enumerate(plan):
        prev = plan[i + 1] if i + 1 < len(plan) else -1
        x_ref = ddim.step(fake_model(x_ref, t, False), t, x_ref, eta=0.0, use_clipped_model_output=True).prev_sample
        x = ours.step(fake_model(x, t, False), t, x, prev_timestep=prev, eta=0.0).prev_sample
    assert rel_err(x, x_ref) <= 2e-4


@pytest.mark.parametrize("t,prev_t", [(1, 0), (10, 9), (500, 499), (999, 998), (999, 979), (500, 250), (60, 3)])
def test_q_posterior_is_bayes_rule_on_a_grid(t, prev_t):
    """q(x_prev | x_t, x0) ∝ q(x_t | x_prev) q(x_prev | x0), computed numerically on a fine 1-D grid."""
    s = PosteriorDDPMScheduler(beta_schedule="squaredcos_cap_v2")
    a_t, a_p = alphas_cumprod64(s)[[t, prev_t]].tolist()
    x0 = 0.6
    x_t = math.sqrt(a_t) * x0 - 0.8 * math.sqrt(1 - a_t)  # a typical draw of q(x_t | x0)
    std_p = math.sqrt(1 - a_p)
    grid = np.linspace(math.sqrt(a_p) * x0 - 12 * std_p, math.sqrt(a_p) * x0 + 12 * std_p, 400_001)
    log_prior = -((grid - math.sqrt(a_p) * x0) ** 2) / (2 * (1 - a_p))  # q(x_prev | x0), eq. 4
    log_lik = -((x_t - math.sqrt(a_t / a_p) * grid) ** 2) / (2 * (1 - a_t / a_p))  # q(x_t | x_prev), eq. 2
    w = np.exp(log_prior + log_lik - (log_prior + log_lik).max())
    w /= w.sum()
    mean_num = float((w * grid).sum())
    var_num = float((w * (grid - mean_num) ** 2).sum())
    mean, var = s.q_posterior(
        torch.tensor([[[[x0]]]], dtype=torch.float64), torch.tensor([[[[x_t]]]], dtype=torch.float64), t, prev_t
    )
    assert float(mean) == pytest.approx(mean_num, rel=1e-4, abs=1e-6)
    assert float(var) == pytest.approx(var_num, rel=1e-3, abs=1e-9)


def test_q_posterior_monte_carlo_and_chain_end():
    """Monte Carlo: draws of (x0 fixed) x_prev ~ q(x_prev|x0), x_t ~ q(x_t|x_prev), regress x_prev on x_t."""
    s = PosteriorDDPMScheduler()
    t, prev_t = 300, 200
    a_t, a_p = alphas_cumprod64(s)[[t, prev_t]].tolist()
    g = torch.Generator().manual_seed(0)
    x0 = torch.full((400_000,), 0.3, dtype=torch.float64)
    x_prev = math.sqrt(a_p) * x0 + math.sqrt(1 - a_p) * torch.randn(x0.shape, generator=g, dtype=torch.float64)
    x_t = math.sqrt(a_t / a_p) * x_prev + math.sqrt(1 - a_t / a_p) * torch.randn(
        x0.shape, generator=g, dtype=torch.float64
    )
    mean, var = s.q_posterior(x0, x_t, torch.full((400_000,), t), prev_t)
    residual = (
        x_prev - mean
    )  # the posterior mean is E[x_prev | x_t, x0]: residuals are centred with the posterior variance
    assert abs(float(residual.mean())) < 3e-3
    assert float(residual.var()) == pytest.approx(float(var.flatten()[0]), rel=1e-2)
    # prev_t < 0: the step to x0 itself — mean x0, variance 0
    mean, var = s.q_posterior(x0[:4], x_t[:4], 5, -1)
    assert torch.allclose(mean, x0[:4]) and float(var) == 0.0


def test_add_noise_matches_eq4_and_diffusers():
    s, ref = PosteriorDDPMScheduler(), DDPMScheduler()
    x0, noise = torch.randn(4, 1, 5, 5), torch.randn(4, 1, 5, 5)
    t = torch.tensor([0, 10, 500, 999])
    assert torch.allclose(s.add_noise(x0, noise, t), ref.add_noise(x0, noise, t), atol=2e-5)
    assert torch.allclose(s.get_velocity(x0, noise, t), ref.get_velocity(x0, noise, t), atol=2e-5)
    a = s.alphas_cumprod[500]
    assert torch.allclose(s.add_noise(x0, noise, 500), a.sqrt() * x0 + (1 - a).sqrt() * noise, atol=1e-6)


@pytest.mark.parametrize("prediction", ["epsilon", "sample", "v_prediction"])
def test_predict_x0_inverts_the_forward_process(prediction):
    s = PosteriorDDPMScheduler(prediction_type=prediction)
    x0, noise = torch.rand(3, 1, 4, 4) * 2 - 1, torch.randn(3, 1, 4, 4)
    t = torch.tensor([5, 400, 900])
    x_t = s.add_noise(x0, noise, t)
    target = {"epsilon": noise, "sample": x0, "v_prediction": s.get_velocity(x0, noise, t)}[prediction]
    assert torch.allclose(s.predict_x0(target, x_t, t), x0, atol=1e-4)


def test_no_noise_on_the_final_step_whatever_the_spacing():
    """diffusers adds noise on trailing's last step (t = 19 for 50 steps); the chain's end must be x̂0's mean."""
    config = dict(timestep_spacing="trailing", variance_type="fixed_large")
    ours, ref = PosteriorDDPMScheduler(**config), DDPMScheduler(**config)
    ref.set_timesteps(50)
    assert ours.timestep_plan(50).tolist()[-1] == 19
    x = torch.randn(SHAPE)
    eps = fake_model(x, 19, False)
    out = ours.step(eps, 19, x, generator=torch.Generator().manual_seed(0), prev_timestep=-1)
    assert torch.equal(out.prev_sample, out.posterior_mean) and float(out.posterior_variance) == 0.0
    noisy = ref.step(eps, 19, x, generator=torch.Generator().manual_seed(0)).prev_sample
    assert (noisy - out.prev_sample).abs().max() > 1e-2  # diffusers' final sample carries noise
    assert torch.allclose(out.prev_sample, out.pred_original_sample, atol=1e-5)  # ᾱ_prev = 1: the mean is x̂0


def test_fixed_large_log_gives_finite_samples():
    s = PosteriorDDPMScheduler(variance_type="fixed_large_log")
    x = torch.randn(64, 1, 8, 8)
    out = s.step(torch.zeros_like(x), 500, x, generator=torch.Generator().manual_seed(0), prev_timestep=499)
    assert torch.isfinite(out.prev_sample).all()
    assert float(out.posterior_variance) == pytest.approx(float(s.betas[500]), rel=1e-5)
    assert float((out.prev_sample - out.posterior_mean).std()) == pytest.approx(
        math.sqrt(float(s.betas[500])), rel=0.05
    )


def test_eta_interpolates_the_variance():
    s = PosteriorDDPMScheduler()
    x = torch.randn(SHAPE)
    var1 = s.step(fake_model(x, 600, False), 600, x, prev_timestep=580, eta=1.0).posterior_variance
    var_half = s.step(fake_model(x, 600, False), 600, x, prev_timestep=580, eta=0.5).posterior_variance
    out0 = s.step(fake_model(x, 600, False), 600, x, prev_timestep=580, eta=0.0)
    assert float(var_half) == pytest.approx(0.25 * float(var1), rel=1e-5)
    assert float(out0.posterior_variance) == 0.0 and torch.equal(out0.prev_sample, out0.posterior_mean)


def test_from_config_both_ways_and_save_load(tmp_path):
    for stock in (
        DDPMScheduler(beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction"),
        DDIMScheduler(beta_schedule="scaled_linear", timestep_spacing="trailing"),
    ):
        ours = PosteriorDDPMScheduler.from_config(stock.config)
        assert ours.config.beta_schedule == stock.config.beta_schedule
        assert ours.config.timestep_spacing == stock.config.timestep_spacing
        assert torch.allclose(ours.alphas_cumprod, stock.alphas_cumprod, atol=1e-6)
    ours = PosteriorDDPMScheduler(num_train_timesteps=500, prediction_type="sample", timestep_spacing="linspace")
    for cls in (DDPMScheduler, DDIMScheduler):
        back = cls.from_config(ours.config)
        assert back.config.num_train_timesteps == 500 and back.config.prediction_type == "sample"
    ours.save_pretrained(tmp_path)
    loaded = PosteriorDDPMScheduler.from_pretrained(tmp_path)
    public = lambda c: {k: v for k, v in dict(c).items() if not k.startswith("_")}  # noqa: E731
    assert public(loaded.config) == public(ours.config)
    assert DDPMScheduler.from_pretrained(tmp_path).config.num_train_timesteps == 500


def test_timestep_plan_is_pure_and_set_timesteps_is_compatible():
    s = PosteriorDDPMScheduler()
    before = s.timesteps.clone()
    assert s.timestep_plan(10).tolist() == [900, 800, 700, 600, 500, 400, 300, 200, 100, 0]
    assert torch.equal(s.timesteps, before)
    assert s.timestep_plan(timesteps=[999, 500, 3]).tolist() == [999, 500, 3]
    s.set_timesteps(10)
    assert s.previous_timestep(900) == 800 and s.previous_timestep(0) == -1


@pytest.mark.parametrize("bad", [0, -1, 1001, 2.5, True, "50", None.__class__])
def test_bad_num_inference_steps(bad):
    with pytest.raises(ValueError, match=r"num_inference_steps must be an integer in \[1, 1000\]"):
        PosteriorDDPMScheduler().timestep_plan(bad)


@pytest.mark.parametrize(
    "bad,match",
    [
        ([500, 500, 1], "strictly descending"),
        ([1, 500], "strictly descending"),
        ([1000, 5], r"in \[0, 999\]"),
        ([10, -1], r"in \[0, 999\]"),
        ([], "non-empty"),
        ([10.5, 3], "integers"),
    ],
)
def test_bad_custom_timesteps(bad, match):
    with pytest.raises(ValueError, match=match):
        PosteriorDDPMScheduler().timestep_plan(timesteps=bad)


def test_step_errors_name_the_parameter():
    s = PosteriorDDPMScheduler()
    x = torch.randn(SHAPE)
    with pytest.raises(ValueError, match="model_output must have the sample's shape"):
        s.step(torch.randn(2, 1, 5, 5), 10, x)
    with pytest.raises(ValueError, match=r"timestep must be in \[0, 999\]"):
        s.step(x, 1000, x)
    with pytest.raises(ValueError, match="prev_timestep must be in"):
        s.step(x, 10, x, prev_timestep=10)
    for eta in (-0.1, 1.5, float("nan"), float("inf"), "1"):
        with pytest.raises(ValueError, match=r"eta must be a number in \[0, 1\]"):
            s.step(x, 10, x, eta=eta)
    with pytest.raises(ValueError, match="eta must be 1 with variance_type='fixed_large'"):
        s.step(x, 10, x, eta=0.5, variance_type="fixed_large")
    with pytest.raises(ValueError, match="variance_type must be one of"):
        s.step(x, 10, x, variance_type="huge")
    with pytest.raises(ValueError, match="prediction_type must be one of"):
        PosteriorDDPMScheduler(prediction_type="noise")
    with pytest.raises(ValueError, match="beta_schedule must be one of"):
        PosteriorDDPMScheduler(beta_schedule="exp")


def test_step_reads_only_its_arguments():
    """Stateless: set_timesteps on the shared instance does not change a step given explicit arguments."""
    s = PosteriorDDPMScheduler()
    x = torch.randn(SHAPE)
    a = s.step(fake_model(x, 500, False), 500, x, generator=torch.Generator().manual_seed(0), prev_timestep=480)
    s.set_timesteps(7)
    b = s.step(fake_model(x, 500, False), 500, x, generator=torch.Generator().manual_seed(0), prev_timestep=480)
    assert torch.equal(a.prev_sample, b.prev_sample)
