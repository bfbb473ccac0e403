"""calibrate_patch_sizes: the local denoiser's patch size per timestep, chosen against the network's x̂_0."""

import json

import numpy as np
import pytest
import torch

from helpers.tiny import save_tiny_pipeline
from pipelines import LocalPosterior, PosteriorDDPMPipeline
from pipelines.exact import calibration as cal
from pipelines.exact.denoisers import model_trajectory, r_squared

SHAPE, STEPS, CANDIDATES = (1, 8, 8), 3, (1, 3, 5, 15)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny_pipeline(tmp_path_factory.mktemp("tiny") / "model", sample_size=8)


@pytest.fixture(scope="module")
def pipe(folder):
    pipe = PosteriorDDPMPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def data():
    return torch.rand((6, *SHAPE), generator=torch.Generator().manual_seed(0)) * 2 - 1


@pytest.fixture(scope="module")
def calibration(pipe, data):
    return cal.calibrate_patch_sizes(pipe, data, CANDIDATES, STEPS, seeds=(0, 1), batch_size=2)


def test_table_and_best(calibration):
    c = calibration
    assert c.timesteps.shape == (STEPS,) and c.r2.shape == (STEPS, len(CANDIDATES)) and c.r2_exact.shape == (STEPS,)
    assert len(c.table) == 1000 and set(c.table) <= set(CANDIDATES) and all(p % 2 == 1 for p in c.table)
    for row, best in zip(c.r2, c.best):
        assert best in CANDIDATES and row[CANDIDATES.index(best)] == np.nanmax(row)
    for t, best in zip(c.timesteps, c.best):
        assert c.table[t] == best  # a calibrated t keeps its own choice
    d = json.loads(json.dumps(c.as_dict()))
    assert d["table"] == c.table and d["candidates"] == list(CANDIDATES) and len(d["bands"]) == 6


def test_r2_is_the_median_over_images(pipe, data, calibration):
    """Step 0's r² of P = 3 by hand: the median over both seeds' images, as compare_denoisers measures it."""
    local = LocalPosterior(data, 3, pipe.scheduler)
    values = []
    for seed in (0, 1):
        t, x_t, target, _ = next(iter(model_trajectory(pipe, 2, seed, STEPS)))
        values.append(r_squared(local.predict_x0(x_t, t), target))
    by_hand = float(np.median(torch.cat(values).numpy()))
    assert calibration.r2[0, CANDIDATES.index(3)] == pytest.approx(by_hand, abs=1e-9)


def test_the_largest_window_is_the_exact_posterior(calibration):
    assert np.allclose(calibration.r2[:, CANDIDATES.index(15)], calibration.r2_exact, atol=1e-6)


def test_nearest_table():
    assert cal.nearest_table([8, 2], [5, 3], 10) == [3] * 6 + [5] * 4  # t = 5 is a tie: the smaller t_k
    with pytest.raises(ValueError, match="odd integers"):
        cal.check_candidates([1, 2], 15)
    with pytest.raises(ValueError, match="odd integers"):
        cal.check_candidates([3, 3], 15)


def test_save_and_load(tmp_path, calibration):
    assert cal.load_patch_table(tmp_path) is None
    path = cal.save_patch_table(tmp_path, calibration, "python -m pipelines.exact.calibration --model x", 1.23)
    record = json.loads(path.read_text())
    assert record["command"].endswith("--model x") and record["wall_seconds"] == 1.2
    table = cal.load_patch_table(tmp_path)
    assert table == calibration.table
    LocalPosterior(torch.zeros(2, *SHAPE), table)  # a table LocalPosterior takes


@pytest.mark.parametrize(
    "table, match",
    [([3] * 999, "list of 1000"), ([3] * 999 + [4], "odd positive integers, got 4 at t = 999"), ("x", "list of")],
)
def test_a_bad_table_is_refused(tmp_path, table, match):
    (tmp_path / cal.PATCH_TABLE_FILE).write_text(json.dumps({"num_train_timesteps": 1000, "table": table}))
    with pytest.raises(ValueError, match=match):
        cal.load_patch_table(tmp_path)
    (tmp_path / cal.PATCH_TABLE_FILE).write_text("{not json")
    with pytest.raises(ValueError, match="not a JSON file"):
        cal.load_patch_table(tmp_path)


@pytest.mark.parametrize(
    "flags, named",
    [
        (["--steps", "0"], "--steps"),
        (["--batch-size", "0"], "--batch-size"),
        (["--candidates", "2,3"], "--candidates"),
        (["--candidates", "a"], "--candidates"),
        (["--seeds", "-1"], "--seeds"),
    ],
)
def test_bad_flags_are_one_line(capsys, folder, flags, named):
    with pytest.raises(SystemExit) as exit_info:
        cal.main(["--model", str(folder), *flags])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and named in err


def test_a_missing_model_is_one_line(capsys, tmp_path):
    with pytest.raises(SystemExit):
        cal.main(["--model", str(tmp_path / "nowhere")])
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--model" in err
