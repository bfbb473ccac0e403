"""Bao et al.'s optimal variance σ*²: the formula, its bounds, the exact Γ_t of a data set, and the analytic
sampler in the scheduler and the pipeline (Γ_t from a model folder's analytic_variance.json)."""

import json
import math

import numpy as np
import pytest
import torch
from diffusers import DDPMPipeline

from pipelines import PosteriorDDPMPipeline, PosteriorDDPMScheduler
from pipelines.ddpm.gamma import main
from pipelines.ddpm.optimal_variance import GAMMA_FILE, check_gamma, load_gamma, optimal_variance
from pipelines.exact.posterior import DatasetPosterior
from pipelines.exact.variance import exact_gamma, exact_step_variance


# ---------------------------------------------------------------------------------------------- the formula
def test_optimal_variance_by_hand():
    # ᾱ_t = 0.5, ᾱ_s = 0.8: α_{t|s} = 0.625, β_{t|s} = 0.375, β̄_t = 0.5, β̄_s = 0.2, β̃ = 0.2/0.5·0.375 = 0.15.
    # η = 1: β̃ + β²/(α β̄_t)·(1 − Γ) = 0.15 + 0.140625/0.3125·0.1 = 0.195.
    assert optimal_variance(0.5, 0.8, 0.9, eta=1.0) == pytest.approx(0.195, abs=1e-12)
    # η = 0: λ² = 0, (√(0.5/0.625) − √0.2)² = (√0.8 − √0.2)² = 0.2, times 1 − Γ = 0.1.
    assert optimal_variance(0.5, 0.8, 0.9, eta=0.0) == pytest.approx(0.02, abs=1e-12)
    # the step to x_0 (ᾱ_s = 1): λ² = 0 whatever η; (√(β̄_t/ᾱ_t))²·(1 − Γ) = 1·(1 − Γ) for ᾱ_t = 0.5.
    assert optimal_variance(0.5, 1.0, 0.75, eta=1.0) == pytest.approx(0.25, abs=1e-12)


@pytest.mark.parametrize("a_t, a_s, gamma, eta", [(0.02, 0.3, 0.97, 1.0), (0.6, 0.9, 0.5, 0.5), (0.9, 0.999, 0.2, 0.0)])
def test_optimal_variance_is_lambda2_plus_the_x0_covariance_term(a_t, a_s, gamma, eta):
    """Independent form: the mean of q_λ(x_s | x_t, x_0) = √ᾱ_s x_0 + √(β̄_s − λ²)(x_t − √ᾱ_t x_0)/√β̄_t has x_0
    coefficient c; σ*² = λ² + c²·Cov[x_0 | x_t] per dimension, with that covariance (β̄_t/ᾱ_t)(1 − Γ_t)."""
    b_t, b_s = 1 - a_t, 1 - a_s
    lam2 = eta**2 * b_s / b_t * (1 - a_t / a_s)
    c = math.sqrt(a_s) - math.sqrt(b_s - lam2) * math.sqrt(a_t / b_t)
    expected = lam2 + c**2 * b_t / a_t * (1 - gamma)
    assert optimal_variance(a_t, a_s, gamma, eta) == pytest.approx(expected, rel=1e-12)


def test_bounds_lambda2_le_sigma2_le_upper():
    s = PosteriorDDPMScheduler()
    a = np.cumprod(1 - s.betas.double().numpy())  # ᾱ in float64, as the scheduler builds it
    for t, prev in [(999, 899), (500, 475), (100, 0), (10, 9)]:
        for eta in (0.0, 0.5, 1.0):
            lam2 = eta**2 * s.posterior_coefficients(t, prev)[2]
            values = [optimal_variance(a[t], a[prev], g, eta) for g in np.linspace(0, 1, 11)]
            upper = optimal_variance(a[t], a[prev], 0.0, eta)  # Bao et al. Theorem 2 with Γ = 0
            assert all(lam2 * (1 - 1e-12) <= v <= upper * (1 + 1e-12) for v in values)
            assert values == sorted(values, reverse=True)  # more predictable ε (larger Γ) → narrower step
            assert values[-1] == pytest.approx(lam2, rel=1e-12, abs=1e-18)  # Γ = 1: a perfect ε, the posterior's own λ²


def test_sigma_star_tends_to_beta_tilde_as_steps_shrink():
    """σ*²/β̃ − 1 = β_{t|s}(1 − Γ)/(α_{t|s} β̄_s): it vanishes with the stride (fixed t, Γ < 1)."""
    s = PosteriorDDPMScheduler()
    a = np.cumprod(1 - s.betas.double().numpy())  # ᾱ in float64, as the scheduler builds it
    ratios = []
    for stride in (250, 50, 10, 1):
        beta_tilde = s.posterior_coefficients(500, 500 - stride)[2]
        ratios.append(optimal_variance(a[500], a[500 - stride], 0.9, 1.0) / beta_tilde - 1)
    assert ratios == sorted(ratios, reverse=True)
    assert ratios[0] > 0.5 and ratios[-1] < 2e-3


