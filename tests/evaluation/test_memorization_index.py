"""The memorization report through a NeighbourIndex and from shards: the same numbers as brute force (the
reference), with the index's kind and measured recall@2 beside them; the new flags refused in one line."""

from __future__ import annotations

import json

import pytest
import torch

from pipelines.data.shards import write_shards
from pipelines.evaluation.memorization import memorization_report
from pipelines.exact.index import NeighbourIndex


def run(argv, capsys):
    from pipelines.evaluation.cli import main

    rc = main(["memorization", *argv])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


@pytest.fixture(scope="module")
def sets():
    g = torch.Generator().manual_seed(0)
    train = torch.randint(0, 256, (300, 3, 8, 8), generator=g).float() / 127.5 - 1
    heldout = torch.randint(0, 256, (20, 3, 8, 8), generator=g).float() / 127.5 - 1
    samples = torch.cat([train[:6] + 0.01 * torch.randn(6, 3, 8, 8, generator=g), heldout[:10] * 0.9])
    return train, heldout, samples


@pytest.mark.parametrize("kind, parts", [("flat", 1), ("flat", 3), ("ivf", 2)])
def test_the_report_through_an_index_is_the_brute_force_report(sets, tmp_path, kind, parts):
    train, heldout, samples = sets
    brute = memorization_report(samples, train, heldout)
    shards = write_shards(tmp_path / "s", train, shard_size=100, heldout=heldout)
    index = NeighbourIndex(shards, kind=kind, num_parts=parts, nprobe=None if kind == "flat" else 2)
    through = memorization_report(samples, shards, shards.heldout(), index=index)
    search = through["neighbour_search"]["samples"]
    assert search["engine"] == f"faiss {kind}" and search["num_parts"] == parts
    assert search["recall_sample"] == len(samples) and 0 <= search["recall_at_2"] <= 1
    assert brute["neighbour_search"]["samples"] == {"engine": "brute force (exact)"}
    assert "recall@2" in through["verdict"] and "recall@2" not in brute["verdict"]
    if search["recall_at_2"] == 1.0:  # every true neighbour found (always for flat): the same report
        assert through["per_sample"]["nearest_index"] == brute["per_sample"]["nearest_index"]
        for key in ("nearest_distance", "second_distance"):
            assert through["per_sample"][key] == pytest.approx(brute["per_sample"][key], abs=1e-9)
        assert through["samples"] == brute["samples"] and through["flagged"] == brute["flagged"]
    assert kind == "ivf" or search["recall_at_2"] == 1.0


def test_the_cli_streams_a_folder_into_shards_and_searches_them(tmp_path, capsys, stock_ddpm_dir, shapes_dir):
    common = ["--model", str(stock_ddpm_dir), "--num_samples", "3", "--num_inference_steps", "2", "--no_progress"]
    brute_out, index_out = tmp_path / "brute.json", tmp_path / "index.json"
    rc, _, err = run([*common, "--data", str(shapes_dir), "--output", str(brute_out)], capsys)
    assert rc == 0, err
    shards = tmp_path / "shards"
    argv = [
        *common,
        "--data",
        str(shapes_dir),
        "--shards",
        str(shards),
        "--index",
        "flat",
        "--index_parts",
        "2",
        "--shard_size",
        "50",
    ]
    rc, out, err = run([*argv, "--output", str(index_out)], capsys)
    assert rc == 0, err
    assert (shards / "manifest.json").is_file() and "recall@2 1.000" in out
    brute, through = json.loads(brute_out.read_text()), json.loads(index_out.read_text())
    assert through["num_train"] == brute["num_train"] == 120
    assert through["per_sample"]["nearest_index"] == brute["per_sample"]["nearest_index"]
    assert through["per_sample"]["nearest_distance"] == pytest.approx(brute["per_sample"]["nearest_distance"])
    assert through["neighbour_search"]["samples"]["engine"] == "faiss flat"


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--index", "hnsw"], ["--index must be one of none, auto, flat, ivf", "hnsw"]),
        (["--index_parts", "0"], ["--index_parts must be an integer >= 1", "got 0"]),
        (["--nprobe", "0"], ["--nprobe must be an integer >= 1", "got 0"]),
        (["--shards", ""], ["--shards must not be empty"]),
        (["--shard_size", "0"], ["--shard_size must be an integer >= 1", "got 0"]),
    ],
)
def test_bad_index_flags_fail_in_one_line(flags, words, capsys, stock_ddpm_dir):
    rc, _, err = run(["--model", str(stock_ddpm_dir), *flags], capsys)
    assert rc == 2 and len(err.strip().splitlines()) == 1 and all(w in err for w in words), err


def test_shards_that_are_not_there_or_not_the_models_shape_are_refused(tmp_path, capsys, stock_ddpm_dir):
    common = ["--model", str(stock_ddpm_dir), "--num_samples", "2", "--num_inference_steps", "2"]
    rc, _, err = run([*common, "--shards", str(tmp_path / "none")], capsys)
    assert rc == 2 and "holds no shards: pass --data IMAGE_FOLDER" in err
    write_shards(tmp_path / "wrong", torch.zeros(4, 3, 4, 4))
    rc, _, err = run([*common, "--shards", str(tmp_path / "wrong")], capsys)
    assert rc == 2 and "the images are 3×4×4 but the model draws" in err, err
