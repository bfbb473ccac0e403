"""Training dynamics in 2-D (pipelines.transition.dynamics): the losses on training and held-out points, the
optimum's, and the copy fraction at every checkpoint; τ_gen and τ_mem; the command; the shipped records; the plot."""

from __future__ import annotations

import json
import math
import shlex

import pytest
import torch

from helpers.figure_layout import assert_layout_ok
from pipelines.transition import dynamics, ladders
from pipelines.transition.plots import plot_training_dynamics

TINY = {"train_steps": 100, "eval_every": 50, "num_heldout": 16, "draws": 64, "num_samples": 8}


@pytest.fixture(scope="module")
def tiny_run():
    return list(dynamics.training_dynamics("two_moons", 4, seed=0, **TINY))


def test_a_checkpoint_every_eval_every_steps_with_fixed_draws(tiny_run):
    assert [c.step for c in tiny_run] == [50, 100] and all(c.num_steps == 100 for c in tiny_run)
    first, last = tiny_run
    for name in ("optimum_train_loss", "optimum_heldout_loss", "optimum_train_loss_small_t"):
        assert getattr(first, name) == getattr(last, name)  # the same (x_0, t, ε) draws at every checkpoint
    for c in tiny_run:
        assert c.optimum_train_loss_small_t < c.train_loss_small_t  # nothing beats the optimum on its own points
        assert 0.0 <= c.copy_fraction <= 1.0 and c.nearest_median >= 0 and c.seconds > 0
        assert all(math.isfinite(v) for v in c.as_dict().values())
    assert first.train_loss != last.train_loss  # the network trains between checkpoints


def test_the_reference_lines_are_the_loss_gaps_optimum_on_the_same_draws(tiny_run):
    """The optimum's losses are those `loss_gap.loss_gap_rows` reports for the same points, draws and seed."""
    from pipelines import toy2d
    from pipelines.transition import loss_gap as gap

    train, heldout = (ladders.pool("two_moons")[i] for i in dynamics.dynamics_split("two_moons", 4, 16, seed=0))
    model = toy2d.new_toy_model(seed=5, hidden_size=16, num_layers=1).eval()
    rows = gap.loss_gap_rows(model, train, heldout, draws=64, seed=0, bands=tuple(dynamics.BANDS.values()))
    last = tiny_run[-1]
    for row, suffix in zip(rows, ("", "_small_t")):
        assert getattr(last, f"optimum_train_loss{suffix}") == pytest.approx(row.train_optimum, rel=1e-9)
        assert getattr(last, f"optimum_heldout_loss{suffix}") == pytest.approx(row.heldout_optimum, rel=1e-9)


def test_the_run_is_the_ladders_model_a(tiny_run):
    """The same recipe, subset and sampling noise as the ladder's model A: the same copy numbers at the end."""
    pair = ladders.TransitionPair("two_moons", 4, train_steps=100, seed=0)
    for _ in pair.train():
        pass
    row = pair.measure(num_samples=8, seed=0)
    assert tiny_run[-1].copy_fraction == row.copy_fraction_a
    assert tiny_run[-1].nearest_median == pytest.approx(row.nearest_median_a)


def test_the_split_is_disjoint_and_the_heldout_points_do_not_depend_on_n():
    train_4, heldout_4 = dynamics.dynamics_split("two_moons", 4, 100, seed=3)
    train_2000, heldout_2000 = dynamics.dynamics_split("two_moons", 2000, 100, seed=3)
    assert torch.equal(train_4, ladders.disjoint_subsets("two_moons", 4, 3)[0])
    assert torch.equal(heldout_4, heldout_2000) and len(heldout_4) == 100
    assert not set(train_2000.tolist()) & set(heldout_2000.tolist())


