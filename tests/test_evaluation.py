"""The offline evaluation: the shipped judge, the metrics on image sets of known quality, and the CLI."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import make_tiny_unet
from pipelines import PosteriorDDPMPipeline, PosteriorDDPMScheduler
from pipelines.evaluation import (
    evaluate_images,
    evaluate_pipeline,
    format_table,
    frechet_distance,
    load_judge,
    load_reference,
    main,
    passes_bar,
)

REPO = Path(__file__).resolve().parent.parent
REPORT_KEYS = {"num_samples", "fid", "fid_floor", "fid_ratio", "confident_rate", "class_counts", "class_fractions",
               "min_class_fraction", "memorization_ratio", "nearest_train_median", "heldout_nearest_train_median"}


@pytest.fixture(scope="module")
def reference():
    return load_reference()  # the shipped judge + the mnist split, computed once


@pytest.fixture(scope="module")
def tiny_pipe():
    return PosteriorDDPMPipeline(unet=make_tiny_unet(sample_size=32), scheduler=PosteriorDDPMScheduler())


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory, tiny_pipe):
    path = tmp_path_factory.mktemp("tiny-ddpm-32")
    tiny_pipe.save_pretrained(path)
    return path


def test_shipped_judge_is_accurate_on_heldout_digits(reference):
    assert (REPO / "models/mnist-judge/model.safetensors").is_file()
    assert not list((REPO / "models/mnist-judge").glob("*.bin")), "the judge ships safetensors weights only"
    assert reference.heldout_accuracy >= 0.97
    config = json.loads((REPO / "models/mnist-judge/config.json").read_text())
    assert "train-judge" in config["training"]["command"]  # the training command is recorded with the weights


def test_load_judge_refuses_a_folder_without_safetensors(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    torch.save({}, tmp_path / "model.bin")  # pickle weights must never be picked up
    with pytest.raises(ValueError, match="model.safetensors"):
        load_judge(tmp_path)


def test_frechet_distance_matches_the_closed_form_for_diagonal_gaussians():
    mu1, mu2 = np.array([0.0, 1.0]), np.array([2.0, 1.0])
    var1, var2 = np.array([1.0, 4.0]), np.array([9.0, 1.0])
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(var1) - np.sqrt(var2)) ** 2).sum()  # 4 + (4 + 1)
    assert frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2)) == pytest.approx(expected)
    assert frechet_distance(mu1, np.diag(var1), mu1, np.diag(var1)) == pytest.approx(0, abs=1e-9)


def test_train_digits_read_as_copies_and_heldout_digits_as_new(reference):
    copies = evaluate_images(reference.train_images[:300])
    assert copies["memorization_ratio"] < 0.01
    held = evaluate_images(reference.heldout_images)
    assert held["memorization_ratio"] == pytest.approx(1.0)
    assert held["fid"] == pytest.approx(0.0, abs=1e-6)  # the reference against itself
    # Real unseen digits meet the bar: the bar is reachable, and only copying fails it here.
    assert passes_bar(held) == (True, [])
    passed, failures = passes_bar(copies)
    assert not passed and any("memorization" in f for f in failures)


def test_noise_is_confident_yet_far_from_digits(reference):
    noise = torch.rand((200, 1, 32, 32), generator=torch.Generator().manual_seed(0)) * 2 - 1
    report = evaluate_images(noise)
    assert report["fid"] > 50 * report["fid_floor"]
    passed, failures = passes_bar(report)
    assert not passed and any("classifier-FID" in f for f in failures)
    assert "bar: FAIL — classifier-FID" in format_table(report)


def test_evaluate_images_rejects_bad_input(reference):
    with pytest.raises(ValueError, match=r"\(N, 1, 32, 32\)"):
        evaluate_images(torch.zeros(4, 3, 32, 32))
    with pytest.raises(ValueError, match="at least 2"):
        evaluate_images(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        evaluate_images(torch.full((4, 1, 32, 32), 255.0))


def test_pipeline_report_has_every_metric_and_is_seeded(reference, tiny_pipe):
    report = evaluate_pipeline(tiny_pipe, num_samples=6, num_inference_steps=2, batch_size=4, seed=3, progress=False)
    assert REPORT_KEYS <= report.keys()
    assert report["num_samples"] == 6 and len(report["class_counts"]) == 10 and sum(report["class_counts"]) == 6
    assert sum(report["class_fractions"]) == pytest.approx(1.0)
    assert report["fid"] >= 0 and report["fid_floor"] > 0 and report["sampling_seconds"] > 0
    assert (report["num_inference_steps"], report["eta"], report["variance_type"]) == (2, 1.0, "fixed_small")
    assert report["bar"]["passed"] is False and report["bar"]["failures"]  # an untrained UNet draws noise
    again = evaluate_pipeline(tiny_pipe, num_samples=6, num_inference_steps=2, batch_size=4, seed=3, progress=False)
    assert again["fid"] == report["fid"] and again["class_counts"] == report["class_counts"]
    table = format_table(report)
    assert "classifier-FID" in table and "memorization ratio" in table and "bar: FAIL" in table


@pytest.mark.parametrize("flags, words", [
    (["--num_samples", "0"], "num_samples"),
    (["--num_inference_steps", "-3"], "num_inference_steps"),
    (["--num_inference_steps", "5000"], "num_inference_steps"),  # above the model's 1000 train steps
    (["--eta", "2"], "eta"),
    (["--eta", "0.5", "--variance_type", "fixed_large"], "eta"),
    (["--batch_size", "0"], "batch_size"),
    (["--variance_type", "learned_range"], "variance_type"),
    (["--num_samples", "many"], "num_samples"),
])
def test_cli_bad_flags_exit_with_one_line(tiny_model_dir, capsys, flags, words):
    try:
        status = main(["--model", str(tiny_model_dir), *flags])
    except SystemExit as exit_:  # argparse's own checks (types, choices)
        status = exit_.code
    err = capsys.readouterr().err.strip()
    assert status == 2
    assert len(err.splitlines()) == 1 and words in err and "Traceback" not in err


def test_cli_missing_model_folder_is_one_line_in_a_real_process(tmp_path):
    result = subprocess.run([sys.executable, "-m", "pipelines.evaluation", "--model", str(tmp_path / "nope")],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "model" in result.stderr and "nope" in result.stderr


def test_cli_writes_the_report(reference, tiny_model_dir, capsys):
    status = main(["--model", str(tiny_model_dir), "--num_samples", "8", "--num_inference_steps", "2",
                   "--batch_size", "4", "--eta", "0.5", "--seed", "1"])
    out = capsys.readouterr().out
    assert status == 0
    written = tiny_model_dir / "evaluation-8-samples-2-steps-eta-0.5.json"
    report = json.loads(written.read_text())
    assert REPORT_KEYS <= report.keys()
    assert (report["num_samples"], report["eta"], report["seed"]) == (8, 0.5, 1)
    assert report["channels_last"] is True  # on CPU the CLI samples in the demo's layout
    assert "classifier-FID" in out and str(written) in out
