"""The app on data beyond its memory bound (issue 37): the data read from cached memory-mapped shards and searched
through a FAISS index, the same code path as a real folder of 200,000 images (bench/bench_app_scale.py runs that
one), here with N = 3,000 images of 3×32×32 beyond a lowered bound, so that it stays fast."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.tiny import save_tiny_pipeline
from pipelines import DatasetPosterior, PosteriorDDPMPipeline
from pipelines.data.record import prepare_training_data, save_bundle, save_record
from pipelines.exact.neighbours import nearest_neighbours
from ui.context import AppContext
from ui.tabs.exact import ExactSamplerTab
from ui.tabs.posterior import PosteriorTab

N = 3000
BOUND = 10**7  # bytes: 3,000 images of 3×32×32 need 0.29 GB for the dense posterior, far beyond


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A tiny 3×32×32 model with N training images (a bundle beside it) and 60 held out."""
    folder = tmp_path_factory.mktemp("scale") / "model"
    save_tiny_pipeline(folder, sample_size=32, channels=3)
    g = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (N + 60, 3, 32, 32), generator=g).float() / 127.5 - 1
    save_bundle(folder, pixels[:N], pixels[N:])
    return folder


@pytest.fixture(scope="module")
def ctx(model):
    pipe = PosteriorDDPMPipeline.from_pretrained(model)
    context = AppContext(pipe, str(model), memory_bound=BOUND)
    assert context.load_data() is not None, context.data_notice()
    return context


def test_data_beyond_the_bound_is_read_from_shards_not_refused(ctx):
    assert ctx.at_scale and ctx.data_notice() == ""
    data = ctx.require_data()
    assert len(data.train) == N and len(data.heldout) == 60
    assert ctx.neighbour_index.kind == "flat" and ctx.neighbour_index.num_parts == data.train.num_shards
    notice = ctx.scale_notice()
    assert "one shard in memory at a time" in notice and f"{N:,}" in notice


def test_the_exact_tab_runs_through_the_index_and_its_copy_rule_is_brute_forces(ctx):
    tab = ExactSamplerTab(ctx)
    exact, model, caption, summary = tab.exact_sample(0, 2, 3)
    scale = summary["at_scale"]
    assert scale["k"] == 64 and scale["N"] == N and len(scale["rest_bound_per_step"]) == 3
    assert "restricted to the 64 nearest of $N = 3{,}000$" in caption and "the rest can hold at most" in caption
    train = ctx.train_images().load()
    assert len(exact) == len(model) == 2
    d, i = nearest_neighbours(torch.zeros(1, 3, 32, 32), train, 2)
    d_index, i_index = ctx.dataset_posterior().nearest_neighbours(torch.zeros(1, 3, 32, 32), 2)
    assert torch.equal(i, i_index) and torch.allclose(d, d_index)
    assert summary["exact"]["nearest_distances"] == pytest.approx([0.0, 0.0], abs=1e-6)  # copies, as always


def test_the_cost_view_fits_the_first_images_and_does_not_claim_to_run_the_brute_force_step(ctx):
    _, _, words = ExactSamplerTab(ctx).cost_view()
    assert "on the first 3,000 of the 3,000 images" in words and "this page does not run it" in words
    assert "that is why this page can run it" not in words and "Through an index" in words


def test_the_posterior_tab_restricts_to_the_nearest_and_says_what_the_rest_can_hold(ctx):
    out = PosteriorTab(ctx).posterior(5, 300, 0)
    answer, summary = out[-2], out[-1]
    assert "restricted to the 64 nearest of $N = 3{,}000$ training images; the rest can hold at most" in answer
    assert summary["at_scale"]["max_rest_bound"] < 1e-6
    dense = DatasetPosterior(ctx.train_images().load(), ctx.pipe.scheduler)
    x_t = torch.from_numpy(np.zeros((1, 3, 32, 32), np.float32))
    restricted = ctx.dataset_posterior().posterior(x_t + ctx.training_image(5), 300).posterior_mean
    full = dense.posterior(x_t + ctx.training_image(5), 300).posterior_mean
    assert torch.allclose(restricted, full, atol=1e-5)


