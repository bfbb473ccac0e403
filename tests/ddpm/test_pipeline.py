"""PosteriorDDPMPipeline: every step exposed, same images as diffusers, thread safety, stock folders both ways."""

import copy
import threading

import numpy as np
import pytest
import torch
from diffusers import DDPMPipeline, DDPMScheduler

from helpers.tiny import make_tiny_unet
from pipelines import DenoisingStep, PosteriorDDPMPipeline, PosteriorDDPMScheduler


@pytest.fixture(scope="module")
def pipe(tiny_unet):
    p = PosteriorDDPMPipeline(unet=tiny_unet, scheduler=PosteriorDDPMScheduler())
    p.set_progress_bar_config(disable=True)
    return p


def test_denoise_yields_every_step(pipe):
    steps = list(pipe.denoise(batch_size=3, generator=torch.Generator().manual_seed(0), num_inference_steps=7))
    assert [s.index for s in steps] == list(range(7))
    assert all(isinstance(s, DenoisingStep) and s.num_steps == 7 for s in steps)
    assert [s.timestep for s in steps] == pipe.scheduler.timestep_plan(7).tolist()
    assert [s.prev_timestep for s in steps] == [s.timestep for s in steps[1:]] + [-1]
    for s in steps:
        assert s.sample.shape == s.pred_original_sample.shape == s.posterior_mean.shape == (3, 1, 8, 8)
        assert s.pred_original_sample.abs().max() <= 1.0  # clip_sample
    assert torch.equal(steps[-1].sample, steps[-1].posterior_mean)  # no noise on the last step


def test_call_and_denoise_give_the_same_images_bit_for_bit(pipe):
    for K, eta in [(10, 1.0), (10, 0.0), (25, 0.3)]:
        last = None
        for step in pipe.denoise(
            batch_size=2, generator=torch.Generator().manual_seed(5), num_inference_steps=K, eta=eta
        ):
            last = step.sample
        images = pipe(
            batch_size=2, generator=torch.Generator().manual_seed(5), num_inference_steps=K, eta=eta, output_type="pt"
        ).images
        assert torch.equal(images, (last / 2 + 0.5).clamp(0, 1))
        again = pipe(
            batch_size=2, generator=torch.Generator().manual_seed(5), num_inference_steps=K, eta=eta, output_type="pt"
        ).images
        assert torch.equal(images, again)


@pytest.mark.parametrize("K,spacing", [(1000, "leading"), (50, "trailing"), (13, "linspace")])
def test_same_images_as_stock_diffusers_ddpm_pipeline(tiny_unet, K, spacing):
    """η = 1: the noise is drawn in diffusers' order and shapes, so one generator gives the same images."""
    stock = DDPMPipeline(unet=tiny_unet, scheduler=DDPMScheduler(timestep_spacing=spacing))
    ours = PosteriorDDPMPipeline(unet=tiny_unet, scheduler=PosteriorDDPMScheduler(timestep_spacing=spacing))
    for p in (stock, ours):
        p.set_progress_bar_config(disable=True)
    a = stock(batch_size=2, generator=torch.Generator().manual_seed(1), num_inference_steps=K, output_type="np").images
    b = ours(batch_size=2, generator=torch.Generator().manual_seed(1), num_inference_steps=K, output_type="np").images
    assert a.shape == b.shape == (2, 8, 8, 1)
    assert np.abs(a - b).max() <= 2e-4


