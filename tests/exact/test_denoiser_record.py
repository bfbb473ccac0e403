"""The shipped record of the network against LS, ELS and the exact posterior, and its CLI."""

import json

import numpy as np
import pytest
import torch

from helpers.tiny import PATCH_N as N
from helpers.tiny import PATCH_SHAPE as SHAPE
from helpers.tiny import PATCH_STEPS as STEPS
from helpers.tiny import PATCH_TABLE as TABLE
from helpers.tiny import save_tiny_pipeline
from pipelines import DatasetPosterior, LocalPosterior, PosteriorDDPMPipeline
from pipelines.data.record import save_bundle
from pipelines.exact import denoiser_record as rec
from pipelines.exact.denoisers import model_run, r2_along
from pipelines.exact.neighbours import is_copy_by_ratio, nearest_two


@pytest.fixture(scope="module")
def pipe(folder):
    pipe = PosteriorDDPMPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def recorded(pipe, data):
    return rec.record_denoisers(
        pipe, data, TABLE, seed=2, batch_size=3, num_inference_steps=STEPS, els_subset_size=6, els_batch=2, els_seed=1
    )


def test_the_record_measures_r2_along_the_run(pipe, data, recorded):
    record, samples = recorded
    run = model_run(pipe, 3, 2, STEPS)
    local = LocalPosterior(data, TABLE, pipe.scheduler, dtype=torch.float32)
    expected = np.median(r2_along(run, local), axis=1)
    np.testing.assert_allclose(record["r2_median"]["local"], expected, atol=1e-12)
    exact = np.median(r2_along(run, DatasetPosterior(data, pipe.scheduler)), axis=1)
    np.testing.assert_allclose(record["r2_median"]["exact"], exact, atol=1e-12)
    subset = rec.els_subset(N, 6, 1)
    assert record["equivariant_subset"]["indices"] == subset.tolist() and len(set(subset.tolist())) == 6
    els = LocalPosterior(data[torch.from_numpy(subset)], TABLE, pipe.scheduler, True, torch.float32)
    np.testing.assert_allclose(
        record["r2_median"]["equivariant"], np.median(r2_along(rec.first_images(run, 2), els), axis=1), atol=1e-12
    )
    assert record["timesteps"] == run.timesteps.tolist()
    assert record["patch_sizes"] == [TABLE[t] for t in run.timesteps]
    assert sum(row["steps"] for row in record["bands"]) == STEPS
    for name in ("local", "exact", "equivariant", "model"):
        assert record["seconds"][name]["per_call"] > 0
    assert json.loads(json.dumps(record)) == record


def test_samples_and_copy_verdicts(pipe, data, recorded):
    record, samples = recorded
    assert {k: v.shape for k, v in samples.items()} == {
        "model": (3, *SHAPE),
        "local": (3, *SHAPE),
        "exact": (3, *SHAPE),
        "equivariant": (2, *SHAPE),
    }
    assert all(v.dtype == np.uint8 for v in samples.values())
    exact_samples = DatasetPosterior(data, pipe.scheduler).sample(3, torch.Generator().manual_seed(2), STEPS)
    d1, d2, index = nearest_two(exact_samples.double(), data.double())
    verdict = record["samplers"]["exact"]
    assert verdict["nearest_indices"] == index.tolist() and verdict["copy"] == is_copy_by_ratio(d1, d2).tolist()
    assert verdict["copies"] == 3  # the exact sampler gives back training images
    assert len(record["samplers"]["equivariant"]["copy"]) == 2
    assert max(record["samplers"]["equivariant"]["nearest_indices"]) < 6  # against the subset it holds


def test_the_cli_writes_the_record_and_the_samples(folder, capsys):
    assert (
        rec.main(["--model", str(folder), "--batch-size", "2", "--steps", "2", "--els-subset", "4", "--els-batch", "1"])
        == 0
    )
    record = json.loads((folder / rec.RECORD_FILE).read_text())
    assert "python -m pipelines.exact.denoisers --model" in record["command"] and record["wall_seconds"] >= 0
    assert record["batch_size"] == 2 and record["equivariant_subset"]["size"] == 4
    samples = rec.load_samples(folder)
    assert samples["local"].shape == (2, *SHAPE) and samples["equivariant"].shape == (1, *SHAPE)
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize(
    "flags, named",
    [
        (["--steps", "0"], "--steps"),
        (["--batch-size", "0"], "--batch-size"),
        (["--els-batch", "3", "--batch-size", "2"], "--els-batch"),
        (["--els-subset", "-1"], "--els-subset"),
        (["--els-seed", "-1"], "--els-seed"),
        (["--seed", "-1"], "--seed"),
    ],
)
def test_bad_flags_are_one_line(capsys, folder, flags, named):
    with pytest.raises(SystemExit) as exit_info:
        rec.main(["--model", str(folder), *flags])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and named in err


def test_a_model_without_a_patch_table_is_one_line(capsys, tmp_path, data):
    path = save_tiny_pipeline(tmp_path / "model", sample_size=8)
    save_bundle(path, data, data[:0])
    with pytest.raises(SystemExit):
        rec.main(["--model", str(path)])
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "local_patch_sizes.json" in err
