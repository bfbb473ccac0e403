"""Your model, your data: the posterior tabs on a model trained by train.py on a folder of RGB images.

The model (`rgb_model_dir`: 3×32×32, trained on the 120 coloured shapes of `shapes_dir`, 12 held out) records its
data; the app started on it serves /posterior and /exact_sample on those images. A folder without the record works
with --data; a model with neither shows each tab's notice; bad --data values stop the app with one line."""

from __future__ import annotations

import json
import shutil
import ssl
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.app_server import run_app, serve_app
from pipelines.data.record import BYTES_PER_VALUE, MEMORY_BOUND_BYTES, RECORD_FILE, check_data_memory, data_memory_bytes
from pipelines.data.sources import DataError

PAIR_SCALE = 3  # ui.tabs.exact: each image of a "sample | nearest" pair is shown 3×
SIZE = 32


def folder_pixels(folder) -> dict[bytes, str]:
    """Every PNG of the folder as its raw RGB bytes → file name."""
    out = {}
    for path in sorted(folder.glob("*.png")):
        with Image.open(path) as image:
            out[np.asarray(image.convert("RGB")).tobytes()] = path.name
    return out


def pair_sample(path) -> np.ndarray:
    """The sample (left) tile of a "sample | nearest" gallery picture, at its own 32×32 pixels."""
    with Image.open(path) as image:
        array = np.asarray(image.convert("RGB"))
    side = SIZE * PAIR_SCALE
    return np.ascontiguousarray(array[-side:, :side][::PAIR_SCALE, ::PAIR_SCALE])


def shown(path, scale: int) -> np.ndarray:
    with Image.open(path) as image:
        return np.ascontiguousarray(np.asarray(image.convert("RGB"))[::scale, ::scale])


def record_of(model_dir) -> dict:
    return json.loads((model_dir / RECORD_FILE).read_text())


# ---------------------------------------------------------------------------------------------- the served app
@pytest.fixture(scope="module")
def client(rgb_model_dir):
    from gradio_client import Client

    with serve_app(rgb_model_dir) as url:
        yield Client(url, ssl_verify=ssl.create_default_context(), verbose=False)


def test_exact_samples_are_pixel_copies_of_the_folders_training_images(client, shapes_dir, rgb_model_dir):
    exact, model, caption, summary = client.predict(
        seed=0, num_images=4, num_inference_steps=10, api_name="/exact_sample"
    )
    pngs = folder_pixels(shapes_dir)
    names = sorted(p.name for p in shapes_dir.glob("*.png"))
    record = record_of(rgb_model_dir)
    trained = {names[i] for i in record["train_indices"]}
    assert len(exact) == len(model) == 4
    for item, index in zip(exact, summary["exact"]["nearest_indices"]):
        sample = pair_sample(item["image"])
        assert sample.tobytes() in pngs, "an exact sample is not a pixel copy of an image of the folder"
        name = pngs[sample.tobytes()]
        assert name in trained and name == names[record["train_indices"][index]]
    # The one copy rule: Gu et al.'s ratio, with the distance beside it.
    assert summary["exact"]["copies"] == 4 and summary["exact"]["pixel_copies"] == 4
    assert all(r == 0 for r in summary["exact"]["ratios"])
    assert summary["model"]["copies"] == sum(r < 1 / 3 for r in summary["model"]["ratios"])
    assert "$d_1/d_2 < 1/3$" in caption and "4/4 samples are copies of training images" in caption
    assert "digit" not in caption  # the words follow the data
    for item, d, d2 in zip(model, summary["model"]["nearest_distances"], summary["model"]["second_distances"]):
        assert item["caption"].endswith(f"d₁/d₂ {d / d2:.2f}")
    # The held-out part of the folder is the yardstick; the cost is measured on this data's N and D.
    assert summary["num_heldout"] == len(record["heldout_indices"]) == 12
    assert summary["num_data"] == 108 and summary["cost"]["measured"][-1]["N"] == 108
    assert summary["cost"]["D"] == 3 * SIZE * SIZE
    assert "held-out real images" in caption