def test_check_gamma_refuses_bad_tables():
    assert check_gamma([0.5] * 4, 4).dtype == np.float64
    for bad in ([0.5] * 3, [0.5, float("nan"), 0.5, 0.5], [0.5, -0.1, 0.5, 0.5], "abc", None):
        with pytest.raises(ValueError, match="gamma must hold 4 finite numbers"):
            check_gamma(bad, 4)


# ---------------------------------------------------------------------------------------------- the exact answer
def test_exact_gamma_matches_brute_force_integration():
    """Three 1-pixel 'images': E_{x_t} ‖E[ε | x_t]‖² by quadrature on a grid vs `exact_gamma`'s Monte-Carlo."""
    data = torch.tensor([-1.0, 0.3, 0.9], dtype=torch.float64).reshape(3, 1, 1, 1)
    posterior = DatasetPosterior(data)
    for t in (50, 300):
        a = float(posterior.alphas_cumprod[t])
        x = np.linspace(-6, 6, 200001)
        comps = np.exp(-((x[None] - np.sqrt(a) * data.numpy().reshape(3, 1)) ** 2) / (2 * (1 - a)))
        density = comps.mean(0) / np.sqrt(2 * np.pi * (1 - a))
        x0_mean = (comps * data.numpy().reshape(3, 1)).sum(0) / comps.sum(0)
        eps_mean = (x - np.sqrt(a) * x0_mean) / np.sqrt(1 - a)
        brute = float(np.sum(density * eps_mean**2) * (x[1] - x[0]))
        estimate = exact_gamma(posterior, [t], num_samples=20000, seed=1)
        assert estimate["gamma"][0] == pytest.approx(brute, abs=4 * estimate["standard_error"][0] + 1e-4)
        assert 0.0 < brute < 1.0


def test_exact_step_variance_is_the_mixture_variance_and_averages_to_sigma_star():
    gen = torch.Generator().manual_seed(0)
    data = torch.rand(5, 1, 2, 2, generator=gen, dtype=torch.float64) * 2 - 1
    posterior = DatasetPosterior(data)
    t, prev = 200, 150
    x_t = torch.randn(4, 1, 2, 2, generator=gen, dtype=torch.float64)
    got = exact_step_variance(posterior, x_t, t, prev)
    # brute force: the mixture Σ_i w_i N(μ̃_i, β̃ I): per-dimension variance = β̃ + Σ_i w_i ‖μ̃_i − μ̄‖² / d
    w = posterior.x0_posterior(x_t, t)
    s = posterior.scheduler
    coef1, coef2, beta_tilde = s.posterior_coefficients(t, prev)
    mus = coef1 * data.reshape(1, 5, 4) + coef2 * x_t.reshape(4, 1, 4)
    mean = (w.unsqueeze(2) * mus).sum(1, keepdim=True)
    brute = beta_tilde + (w * ((mus - mean) ** 2).sum(2)).sum(1) / 4
    assert torch.allclose(got, brute, rtol=1e-10, atol=1e-14)
    # Bao et al.: σ*² with the exact Γ_t is the average over x_t ~ q(x_t) of that variance (η = 1)
    x0 = data[torch.randint(5, (4000,), generator=gen)]
    xs = s.add_noise(x0, torch.randn(x0.shape, generator=gen, dtype=torch.float64), t)
    a = posterior.alphas_cumprod  # float64
    spread = posterior.x0_variance(xs, t) / 4
    gamma_here = float((1 - a[t] / (1 - a[t]) * spread).mean())
    average = float(exact_step_variance(posterior, xs, t, prev).mean())
    assert optimal_variance(float(a[t]), float(a[prev]), gamma_here, 1.0) == pytest.approx(average, rel=1e-9)


# ---------------------------------------------------------------------------------------------- the sampler
def _scheduler_step(s, gamma, t, prev, last=0, eta=1.0):
    x = torch.zeros(1, 1, 4, 4)
    return s.p_mean_variance(torch.zeros_like(x), x, t, prev, eta, "analytic", gamma, last).variance


