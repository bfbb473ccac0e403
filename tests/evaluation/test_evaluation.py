"""The offline evaluation: the shipped judge, FID against scipy, the metrics on image sets of known quality, and the
CLI (a folder, a Hub id, --judge, train-judge)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch

from helpers.hub_server import FakeHub
from helpers.tiny import make_tiny_unet
from pipelines import PosteriorDDPMPipeline, PosteriorDDPMScheduler
from pipelines.evaluation.cli import main
from pipelines.evaluation.judge import judge_accuracy, load_judge
from pipelines.evaluation.quality import (
    evaluate_images,
    evaluate_pipeline,
    format_table,
    frechet_distance,
    load_reference,
    passes_bar,
)

REPO = Path(__file__).resolve().parents[2]
REPORT_KEYS = {
    "num_samples",
    "fid",
    "fid_floor",
    "fid_ratio",
    "confident_rate",
    "class_counts",
    "class_fractions",
    "min_class_fraction",
    "memorization_ratio",
    "nearest_train_median",
    "heldout_nearest_train_median",
}


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


@pytest.fixture(scope="module")
def trained_judge(tmp_path_factory, reference):
    """The judge folder `python -m pipelines.evaluation train-judge --epochs 1` writes (its CLI, in-process)."""
    folder = tmp_path_factory.mktemp("judge") / "one-epoch"
    status = main(["train-judge", "--output_dir", str(folder), "--epochs", "1", "--seed", "0"])
    assert status == 0
    return folder


def cli_report_of_the_same_images(model_dir: Path, **settings) -> dict:
    """What the CLI must have scored: the folder's pipeline, channels-last as the CLI samples on CPU."""
    pipe = PosteriorDDPMPipeline.from_pretrained(model_dir).use_channels_last()
    return evaluate_pipeline(pipe, progress=False, **settings)


def scipy_frechet(mu1, sigma1, mu2, sigma2) -> float:
    """The textbook formula, independently: ‖μ1 − μ2‖² + tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^½) with scipy's sqrtm."""
    cross = scipy.linalg.sqrtm(sigma1 @ sigma2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(cross))


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


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_frechet_distance_matches_scipy_for_full_covariances(seed):
    """Correlated, non-commuting covariances: here (Σ1 Σ2)^½ ≠ Σ1^½ Σ2^½, so a wrong cross term shows."""
    rng = np.random.default_rng(seed)
    d = 6
    a, b = rng.normal(size=(d, d)), rng.normal(size=(d, d))
    sigma1, sigma2 = a @ a.T + 0.1 * np.eye(d), b @ b.T + 0.1 * np.eye(d)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    expected = scipy_frechet(mu1, sigma1, mu2, sigma2)
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(expected, rel=1e-8)
    assert frechet_distance(mu2, sigma2, mu1, sigma1) == pytest.approx(expected, rel=1e-8)
    # the case discriminates: the commuting-matrix shortcut tr(Σ1^½ Σ2^½) is far off here
    shortcut = (
        ((mu1 - mu2) ** 2).sum()
        + np.trace(sigma1)
        + np.trace(sigma2)
        - 2 * np.trace(scipy.linalg.sqrtm(sigma1).real @ scipy.linalg.sqrtm(sigma2).real)
    )
    assert abs(shortcut - expected) > 0.01 * expected


def some_train_digits(reference, n: int = 300) -> torch.Tensor:
    """n train digits of every class (the split is sorted by label: the first 300 are all zeros)."""
    pick = torch.randperm(len(reference.train_images), generator=torch.Generator().manual_seed(5))[:n]
    return reference.train_images[pick]


@pytest.mark.filterwarnings("ignore:Matrix is singular")  # dead ReLU features: Σ has rank 45 of 64, still exact
def test_reported_fid_is_the_frechet_distance_of_the_judge_features(reference):
    """End to end: evaluate_images' FID is scipy's Fréchet distance between the judge's penultimate features of the
    images and of the 500 held-out digits (mean and unbiased covariance)."""
    images = some_train_digits(reference)
    with torch.inference_mode():
        feats = reference.judge.features(images).double().numpy()
        held = reference.judge.features(reference.heldout_images).double().numpy()
    expected = scipy_frechet(feats.mean(0), np.cov(feats, rowvar=False), held.mean(0), np.cov(held, rowvar=False))
    assert evaluate_images(images)["fid"] == pytest.approx(expected, rel=1e-5)  # float32 features, batched


