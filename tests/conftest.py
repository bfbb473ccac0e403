"""Shared fixtures. Tests run offline: no analytics, no telemetry, no Hub (hub tests serve their own endpoint)."""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_NO_ADVISORY_WARNINGS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")  # tiny models: one thread is fastest and never oversubscribes

import inspect
import re

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_unet():
    from helpers.tiny import make_tiny_unet

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
    from helpers.tiny import save_tiny_pipeline

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


# ------------------------------------------------------------------------------------------------- markers
# `server` and `browser` are given from what a test does, so a new test cannot forget them: a test is `server` when
# it, or a fixture it uses, starts the app (helpers.app_server) or launches a gradio Blocks. `slow` is given by name
# (SLOW): the tests that train a model or sample for tens of seconds. `-m "not browser and not server and not slow"`
# is the inner loop (README states its time).
STARTS_A_SERVER = re.compile(r"\bserve_app\(|\brun_app\(|\.launch\(|\bserved_app\(")
SLOW = {
    "test_bench_smoke.py",
    "test_default_model.py",
    "test_transition_mnist.py",
    "test_training.py",
    "test_training_faults.py",
    "test_transition.py",
    "test_memorization.py",
    "test_evaluation.py",
}


def _starts_a_server(item) -> bool:
    functions = [getattr(item, "function", None)]
    for definitions in item._fixtureinfo.name2fixturedefs.values():
        functions += [definition.func for definition in definitions]
    for function in functions:
        try:
            source = inspect.getsource(function)
        except (OSError, TypeError):
            continue
        if STARTS_A_SERVER.search(source):
            return True
    return False


def pytest_collection_modifyitems(config, items):
    for item in items:
        name = item.path.name
        if name == "test_browser.py":
            item.add_marker(pytest.mark.browser)
        if name == "test_browser.py" or _starts_a_server(item):
            item.add_marker(pytest.mark.server)
        if name in SLOW or item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)