def test_a_list_of_generators_gives_image_i_from_generator_i(pipe, tiny_unet):
    """diffusers' protocol (randn_tensor): with one generator per image, image i draws its starting noise and
    every step's noise from generator i alone, so it is the image that generator draws in a batch of one; and
    the batch equals stock DDPMPipeline's for the same list. η < 1 steps draw their noise the same way."""
    seeds = [7, 8, 9]

    def gens():
        return [torch.Generator().manual_seed(s) for s in seeds]

    for eta in (1.0, 0.5):
        batch = pipe(batch_size=3, generator=gens(), num_inference_steps=6, eta=eta, output_type="pt").images
        for i, seed in enumerate(seeds):
            alone = pipe(
                batch_size=1,
                generator=torch.Generator().manual_seed(seed),
                num_inference_steps=6,
                eta=eta,
                output_type="pt",
            ).images
            assert (batch[i] - alone[0]).abs().max() <= 1e-5, (eta, i)
        # not trivially true: the three generators draw three different images
        assert all((batch[i] - batch[j]).abs().max() > 0.1 for i, j in ((0, 1), (0, 2), (1, 2)))
    stock = DDPMPipeline(unet=tiny_unet, scheduler=DDPMScheduler())
    stock.set_progress_bar_config(disable=True)
    a = stock(batch_size=3, generator=gens(), num_inference_steps=6, output_type="np").images
    b = pipe(batch_size=3, generator=gens(), num_inference_steps=6, output_type="np").images
    assert np.abs(a - b).max() <= 2e-4


def _learned_variance_unet(variance_type: str):
    """A tiny UNet with twice the channels out (ε, then the variance output). For "learned" (the variance itself)
    its variance channel is made positive and varying: conv_out's variance filter scaled down, its bias positive."""
    unet = make_tiny_unet(seed=3, out_channels=2)
    if variance_type == "learned":
        with torch.no_grad():
            unet.conv_out.weight[1] *= 0.01
            unet.conv_out.bias[1] = 0.02
    return unet


@pytest.mark.parametrize("variance_type", ["learned_range", "learned"])
def test_learned_variances_split_the_output_and_match_stock_diffusers(variance_type):
    """A UNet that predicts ε and its variance (2× the channels): the pipeline splits the output, draws each
    pixel with the variance the UNet gave it, and gets stock DDPMPipeline's images for the same generator."""
    unet = _learned_variance_unet(variance_type)
    ours = PosteriorDDPMPipeline(unet=unet, scheduler=PosteriorDDPMScheduler(variance_type=variance_type))
    stock = DDPMPipeline(unet=unet, scheduler=DDPMScheduler(variance_type=variance_type))
    ours.set_progress_bar_config(disable=True)
    stock.set_progress_bar_config(disable=True)
    K = 10
    steps = list(ours.denoise(batch_size=2, generator=torch.Generator().manual_seed(4), num_inference_steps=K))
    scheduler = ours.scheduler
    alphas_cumprod = torch.cumprod(1 - scheduler.betas.double(), 0)  # ᾱ_t in float64 (1 − ᾱ_0 is 1e-4)
    x_t = torch.randn((2, 1, 8, 8), generator=torch.Generator().manual_seed(4))  # the starting noise
    for step in steps[:-1]:
        assert step.model_output.shape == (2, 2, 8, 8) and step.sample.shape == (2, 1, 8, 8)
        epsilon, predicted = step.model_output[:, :1], step.model_output[:, 1:].double()
        # x̂0 from the ε half alone (eq. 15) …
        x0 = scheduler.clip_x0(scheduler.predict_x0(epsilon, x_t, step.timestep))
        assert torch.allclose(step.pred_original_sample, x0, atol=1e-6)
        # … and the step's variance from the second half (improved-diffusion eq. 15 for learned_range)
        a_t, a_prev = alphas_cumprod[step.timestep], alphas_cumprod[step.prev_timestep]
        beta = 1 - a_t / a_prev
        beta_tilde = (1 - a_prev) / (1 - a_t) * beta
        if variance_type == "learned_range":
            frac = (predicted + 1) / 2
            expected = torch.exp(frac * torch.log(beta) + (1 - frac) * torch.log(beta_tilde))
        else:
            assert predicted.min() > 0 and predicted.std() > 0  # a positive, per-pixel variance
            expected = predicted
        assert step.posterior_variance.shape == step.sample.shape  # one variance per pixel, not a scalar
        assert torch.allclose(step.posterior_variance.double(), expected, rtol=1e-5, atol=0)
        x_t = step.sample
    a = stock(batch_size=2, generator=torch.Generator().manual_seed(4), num_inference_steps=K, output_type="np").images
    b = ours(batch_size=2, generator=torch.Generator().manual_seed(4), num_inference_steps=K, output_type="np").images
    assert a.shape == b.shape == (2, 8, 8, 1) and np.isfinite(a).all()
    assert np.abs(a - b).max() <= 2e-4
    # not trivially true: the learned variances change the images. The same UNet's ε half alone, with the fixed
    # β̃_t, draws others from the same noise.
    epsilon_only = copy.deepcopy(unet)
    conv = epsilon_only.conv_out
    epsilon_only.conv_out = torch.nn.Conv2d(conv.in_channels, 1, conv.kernel_size, padding=conv.padding)
    with torch.no_grad():
        epsilon_only.conv_out.weight.copy_(conv.weight[:1])
        epsilon_only.conv_out.bias.copy_(conv.bias[:1])
    fixed = PosteriorDDPMPipeline(unet=epsilon_only, scheduler=PosteriorDDPMScheduler())
    fixed.set_progress_bar_config(disable=True)
    c = fixed(batch_size=2, generator=torch.Generator().manual_seed(4), num_inference_steps=K, output_type="np").images
    assert np.abs(c - b).max() > 0.05