def test_train_digits_pass_every_limit_but_memorization(reference):
    """Real digits meet the FID, confidence and class limits of the bar; being copies of the training set, they are
    caught by the memorization ratio alone."""
    copies = evaluate_images(some_train_digits(reference))
    assert copies["memorization_ratio"] == 0.0  # each is its own nearest train digit
    assert copies["copy_fraction"] == 1.0 and "Gu et al." in copies["copy_rule"]  # the one copy rule agrees
    assert "not the copy rule" in copies["memorization_ratio_rule"]  # the other number says which rule it is
    passed, failures = passes_bar(copies)
    assert not passed and len(failures) == 1 and "memorization" in failures[0], failures


def test_noise_is_confident_yet_far_from_digits(reference):
    noise = torch.rand((200, 1, 32, 32), generator=torch.Generator().manual_seed(0)) * 2 - 1
    report = evaluate_images(noise)
    assert report["confident_rate"] > 0.9  # sure of noise (all "8"s): the confident rate alone proves nothing
    assert report["fid"] > 50 * report["fid_floor"] and report["memorization_ratio"] > 2
    assert report["copy_fraction"] == 0.0  # far from every digit, and no nearer one than the rest
    passed, failures = passes_bar(report)
    assert not passed and any("classifier-FID" in f for f in failures)
    assert "bar: FAIL — classifier-FID" in format_table(report)


def test_evaluate_images_rejects_bad_input(reference):
    with pytest.raises(ValueError, match=r"images must have shape \(B, 1, 32, 32\)"):
        evaluate_images(torch.zeros(4, 3, 32, 32))
    with pytest.raises(ValueError, match="images must hold at least 2 images, got 1"):
        evaluate_images(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        evaluate_images(torch.full((4, 1, 32, 32), 255.0))


def test_pipeline_report_scores_the_pipelines_own_seeded_images(reference, tiny_pipe):
    report = evaluate_pipeline(tiny_pipe, num_samples=6, num_inference_steps=2, batch_size=4, seed=3, progress=False)
    assert REPORT_KEYS <= report.keys()
    # documented: pipe(batch_size=b, generator=g, …, output_type="pt") batch after batch, one generator seeded by
    # `seed`, back in [-1, 1]. The report's numbers are those images' numbers.
    generator = torch.Generator().manual_seed(3)
    tiny_pipe.set_progress_bar_config(disable=True)
    images = (
        torch.cat(
            [
                tiny_pipe(batch_size=b, generator=generator, num_inference_steps=2, output_type="pt").images
                for b in (4, 2)
            ]
        )
        * 2
        - 1
    )
    expected = evaluate_images(images)
    for key in ("fid", "fid_floor", "confident_rate", "class_counts", "memorization_ratio"):
        assert report[key] == pytest.approx(expected[key], rel=1e-9), key
    assert report["variance_type"] == "fixed_small"  # resolved from the scheduler config when not given
    assert report["bar"]["passed"] is False and report["bar"]["failures"]  # an untrained UNet draws noise
    other_seed = evaluate_pipeline(
        tiny_pipe, num_samples=6, num_inference_steps=2, batch_size=4, seed=4, progress=False
    )
    assert other_seed["fid"] != report["fid"]
    table = format_table(report)
    assert f"{report['fid']:.3f}" in table and "bar: FAIL — " + report["bar"]["failures"][0] in table


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--num_samples", "0"], "num_samples"),
        (["--num_inference_steps", "-3"], "num_inference_steps"),
        (["--num_inference_steps", "5000"], "num_inference_steps"),  # above the model's 1000 train steps
        (["--eta", "2"], "eta"),
        (["--eta", "0.5", "--variance_type", "fixed_large"], "eta"),
        (["--batch_size", "0"], "batch_size"),
        (["--variance_type", "learned_range"], "variance_type"),
        (["--num_samples", "many"], "num_samples"),
    ],
)
def test_cli_bad_flags_exit_with_one_line(tiny_model_dir, capsys, flags, words):
    try:
        status = main(["--model", str(tiny_model_dir), *flags])
    except SystemExit as exit_:  # argparse's own checks (types, choices)
        status = exit_.code
    err = capsys.readouterr().err.strip()
    assert status == 2
    assert len(err.splitlines()) == 1 and words in err and "Traceback" not in err


