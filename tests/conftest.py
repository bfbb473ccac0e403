"""Shared fixtures. Tests run offline: no analytics, no telemetry, no Hub (hub tests serve their own endpoint)."""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_NO_ADVISORY_WARNINGS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")  # tiny models: one thread is fastest and never oversubscribes

import pytest
import torch

torch.set_num_threads(1)

TINY_UNET = dict(
    sample_size=8,
    in_channels=1,
    out_channels=1,
    block_out_channels=(8, 16),
    down_block_types=("DownBlock2D", "AttnDownBlock2D"),
    up_block_types=("AttnUpBlock2D", "UpBlock2D"),
    layers_per_block=1,
    norm_num_groups=4,
)


def make_tiny_unet(seed: int = 0, **overrides):
    """A randomly initialised UNet2DModel small enough for fast tests (8×8, 1 channel by default)."""
    from diffusers import UNet2DModel

    torch.manual_seed(seed)
    return UNet2DModel(**{**TINY_UNET, **overrides}).eval()


@pytest.fixture(scope="session")
def tiny_unet():
    return make_tiny_unet()


@pytest.fixture(scope="session")
def stock_ddpm_dir(tmp_path_factory, tiny_unet):
    """A model folder written by stock diffusers (DDPMPipeline.save_pretrained): the Hub's DDPM layout."""
    from diffusers import DDPMPipeline, DDPMScheduler

    path = tmp_path_factory.mktemp("stock-ddpm")
    DDPMPipeline(unet=tiny_unet, scheduler=DDPMScheduler(num_train_timesteps=1000)).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def app_model_dir(tmp_path_factory):
    """The tiny 1×32×32 pipeline folder the app tests serve (MNIST-shaped, so every tab works)."""
    from helpers.app_server import save_tiny_pipeline

    return save_tiny_pipeline(tmp_path_factory.mktemp("tiny-ddpm") / "model")


@pytest.fixture(scope="module")
def ctx(app_model_dir, tmp_path_factory):
    """The app's shared context over the tiny MNIST-shaped model, loaded as app.py loads it (in-process tab tests)."""
    import app
    from ui.context import AppContext
    from ui.files import RunStore

    pipe = app.load_model(str(app_model_dir), device="cpu")
    return AppContext(pipe=pipe, model_id="tiny", store=RunStore(root=tmp_path_factory.mktemp("runs")))


@pytest.fixture(scope="session")
def shapes_dir(tmp_path_factory):
    """A folder of 120 generated 3×32×32 coloured-shape PNGs (a user's own images)."""
    from helpers.shapes import make_shapes_folder

    return make_shapes_folder(tmp_path_factory.mktemp("shapes") / "images", count=120)


@pytest.fixture(scope="session")
def rgb_model_dir(tmp_path_factory, shapes_dir):
    """A tiny RGB model trained by train.py on `shapes_dir` (it records its data in training_data.json)."""
    from helpers.shapes import train_tiny_rgb_model

    return train_tiny_rgb_model(shapes_dir, tmp_path_factory.mktemp("rgb-model") / "model")