def test_output_types(pipe):
    kw = dict(batch_size=2, generator=torch.Generator().manual_seed(0), num_inference_steps=3)
    pil = pipe(**kw).images
    assert len(pil) == 2 and pil[0].size == (8, 8)
    kw["generator"] = torch.Generator().manual_seed(0)
    arr = pipe(**kw, output_type="np").images
    assert arr.shape == (2, 8, 8, 1) and arr.min() >= 0 and arr.max() <= 1
    assert np.array_equal(np.asarray(pil[0]), (arr[0, ..., 0] * 255).round().astype(np.uint8))
    kw["generator"] = torch.Generator().manual_seed(0)
    assert pipe(**kw, output_type="pt", return_dict=False)[0].shape == (2, 1, 8, 8)


def test_eight_threads_share_one_pipeline(pipe):
    """One pipeline, eight concurrent requests (own seed and step count): each equals the same request run alone."""
    jobs = [(seed, steps) for seed, steps in zip(range(100, 108), [3, 5, 8, 13, 4, 6, 9, 12])]

    def run(seed, steps):
        return pipe(
            batch_size=2,
            generator=torch.Generator().manual_seed(seed),
            num_inference_steps=steps,
            eta=0.5 if steps % 2 else 1.0,
            output_type="pt",
        ).images

    alone = {job: run(*job) for job in jobs}
    together, errors = {}, []
    barrier = threading.Barrier(len(jobs))

    def worker(job):
        try:
            barrier.wait()
            together[job] = run(*job)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for job in jobs:
        assert torch.equal(together[job], alone[job]), job
    assert len({tuple(v.flatten()[:8].tolist()) for v in alone.values()}) == len(jobs)  # really different requests


def test_loads_a_folder_written_by_stock_diffusers(stock_ddpm_dir, tiny_unet):
    pipe = PosteriorDDPMPipeline.from_pretrained(stock_ddpm_dir)
    pipe.set_progress_bar_config(disable=True)
    assert isinstance(pipe.scheduler, PosteriorDDPMScheduler)
    stock = DDPMPipeline.from_pretrained(stock_ddpm_dir)
    stock.set_progress_bar_config(disable=True)
    a = stock(batch_size=2, generator=torch.Generator().manual_seed(2), num_inference_steps=20, output_type="np").images
    b = pipe(batch_size=2, generator=torch.Generator().manual_seed(2), num_inference_steps=20, output_type="np").images
    assert np.abs(a - b).max() <= 2e-4