def test_cli_missing_model_folder_is_one_line_in_a_real_process(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.evaluation", "--model", str(tmp_path / "nope")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "model" in result.stderr and "nope" in result.stderr


def test_cli_writes_the_report(reference, tiny_model_dir, capsys):
    status = main(
        [
            "--model",
            str(tiny_model_dir),
            "--num_samples",
            "8",
            "--num_inference_steps",
            "2",
            "--batch_size",
            "4",
            "--eta",
            "0.5",
            "--seed",
            "1",
        ]
    )
    out = capsys.readouterr().out
    assert status == 0
    written = tiny_model_dir / "evaluation-8-samples-2-steps-eta-0.5.json"
    report = json.loads(written.read_text())
    assert REPORT_KEYS <= report.keys()
    assert report["channels_last"] is True  # on CPU the CLI samples in the demo's layout
    # the flags reached the sampler: the same numbers as the library with those settings
    expected = cli_report_of_the_same_images(
        tiny_model_dir, num_samples=8, num_inference_steps=2, batch_size=4, eta=0.5, seed=1
    )
    assert (report["fid"], report["class_counts"]) == (
        pytest.approx(expected["fid"], rel=1e-6),
        expected["class_counts"],
    )
    assert f"{report['fid']:.3f}" in out and str(written) in out


def test_train_judge_cli_writes_a_judge_that_reads_unseen_digits(reference, trained_judge):
    assert sorted(p.name for p in trained_judge.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    judge = load_judge(trained_judge)
    accuracy = judge_accuracy(judge, reference.heldout_images, reference.heldout_labels)
    assert accuracy > 0.6  # chance is 0.1; one epoch measured 0.916 (the shipped six-epoch judge: 0.986)
    record = json.loads((trained_judge / "config.json").read_text())["training"]
    assert record["heldout_accuracy"] == pytest.approx(accuracy) and record["epochs"] == 1
    assert f"{accuracy:.1%}" in (trained_judge / "README.md").read_text()


def test_cli_scores_with_the_judge_it_is_given(reference, tiny_model_dir, trained_judge, tmp_path):
    output = tmp_path / "report.json"
    status = main(
        [
            "--model",
            str(tiny_model_dir),
            "--judge",
            str(trained_judge),
            "--num_samples",
            "8",
            "--num_inference_steps",
            "2",
            "--batch_size",
            "4",
            "--output",
            str(output),
            "--no_progress",
        ]
    )
    assert status == 0
    report = json.loads(output.read_text())
    given = load_judge(trained_judge)
    assert report["judge"]["path"] == str(trained_judge)
    assert report["judge"]["heldout_accuracy"] == pytest.approx(
        judge_accuracy(given, reference.heldout_images, reference.heldout_labels)
    )
    shipped = cli_report_of_the_same_images(tiny_model_dir, num_samples=8, num_inference_steps=2, batch_size=4)
    assert report["fid"] != pytest.approx(shipped["fid"], rel=1e-3)  # another judge, other features


def test_cli_evaluates_a_hub_model_by_its_id(reference, tiny_model_dir, tmp_path):
    """--model owner/name downloads from the Hub (the local test endpoint) and writes the report in the current
    folder. huggingface_hub reads HF_ENDPOINT at import, hence a fresh process."""
    pipeline_files = {
        p.relative_to(tiny_model_dir).as_posix(): p.read_bytes()
        for p in tiny_model_dir.rglob("*")
        if p.is_file() and not p.name.startswith("evaluation-")
    }
    run = tmp_path / "run"
    run.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("HF_HUB_OFFLINE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH")
    }
    with FakeHub(tmp_path / "hub", tokens={}) as hub:
        hub.put("tester/tiny-ddpm-32", pipeline_files)
        env.update(
            HF_ENDPOINT=hub.url,
            HF_HUB_DISABLE_XET="1",
            HF_HOME=str(tmp_path / "hf-home"),
            PYTHONPATH=str(REPO),
            OMP_NUM_THREADS="1",
        )
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pipelines.evaluation",
                "--model",
                "tester/tiny-ddpm-32",
                "--num_samples",
                "8",
                "--num_inference_steps",
                "2",
                "--batch_size",
                "4",
                "--seed",
                "2",
                "--no_progress",
            ],
            cwd=run,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        served = [path for method, path, status in hub.requests if method == "GET" and status == 200]
    assert result.returncode == 0, result.stderr[-2000:]
    assert any(
        "/tester/tiny-ddpm-32/resolve/" in p and p.endswith("/unet/diffusion_pytorch_model.safetensors") for p in served
    ), served
    report = json.loads((run / "evaluation-8-samples-2-steps-eta-1.json").read_text())
    assert report["model"] == "tester/tiny-ddpm-32"
    expected = cli_report_of_the_same_images(tiny_model_dir, num_samples=8, num_inference_steps=2, batch_size=4, seed=2)
    assert (report["fid"], report["class_counts"]) == (
        pytest.approx(expected["fid"], rel=1e-6),
        expected["class_counts"],
    )
