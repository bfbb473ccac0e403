"""The patch-size fit checked on a seed it was not fitted on: the record's bands are the medians of r² along the
network's run, and the CLI refuses a seed the table was fitted on."""

import numpy as np
import pytest
import torch

from helpers.tiny import PATCH_STEPS as STEPS
from helpers.tiny import PATCH_TABLE as TABLE
from pipelines import DatasetPosterior, LocalPosterior, PosteriorDDPMPipeline
from pipelines.exact import heldout_seed as held
from pipelines.exact.denoisers import model_run, r2_along


def test_the_bands_are_the_medians_of_r2_along_the_run(folder, data):
    pipe = PosteriorDDPMPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    bands = held.heldout_bands(pipe, data, TABLE, 2, 3, STEPS)
    run = model_run(pipe, 3, 2, STEPS)
    local = r2_along(run, LocalPosterior(data, TABLE, pipe.scheduler, dtype=torch.float32))
    exact = r2_along(run, DatasetPosterior(data, pipe.scheduler))
    ts = np.asarray(run.timesteps)
    assert sum(b["steps"] for b in bands) == STEPS
    for band in bands:
        inside = (ts >= band["low"]) & (ts < band["high"])
        if inside.any():
            assert band["local"] == pytest.approx(float(np.nanmedian(local[inside])))
            assert band["exact"] == pytest.approx(float(np.nanmedian(exact[inside])))


def test_the_cli_writes_the_record_and_refuses_a_fitted_seed(folder, capsys):
    assert held.main(["--model", str(folder), "--seed", "2", "--batch-size", "2", "--steps", str(STEPS)]) == 0
    record = held.load_heldout(folder)
    assert record["seed"] == 2 and record["calibration_seeds"] == [0, 1] and len(record["bands"]) == 6
    with pytest.raises(SystemExit) as error:
        held.main(["--model", str(folder), "--seed", "1"])
    assert error.value.code == 2 and "fitted on" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flags, named",
    [
        (["--batch-size", "0"], "--batch-size"),
        (["--steps", "0"], "--steps"),
        (["--steps", "1001"], "--steps"),
        (["--seed", "-1"], "--seed"),
    ],
)
def test_bad_flags_are_one_line_naming_the_flag(folder, capsys, flags, named):
    with pytest.raises(SystemExit) as error:
        held.main(["--model", str(folder), *flags])
    err = capsys.readouterr().err.strip()
    assert error.value.code == 2 and named in err and len(err.splitlines()) == 1, err