def test_save_pretrained_writes_a_stock_folder(pipe, tmp_path):
    pipe.save_pretrained(tmp_path)
    index = (tmp_path / "model_index.json").read_text()
    assert '"DDPMPipeline"' in index and "PosteriorDDPM" not in index
    assert (tmp_path / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    assert not list(tmp_path.rglob("*.bin"))
    stock = DDPMPipeline.from_pretrained(tmp_path)  # no code of ours involved
    stock.set_progress_bar_config(disable=True)
    a = stock(batch_size=2, generator=torch.Generator().manual_seed(4), num_inference_steps=10, output_type="np").images
    b = pipe(batch_size=2, generator=torch.Generator().manual_seed(4), num_inference_steps=10, output_type="np").images
    assert np.abs(a - b).max() <= 2e-4


def test_channels_last_draws_the_same_images_and_still_saves_a_stock_folder(tiny_unet, tmp_path):
    """The CPU layout app.py uses: the same images (to float noise), and save_pretrained still writes a folder
    that stock diffusers loads (safetensors wants contiguous tensors)."""
    import copy

    plain = PosteriorDDPMPipeline(unet=tiny_unet, scheduler=PosteriorDDPMScheduler())
    fast = PosteriorDDPMPipeline(unet=copy.deepcopy(tiny_unet), scheduler=PosteriorDDPMScheduler())
    assert fast.use_channels_last() is fast
    weight = fast.unet.conv_out.weight  # (1, 8, 3, 3): NHWC differs from NCHW (conv_in's 1 channel would not)
    assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
    assert fast.is_channels_last and not plain.is_channels_last
    for p in (plain, fast):
        p.set_progress_bar_config(disable=True)
    kw = dict(batch_size=3, num_inference_steps=20, output_type="np")
    a = plain(generator=torch.Generator().manual_seed(6), **kw).images
    b = fast(generator=torch.Generator().manual_seed(6), **kw).images
    assert np.abs(a - b).max() <= 2e-4
    fast.save_pretrained(tmp_path)
    stock = DDPMPipeline.from_pretrained(tmp_path)
    stock.set_progress_bar_config(disable=True)
    c = stock(batch_size=3, generator=torch.Generator().manual_seed(6), num_inference_steps=20, output_type="np").images
    assert np.abs(a - c).max() <= 2e-4


def test_pickle_only_folder_is_refused(tmp_path, tiny_unet):
    DDPMPipeline(unet=tiny_unet, scheduler=DDPMScheduler()).save_pretrained(tmp_path, safe_serialization=False)
    with pytest.raises((OSError, ValueError), match="safetensors"):
        PosteriorDDPMPipeline.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match="use_safetensors must be True"):
        PosteriorDDPMPipeline.from_pretrained(tmp_path, use_safetensors=False)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(batch_size=0), r"batch_size must be an integer >= 1, got 0"),  # no upper bound: memory is the limit
        (dict(batch_size=2.5), r"batch_size must be an integer >= 1, got 2.5"),
        (dict(generator=[torch.Generator()] * 2), r"generator must be a torch.Generator or a list of 1 \(batch_size\)"),
        (dict(num_inference_steps=0), r"num_inference_steps must be an integer in \[1, 1000\]"),
        (dict(num_inference_steps=1001), r"num_inference_steps must be an integer in \[1, 1000\]"),
        (dict(eta=float("nan")), r"eta must be a number in \[0, 1\]"),
        (dict(eta=1.01), r"eta must be a number in \[0, 1\]"),
        (dict(eta=0.5, variance_type="fixed_large"), "eta must be 1 with variance_type"),
        (dict(timesteps=[5, 9]), "strictly descending"),
        (dict(output_type="jpg"), "output_type must be one of pil, np, pt"),
    ],
)
def test_bad_arguments_raise_before_any_work(pipe, kwargs, match):
    with pytest.raises(ValueError, match=match):
        pipe(**kwargs)


def test_the_library_has_no_batch_cap_and_batches_like_diffusers(pipe, tiny_unet):
    """A user evaluating on a big machine samples 100 images in one call, as with diffusers' DDPMPipeline; the
    demo's 1–16 limit is its own input's (ui/inputs.py), not the library's."""
    images = pipe(batch_size=100, num_inference_steps=2, generator=torch.Generator().manual_seed(0), output_type="np")
    stock = DDPMPipeline(unet=tiny_unet, scheduler=DDPMScheduler(num_train_timesteps=1000))
    stock.set_progress_bar_config(disable=True)
    expected = stock(
        batch_size=100, num_inference_steps=2, generator=torch.Generator().manual_seed(0), output_type="np"
    )
    assert images.images.shape == expected.images.shape == (100, 8, 8, 1)
    assert np.allclose(images.images, expected.images, atol=1e-5)