def test_scheduler_analytic_variance_and_its_clipping():
    s = PosteriorDDPMScheduler()
    gamma = np.full(1000, 0.99)
    a = np.cumprod(1 - s.betas.double().numpy())  # ᾱ in float64, as the scheduler builds it
    # an interior step: exactly σ*² (the data-range bound, (1 − ᾱ)/ᾱ·(1 − Γ) ≈ 0.38 ≤ 1, does not bind here)
    assert float(_scheduler_step(s, gamma, 600, 500, last=0)) == pytest.approx(
        optimal_variance(a[600], a[500], 0.99), rel=1e-6
    )
    assert float(_scheduler_step(s, gamma, 600, 500, eta=0.0)) == pytest.approx(
        optimal_variance(a[600], a[500], 0.99, 0.0), rel=1e-6
    )
    # the data-range bound: (1 − ᾱ_t)/ᾱ_t·(1 − Γ) ≤ 1 — with Γ = 0 at t = 999 the covariance term is capped
    capped = float(_scheduler_step(s, np.zeros(1000), 999, 899))
    assert capped < optimal_variance(a[999], a[899], 0.0) and capped == pytest.approx(
        optimal_variance(a[999], a[899], 1 - a[999] / (1 - a[999])), rel=1e-6
    )
    # the step into the chain's last noisy state: σ ≤ 2 bins·(2/255)·√(π/2); the step to x_0: no noise
    bound = (2 * 2 / 255 * math.sqrt(math.pi / 2)) ** 2
    assert float(_scheduler_step(s, np.zeros(1000), 100, 0, last=0)) == pytest.approx(bound, rel=1e-6)
    assert float(_scheduler_step(s, np.zeros(1000), 200, 100, last=100)) == pytest.approx(bound, rel=1e-6)
    assert float(_scheduler_step(s, np.zeros(1000), 200, 100, last=0)) > bound  # not into the last state
    assert float(_scheduler_step(s, gamma, 100, -1)) == 0.0
    with pytest.raises(ValueError, match="needs gamma"):
        _scheduler_step(s, None, 600, 500)
    with pytest.raises(ValueError, match="gamma must hold 1000"):
        _scheduler_step(s, [0.9] * 10, 600, 500)
    with pytest.raises(ValueError, match="variance_type must be one of .*analytic"):
        s.check_sampling_args(1.0, "optimal")


def test_pipeline_reads_gamma_from_the_folder_and_says_how_to_make_it(stock_ddpm_dir, tmp_path, tiny_unet):
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(stock_ddpm_dir, folder)
    pipe = PosteriorDDPMPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    with pytest.raises(ValueError, match=rf"has no {GAMMA_FILE}; make it with: python -m pipelines.ddpm.gamma"):
        pipe(batch_size=1, num_inference_steps=5, variance_type="analytic", output_type="pt")
    gamma = np.linspace(0.6, 1.0, 1000)
    (folder / GAMMA_FILE).write_text(json.dumps({"gamma": gamma.tolist(), "num_images_per_timestep": 1}))
    assert DDPMPipeline.from_pretrained(folder) is not None  # a stock loader ignores the file
    pipe = PosteriorDDPMPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    steps = list(pipe.denoise(2, torch.Generator().manual_seed(0), 5, variance_type="analytic", progress=False))
    last = steps[-1].timestep
    for step in steps:  # each step's σ² is the scheduler's σ*² for that t → prev_t, clipped into the last state
        expected = pipe.scheduler.analytic_variance(step.timestep, step.prev_timestep, gamma, 1.0, last)
        assert float(step.posterior_variance) == pytest.approx(expected, rel=1e-6)
    assert float(steps[-1].posterior_variance) == 0.0
    # same images as a pipeline given the table directly; η < 1 works too
    other = PosteriorDDPMPipeline(unet=tiny_unet, scheduler=pipe.scheduler).set_analytic_gamma(gamma)
    for eta in (1.0, 0.0):
        a_img = pipe(2, torch.Generator().manual_seed(3), 5, eta, output_type="pt", variance_type="analytic").images
        b_img = other(2, torch.Generator().manual_seed(3), 5, eta, output_type="pt", variance_type="analytic").images
        assert torch.equal(a_img, b_img)
    (folder / GAMMA_FILE).write_text("{not json")
    with pytest.raises(ValueError, match="not a readable"):
        load_gamma(folder)


def test_cli_refuses_bad_values_naming_the_flag(capsys, tmp_path):
    assert main(["--model", str(tmp_path), "--num-images", "0"]) == 2
    assert "--num-images must be an integer in [1, 4500]" in capsys.readouterr().err
    assert main(["--model", str(tmp_path), "--seed", "-1"]) == 2
    assert "--seed must be an integer in [0, 4294967295]" in capsys.readouterr().err
    assert main(["--model", str(tmp_path / "missing")]) == 2
    assert "could not be loaded" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- the shipped model
MARGIN = 1.0  # FID points; see the test's docstring


def test_shipped_analytic_ddim_beats_ddim_at_10_steps():
    """10 steps, 128 samples, seed 0, the shipped judge. Measured on 2 shared CPU cores: η = 0, DDIM (σ² = 0) FID
    28.10 (confident 0.766) vs Analytic-DDIM (σ*², Γ_t from the folder) 25.60 (0.781), 2.50 better. At η = 1,
    DDPM β̃ 24.17 / 24.57 (seeds 0 / 1) vs Analytic-DDPM 24.10 / 25.01: no difference beyond the seeds' spread
    (up to 0.9), so only η = 0 is asserted, with a margin of 1."""
    from pathlib import Path

    from pipelines.evaluation.quality import evaluate_pipeline

    model = Path(__file__).resolve().parents[2] / "models" / "ddpm-mnist"
    pipe = PosteriorDDPMPipeline.from_pretrained(model).use_channels_last()
    pipe.set_progress_bar_config(disable=True)
    fid = {
        variance: evaluate_pipeline(pipe, 128, 10, 0.0, variance, 0, 64, progress=False)["fid"]
        for variance in ("fixed_small", "analytic")
    }
    assert fid["analytic"] < fid["fixed_small"] - MARGIN, fid