def test_the_shards_are_cached_by_source_and_reused(ctx, model):
    again = AppContext(ctx.pipe, str(model), memory_bound=BOUND)
    again.load_data()
    assert again._cache_note.startswith("reused from")


def test_the_memorization_report_runs_on_the_apps_shards(ctx, model, tmp_path):
    output = tmp_path / "report.json"
    shards = ctx.train_images().folder
    argv = ["--model", str(model), "--shards", str(shards), "--index", "auto", "--num_samples", "4"]
    argv += ["--num_inference_steps", "2", "--output", str(output), "--no_progress"]
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.evaluation", "memorization", *argv], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "faiss flat" in output.read_text()


def _folder(path: Path, count: int, seed: int) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for k in range(count):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(path / f"{k:04d}.png")
    return path


def test_a_folder_that_changes_under_its_shards_is_rebuilt_and_refused_when_the_model_saw_other_data(tmp_path):
    images = _folder(tmp_path / "images", 60, 1)
    folder = save_tiny_pipeline(tmp_path / "model", sample_size=32, channels=3)
    _, record = prepare_training_data(train_data_dir=str(images), resolution=32, channels=3)
    save_record(folder, record)
    pipe = PosteriorDDPMPipeline.from_pretrained(folder)
    first = AppContext(pipe, str(folder), memory_bound=1000)
    assert first.at_scale and first._cache_note.startswith("written")
    # an image replaced: the shards are rebuilt (the files' fingerprint changed), and the hash is not the record's
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(images / "0003.png")
    second = AppContext(pipe, str(folder), memory_bound=1000)
    assert second.load_data() is None
    assert "changed since the model was trained" in second.data_notice()
    # the same folder, named with --data and no record: rebuilt, and said so
    (folder / "training_data.json").unlink()
    third = AppContext(pipe, str(folder), data=str(images), memory_bound=1000)
    third.load_data()
    Image.fromarray(np.full((32, 32, 3), 9, np.uint8)).save(images / "0004.png")
    fourth = AppContext(pipe, str(folder), data=str(images), memory_bound=1000)
    fourth.load_data()
    assert fourth._cache_note.startswith("rebuilt (the data changed")
    assert fourth.train_images().content_hash != third.train_images().content_hash


def test_an_index_built_for_another_data_set_is_refused_by_name(tmp_path):
    folder = save_tiny_pipeline(tmp_path / "model", sample_size=32, channels=3)
    pipe = PosteriorDDPMPipeline.from_pretrained(folder)
    a, b = _folder(tmp_path / "a", 200, 2), _folder(tmp_path / "b", 200, 3)
    first = AppContext(pipe, str(folder), data=str(a), memory_bound=1000, index_kind="ivf")
    first.load_data()
    index_a = first.train_images().folder / "index"
    assert index_a.is_dir()
    caption = ExactSamplerTab(first).exact_sample(0, 1, 2)[2]  # a compressed index: its recall@2 in the verdict
    assert "Compressed index: recall@2 against brute force" in caption
    assert "recall@2 of the compressed index" in PosteriorTab(first).posterior(0, 300, 0)[-2]
    second = AppContext(pipe, str(folder), data=str(b), memory_bound=1000, index_kind="ivf")
    second.load_data()
    shutil.rmtree(second.train_images().folder / "index")
    shutil.copytree(index_a, second.train_images().folder / "index")  # another data set's index, put there
    with pytest.raises(ValueError, match="was built for other data"):
        AppContext(pipe, str(folder), data=str(b), memory_bound=1000, index_kind="ivf").load_data()


def test_the_local_posterior_view_says_it_is_off_at_scale_instead_of_failing(ctx):
    """The local (patch) posterior compares every patch with all training images held in memory: at scale it
    refuses with one line naming why, not a stack trace from deep inside."""
    from ui.tabs.mechanism import MechanismTab

    with pytest.raises(ValueError, match=r"read from disk .* bound"):
        MechanismTab(ctx).local_posterior(0, 7, False)
