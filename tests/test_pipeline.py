"""PosteriorDDPMPipeline: every step exposed, same images as diffusers, thread safety, stock folders both ways."""

import threading

import numpy as np
import pytest
import torch
from diffusers import DDPMPipeline, DDPMScheduler

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
        for step in pipe.denoise(batch_size=2, generator=torch.Generator().manual_seed(5), num_inference_steps=K, eta=eta):
            last = step.sample
        images = pipe(batch_size=2, generator=torch.Generator().manual_seed(5), num_inference_steps=K, eta=eta,
                      output_type="pt").images
        assert torch.equal(images, (last / 2 + 0.5).clamp(0, 1))
        again = pipe(batch_size=2, generator=torch.Generator().manual_seed(5), num_inference_steps=K, eta=eta,
                     output_type="pt").images
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
        return pipe(batch_size=2, generator=torch.Generator().manual_seed(seed), num_inference_steps=steps,
                    eta=0.5 if steps % 2 else 1.0, output_type="pt").images

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


@pytest.mark.parametrize("kwargs,match", [
    (dict(batch_size=0), r"batch_size must be an integer in \[1, 64\]"),
    (dict(batch_size=65), r"batch_size must be an integer in \[1, 64\]"),
    (dict(batch_size=2.5), r"batch_size must be an integer in \[1, 64\]"),
    (dict(num_inference_steps=0), r"num_inference_steps must be an integer in \[1, 1000\]"),
    (dict(num_inference_steps=1001), r"num_inference_steps must be an integer in \[1, 1000\]"),
    (dict(eta=float("nan")), r"eta must be a number in \[0, 1\]"),
    (dict(eta=1.01), r"eta must be a number in \[0, 1\]"),
    (dict(eta=0.5, variance_type="fixed_large"), "eta must be 1 with variance_type"),
    (dict(timesteps=[5, 9]), "strictly descending"),
    (dict(output_type="jpg"), "output_type must be one of pil, np, pt"),
])
def test_bad_arguments_raise_before_any_work(pipe, kwargs, match):
    with pytest.raises(ValueError, match=match):
        pipe(**kwargs)
