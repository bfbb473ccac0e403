"""LocalPosterior: the locally optimal denoiser (Kamb & Ganguli's LS and ELS machines) against per-pixel loops with
explicit windows and an explicit softmax, against DatasetPosterior at the whole-image window, and as a sampler."""

import math

import numpy as np
import pytest
import torch

from helpers.exact_data import alpha_bar
from pipelines import DatasetPosterior, LocalPosterior, PosteriorDDPMScheduler
from pipelines.exact.neighbours import COPY_DISTANCE, nearest_neighbours

SHAPES = [(1, 6, 6), (2, 5, 5)]


@pytest.fixture(scope="module")
def scheduler():
    return PosteriorDDPMScheduler()


def random_data(shape, n=6, seed=0):
    """n random images in [-1, 1], float64."""
    return torch.rand((n, *shape), generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 2 - 1


def noisy(data, scheduler, t, batch=2, seed=1):
    """x_t near the first data images: the posterior is not trivial there."""
    noise = torch.randn((batch, *data.shape[1:]), generator=torch.Generator().manual_seed(seed), dtype=data.dtype)
    return scheduler.add_noise(data[:batch], noise, t)


def brute_force(data, x_t, a, patch, equivariant):
    """x̂_0 pixel by pixel: the explicit P×P window of each pixel (clipped at the border for LS; zero-padded for
    ELS, where every position of every image is a candidate), the squared distance summed over it and over the
    channels, the softmax written out (max subtracted), and the candidates' centre values averaged."""
    y, x = data.numpy(), x_t.double().numpy()
    N, C, H, W = y.shape
    r = patch // 2
    pad = ((0, 0), (0, 0), (r, r), (r, r))
    y_pad, x_pad = np.pad(y, pad), np.pad(x, pad)
    out = np.zeros_like(x)
    for b in range(len(x)):
        for h in range(H):
            for w in range(W):
                logits, values = [], []
                if not equivariant:
                    rows, cols = slice(max(h - r, 0), h + r + 1), slice(max(w - r, 0), w + r + 1)  # clipped
                    for n in range(N):
                        d = ((x[b, :, rows, cols] - math.sqrt(a) * y[n, :, rows, cols]) ** 2).sum()
                        logits.append(-d / (2 * (1 - a)))
                        values.append(y[n, :, h, w])
                else:
                    window = x_pad[b, :, h : h + patch, w : w + patch]
                    for n in range(N):
                        for i in range(H):
                            for j in range(W):
                                d = ((window - math.sqrt(a) * y_pad[n, :, i : i + patch, j : j + patch]) ** 2).sum()
                                logits.append(-d / (2 * (1 - a)))
                                values.append(y[n, :, i, j])
                logits = np.array(logits)
                weights = np.exp(logits - logits.max())
                weights /= weights.sum()
                out[b, :, h, w] = (weights[:, None] * np.array(values)).sum(0)
    return torch.from_numpy(out)


# ------------------------------------------------------------------------------------------ x̂_0
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("equivariant", [False, True])
@pytest.mark.parametrize("patch", [1, 3])
@pytest.mark.parametrize("t", [2, 60, 400, 950])
def test_predict_x0_matches_the_per_pixel_loop(scheduler, shape, equivariant, patch, t):
    data = random_data(shape)
    x_t = noisy(data, scheduler, t)
    local = LocalPosterior(data, patch, scheduler, equivariant=equivariant)
    got = local.predict_x0(x_t, t)
    assert got.shape == x_t.shape and got.dtype == x_t.dtype
    ref = brute_force(data, x_t, alpha_bar(scheduler, t), patch, equivariant)
    assert torch.allclose(got, ref, atol=1e-9, rtol=0)


@pytest.mark.parametrize("equivariant", [False, True])
def test_chunks_give_the_same_answer(scheduler, equivariant):
    data = random_data((1, 6, 6))
    x_t = noisy(data, scheduler, 30)
    whole = LocalPosterior(data, 3, scheduler, equivariant=equivariant).predict_x0(x_t, 30)
    chunked = LocalPosterior(data, 3, scheduler, equivariant=equivariant, chunk_size=1).predict_x0(x_t, 30)
    assert torch.allclose(whole, chunked, atol=1e-12, rtol=0)


@pytest.mark.parametrize("equivariant", [False, True])
@pytest.mark.parametrize("patch", [1, 3, 5])
@pytest.mark.parametrize("t", [0, 1, 10, 500, 990])
def test_float32_agrees_with_float64(scheduler, equivariant, patch, t):
    # float32 is the fast path the page uses: at small t the logits are ~10⁴ apart, at large t nearly equal.
    data = random_data((1, 8, 8), n=12)
    x_t = noisy(data, scheduler, t, batch=3)
    exact = LocalPosterior(data, patch, scheduler, equivariant=equivariant).predict_x0(x_t, t)
    fast = LocalPosterior(data, patch, scheduler, equivariant=equivariant, dtype=torch.float32)
    got = fast.predict_x0(x_t.float(), t)
    assert got.dtype == torch.float32 and torch.isfinite(got).all()
    assert torch.allclose(got.double(), exact, atol=2e-5, rtol=0)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("t", [0, 3, 40, 300, 999])
def test_the_whole_image_window_is_the_dataset_posterior(scheduler, shape, t):
    # A window of side 2·max(H, W) − 1 covers the whole image from every pixel: the weights are q(x_0^i | x_t).
    data = random_data(shape)
    x_t = noisy(data, scheduler, t, batch=4)
    local = LocalPosterior(data, 2 * max(shape[1:]) - 1, scheduler)
    exact = DatasetPosterior(data, scheduler)
    assert torch.allclose(local.predict_x0(x_t, t), exact.predict_x0(x_t, t), atol=1e-10, rtol=0)


@pytest.mark.parametrize("t", [999, 700])
def test_one_pixel_windows_are_a_softmax_over_the_values_at_that_pixel(scheduler, t):
    # P = 1: each pixel is a 1-D (C-D) posterior over the N values the data hold at that pixel; at large t the
    # weights are nearly uniform, so x̂_0 is close to the data's mean image.
    data = random_data((2, 5, 5))
    x_t = noisy(data, scheduler, t)
    a = alpha_bar(scheduler, t)
    logits = -((x_t.unsqueeze(1) - math.sqrt(a) * data.unsqueeze(0)) ** 2).sum(2) / (2 * (1 - a))  # (B, N, H, W)
    expected = torch.einsum("bnhw,nchw->bchw", torch.softmax(logits, dim=1), data)
    got = LocalPosterior(data, 1, scheduler).predict_x0(x_t, t)
    assert torch.allclose(got, expected, atol=1e-12, rtol=0)
    if t == 999:
        assert torch.allclose(got, data.mean(0).expand_as(got), atol=0.05)


def test_per_sample_timesteps(scheduler):
    data = random_data((1, 6, 6))
    local = LocalPosterior(data, 3, scheduler)
    x_t = noisy(data, scheduler, 100, batch=3)
    t = torch.tensor([900, 100, 5])
    got = local.predict_x0(x_t, t)
    for b in range(3):
        assert torch.equal(got[b : b + 1], local.predict_x0(x_t[b : b + 1], int(t[b])))


# ------------------------------------------------------------------------------------------ the patch table
def test_a_per_timestep_patch_table_is_honoured(scheduler):
    data = random_data((1, 6, 6))
    T = scheduler.config.num_train_timesteps
    table = [1] * 500 + [5] * (T - 500)
    by_table = LocalPosterior(data, table, scheduler)
    by_callable = LocalPosterior(data, lambda t: 1 if t < 500 else 5, scheduler)
    small, large = LocalPosterior(data, 1, scheduler), LocalPosterior(data, 5, scheduler)
    for t, fixed in ((100, small), (700, large)):
        x_t = noisy(data, scheduler, t)
        assert torch.equal(by_table.predict_x0(x_t, t), fixed.predict_x0(x_t, t))
        assert torch.equal(by_callable.predict_x0(x_t, t), fixed.predict_x0(x_t, t))
    assert not torch.allclose(small.predict_x0(x_t, 700), large.predict_x0(x_t, 700))
    assert (by_table.patch_size_at(499), by_table.patch_size_at(500)) == (1, 5)


# ------------------------------------------------------------------------------------------ the step and sampling
@pytest.mark.parametrize("t,prev_t", [(500, 499), (300, 120), (10, None), (4, -1)])
def test_step_is_the_ddpm_posterior_around_the_local_estimate(scheduler, t, prev_t):
    data = random_data((1, 6, 6))
    local = LocalPosterior(data, 3, scheduler)
    x_t = noisy(data, scheduler, t, batch=3)
    out = local.step(x_t, t, prev_t, generator=torch.Generator().manual_seed(0))
    x0 = local.predict_x0(x_t, t)
    assert torch.equal(out.pred_original_sample, x0)
    if prev_t == -1:
        assert torch.equal(out.prev_sample, x0)
        return
    mean, variance = scheduler.q_posterior(x0, x_t, t, prev_t)
    assert torch.allclose(out.posterior_mean, mean, atol=1e-12)
    assert torch.allclose(out.posterior_variance.double(), torch.as_tensor(variance).double(), rtol=1e-6)
    again = local.step(x_t, t, prev_t, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out.prev_sample, again.prev_sample)
    noise = (out.prev_sample - mean) / float(variance) ** 0.5
    assert abs(float(noise.mean())) < 0.3 and 0.7 < float(noise.std()) < 1.3


def test_sampling_is_deterministic_and_the_whole_window_gives_training_images(scheduler):
    data = random_data((1, 6, 6))
    local = LocalPosterior(data, 11, scheduler)
    samples = local.sample(4, torch.Generator().manual_seed(3), num_inference_steps=50)
    again = local.sample(4, torch.Generator().manual_seed(3), num_inference_steps=50)
    assert samples.shape == (4, 1, 6, 6) and samples.dtype == torch.float32
    assert torch.equal(samples, again)
    distances, _ = nearest_neighbours(samples, data)
    assert bool((distances[:, 0] < COPY_DISTANCE).all())


def test_denoise_yields_every_step_from_the_samplers_shared_noise(scheduler):
    data = random_data((1, 6, 6))
    steps = list(LocalPosterior(data, 3, scheduler).denoise(2, torch.Generator().manual_seed(0), 10))
    assert [s.index for s in steps] == list(range(10)) and steps[-1].prev_timestep == -1
    # x_T is drawn first, in float32, like the exact sampler's: the same seed starts both from the same noise.
    first_exact = next(DatasetPosterior(data, scheduler).denoise(2, torch.Generator().manual_seed(0), 10))
    x_T = torch.randn((2, 1, 6, 6), generator=torch.Generator().manual_seed(0))
    eps_local = scheduler.predict_epsilon(steps[0].pred_original_sample, x_T, steps[0].timestep)
    assert torch.allclose(steps[0].model_output, eps_local, atol=1e-5)
    eps_exact = scheduler.predict_epsilon(first_exact.pred_original_sample, x_T, first_exact.timestep)
    assert torch.allclose(first_exact.model_output, eps_exact, atol=1e-5)


@pytest.mark.parametrize("patch,equivariant", [(1, False), (3, False), (3, True)])
def test_small_windows_make_mosaics_not_copies(scheduler, patch, equivariant):
    data = random_data((1, 6, 6)).sign()  # 6 random ±1 images: a patch-wise mix is not one of them
    local = LocalPosterior(data, patch, scheduler, equivariant=equivariant)
    samples = local.sample(8, torch.Generator().manual_seed(0), num_inference_steps=50)
    distances, _ = nearest_neighbours(samples, data)
    assert int((distances[:, 0] < COPY_DISTANCE).sum()) <= 1
    # Each pixel has committed to a training value: one the data hold at that pixel (LS), or anywhere (ELS).
    if equivariant:
        closest = (samples.double().unsqueeze(-1) - data.unique()).abs().amin(-1)
    else:
        closest = (samples.double().unsqueeze(1) - data.unsqueeze(0)).abs().amin(1)
    assert float(closest.max()) < 1e-2


# ------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "patch,words",
    [(2, "odd"), (0, "[1, 11]"), (13, "[1, 11]"), (3.0, "patch_size"), ("3", "patch_size"), ([3, 3], "1000")],
)
def test_bad_patch_sizes_are_refused(scheduler, patch, words):
    with pytest.raises(ValueError, match="patch_size") as error:
        LocalPosterior(random_data((1, 6, 6)), patch, scheduler)
    assert words in str(error.value)


