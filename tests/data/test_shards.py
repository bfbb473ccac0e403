"""Shard sets: images on disk in memory-mapped uint8 shards, read back shard by shard, written atomically."""

import errno

import numpy as np
import pytest
import torch
from PIL import Image

from pipelines.data.record import content_hash
from pipelines.data.shards import ShardSet, shards_for, shards_from_folder, write_shards
from pipelines.data.sources import DataError, load_image_folder


def images(n, seed=0, shape=(3, 8, 8)):
    pixels = torch.randint(0, 256, (n, *shape), generator=torch.Generator().manual_seed(seed))
    return pixels.float() / 127.5 - 1.0  # 8-bit images, as every source here makes them


def test_round_trip_keeps_every_image_and_the_records_hash(tmp_path):
    data, held = images(50), images(7, seed=1)
    shards = write_shards(tmp_path / "s", data, shard_size=16, heldout=held, source="test")
    assert len(shards) == 50 and shards.num_shards == 4 and shards.counts == [16, 16, 16, 2]
    assert torch.equal(shards.load(), data) and torch.equal(shards.heldout(), held)
    assert shards.content_hash == content_hash(data)  # the same hash a model's record holds
    starts = [start for start, _ in shards.iter_images()]
    assert starts == [0, 16, 32, 48]
    picked = torch.tensor([[49, 0], [17, 33]])
    assert torch.equal(shards.rows(picked), data[picked])
    reopened = ShardSet(tmp_path / "s")
    assert reopened.content_hash == shards.content_hash and reopened.source == "test"


def test_streamed_batches_give_the_same_shards_as_one_tensor(tmp_path):
    data = images(40)
    whole = write_shards(tmp_path / "a", data, shard_size=12)
    streamed = write_shards(tmp_path / "b", (data[i : i + 7] for i in range(0, 40, 7)), shard_size=12)
    assert streamed.counts == whole.counts and streamed.content_hash == whole.content_hash
    assert torch.equal(streamed.load(), data)


def test_shards_for_reuses_a_set_with_the_same_hash_and_rewrites_a_changed_one(tmp_path):
    data = images(20)
    first = shards_for(data, tmp_path / "s")
    stamp = (tmp_path / "s" / "shard-00000.npy").stat().st_mtime_ns
    assert shards_for(data, tmp_path / "s").content_hash == first.content_hash
    assert (tmp_path / "s" / "shard-00000.npy").stat().st_mtime_ns == stamp  # not rewritten
    changed = data.clone()
    changed[3] = -1.0
    second = shards_for(changed, tmp_path / "s")
    assert second.content_hash == content_hash(changed) != first.content_hash
    with pytest.raises(DataError, match="other images than expected"):
        second.check_hash(first.content_hash)


def test_a_full_disk_leaves_the_old_shards_usable_and_names_the_path(tmp_path):
    data = images(30)
    write_shards(tmp_path / "s", data, shard_size=10)

    def filling():
        yield images(10, seed=2)
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "s" / "shard-00001.npy"))

    with pytest.raises(DataError, match="No space left on device") as error:
        write_shards(tmp_path / "s", filling(), shard_size=10)
    assert str(tmp_path / "s") in str(error.value)
    assert torch.equal(ShardSet(tmp_path / "s").load(), data)  # the old set, whole
    assert [p.name for p in tmp_path.iterdir()] == ["s"]  # no temporary folder left behind


def test_an_image_folder_streams_into_the_same_images_as_loading_it(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(9):
        Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.warns(UserWarning, match="skipped 1"):
        loaded = load_image_folder(tmp_path, resolution=8, channels=3)
    with pytest.warns(UserWarning, match="skipped 1"):
        shards = shards_from_folder(tmp_path, tmp_path / "shards", resolution=8, channels=3, shard_size=4)
    assert len(shards) == 9 and shards.image_shape == (3, 8, 8)
    assert torch.allclose(shards.load(), loaded, atol=1 / 127.5 + 1e-6)  # 8-bit pixels of the same images
    assert shards.content_hash == content_hash(loaded)


def test_bad_input_is_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match="shard_size must be an integer >= 1"):
        write_shards(tmp_path / "s", images(3), shard_size=0)
    with pytest.raises(DataError, match="no manifest.json"):
        ShardSet(tmp_path)
    shards = write_shards(tmp_path / "s", images(3))
    with pytest.raises(ValueError, match=r"indices must be in \[0, 2\]"):
        shards.rows([3])
