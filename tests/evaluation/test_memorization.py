"""The memorization report (`python -m pipelines.evaluation memorization`): it flags a model train.py was made to
copy with (four images, x₀-prediction), it does not flag the shipped MNIST model, and it writes its JSON and PNG."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.figure_layout import assert_layout_ok

ROOT = Path(__file__).resolve().parents[2]
MNIST_MODEL = ROOT / "models" / "ddpm-mnist"
# Four 16×16 shapes (a fifth held out), x₀-prediction, a constant learning rate: the model learns to output its
# training images (84 % copies at 1,000 steps, ~30 s on one core). With ε-prediction a UNet this small still draws
# noisy backgrounds after 1,500 steps, and T = 100 linear β steps never reach pure noise, so the cosine schedule.
COPY_FLAGS = (
    "--resolution", "16", "--heldout_fraction", "0.2", "--train_batch_size", "4", "--learning_rate", "2e-3",
    "--lr_warmup_steps", "50", "--lr_scheduler", "constant_with_warmup", "--no_ema",
    "--ddpm_beta_schedule", "squaredcos_cap_v2", "--prediction_type", "sample",
)  # fmt: skip


@pytest.fixture(scope="module")
def copy_model(tmp_path_factory):
    from helpers.shapes import make_shapes_folder, train_tiny_rgb_model

    images = make_shapes_folder(tmp_path_factory.mktemp("few-shapes") / "images", count=5, size=16, seed=1)
    return train_tiny_rgb_model(images, tmp_path_factory.mktemp("copy-model") / "model", 1000, *COPY_FLAGS), images


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    from pipelines.evaluation.cli import main

    rc = main(["memorization", *argv])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def test_the_report_flags_a_model_trained_to_copy(copy_model, tmp_path, capsys):
    model, images = copy_model
    output = tmp_path / "report" / "copy.json"
    argv = ["--model", str(model), "--num_samples", "24", "--num_inference_steps", "50", "--output", str(output)]
    rc, out, err = run([*argv, "--no_progress"], capsys)
    assert rc == 0, err
    report = json.loads(output.read_text())
    assert report["flagged"] is True and "The model copies its training images." in out
    samples = report["samples"]
    assert samples["count"] == 24 and samples["copy_fraction"] >= 0.5, samples
    assert samples["copies"] == round(samples["copy_fraction"] * 24)
    # the yardstick: the one held-out shape is no copy of the four, and sits far from them
    assert report["num_train"] == 4 and report["heldout"]["count"] == 1 and report["heldout"]["copies"] == 0
    assert report["heldout"]["nearest_distance"]["median"] > 3 * samples["nearest_distance"]["median"]
    # the rule, per sample, with the absolute distance beside it
    d1, d2 = (np.array(report["per_sample"][k]) for k in ("nearest_distance", "second_distance"))
    assert samples["copies"] == int((d1 < d2 / 3).sum())
    # the closest pair's training image is one of the folder's own PNGs, the held-out one excluded
    record = json.loads((model / "training_data.json").read_text())
    files = sorted(images.glob("*.png"))
    best = report["closest_pairs"][0]
    assert best["copy"] and best["ratio"] < 1 / 3
    png = np.asarray(Image.open(files[record["train_indices"][best["training_index"]]]).convert("RGB"))
    from pipelines.data.record import resolve_model_data

    train = resolve_model_data(model, (3, 16, 16)).train[best["training_index"]]
    np.testing.assert_array_equal(((train.permute(1, 2, 0) + 1) * 127.5).round().numpy().astype(np.uint8), png)
    # what made it, and the picture beside the JSON
    assert report["command"] == "python -m pipelines.evaluation memorization " + " ".join([*argv, "--no_progress"])
    assert report["model"] == str(model) and report["num_samples"] == 24 and report["seed"] == 0
    assert "4 training images from folder" in report["data"]
    picture = Image.open(output.with_suffix(".png"))
    assert report["picture"] == "copy.png" and picture.mode in ("RGB", "RGBA") and picture.width >= 800


def test_the_report_does_not_flag_the_shipped_mnist_model(tmp_path, capsys):
    if not (MNIST_MODEL / "model_index.json").is_file():
        pytest.skip("models/ddpm-mnist not there")
    output = tmp_path / "mnist.json"
    argv = ["--model", str(MNIST_MODEL), "--num_samples", "8", "--num_inference_steps", "20", "--output", str(output)]
    rc, out, err = run([*argv, "--no_progress"], capsys)
    assert rc == 0, err
    report = json.loads(output.read_text())
    assert report["flagged"] is False and report["samples"]["copies"] == 0, report["samples"]
    assert report["num_train"] == 4500 and report["heldout"]["count"] == 500  # the recorded split
    assert report["heldout"]["copy_fraction"] < 0.05  # new real digits are not copies by the rule either
    assert "Not flagged" in out and output.with_suffix(".png").is_file()


def test_the_rule_and_the_yardstick_on_known_sets():
    from pipelines.evaluation.memorization import memorization_report

    generator = torch.Generator().manual_seed(0)
    train = torch.rand((6, 3, 8, 8), generator=generator) * 2 - 1
    heldout = torch.rand((3, 3, 8, 8), generator=generator) * 2 - 1
    copies = train[[0, 0, 2]] + 0.01 * torch.randn((3, 3, 8, 8), generator=generator)
    report = memorization_report(torch.cat([copies, heldout]), train, heldout)
    assert report["samples"]["copies"] == 3 and report["samples"]["distinct_training_images_copied"] == 2
    assert report["heldout"]["copies"] == 0 and report["flagged"] is True
    alone = memorization_report(heldout, train, train[:0])
    assert alone["heldout"] is None and "no yardstick" in alone["verdict"] and alone["flagged"] is False
    with pytest.raises(ValueError, match="at least 2 training images"):
        memorization_report(heldout, train[:1], None)


def test_the_picture_is_laid_out_for_grayscale_and_colour():
    from pipelines.evaluation.memorization import memorization_report
    from pipelines.evaluation.plots import memorization_figure

    generator = torch.Generator().manual_seed(1)
    for channels in (1, 3):
        train = torch.rand((20, channels, 16, 16), generator=generator) * 2 - 1
        samples = torch.cat([train[:5], torch.rand((11, channels, 16, 16), generator=generator) * 2 - 1])
        report = memorization_report(samples, train, train[:0] if channels == 3 else train[10:])
        assert_layout_ok(memorization_figure(report, samples, train))


def test_a_model_without_a_record_gets_the_data_from_the_flag(tmp_path, capsys, stock_ddpm_dir, shapes_dir):
    """A stock folder (no training_data.json): --data names its images; without it, the message names --data."""
    output = tmp_path / "r.json"
    argv = ["--model", str(stock_ddpm_dir), "--num_samples", "2", "--num_inference_steps", "2", "--no_progress"]
    rc, _, err = run([*argv, "--output", str(output)], capsys)
    assert rc == 2 and "pass --data" in err and len(err.strip().splitlines()) == 1
    rc, out, err = run([*argv, "--output", str(output), "--data", str(shapes_dir)], capsys)
    assert rc == 0, err  # the folder's images, made 1×8×8 like the model's: all of them training data
    report = json.loads(output.read_text())
    assert report["num_train"] == 120 and report["heldout"] is None and "no yardstick" in out


def test_the_shipped_models_card_quotes_its_memorization_report():
    path = MNIST_MODEL / "memorization-200-samples-100-steps.json"
    if not path.is_file():
        pytest.skip("models/ddpm-mnist has no memorization report")
    report = json.loads(path.read_text())
    s, h = report["samples"], report["heldout"]
    text = " ".join((MNIST_MODEL / "README.md").read_text().split())  # one line: sentences wrap anywhere
    assert report["flagged"] is False and report["command"] in text
    assert f"in {report['wall_seconds']:.0f} s wall ({report['sampling_seconds']:.0f} s of sampling" in text
    assert f"**{s['copies']} of {s['count']} samples ({100 * s['copy_fraction']:.1f} %) are copies**" in text
    assert f"d₁/d₂ = {s['ratio']['min']:.2f}; the median is {s['ratio']['median']:.2f}" in text
    assert f"{h['copies']} of {h['count']} held-out digits" in text
    assert f"their median d₁ is {h['nearest_distance']['median']:.2f} against the samples' " in text
    assert f"{s['nearest_distance']['median']:.2f} (ratio {report['median_distance_ratio']:.2f}" in text
    assert (MNIST_MODEL / report["picture"]).is_file() and f"]({report['picture']})" in text
