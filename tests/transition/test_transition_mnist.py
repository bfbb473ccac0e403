"""The MNIST memorisation transition (pipelines.transition.mnist): shipped pairs of small UNets trained by train.py
on disjoint blocks of N training digits. Small N: each model copies its own block; the largest N: it does not."""

import json
import shlex

import pytest
import torch

from pipelines.data.record import read_record
from pipelines.data.sources import load_mnist
from pipelines.exact.neighbours import copy_fraction_by_ratio
from pipelines.transition import mnist as tm

PAIRS = tm.pair_folders()
TABLE = tm.load_table()
SIZES = sorted(PAIRS)
CHECK_SAMPLES = 32  # re-sampled per model in the copy test (the table's first 32 noises)


def test_three_sizes_are_shipped_and_each_model_records_its_block():
    assert {16, 256, 2250} <= set(SIZES)
    train = load_mnist("train")[0].flatten(1)
    for n, (a, b) in PAIRS.items():
        record_a, record_b = read_record(a), read_record(b)
        assert record_a.num_images == record_b.num_images == n
        assert record_a.subset == {"size": n, "index": 0, "seed": 0} and record_b.subset["index"] == 1
        assert not set(record_a.train_indices) & set(record_b.train_indices)  # disjoint blocks
        assert not set(record_a.train_indices) & set(record_a.heldout_indices)  # never a held-out digit
        _, block = tm.load_model(str(a))
        assert bool((block.flatten(1)[:, None] == train[None]).all(2).any(1).all())  # all are training digits


def test_the_table_records_its_command_recipe_and_training_times():
    args = shlex.split(TABLE["command"])
    assert args[:3] == ["python", "-m", "pipelines.transition.mnist"] and TABLE["wall_seconds"] > 0
    assert [row["num_points"] for row in TABLE["rows"]] == SIZES
    for row in TABLE["rows"]:
        assert row["train_steps"] == TABLE["recipe"]["train_steps"]  # one recipe for every N
        assert row["train_seconds"]["a"] > 0 and row["train_seconds"]["b"] > 0
        assert row["exact"]["copy_fraction"] == {"a": 1.0, "b": 1.0}  # the exact processes always copy
        assert row["spacing"] == pytest.approx(tm.spacing())
    walltimes = (tm.DEFAULT_FOLDER / "README.md").read_text()
    assert "scripts/train_transition_mnist.sh" in walltimes


@pytest.mark.parametrize("end", ["smallest", "largest"])
def test_the_shipped_models_copy_at_small_n_and_not_at_the_largest(end):
    """Re-sampled from the shipped weights with the table's seed: >= 80 % copies (d1/d2 < 1/3 against its own
    block) at the smallest N, <= 20 % at the largest."""
    row = TABLE["rows"][0 if end == "smallest" else -1]
    for which, folder in zip("ab", PAIRS[row["num_points"]]):
        pipe, block = tm.load_model(str(folder))
        samples = tm.sample_model(pipe, CHECK_SAMPLES, row["seed"])
        fraction = copy_fraction_by_ratio(samples, block)
        if end == "smallest":
            assert fraction >= 0.8, (which, fraction)
        else:
            assert fraction <= 0.2, (which, fraction)


def test_the_exact_processes_of_two_blocks_never_agree():
    """From the same noise, the exact processes of two disjoint blocks each return one of their own digits."""
    n = SIZES[0]
    (pipe_a, block_a), (pipe_b, block_b) = (tm.load_model(str(f)) for f in PAIRS[n])
    exact_a = tm.sample_exact(block_a, pipe_a.scheduler, 8, 0, steps=20)
    exact_b = tm.sample_exact(block_b, pipe_b.scheduler, 8, 0, steps=20)
    assert copy_fraction_by_ratio(exact_a, block_a) == 1.0 and copy_fraction_by_ratio(exact_b, block_b) == 1.0
    assert bool(((exact_a - exact_b).flatten(1).norm(dim=1) > 1.0).all())  # never the same digit


def test_the_command_refuses_bad_flags(tmp_path, capsys):
    for argv, words in (
        (["--samples", "4"], "--samples must be an integer in [8, 1024]"),
        (["--folder", str(tmp_path)], "holds no complete pair"),
    ):
        with pytest.raises(SystemExit):
            tm.main(argv)
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err


def test_the_pair_picture_shows_both_models_and_their_nearest_digits():
    """The tab draws the recorded samples of seed 0: sampling the pair live with seed 0 returns them (the record holds
    the images in float16, d₁/d₂ and d₁ as computed)."""
    n = SIZES[0]
    examples = tm.pair_examples(*PAIRS[n], count=tm.EXAMPLES_COUNT)
    recorded, meta = tm.load_pair_examples(n)
    assert meta["seed"] == 0 and meta["count"] == tm.EXAMPLES_COUNT and meta["steps"] == tm.SAMPLE_STEPS
    for w in "ab":
        for key in ("samples", "nearest"):
            assert torch.allclose(recorded[w][key], examples[w][key], atol=2e-3), (w, key)
        assert recorded[w]["ratio"] == pytest.approx(examples[w]["ratio"], rel=1e-4, abs=1e-5)
        assert recorded[w]["distance"] == pytest.approx(examples[w]["distance"], rel=1e-4)
    assert tm.load_pair_examples(n + 1) is None  # no pair at that N
    from pipelines.transition.plots import mnist_pair_picture

    picture = mnist_pair_picture(recorded, n, (1.0, 1.0), note="recorded")
    assert picture.width >= 6 * 96 and picture.height >= 4 * 96
    json.dumps({w: recorded[w]["ratio"] for w in "ab"})  # the numbers under the pictures are plain floats
