"""The record of what a model was trained on (pipelines.data.record): disjoint blocks, the held-out split, the
content hash, and finding a model's data again (its record, a bundle, or --data)."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from pipelines.data.record import (
    RECORD_FILE,
    content_hash,
    disjoint_subset,
    heldout_split,
    load_recorded_data,
    prepare_training_data,
    read_record,
    resolve_model_data,
    save_bundle,
    save_record,
)
from pipelines.data.sources import DataError, load_mnist


def test_disjoint_blocks_never_share_an_image_and_are_seeded():
    indices = np.arange(100, 4600)
    blocks = [set(disjoint_subset(indices, 250, k).tolist()) for k in range(18)]
    assert all(len(b) == 250 for b in blocks)
    assert len(set().union(*blocks)) == 18 * 250  # pairwise disjoint
    assert set(disjoint_subset(indices, 250, 3).tolist()) == blocks[3]  # the same seed, the same block
    assert set(disjoint_subset(indices, 250, 3, seed=1).tolist()) != blocks[3]
    with pytest.raises(DataError, match=r"subset_size 2250 × \(subset_index 2 \+ 1\) = 6750 is more than the 4500"):
        disjoint_subset(indices, 2250, 2)
    with pytest.raises(DataError, match="subset_size must be an integer >= 1"):
        disjoint_subset(indices, 0, 0)


def test_heldout_split_holds_out_the_fraction_and_never_everything():
    train, held = heldout_split(120, 0.1)
    assert len(held) == 12 and len(train) == 108 and not set(train) & set(held)
    assert np.array_equal(heldout_split(120, 0.1)[1], held)  # seeded
    assert len(heldout_split(3, 0.1)[1]) == 1  # at least one held out …
    assert len(heldout_split(2, 0.9)[0]) == 1  # … and at least one trains
    assert len(heldout_split(50, 0.0)[1]) == 0
    with pytest.raises(DataError, match=r"heldout_fraction must be in \[0, 1\)"):
        heldout_split(10, 1.0)


def test_mnist_keeps_its_split_and_a_block_comes_from_the_train_digits():
    images, record = prepare_training_data("mnist", subset_size=16, subset_index=1)
    assert record.kind == "mnist" and record.num_images == 16 and len(record.heldout_indices) == 500
    assert record.subset == {"size": 16, "index": 1, "seed": 0}
    train = load_mnist("train")[0]
    # every image of the block is one of the 4,500 train digits, never a held-out one
    assert bool((images.flatten(1)[:, None] == train.flatten(1)[None]).all(2).any(1).all())
    assert not set(record.train_indices) & set(record.heldout_indices)


def _write_folder(folder, count, size=8, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"{i:03d}.png")
    return folder


def test_a_folder_record_round_trips_and_a_changed_folder_is_caught(tmp_path):
    folder = _write_folder(tmp_path / "images", 20)
    images, record = prepare_training_data(train_data_dir=str(folder), resolution=8, channels=3)
    assert record.kind == "folder" and record.num_images == 18 and len(record.heldout_indices) == 2
    assert record.content_hash == content_hash(images)
    save_record(tmp_path, record)
    again = read_record(tmp_path)
    assert again.as_dict() == record.as_dict()
    train, held = load_recorded_data(again)
    assert torch.equal(train, images) and held.shape == (2, 3, 8, 8)
    # an edited image: the hash says the data changed and names the flag to pass
    first = folder / f"{record.train_indices[0]:03d}.png"
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(first)
    with pytest.raises(
        DataError, match="changed since the model was trained .* pass the data it was trained on with --data"
    ):
        load_recorded_data(again)


def test_resolve_model_data_tells_which_flag_to_pass(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    with pytest.raises(DataError, match="records no training data .* pass --data"):
        resolve_model_data(model, (3, 8, 8))
    folder = _write_folder(tmp_path / "images", 10)
    data = resolve_model_data(model, (3, 8, 8), str(folder))  # no record: every image is training data
    assert data.train.shape == (10, 3, 8, 8) and len(data.heldout) == 0
    with pytest.raises(DataError, match="--data .* no such folder"):
        resolve_model_data(model, (3, 8, 8), str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="--data .* holds no images"):
        resolve_model_data(model, (3, 8, 8), str(tmp_path / "empty"))
    with pytest.raises(
        DataError, match="--data: dataset mnist is 1 channel at resolution 32; got channels=3, resolution=8"
    ):
        resolve_model_data(model, (3, 8, 8), "mnist")
    # a bundle beside the model is found with no flag at all
    save_bundle(model, data.train[:7], data.train[7:])
    bundled = resolve_model_data(model, (3, 8, 8))
    assert bundled.train.shape == (7, 3, 8, 8) and bundled.heldout.shape == (3, 3, 8, 8)
    assert torch.allclose(bundled.train, data.train[:7], atol=1 / 127.5)  # stored as 8-bit pixels


def test_the_shipped_mnist_model_records_its_data():
    record = json.loads(open(f"models/ddpm-mnist/{RECORD_FILE}").read())
    assert record["kind"] == "mnist" and record["num_images"] == 4500
    data = resolve_model_data("models/ddpm-mnist", (1, 32, 32))
    assert torch.equal(data.train, load_mnist("train")[0]) and torch.equal(data.heldout, load_mnist("heldout")[0])
