"""The tiny UNet every test and `--quick` benchmark uses: one architecture, one way to build it, one way to save it.

Imported by the tests as `helpers.tiny` and by bench/common.py as `tests.helpers.tiny`."""

from __future__ import annotations

from pathlib import Path

# A UNet2DModel small enough for fast tests: two levels (8 and 16 channels), attention at the bottom.
TINY_UNET = dict(
    block_out_channels=(8, 16),
    down_block_types=("DownBlock2D", "AttnDownBlock2D"),
    up_block_types=("AttnUpBlock2D", "UpBlock2D"),
    layers_per_block=1,
    norm_num_groups=4,
)
# train.py's flags for the same tiny UNet (a few steps of batch 8, no logger, a fixed seed).
TINY_TRAIN_FLAGS = [
    "--block_out_channels",
    "8",
    "16",
    "--train_batch_size",
    "8",
    "--num_inference_steps",
    "2",
    "--logger",
    "none",
    "--lr_warmup_steps",
    "5",
    "--seed",
    "7",
]


def make_tiny_unet(seed: int = 0, sample_size: int = 8, channels: int = 1, **overrides):
    """A randomly initialised UNet2DModel (8×8, 1 channel by default), seeded, in eval mode."""
    import torch
    from diffusers import UNet2DModel

    torch.manual_seed(seed)
    config = {**TINY_UNET, "sample_size": sample_size, "in_channels": channels, "out_channels": channels}
    return UNet2DModel(**{**config, **overrides}).eval()


def save_tiny_pipeline(
    path: Path, sample_size: int = 32, channels: int = 1, seed: int = 0, stock: bool = False
) -> Path:
    """A DDPM pipeline folder (stock diffusers layout, T = 1000) with a tiny random UNet. `stock=True` writes it with
    diffusers' own DDPMPipeline and DDPMScheduler, as a model on the Hub is written."""
    unet = make_tiny_unet(seed=seed, sample_size=sample_size, channels=channels)
    if stock:
        from diffusers import DDPMPipeline, DDPMScheduler

        DDPMPipeline(unet=unet, scheduler=DDPMScheduler(num_train_timesteps=1000)).save_pretrained(path)
    else:
        from pipelines import PosteriorDDPMPipeline, PosteriorDDPMScheduler

        pipe = PosteriorDDPMPipeline(unet=unet, scheduler=PosteriorDDPMScheduler(num_train_timesteps=1000))
        pipe.save_pretrained(path)
    return path


def ema_weights(folder: Path) -> dict:
    """The UNet weights train.py saved in a model folder (the EMA copy when EMA is on)."""
    from safetensors.torch import load_file

    return load_file(Path(folder) / "unet" / "diffusion_pytorch_model.safetensors")


# The denoiser-record tests' tiny folder (tests/exact/conftest.py): 10 8-bit images of 1×8×8, runs of 3 steps and a
# patch-size table of P = 1, then 3.
PATCH_SHAPE, PATCH_STEPS, PATCH_N = (1, 8, 8), 3, 10
PATCH_TABLE = [1] * 500 + [3] * 500
