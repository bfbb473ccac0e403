"""The small data set the exact-posterior tests share: 20 random 8×8 images, the default scheduler, their
DatasetPosterior, a tiny model with that schedule, and x_t near the first images. Fixtures, imported by the test
modules of exact_posterior.py, comparisons.py and step_costs.py."""

import math

import pytest
import torch

from pipelines import PosteriorDDPMPipeline, PosteriorDDPMScheduler
from pipelines.exact.posterior import DatasetPosterior

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


@pytest.fixture(scope="module")
def pipe(tiny_unet):
    return PosteriorDDPMPipeline(unet=tiny_unet, scheduler=PosteriorDDPMScheduler())


def alpha_bar(scheduler, t):
    """ᾱ_t in float64 from the betas (ᾱ_{-1} = 1), independently of the code under test."""
    return 1.0 if t < 0 else float(torch.cumprod(1 - scheduler.betas.double(), 0)[t])


def noisy(data, scheduler, t, seed=1, batch=3):
    """x_t near data images 0..batch-1 (plus noise): a realistic point where the posterior is not trivial."""
    g = torch.Generator().manual_seed(seed)
    return scheduler.add_noise(data[:batch], torch.randn((batch, *SHAPE), generator=g), t)


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
