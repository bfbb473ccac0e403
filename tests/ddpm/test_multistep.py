"""The posterior step with a multistep x̂_0 (order 2–3): DPM-Solver++ in posterior form, checked against diffusers'
DPMSolverMultistepScheduler on the same UNet and noise, and against the exact integral where diffusers differs."""

import math

import pytest
import torch
from diffusers import DDPMPipeline, DDPMScheduler, DPMSolverMultistepScheduler
from diffusers.utils.torch_utils import randn_tensor
from scipy.integrate import quad

from pipelines import PosteriorDDPMPipeline, PosteriorDDPMScheduler
from pipelines.ddpm.multistep import extrapolate_x0, log_snr, step_order

# clip_sample=False: diffusers' DPM-Solvers never clip x̂_0 (they only threshold), so to compare step for step
# ours must not clip either.
CONFIG = dict(clip_sample=False, timestep_spacing="trailing")


@pytest.fixture(scope="module")
def pipe(tiny_unet):
    p = PosteriorDDPMPipeline(unet=tiny_unet, scheduler=PosteriorDDPMScheduler(**CONFIG))
    p.set_progress_bar_config(disable=True)
    return p


def diffusers_images(unet, scheduler, steps: int, seed: int, batch: int = 2) -> torch.Tensor:
    """diffusers' own loop: initial noise, then scheduler.step with the same generator (as DDPMPipeline does)."""
    scheduler.set_timesteps(steps)
    generator = torch.Generator().manual_seed(seed)
    x = randn_tensor((batch, 1, 8, 8), generator=generator)
    with torch.no_grad():
        for t in scheduler.timesteps:
            x = scheduler.step(unet(x, t).sample, t, x, generator=generator).prev_sample
    return (x / 2 + 0.5).clamp(0, 1)


