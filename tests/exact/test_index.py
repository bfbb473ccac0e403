"""NeighbourIndex against brute force (neighbours.nearest_neighbours, the reference): the exact index gives the same
neighbours, sharded or not; the compressed one reports its recall; its cache is keyed by the data's content hash."""

import errno
import json

import pytest
import torch

from pipelines.data.shards import ShardSet, write_shards
from pipelines.data.sources import DataError
from pipelines.exact.index import NeighbourIndex
from pipelines.exact.neighbours import nearest_neighbours, nearest_two


def pixels_images(n, seed=0, shape=(3, 6, 6)):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, *shape), generator=g).float() / 127.5 - 1.0


@pytest.fixture(scope="module")
def data():
    train = pixels_images(600)
    near = (train[:10] + 0.01 * torch.randn(10, 3, 6, 6, generator=torch.Generator().manual_seed(3))).clamp(-1, 1)
    queries = torch.cat([train[10:15], near, pixels_images(25, seed=1)])  # exact copies, near copies, new
    return train, queries


@pytest.fixture(scope="module")
def shards(data, tmp_path_factory):
    return write_shards(tmp_path_factory.mktemp("shards") / "s", data[0], shard_size=100)


def test_the_exact_index_gives_brute_forces_neighbours(data, shards):
    train, queries = data
    want_d, want_i = nearest_neighbours(queries, train, k=3)
    for source in (train, shards):
        result = NeighbourIndex(source, kind="flat").search(queries, k=3)
        assert torch.equal(result.indices, want_i)
        assert torch.allclose(result.distances, want_d, atol=1e-9)
        assert result.recall_at_2 == 1.0 and result.recall_sample == len(queries)
    assert torch.equal(result.distances[:5, 0], torch.zeros(5, dtype=torch.float64))  # exact copies: exactly 0


def test_sharded_search_equals_one_index(data, shards):
    _, queries = data
    one = NeighbourIndex(shards, kind="flat", num_parts=1).search(queries, k=4)
    parts = NeighbourIndex(shards, kind="flat", num_parts=3).search(queries, k=4)
    assert parts.num_parts == 3 and torch.equal(parts.indices, one.indices)
    assert torch.equal(parts.distances, one.distances)


def test_streamed_parts_give_the_same_result_as_held_ones(data, shards, monkeypatch):
    import pipelines.exact.index as index_module

    _, queries = data
    held = NeighbourIndex(shards, kind="flat", num_parts=2).search(queries, k=2)
    monkeypatch.setattr(index_module, "HOLD_VALUES", 0)  # too big to hold: each part read from the shards
    index = NeighbourIndex(shards, kind="flat", num_parts=2)
    assert index._held is None
    assert torch.equal(index.search(queries, k=2).indices, held.indices)


def test_the_copy_rule_through_the_index_is_the_brute_force_one(data, shards):
    train, queries = data
    d1, d2, i1 = nearest_two(queries, train)
    e1, e2, j1 = nearest_two(queries, train, index=NeighbourIndex(shards, kind="flat", num_parts=2))
    assert torch.equal(i1, j1) and torch.allclose(d1, e1, atol=1e-9) and torch.allclose(d2, e2, atol=1e-9)


def test_the_compressed_index_reports_its_recall_and_finds_the_copies(data, shards):
    _, queries = data
    index = NeighbourIndex(shards, kind="ivf", num_parts=2, nprobe=4)
    assert index.kind == "ivf" and "built" in index.cache
    result = index.search(queries, k=2)
    truth = nearest_neighbours(queries, shards.load(), k=2)[1]
    recall = sum(len(set(a.tolist()) & set(b.tolist())) for a, b in zip(result.indices, truth)) / truth.numel()
    assert result.recall_at_2 == pytest.approx(recall)  # the reported recall is the measured one
    assert torch.equal(result.indices[:15, 0], torch.cat([torch.arange(10, 15), torch.arange(10)]))
    full = NeighbourIndex(shards, kind="ivf", num_parts=2, nprobe=index.nlist).search(queries, k=2)
    assert full.recall_at_2 == 1.0  # every cell visited: exhaustive


def test_the_cached_index_is_reused_rebuilt_when_the_data_change_or_refused(data, tmp_path):
    train, queries = data
    shards = write_shards(tmp_path / "s", train, shard_size=200)
    NeighbourIndex(shards, kind="ivf")
    again = NeighbourIndex(ShardSet(tmp_path / "s"), kind="ivf")
    assert again.cache.startswith("loaded")
    other = train.clone()
    other[0] = 1.0
    (tmp_path / "s" / "index").rename(tmp_path / "kept-index")
    changed = write_shards(tmp_path / "s", other, shard_size=200)
    (tmp_path / "kept-index").rename(tmp_path / "s" / "index")  # the old data set's index beside new shards
    with pytest.raises(DataError, match="was built for other data"):
        NeighbourIndex(changed, kind="ivf", rebuild=False)
    rebuilt = NeighbourIndex(changed, kind="ivf")
    assert "other data" in rebuilt.cache
    meta = json.loads((tmp_path / "s" / "index" / "ivf-1parts.json").read_text())
    assert meta["content_hash"] == changed.content_hash


def test_a_full_disk_while_writing_the_index_keeps_the_old_one(data, tmp_path, monkeypatch):
    import faiss

    shards = write_shards(tmp_path / "s", data[0], shard_size=200)
    NeighbourIndex(shards, kind="ivf")
    before = (tmp_path / "s" / "index" / "ivf-part0of1.faiss").read_bytes()

    def full(index, path):
        raise OSError(errno.ENOSPC, "No space left on device", path)

    monkeypatch.setattr(faiss, "write_index", full)
    (tmp_path / "s" / "index" / "ivf-1parts.json").write_text("{}")  # force a rebuild
    with pytest.raises(DataError, match="ivf-part0of1.faiss.*No space left"):
        NeighbourIndex(shards, kind="ivf")
    assert (tmp_path / "s" / "index" / "ivf-part0of1.faiss").read_bytes() == before


def test_bad_input_is_refused_by_name(data, shards):
    train, queries = data
    with pytest.raises(ValueError, match="kind must be one of auto, flat, ivf"):
        NeighbourIndex(shards, kind="hnsw")
    with pytest.raises(ValueError, match=r"num_parts must be an integer in \[1, 6\]"):
        NeighbourIndex(shards, num_parts=7)
    with pytest.raises(ValueError, match="needs a ShardSet"):
        NeighbourIndex(train, kind="ivf")
    index = NeighbourIndex(shards, kind="flat")
    with pytest.raises(ValueError, match=r"k must be an integer in \[1, 600\]"):
        index.search(queries, k=601)
    with pytest.raises(ValueError, match="queries must have shape"):
        index.search(queries[:, :1])
