"""The tiny model folder the denoiser-record tests share: a tiny UNet, PATCH_N 8-bit images (as the bundle stores
them, so a CLI's reloaded images are the same) and a patch-size table fitted, it says, on seeds 0 and 1."""

import json

import pytest
import torch

from helpers.tiny import PATCH_N, PATCH_SHAPE, PATCH_TABLE, save_tiny_pipeline
from pipelines.data.record import save_bundle
from pipelines.exact import calibration as cal


@pytest.fixture(scope="module")
def data():
    values = torch.randint(0, 256, (PATCH_N, *PATCH_SHAPE), generator=torch.Generator().manual_seed(0))
    return values.float() / 127.5 - 1.0


@pytest.fixture(scope="module")
def folder(tmp_path_factory, data):
    path = save_tiny_pipeline(tmp_path_factory.mktemp("tiny") / "model", sample_size=8)
    save_bundle(path, data, data[:0])
    table = {"num_train_timesteps": 1000, "table": PATCH_TABLE, "seeds": [0, 1]}
    (path / cal.PATCH_TABLE_FILE).write_text(json.dumps(table))
    return path