def ours(pipe, steps: int, seed: int, order: int, eta: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return pipe(2, g, steps, eta=eta, output_type="pt", order=order).images


@pytest.mark.parametrize("order,steps", [(1, 10), (2, 7), (2, 10), (2, 14), (2, 15), (2, 20), (2, 25)])
def test_matches_diffusers_sde_dpmsolver_pp_on_the_same_noise(pipe, tiny_unet, order, steps):
    """η = 1: order 1 is SDE-DPM-Solver++(1), order 2 its 2M (midpoint), to float tolerance (diffusers computes its
    α, σ from float32 σ = √((1−ᾱ)/ᾱ), we from float64 ᾱ: up to ~5e-5 after 25 steps). diffusers draws a last noise
    that it multiplies by 0. 15 steps is the edge of lower_order_final (below it the second-to-last step drops to
    order 1 or 2), so both sides of it are checked."""
    stock = DPMSolverMultistepScheduler(
        algorithm_type="sde-dpmsolver++", solver_order=order, timestep_spacing="trailing"
    )
    expected = diffusers_images(tiny_unet, stock, steps, seed=3)
    assert torch.allclose(ours(pipe, steps, 3, order), expected, atol=1e-4)
    if order == 2:  # the extrapolation matters: order 1 on the same noise is far from it
        assert (ours(pipe, steps, 3, 1) - expected).abs().max() > 1e-3


def test_order_two_with_eta_zero_is_dpmsolver_pp_2m_the_ode(pipe, tiny_unet):
    """η = 0: the DDIM posterior with x̂_0 extrapolated by the same midpoint rule is diffusers' DPM-Solver++ 2M."""
    stock = DPMSolverMultistepScheduler(algorithm_type="dpmsolver++", solver_order=2, timestep_spacing="trailing")
    assert torch.allclose(ours(pipe, 10, 4, 2, eta=0.0), diffusers_images(tiny_unet, stock, 10, seed=4), atol=2e-5)


def test_order_three_agrees_with_diffusers_3m_where_it_takes_no_third_order_step(pipe, tiny_unet):
    """With 4 steps diffusers' 3M never takes a third-order step (warm-up, then its lower_order_final rules), and
    neither do we; with 10 it does, and the two differ: see test_order_three_is_exact_for_a_quadratic_x0."""
    for steps, same in ((4, True), (10, False)):
        stock = DPMSolverMultistepScheduler(
            algorithm_type="sde-dpmsolver++", solver_order=3, timestep_spacing="trailing"
        )
        close = torch.allclose(ours(pipe, steps, 5, 3), diffusers_images(tiny_unet, stock, steps, seed=5), atol=2e-5)
        assert close is same
    assert [step_order(3, i, 4) for i in range(4)] == [1, 2, 2, 1]
    assert [step_order(3, i, 10) for i in range(10)] == [1, 2, 3, 3, 3, 3, 3, 3, 2, 1]
    assert [step_order(3, i, 20) for i in (18, 19)] == [3, 1]  # 15 steps or more: only the last is lowered


@pytest.mark.parametrize("eta,rate", [(1.0, 2.0), (0.0, 1.0)])
@pytest.mark.parametrize("order,degree", [(2, 1), (3, 2)])
def test_the_extrapolated_x0_is_the_integral_when_x0_is_a_polynomial_in_lambda(eta, rate, order, degree):
    """x̂_0 a polynomial in λ = ½ log(ᾱ/(1−ᾱ)) of degree order − 1. Order 3: x̂_0* is exactly x̂_0's average over
    the step under the exponential weight c·e^{−c(λ_prev − λ)} (c = 2 for η = 1, 1 for η = 0), the integral the
    posterior's coefficient of x̂_0 stands for (DPM-Solver++); diffusers' 3M is not (see `x0_weights`).
    Order 2: diffusers' midpoint rule, x̂_0 at the step's middle λ + h/2."""
    s = PosteriorDDPMScheduler()
    alpha_bar = lambda t: float(s._alpha_bar(t))  # noqa: E731
    coefficients = [0.3, 0.7, -0.4][: degree + 1]
    f = lambda lam: sum(c * lam**i for i, c in enumerate(coefficients))  # noqa: E731
    t2, t1, t, prev = 999, 899, 799, 699
    history = tuple((u, torch.tensor([f(log_snr(alpha_bar(u)))], dtype=torch.float64)) for u in (t2, t1))
    x0 = torch.tensor([f(log_snr(alpha_bar(t)))], dtype=torch.float64)
    sigma2 = eta**2 * s.posterior_coefficients(t, prev)[2]
    got = extrapolate_x0(x0, t, prev, history[-(order - 1) :], order, alpha_bar, sigma2).item()
    lam, h = log_snr(alpha_bar(t)), log_snr(alpha_bar(prev)) - log_snr(alpha_bar(t))
    if order == 3:
        weight = lambda u: rate * math.exp(-rate * (h - u))  # noqa: E731
        exact = quad(lambda u: weight(u) * f(lam + u), 0, h)[0] / -math.expm1(-rate * h)
    else:  # midpoint: x̂_0 at λ + h/2
        exact = f(lam + h / 2)
    assert got == pytest.approx(exact, rel=1e-9, abs=1e-9)


def test_order_one_is_todays_step(tiny_unet):
    """order=1 (the default) is the step without the multistep: the same images as not passing it, bit for bit,
    as stock DDPMPipeline's to float tolerance, and each step's x̂_0* is the model's x̂_0."""
    stock = DDPMPipeline(unet=tiny_unet, scheduler=DDPMScheduler(timestep_spacing="trailing"))
    p = PosteriorDDPMPipeline(unet=tiny_unet, scheduler=PosteriorDDPMScheduler(timestep_spacing="trailing"))
    for x in (stock, p):
        x.set_progress_bar_config(disable=True)
    a = stock(batch_size=2, generator=torch.Generator().manual_seed(1), num_inference_steps=12, output_type="np")
    b = p(batch_size=2, generator=torch.Generator().manual_seed(1), num_inference_steps=12, output_type="np", order=1)
    c = p(batch_size=2, generator=torch.Generator().manual_seed(1), num_inference_steps=12, output_type="np")
    assert (b.images == c.images).all()
    assert abs(a.images - b.images).max() <= 2e-4  # diffusers' float32 tables against our float64 ones
    for step in p.denoise(2, torch.Generator().manual_seed(1), 12, progress=False):
        assert torch.equal(step.extrapolated_original_sample, step.pred_original_sample)


def test_each_step_shows_both_x0_and_the_posterior_is_built_from_the_extrapolated_one(pipe):
    steps = list(pipe.denoise(2, torch.Generator().manual_seed(2), 8, progress=False, order=2))
    assert len(steps) == 8
    first, middle, last = steps[0], steps[3], steps[-1]
    assert torch.equal(first.extrapolated_original_sample, first.pred_original_sample)  # no history yet
    assert not torch.allclose(middle.extrapolated_original_sample, middle.pred_original_sample)
    assert torch.equal(last.sample, last.pred_original_sample)  # into x_0: the model's x̂_0 itself
    s = pipe.scheduler
    coef1, coef2, _ = s.posterior_coefficients(middle.timestep, middle.prev_timestep)
    x_t = steps[2].sample
    expected = coef1 * middle.extrapolated_original_sample + coef2 * x_t  # μ̃(x_t, x̂_0*), eq. 7
    assert torch.allclose(middle.posterior_mean, expected, atol=1e-6)


def test_the_history_travels_with_the_call_so_interleaved_chains_share_one_scheduler(tiny_unet):
    """Two chains stepped alternately through one scheduler give what each gives alone: no state on the instance."""
    s = PosteriorDDPMScheduler(**CONFIG)
    plan = s.timestep_plan(6).tolist()
    chain = list(zip(plan, plan[1:] + [-1]))

    def run(seeds, interleaved):
        xs = {k: torch.randn(1, 1, 8, 8, generator=torch.Generator().manual_seed(k)) for k in seeds}
        hist = {k: None for k in seeds}
        order = (
            [(i, k) for i in range(len(chain)) for k in seeds]
            if interleaved
            else [(i, k) for k in seeds for i in range(len(chain))]
        )
        with torch.no_grad():
            for i, k in order:
                t, prev = chain[i]
                out = s.step(
                    tiny_unet(xs[k], t).sample, t, xs[k], torch.Generator().manual_seed(100 * k + i),
                    prev_timestep=prev, order=step_order(3, i, len(chain)), history=hist[k],
                )  # fmt: skip
                xs[k], hist[k] = out.prev_sample, out.history
                assert [u for u, _ in out.history] == [u for u, _ in chain[: i + 1]][-2:]
        return xs

    alone, together = run([1, 2], False), run([1, 2], True)
    assert all(torch.equal(alone[k], together[k]) for k in (1, 2))


@pytest.mark.parametrize("order", [0, 4, 2.5, "2", True, None])
def test_a_bad_order_is_refused_naming_it_and_the_range(pipe, order):
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match=r"order must be an integer in \[1, 3\].*got"):
        pipe(1, g, 3, order=order)
    with pytest.raises(ValueError, match=r"order must be an integer in \[1, 3\]"):
        next(pipe.denoise(1, g, 3, progress=False, order=order))
    x = torch.zeros(1, 1, 8, 8)
    with pytest.raises(ValueError, match=r"order must be an integer in \[1, 3\]"):
        pipe.scheduler.step(x, 999, x, prev_timestep=899, order=order)


def test_a_bad_history_is_refused():
    s = PosteriorDDPMScheduler()
    x = torch.zeros(1, 1, 8, 8)
    with pytest.raises(ValueError, match="history must be a tuple of"):
        s.step(x, 899, x, prev_timestep=799, order=2, history=[x])