def test_bad_entries_of_a_table_or_callable_are_refused(scheduler):
    data = random_data((1, 6, 6))
    with pytest.raises(ValueError, match=r"patch_size\[7\] must be an odd integer in \[1, 11\]"):
        LocalPosterior(data, [3] * 7 + [4] + [3] * 992, scheduler)
    local = LocalPosterior(data, lambda t: 4, scheduler)
    with pytest.raises(ValueError, match=r"patch_size\(10\) must be an odd integer in \[1, 11\]"):
        local.predict_x0(noisy(data, scheduler, 10), 10)


def test_bad_inputs_are_refused(scheduler):
    data = random_data((1, 6, 6))
    local = LocalPosterior(data, 3, scheduler)
    x_t = noisy(data, scheduler, 10)
    with pytest.raises(ValueError, match=r"t must be in \[0, 999\]"):
        local.predict_x0(x_t, 1000)
    with pytest.raises(ValueError, match=r"t must be in \[0, 999\]"):
        local.step(x_t, -1)
    with pytest.raises(ValueError, match=r"x_t must have shape \(B, 1, 6, 6\)"):
        local.predict_x0(torch.zeros(2, 1, 5, 5), 10)
    with pytest.raises(ValueError, match="data must hold at least one image"):
        LocalPosterior(data[:0], 3, scheduler)
    with pytest.raises(ValueError, match="equivariant must be True or False"):
        LocalPosterior(data, 3, scheduler, equivariant="yes")
    with pytest.raises(ValueError, match="batch_size"):
        local.sample(0)
