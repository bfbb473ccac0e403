"""The 2-D loss gap (pipelines.transition.loss_gap): the network against the training loss's optimum, on training
and held-out points, per band of t; the command line and the shipped tables."""

from __future__ import annotations

import json
import shlex
import shutil

import pytest
import torch

from helpers.figure_layout import assert_layout_ok
from pipelines import toy2d
from pipelines.exact.posterior import DatasetPosterior
from pipelines.transition import ladders
from pipelines.transition import loss_gap as gap

SHIPPED = [name for name in ladders.shipped_datasets() if gap.table_path(name).is_file()]


@pytest.fixture(scope="module")
def tiny_case():
    """An untrained small ε-MLP, 8 training points and 8 held-out ones of the same pool."""
    points = ladders.pool("two_moons")
    return toy2d.new_toy_model(seed=0, hidden_size=16, num_layers=1).eval(), points[:8], points[8:16]


def test_the_optimum_beats_the_network_on_its_training_points(tiny_case):
    model, train, heldout = tiny_case
    rows = gap.loss_gap_rows(model, train, heldout, draws=256, seed=0)
    assert [(r.t_low, r.t_high) for r in rows] == list(gap.DEFAULT_BANDS)
    for row in rows:
        assert row.num_points == 8 and row.draws == 256
        assert row.train_optimum <= row.train_network
        assert row.train_gap == pytest.approx(row.train_optimum - row.train_network)
        assert row.train_gap_se > 0 and row.heldout_optimum_se > 0
    assert json.loads(json.dumps([r.as_dict() for r in rows]))[0]["t_low"] == 0


def test_the_losses_by_hand_and_the_seed(tiny_case):
    """split_losses: ε̂ of the optimum from E[x_0 | x_t] over the training points, eq. 4's x_t, per dimension."""
    model, train, _ = tiny_case
    optimum = DatasetPosterior(toy2d.as_images(train), toy2d.toy_scheduler())
    net, best = gap.split_losses(model, optimum, train, (0, 10), 32, torch.Generator().manual_seed(1))
    g = torch.Generator().manual_seed(1)
    x0 = train.double()[torch.randint(8, (32,), generator=g)]
    t = torch.randint(0, 10, (32,), generator=g)
    eps = torch.randn((32, 2), generator=g, dtype=torch.float64)
    a = torch.cumprod(1 - optimum.scheduler.betas.double(), 0)[t].unsqueeze(1)
    x_t = a.sqrt() * x0 + (1 - a).sqrt() * eps
    x0_hat = optimum.predict_x0(toy2d.as_images(x_t), t).reshape(32, 2)
    assert torch.allclose(best, ((eps - (x_t - a.sqrt() * x0_hat) / (1 - a).sqrt()) ** 2).mean(1), rtol=1e-6)
    with torch.no_grad():
        eps_hat = model(toy2d.as_images(x_t.float()), t).sample.reshape(32, 2).double()
    assert torch.allclose(net, ((eps - eps_hat) ** 2).mean(1), rtol=1e-5)
    again = gap.loss_gap_rows(model, train, train, draws=64, seed=3)
    assert [r.as_dict() for r in again] == [r.as_dict() for r in gap.loss_gap_rows(model, train, train, 64, 3)]


