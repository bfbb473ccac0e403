"""The copy-to-new transition in 2-D (pipelines.transition): the copy rule, the disjoint subsets, the exact
reference, the shipped table and models, the command line, and the plots."""

from __future__ import annotations

import json
import shlex

import pytest
import torch

from helpers.figure_layout import assert_layout_ok
from pipelines.exact.neighbours import COPY_RATIO, copy_fraction_by_ratio, is_copy_by_ratio, nearest_two
from pipelines.transition import ladders as transition
from pipelines.transition.plots import plot_pair_samples, plot_transition

REFERENCE = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
SHIPPED = transition.shipped_datasets()


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny MLPs: threads only contend
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------------------------------------- the copy rule
def test_the_copy_rule_on_hand_built_cases():
    queries = torch.tensor(
        [
            [0.0, 0.0],  # on a training point: d1 = 0
            [0.1, 0.0],  # near one: 0.1 / 0.9
            [0.5, 0.0],  # half-way between two: d1 = d2
            [0.3, 0.0],  # closer to one, but not by 3×: 0.3 / 0.7
            [10.0, 10.0],  # far from all: d1 ≈ d2
        ]
    )
    d1, d2, index = nearest_two(queries, REFERENCE)
    assert torch.allclose(d1, torch.tensor([0.0, 0.1, 0.5, 0.3, (9.0**2 + 10.0**2) ** 0.5], dtype=torch.float64))
    assert torch.allclose(d2[:4], torch.tensor([1.0, 0.9, 0.5, 0.7], dtype=torch.float64))
    assert index[:2].tolist() == [0, 0]
    assert is_copy_by_ratio(d1, d2).tolist() == [True, True, False, False, False]
    assert copy_fraction_by_ratio(queries, REFERENCE) == pytest.approx(2 / 5)


def test_the_copy_threshold_is_one_third():
    assert COPY_RATIO == pytest.approx(1 / 3)
    assert is_copy_by_ratio(0.33, 1.0) and not is_copy_by_ratio(0.34, 1.0)


def test_nearest_two_needs_two_reference_points():
    with pytest.raises(ValueError, match="reference must hold at least 2 items"):
        nearest_two(torch.zeros(1, 2), torch.zeros(1, 2))


# ---------------------------------------------------------------------------------------------- subsets
@pytest.mark.parametrize("num_points", [4, 100, transition.MAX_POINTS])
def test_the_two_subsets_are_disjoint_and_seeded(num_points):
    a, b = transition.disjoint_subsets("two_moons", num_points, seed=3)
    assert len(a) == len(b) == num_points
    assert len(set(a.tolist()) | set(b.tolist())) == 2 * num_points
    pool = transition.pool("two_moons")
    assert bool((nearest_two(pool[a], pool[b])[0] > 0).all())  # no shared point, not only no shared index
    again = transition.disjoint_subsets("two_moons", num_points, seed=3)
    assert torch.equal(a, again[0]) and torch.equal(b, again[1])
    assert not torch.equal(a, transition.disjoint_subsets("two_moons", num_points, seed=4)[0])


def test_the_exact_processes_of_two_subsets_never_agree():
    a, b = transition.disjoint_subsets("spiral", 16, seed=0)
    pool = transition.pool("spiral")
    exact_a = transition.sample_exact(pool[a], 32, seed=5)
    exact_b = transition.sample_exact(pool[b], 32, seed=5)
    assert copy_fraction_by_ratio(exact_a, pool[a]) == copy_fraction_by_ratio(exact_b, pool[b]) == 1.0
    closest = nearest_two(pool[a], pool[b])[0].min()
    assert ((exact_a - exact_b).norm(dim=1) >= closest - 1e-6).all()


def test_the_same_seed_gives_both_models_the_same_noise():
    """With equal weights the two "models" of a pair return the same samples: the noise is shared."""
    pair = transition.TransitionPair("two_moons", 4, 100, seed=0)
    pair.model_b.load_state_dict(pair.model_a.state_dict())
    assert torch.equal(transition.sample_model(pair.model_a, 8, 7), transition.sample_model(pair.model_b, 8, 7))


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(num_points=3), "num_points must be an integer in [4, 2000]"),
        (dict(num_points=2001), "num_points must be an integer in [4, 2000]"),
        (dict(train_steps=50), "train_steps must be an integer in [100, 20000]"),
        (dict(dataset="moons"), "dataset must be one of"),
        (dict(seed=-1), "seed must be an integer in [0, 2147483647]"),
    ],
)
def test_a_bad_pair_is_refused_naming_the_parameter(kwargs, words):
    with pytest.raises(ValueError) as error:
        transition.TransitionPair(**{"dataset": "two_moons", "num_points": 8, **kwargs})
    assert words in str(error.value)


def test_a_bad_ladder_is_refused():
    with pytest.raises(ValueError, match=r"ladder must be an integer in \[4, 2000\]"):
        transition.check_ladder([4, 4000])
    with pytest.raises(ValueError, match="strictly increasing"):
        transition.check_ladder([8, 4])