def test_posterior_runs_on_a_training_image_and_on_an_upload_in_colour(client, shapes_dir, rgb_model_dir):
    from gradio_client import handle_file

    names = sorted(p.name for p in shapes_dir.glob("*.png"))
    record = record_of(rgb_model_dir)
    outputs = client.predict(digit_index=5, t=50, seed=0, api_name="/posterior")
    x0, candidates, answer, summary = outputs[0], outputs[2], outputs[-2], outputs[-1]
    want = np.asarray(Image.open(shapes_dir / names[record["train_indices"][5]]).convert("RGB"))
    assert np.array_equal(shown(x0, 128 // SIZE), want)  # x0 is that training image, in colour
    assert summary["source"] == "digit_index" and "label" not in summary  # no MNIST classes here
    assert summary["num_data"] == 108 and len(candidates) == 5
    assert "3,072" in answer and "training digit" not in answer and "of the image" in answer
    # An upload (a held-out image of the folder) is made like a training image: the same pixels.
    held = shapes_dir / names[record["heldout_indices"][0]]
    *_, summary = client.predict(t=50, seed=0, image=handle_file(str(held)), api_name="/posterior")
    assert summary["source"] == "image"
    x0 = client.predict(t=50, seed=0, image=handle_file(str(held)), api_name="/posterior")[0]
    assert np.array_equal(shown(x0, 128 // SIZE), np.asarray(Image.open(held).convert("RGB")))


# ---------------------------------------------------------------------------------------------- in process
def context(model_dir, data=None, tmp_path=None):
    import app
    from ui.context import AppContext
    from ui.files import RunStore

    pipe = app.load_model(str(model_dir), device="cpu")
    return AppContext(pipe=pipe, model_id=str(model_dir), store=RunStore(root=tmp_path / "runs"), data=data)


@pytest.fixture
def bare_model(rgb_model_dir, tmp_path):
    """The RGB model without its record: a stock diffusers folder."""
    folder = tmp_path / "bare"
    shutil.copytree(rgb_model_dir, folder, ignore=shutil.ignore_patterns("checkpoint-*", "samples"))
    (folder / RECORD_FILE).unlink()
    return folder


def test_a_folder_without_a_record_works_with_data(bare_model, shapes_dir, tmp_path):
    from ui.tabs.exact import ExactSamplerTab

    ctx = context(bare_model, str(shapes_dir), tmp_path)
    data = ctx.load_data()
    assert len(data.train) == 120 and len(data.heldout) == 0  # every image counts; none is held out
    exact, _, caption, summary = ExactSamplerTab(ctx).exact_sample(1, 2, 5)
    pngs = folder_pixels(shapes_dir)
    for picture, _ in exact:
        array = np.asarray(picture.convert("RGB"))[-SIZE * PAIR_SCALE :, : SIZE * PAIR_SCALE]
        assert np.ascontiguousarray(array[::PAIR_SCALE, ::PAIR_SCALE]).tobytes() in pngs
    assert summary["num_heldout"] == 0 and summary["heldout_nearest_distance_median"] is None
    assert "no held-out images" in caption  # no yardstick, said so


def test_a_model_with_neither_record_nor_data_shows_each_tab_the_flag(bare_model, tmp_path):
    import gradio as gr

    import app
    from ui.tabs.exact import ExactSamplerTab
    from ui.tabs.mechanism import MechanismTab
    from ui.tabs.posterior import PosteriorTab
    from ui.tabs.variance import VarianceTab

    ctx = context(bare_model, None, tmp_path)
    demo = app.build_demo(ctx)  # the app builds: the Sample tab works without data
    notices = [
        block.value
        for block in demo.blocks.values()
        if isinstance(block, gr.Markdown) and "--data FOLDER_OR_DATASET_ID" in (block.value or "")
    ]
    assert len(notices) == 4 and all("3×32×32" in n and "no training_data.json" in n for n in notices)
    for call in (
        lambda: PosteriorTab(ctx).posterior(0, 10, 0),
        lambda: ExactSamplerTab(ctx).exact_sample(0, 1, 1),
        lambda: VarianceTab(ctx).variance(2, 0),
        lambda: MechanismTab(ctx).local_posterior(0, 5, True),
    ):
        with pytest.raises(gr.Error, match="--data FOLDER_OR_DATASET_ID"):
            call()


# ---------------------------------------------------------------------------------------------- bad --data
def images_folder(folder, count: int, size: int, mode: str):
    folder.mkdir(parents=True)
    for i in range(count):
        Image.new(mode, (size, size), 40 * i).save(folder / f"{i}.png")
    return folder


def changed_model(rgb_model_dir, shapes_dir, tmp_path):
    """A copy of the model whose record names a copy of its folder with one training image repainted."""
    data = tmp_path / "changed-data"
    shutil.copytree(shapes_dir, data)
    record = record_of(rgb_model_dir)
    victim = sorted(data.glob("*.png"))[record["train_indices"][0]]
    Image.new("RGB", (SIZE, SIZE), (255, 255, 255)).save(victim)
    model = tmp_path / "changed-model"
    shutil.copytree(rgb_model_dir, model, ignore=shutil.ignore_patterns("checkpoint-*", "samples"))
    (model / RECORD_FILE).write_text(json.dumps({**record, "source": str(data)}))
    return model, data


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "--data '{tmp}/nope': no such folder"),
        ("empty", "--data '{tmp}/empty' holds no images"),
        ("wrong size", "0.png is 16×16 but the model draws 32×32 images"),
        ("wrong channels", "0.png is grayscale but the model draws 3 channels (RGB)"),
        ("changed", "is not the data the model was trained on (content hash differs)"),
    ],
)
def test_bad_data_stops_the_app_with_one_line(case, message, rgb_model_dir, shapes_dir, tmp_path, capsys, monkeypatch):
    import gradio as gr

    import app

    monkeypatch.setattr(gr.Blocks, "launch", lambda *a, **k: pytest.fail("app.py launched with a bad --data"))
    model = rgb_model_dir
    if case == "missing":
        data = tmp_path / "nope"
    elif case == "empty":
        data = tmp_path / "empty"
        data.mkdir()
    elif case == "wrong size":
        data = images_folder(tmp_path / "small", 3, 16, "RGB")
    elif case == "wrong channels":
        data = images_folder(tmp_path / "gray", 3, SIZE, "L")
    else:
        model, data = changed_model(rgb_model_dir, shapes_dir, tmp_path)
    with pytest.raises(SystemExit) as exit_:
        app.main(["--model", str(model), "--data", str(data), "--port", "1"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith("app.py: error: --data") and message.replace("{tmp}", str(tmp_path)) in lines[0]


def test_changed_recorded_data_without_the_flag_leaves_a_notice_not_an_error(rgb_model_dir, shapes_dir, tmp_path):
    model, _ = changed_model(rgb_model_dir, shapes_dir, tmp_path)
    ctx = context(model, None, tmp_path)
    assert ctx.load_data() is None
    assert "changed since the model was trained" in ctx.data_notice() and "--data" in ctx.data_notice()


def test_a_real_app_process_refuses_a_missing_data_folder(rgb_model_dir, tmp_path):
    done = run_app("--model", str(rgb_model_dir), "--data", str(tmp_path / "nope"), "--port", "1")
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith(f"app.py: error: --data '{tmp_path / 'nope'}': no such folder")


# ---------------------------------------------------------------------------------------------- memory
def test_data_above_the_memory_bound_is_refused_with_its_size_and_the_bound():
    shape = (3, 64, 64)
    most = MEMORY_BOUND_BYTES // (3 * 64 * 64 * BYTES_PER_VALUE)
    check_data_memory(most, shape)  # at the bound: fine
    with pytest.raises(DataError) as error:
        check_data_memory(most + 1, shape)
    need = data_memory_bytes(most + 1, shape) / 1e9
    assert str(error.value).startswith(f"--data: {most + 1:,} images of 3×64×64 need {need:.3g} GB")
    assert f"the bound is {MEMORY_BOUND_BYTES / 1e9:.3g} GB" in str(error.value)


def test_data_beyond_the_memory_bound_go_to_disk_instead_of_being_refused(rgb_model_dir, tmp_path):
    """Issue 37: beyond the bound the app no longer refuses; it reads the data from memory-mapped shards and searches
    them through an index (tests/ui/test_at_scale.py checks the tabs on that path)."""
    ctx = context(rgb_model_dir, None, tmp_path)
    ctx.memory_bound = data_memory_bytes(100, (3, SIZE, SIZE))  # below this data's 108 × 3,072 values
    assert ctx.load_data() is not None and ctx.data_notice() == ""
    assert ctx.at_scale and "108" in ctx.scale_notice()
    in_memory = context(rgb_model_dir, None, tmp_path)
    assert torch.is_tensor(in_memory.train_images()) and not in_memory.at_scale  # with the real bound: in memory


# ---------------------------------------------------------------------------------------------- a Hub model
HUB_SCRIPT = """
import json, sys
from huggingface_hub import HfApi
token, model, stock = sys.argv[1:4]
api = HfApi()
for repo, folder in (("tester/rgb", model), ("tester/stock", stock)):
    api.create_repo(repo, token=token)
    api.upload_folder(folder_path=folder, repo_id=repo, token=token, ignore_patterns=["checkpoint-*", "samples/*"])
import app
from pipelines.data.record import model_data_folder
from ui.context import AppContext
ctx = AppContext(pipe=app.load_model("tester/rgb", device="cpu"), model_id="tester/rgb")
data = ctx.load_data()
stock_ctx = AppContext(pipe=app.load_model("tester/stock", device="cpu"), model_id="tester/stock")
print(json.dumps({
    "description": data.description, "train": len(data.train), "heldout": len(data.heldout),
    "stock_folder": model_data_folder("tester/stock"), "stock_notice": stock_ctx.data_notice(),
}))
"""


def test_a_hub_model_brings_its_record_and_bundle(rgb_model_dir, bare_model, tmp_path):
    """A Hub repo holding the model, its record and its image bundle: the app fetches both files with huggingface_hub
    and runs on the bundle (the source folder need not exist where the app runs); a stock repo has neither: the
    tabs' notice, not an error."""
    import subprocess
    import sys

    from helpers.hub_server import FakeHub
    from pipelines.data.record import load_recorded_data, read_record, save_bundle

    model = tmp_path / "with-bundle"
    shutil.copytree(rgb_model_dir, model, ignore=shutil.ignore_patterns("checkpoint-*", "samples"))
    save_bundle(model, *load_recorded_data(read_record(model)))
    token = "hf_TESTtoken0123456789abcdefXYZ"
    with FakeHub(tmp_path / "hub", tokens={token: "tester"}) as hub:
        env = {
            **{k: v for k, v in __import__("os").environ.items() if k not in ("HF_TOKEN", "HF_HUB_OFFLINE")},
            "HF_ENDPOINT": hub.url,
            "HF_HUB_DISABLE_XET": "1",
            "HF_HOME": str(tmp_path / "hf-home"),
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
            "OMP_NUM_THREADS": "1",
        }
        done = subprocess.run(
            [sys.executable, "-c", HUB_SCRIPT, token, str(model), str(bare_model)],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["train"] == 108 and out["heldout"] == 12 and "bundle" in out["description"]
    assert out["stock_folder"] is None and "--data FOLDER_OR_DATASET_ID" in out["stock_notice"]


def test_a_model_above_64x64_gets_the_notice_not_a_crash(tmp_path):
    from helpers.tiny import save_tiny_pipeline

    model = save_tiny_pipeline(tmp_path / "big", sample_size=96, channels=3)
    ctx = context(model, None, tmp_path)
    assert ctx.load_data() is None
    assert "up to 64×64" in ctx.data_notice() and "3×96×96" in ctx.data_notice()