def test_bad_arguments_are_refused(tiny_case):
    model, train, heldout = tiny_case
    with pytest.raises(ValueError, match=r"draws must be an integer in \[16, 200000\]"):
        gap.loss_gap_rows(model, train, heldout, draws=4)
    with pytest.raises(ValueError, match=r"bands must be a list of \(low, high\) integer pairs with 0 <= low < high"):
        gap.loss_gap_rows(model, train, heldout, draws=16, bands=[(10, 5)])
    with pytest.raises(ValueError, match="dataset must be one of"):
        gap.loss_gap("moons")


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--draws", "2"], "--draws must be an integer in [16, 200000]"),
        (["--seed", "-1"], "--seed must be an integer in [0, "),
        (["--dataset", "moons"], "--dataset must be one of"),
        (["--draws", "x"], "--draws: invalid int value"),
    ],
)
def test_the_command_refuses_a_bad_flag_in_one_line(flags, words, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        gap.main([*flags, "--output", str(tmp_path)])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and words in err and err.count("\n") == 1
    assert not any(tmp_path.iterdir())


def test_the_command_without_shipped_pairs_says_so_in_one_line(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        gap.main(["--dataset", "spiral", "--output", str(tmp_path)])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "no transition table for spiral" in err and err.count("\n") == 1


@pytest.mark.skipif("two_moons" not in ladders.shipped_datasets(), reason="no shipped two_moons ladder")
def test_the_command_writes_the_table(tmp_path):
    """The smallest shipped pair copied into a one-rung ladder: the command's table holds its command and rows."""
    target = tmp_path / "two_moons"
    shutil.copytree(ladders.pair_folder(ladders.DEFAULT_OUTPUT, "two_moons", 4), target / "n0004")
    table = ladders.load_table("two_moons")
    (target / "transition.json").write_text(json.dumps({**table, "rows": table["rows"][:1]}))
    flags = ["--dataset", "two_moons", "--draws", "16", "--seed", "2", "--output", str(tmp_path)]
    gap.main(flags)
    written = gap.load_loss_gap("two_moons", tmp_path)
    assert written["command"] == "python -m pipelines.transition.loss_gap " + shlex.join(flags)
    assert written["wall_seconds"] >= 0 and written["seed"] == 2 and written["draws_per_band_and_split"] == 16
    assert [(r["num_points"], r["t_low"]) for r in written["rows"]] == [(4, low) for low, _ in gap.DEFAULT_BANDS]


@pytest.mark.parametrize("dataset", SHIPPED)
def test_the_shipped_table_shows_the_gap(dataset):
    """Every shipped N: the optimum's training loss below the network's at the smallest t. The largest N: on
    held-out points the optimum's loss above the network's at the smallest t (the network generalises there)."""
    table = gap.load_loss_gap(dataset)
    ladder = gap.shipped_ladder(dataset)
    bands = [tuple(band) for band in table["bands"]]
    assert [(r["num_points"], r["t_low"], r["t_high"]) for r in table["rows"]] == [
        (n, low, high) for n in ladder for low, high in bands
    ]
    smallest = [r for r in table["rows"] if r["t_low"] == bands[0][0]]
    for row in smallest:
        assert row["train_optimum"] < row["train_network"], row
    largest = smallest[-1]
    assert largest["num_points"] == max(ladder)
    assert largest["heldout_optimum"] - largest["heldout_network"] > 3 * largest["heldout_gap_se"], largest


def test_every_shipped_ladder_has_its_loss_gap_table():
    assert ladders.shipped_datasets() and SHIPPED == ladders.shipped_datasets()


def _gap_record():
    """A hand-made loss_gap record: two bands, three N; the optimum lower on training points, higher held out."""
    rows = []
    for n in (4, 64, 2000):
        for low, high in ((10, 50), (0, 10)):
            numbers = {"train_network": 0.5, "train_optimum": 0.1 * (1 + n / 2000), "heldout_network": 2.0 / n**0.5,
                       "heldout_optimum": 20.0 / n**0.5}  # fmt: skip
            numbers.update({f"{key}_se": 0.01 for key in list(numbers)})
            rows.append({"num_points": n, "t_low": low, "t_high": high, **numbers})
    return {"dataset": "two_moons", "bands": [[10, 50], [0, 10]], "rows": rows}


def test_the_loss_gap_plot_draws_four_curves_per_band_smallest_t_first():
    from pipelines.transition.plots import plot_loss_gap

    fig = plot_loss_gap(_gap_record(), "two_moons")
    assert_layout_ok(fig)
    first, second = fig.axes
    assert "[0, 10)" in first.get_title() and first.title.get_fontweight() == "bold"
    assert "[10, 50)" in second.get_title()
    for ax in (first, second):
        assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
        assert ax.get_xlabel() == "$N$, training points" and "loss" in ax.get_ylabel()
        curves = [line for line in ax.lines if line.get_linestyle() in ("-", "--")]  # not the error bars' caps
        assert len(curves) == 4 and all(list(line.get_xdata()) == [4, 64, 2000] for line in curves)
    network_train, optimum_train, network_heldout, optimum_heldout = (
        line for line in first.lines if line.get_linestyle() in ("-", "--")
    )
    assert list(optimum_heldout.get_ydata()) == pytest.approx([10.0, 2.5, 20.0 / 2000**0.5])
    assert optimum_train.get_linestyle() == "--" and network_train.get_linestyle() == "-"
    labels = [text.get_text() for text in fig.legends[0].get_texts()]
    assert len(labels) == 4 and any("optimum" in label and "held-out" in label for label in labels)


@pytest.mark.parametrize("dataset", SHIPPED)
def test_the_shipped_loss_gap_plots(dataset):
    from pipelines.transition.plots import plot_loss_gap

    assert_layout_ok(plot_loss_gap(gap.load_loss_gap(dataset), dataset))


def test_the_loss_gap_plot_refuses_a_bad_record():
    from pipelines.transition.plots import plot_loss_gap

    with pytest.raises(ValueError, match="record must be a dict with the keys rows, bands"):
        plot_loss_gap([], "two_moons")
    with pytest.raises(ValueError, match="dataset must be the record's data set 'two_moons', got 'spiral'"):
        plot_loss_gap(_gap_record(), "spiral")
    with pytest.raises(ValueError, match="record must hold at least one band and one row"):
        plot_loss_gap({**_gap_record(), "rows": []}, "two_moons")