# ---------------------------------------------------------------------------------------------- command line
@pytest.mark.parametrize(
    "flags, words",
    [
        (["--ladder", "4,3000"], "--ladder must be an integer in [4, 2000]"),
        (["--ladder", "4,x"], "--ladder must be comma-separated integers"),
        (["--train-steps", "10"], "--train-steps must be an integer in [100, 20000]"),
        (["--samples", "2"], "--samples must be an integer in [8, 1024]"),
        (["--dataset", "moons"], "--dataset must be one of"),
    ],
)
def test_the_command_refuses_a_bad_flag_naming_it(flags, words, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        transition.main([*flags, "--output", str(tmp_path)])
    assert exit_.value.code == 2 and words in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_the_command_writes_models_and_a_table_that_it_reproduces(tmp_path):
    """A tiny ladder, run twice: the same table (bar timings) and the same weights; the JSON holds the command."""
    flags = ["--dataset", "eight_gaussians", "--ladder", "4,8", "--train-steps", "100", "--samples", "8"]
    tables = []
    for run in ("one", "two"):
        transition.main([*flags, "--output", str(tmp_path / run)])
        table = json.loads((tmp_path / run / "eight_gaussians" / "transition.json").read_text())
        assert table["command"] == "python -m pipelines.transition " + shlex.join(
            [*flags, "--output", str(tmp_path / run)]
        )
        assert table["wall_seconds"] > 0
        for row in table["rows"]:
            row.pop("train_seconds")
        tables.append(table)
    assert [r["num_points"] for r in tables[0]["rows"]] == [4, 8]
    assert tables[0]["rows"] == tables[1]["rows"]
    for n in (4, 8):
        for which in ("a", "b"):
            one = tmp_path / "one" / "eight_gaussians" / f"n{n:04d}" / which / "diffusion_pytorch_model.safetensors"
            two = tmp_path / "two" / "eight_gaussians" / f"n{n:04d}" / which / "diffusion_pytorch_model.safetensors"
            assert one.read_bytes() == two.read_bytes()
    model, indices = transition.load_pair_model(tmp_path / "one" / "eight_gaussians" / "n0004", "a")
    assert torch.equal(indices, transition.disjoint_subsets("eight_gaussians", 4, 0)[0])


# ---------------------------------------------------------------------------------------------- the shipped table
def test_a_table_is_shipped_for_two_moons():
    assert "two_moons" in SHIPPED


@pytest.mark.parametrize("dataset", SHIPPED)
def test_the_shipped_table_records_its_command_and_recipe(dataset):
    table = transition.load_table(dataset)
    args = shlex.split(table["command"])
    assert args[:3] == ["python", "-m", "pipelines.transition"] and table["wall_seconds"] > 0
    rows = table["rows"]
    assert [r["num_points"] for r in rows] == sorted(r["num_points"] for r in rows)
    assert table["recipe"]["model"] == {"class": "ToyEpsilonMLP", **transition.MODEL_CONFIG}
    assert all(r["train_steps"] == table["recipe"]["train_steps"] for r in rows)
    for row in rows:
        assert row["spacing"] == pytest.approx(transition.spacing(dataset))
        assert transition.TransitionRow.from_dict(row).as_dict() == row
        assert row["exact"]["copy_fraction"] == {"a": 1.0, "b": 1.0}


@pytest.mark.parametrize("dataset", SHIPPED)
@pytest.mark.parametrize("end", ["smallest", "largest"])
def test_the_shipped_models_copy_at_small_n_and_not_at_large_n(dataset, end):
    """Re-sampled from the shipped weights with the table's seed and M: the same copy fractions as the table,
    >= 80 % at the smallest N and <= 20 % at the largest."""
    table = transition.load_table(dataset)
    row = table["rows"][0 if end == "smallest" else -1]
    folder = transition.pair_folder(transition.DEFAULT_OUTPUT, dataset, row["num_points"])
    for which in ("a", "b"):
        model, indices = transition.load_pair_model(folder, which)
        assert len(indices) == row["num_points"]
        samples = transition.sample_model(model, row["num_samples"], row["seed"])
        fraction = copy_fraction_by_ratio(samples, transition.pool(dataset)[indices])
        assert fraction == pytest.approx(row["copy_fraction"][which], abs=2 / row["num_samples"])
        if end == "smallest":
            assert fraction >= 0.8
        else:
            assert fraction <= 0.2


# ---------------------------------------------------------------------------------------------- plots
def _row(n: int, copies: float, ratio: float) -> dict:
    return transition.TransitionRow(
        "two_moons", n, 100, 0, 8, 0.005, copies, copies, 0.01, 0.01, ratio * 0.005, 1.0, 1.0, 0.02
    ).as_dict()


def test_the_transition_plot_is_laid_out_and_draws_what_it_is_given():
    rows = [_row(4, 1.0, 100.0), _row(64, 0.5, 10.0), _row(2000, 0.1, 1.5)]
    fig = plot_transition(rows, [_row(32, 0.7, 20.0)], "two_moons: two models on disjoint subsets")
    assert_layout_ok(fig)
    left, right = fig.axes
    assert left.get_xscale() == "log"
    assert list(left.lines[0].get_xdata()) == [4, 64, 2000] and list(left.lines[0].get_ydata()) == [1.0, 0.5, 0.1]
    assert list(right.lines[0].get_ydata()) == pytest.approx([100.0, 10.0, 1.5])
    assert list(right.lines[1].get_ydata()) == pytest.approx([4.0, 4.0, 4.0])  # the exact processes
    assert_layout_ok(plot_transition([]))
    mnist = plot_transition(rows, [], "mnist: two models on disjoint blocks of digits", "digits")
    assert_layout_ok(mnist)
    assert mnist.axes[0].get_xlabel() == "$N$, training digits of each model"


def test_the_pair_plot_is_laid_out():
    points = torch.rand(16, 2) - 0.5
    fig = plot_pair_samples(points[:8], points[8:], torch.rand(32, 2), torch.rand(32, 2), 8, (1.0, 0.9))
    assert_layout_ok(fig)
    assert len(fig.axes) == 3