def test_tau_gen_and_tau_mem_are_read_off_the_curves():
    steps = [10, 20, 30, 40]
    assert dynamics.generalisation_step(steps, [1.0, 0.52, 0.5, 0.6]) == 20  # within 5 % of the lowest, 0.5
    assert dynamics.generalisation_step(steps, [1.0, 0.53, 0.5, 0.6]) == 30
    assert dynamics.memorisation_step(steps, [0.1, 0.49, 0.5, 0.9]) == 30
    assert dynamics.memorisation_step(steps, [0.1, 0.2, 0.3, 0.4]) is None
    assert dynamics.generalisation_step([], []) is None
    with pytest.raises(ValueError, match="steps and copy_fractions must have one length"):
        dynamics.memorisation_step(steps, [0.1])


def test_the_record_is_json_safe_and_holds_both_n():
    record = dynamics.run_dynamics("two_moons", (4, 8), seed=1, **TINY)
    again = json.loads(json.dumps(record))
    assert [run["num_points"] for run in again["runs"]] == [4, 8]
    for run in again["runs"]:
        assert run["checkpoints"]["step"] == [50, 100] and set(run["checkpoints"]) == set(dynamics.COLUMNS)
        assert run["tau_gen"] in (50, 100) and run["tau_mem"] in (None, 50, 100)
        assert run["optimum"]["small_t"]["train"] < run["checkpoints"]["train_loss_small_t"][-1]
    assert again["bands"]["small_t"] == list(dynamics.SMALL_T_BAND) and again["recipe"]["seed"] == 1


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"num_points": 3}, "num_points must be an integer in [4, 2000]"),
        ({"eval_every": 0}, "eval_every must be an integer in [1, 100]"),
        ({"eval_every": 101}, "eval_every must be an integer in [1, 100]"),
        ({"num_heldout": 8}, "num_heldout must be an integer in [16, 2000]"),
        ({"draws": 2}, "draws must be an integer in [16, 200000]"),
        ({"num_samples": 2}, "num_samples must be an integer in [8, 1024]"),
        ({"dataset": "moons"}, "dataset must be one of"),
        ({"seed": -1}, "seed must be an integer in [0, "),
    ],
)
def test_bad_arguments_are_refused_before_training(kwargs, words):
    arguments = {"dataset": "two_moons", "num_points": 4, **TINY, **kwargs}
    with pytest.raises(ValueError) as error:
        next(dynamics.training_dynamics(**arguments))
    assert words in str(error.value)


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--num-points", "16,8"], "--num-points must be a non-empty, strictly increasing list of N"),
        (["--num-points", "a"], "--num-points must be comma-separated integers"),
        (["--train-steps", "50"], "--train-steps must be an integer in [100, 20000]"),
        (["--eval-every", "0"], "--eval-every must be an integer in [10, 10000]"),
        (["--heldout", "3000"], "--heldout must be an integer in [16, 2000]"),
        (["--dataset", "moons"], "--dataset must be one of"),
    ],
)
def test_the_command_refuses_a_bad_flag_in_one_line(flags, words, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        dynamics.main([*flags, "--output", str(tmp_path)])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and words in err and err.count("\n") == 1
    assert not any(tmp_path.iterdir())


def test_the_command_writes_the_record(tmp_path):
    flags = ["--num-points", "4", "--train-steps", "100", "--eval-every", "100", "--heldout", "16", "--draws", "16",
             "--samples", "8", "--output", str(tmp_path)]  # fmt: skip
    dynamics.main(flags)
    written = dynamics.load_dynamics("two_moons", tmp_path)
    assert written["command"] == "python -m pipelines.transition.dynamics " + shlex.join(flags)
    assert written["wall_seconds"] >= 0 and [r["num_points"] for r in written["runs"]] == [4]
    with pytest.raises(FileNotFoundError, match="no training-dynamics record for spiral"):
        dynamics.load_dynamics("spiral", tmp_path)


SHIPPED = [name for name in ladders.shipped_datasets() if dynamics.table_path(name).is_file()]


def test_a_record_is_shipped_for_two_moons():
    assert "two_moons" in SHIPPED


@pytest.mark.parametrize("dataset", SHIPPED)
def test_the_shipped_record_shows_both_times(dataset):
    """The small N starts copying within the run, the large N does not; both generalise well before the end."""
    record = dynamics.load_dynamics(dataset)
    assert record["command"].startswith("python -m pipelines.transition.dynamics") and record["wall_seconds"] > 0
    small, large = record["runs"][0], record["runs"][-1]
    assert small["num_points"] < large["num_points"]
    assert small["tau_mem"] is not None and large["tau_mem"] is None
    assert max(large["checkpoints"]["copy_fraction"]) < dynamics.MEMORISED_AT
    for run in record["runs"]:
        assert run["tau_gen"] <= run["train_steps"] / 2
        assert run["optimum"]["small_t"]["train"] < min(run["checkpoints"]["train_loss_small_t"])


def _record(copies_small=(0.1, 0.6, 0.9)):
    """A hand-made record of two runs of three checkpoints."""

    def run(n, copies, tau_mem):
        columns = {name: [0.5, 0.3, 0.25] for name in dynamics.COLUMNS}
        columns.update(step=[100, 1000, 10000], copy_fraction=list(copies))
        optimum = {band: {"train": 0.2, "heldout": 0.4} for band in dynamics.BANDS}
        return {"num_points": n, "train_steps": 10000, "optimum": optimum, "tau_gen": 1000, "tau_mem": tau_mem,
                "seconds": 1.0, "checkpoints": columns}  # fmt: skip

    runs = [run(16, copies_small, 1000), run(1024, (0.1, 0.1, 0.1), None)]
    return {"dataset": "two_moons", "bands": {k: list(v) for k, v in dynamics.BANDS.items()}, "runs": runs}


def test_the_dynamics_plot_draws_every_curve_and_marks_the_times():
    fig = plot_training_dynamics(_record())
    assert_layout_ok(fig)
    assert len(fig.axes) == 5
    loss_panels, copies = fig.axes[:4], fig.axes[4]
    for ax in loss_panels:
        assert ax.get_xscale() == "log" and ax.get_xlabel() == "training step" and "loss" in ax.get_ylabel()
        solid = [line for line in ax.lines if line.get_linestyle() == "-" and len(line.get_xdata()) == 3]
        assert len(solid) == 2  # the network at each N
        # the optimum at each N: a dashed horizontal line (x over the whole axes; τ lines that coincide are dashed too)
        assert sum(line.get_linestyle() == "--" and list(line.get_xdata()) == [0, 1] for line in ax.lines) == 2
    assert "held-out" in loss_panels[1].get_title() and "[0, 10)" in loss_panels[2].get_title()
    assert list(copies.lines[0].get_ydata()) == [0.1, 0.6, 0.9]
    vertical = [line for line in copies.lines if list(line.get_xdata()) == [1000, 1000]]
    assert len(vertical) == 3  # τ_gen of both N, τ_mem of the small N
    labels = [text.get_text() for text in fig.legends[0].get_texts()]
    assert any("N = 16" in label and "1,000" in label for label in labels)
    assert any("N = 1,024" in label and "not reached" in label for label in labels)


def test_a_live_record_of_the_checkpoints_so_far_plots(tiny_run):
    record = dynamics.live_record("two_moons", [tiny_run[:1]])
    assert record["runs"][0]["checkpoints"]["step"] == [50] and record["runs"][0]["tau_gen"] == 50
    assert_layout_ok(plot_training_dynamics(record))


def test_the_dynamics_plot_refuses_a_bad_record():
    with pytest.raises(ValueError, match="record must be a dict with the keys runs, bands"):
        plot_training_dynamics({"runs": []})
    with pytest.raises(ValueError, match="record must hold 1 to 5 runs, got 0"):
        plot_training_dynamics({**_record(), "runs": []})
