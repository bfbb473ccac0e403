"""The "Why doesn't p_θ copy?" tab (ui/tabs/mechanism.py): the 2-D denoisers and the loss gap on the shipped ladder,
the training curves, and the local posterior beside the UNet and the exact posterior (the tiny MNIST-shaped model,
the 4,500 mnist digits)."""

import gradio as gr
import pytest
from PIL import Image

from helpers.figure_layout import assert_layout_ok
from pipelines.exact.neighbours import COPY_RATIO
from pipelines.exact.plots import plot_r2_curves
from ui.tabs.mechanism import LOCAL_STEPS, MechanismTab


@pytest.fixture(scope="module")
def tab(ctx):
    return MechanismTab(ctx)


def test_the_exact_field_lands_on_training_points_and_the_network_does_not(tab):
    image, words, summary = tab.denoiser_fields("two_moons", 64, 20)
    assert isinstance(image, Image.Image)
    assert summary["num_points"] == 64 and summary["t"] == 20
    # the shipped network at N = 64 makes new points: its guesses sit farther from the training points
    assert summary["exact_median_distance"] < summary["network_median_distance"] / 3
    assert "two moons" in words and "$N = 64$" in words


@pytest.mark.parametrize(
    "args, message",
    [
        (("circles", 256, 10), "dataset must be one of"),
        (("two_moons", 100, 10), "num_points must be one of the shipped ladder"),
        (("two_moons", 256, 1000), r"t must be an integer in \[0, 999\]"),
        (("two_moons", 256, 2.5), r"t must be an integer in \[0, 999\]"),
    ],
)
def test_bad_fields_values_are_refused_by_name(tab, args, message):
    with pytest.raises(gr.Error, match=message):
        tab.denoiser_fields(*args)


def test_the_loss_gap_caption_says_what_the_table_says_band_by_band(tab):
    image, words, record = tab.loss_gap("two_moons")
    assert isinstance(image, Image.Image)
    for low, high in record["bands"]:  # every panel is read in words, not only the smallest t
        assert f"- **$t \\in [{low}, {high})$**" in words
    first = min((r["t_low"], r["t_high"]) for r in record["rows"])
    rows = [r for r in record["rows"] if (r["t_low"], r["t_high"]) == first]
    if all(r["heldout_optimum"] > r["heldout_network"] + 2 * r["heldout_gap_se"] for r in rows):
        assert "on held-out points it is higher at every $N$" in words
    last = [r for r in record["rows"] if r["t_low"] == max(b[0] for b in record["bands"])]
    if all(abs(r["heldout_gap"]) <= 2 * r["heldout_gap_se"] for r in last):
        assert "the two agree at every $N$" in words
    if any(r["heldout_network"] < r["train_network"] for r in last):  # held-out below training: said and explained
        assert "a little below the training loss" in words and "different draw" in words


def test_the_optimums_small_t_training_loss_is_explained_by_its_close_points(tab):
    from pipelines.transition.loss_gap import smallest_set_by_point

    _, words, record = tab.loss_gap("two_moons")
    first = min(record["rows"], key=lambda r: (r["t_low"], r["num_points"]))
    by_point, widths = smallest_set_by_point("two_moons", first["num_points"], (first["t_low"], first["t_high"]))
    assert widths[0] < widths[1] < 0.05  # √(1 − ᾱ_t) at t = 0 and 9
    # the per-point losses average to the table's (the same 20,000 draws, seed 0)
    weights = [1.0] * len(by_point)  # x_0 is uniform over the points: equal shares up to the draws
    mean = sum(w * lo for w, (lo, _) in zip(weights, by_point)) / len(by_point)
    assert mean == pytest.approx(first["train_optimum"], rel=0.05)
    crowded = [d for lo, d in by_point if lo >= 1e-6]
    alone = [d for lo, d in by_point if lo < 1e-6]
    assert crowded and alone and max(crowded) < min(alone)  # the loss sits on the points with a near neighbour
    assert "Why the optimum's training loss is not 0" in words and "view 3's $N = 8$" in words


def test_views_2_and_3_are_compared_at_the_n_they_share(tab):
    _, words, record = tab.training_dynamics("two_moons")
    assert "At $N = 16$ and $t \\in [0, 10)$" in words and "as expected from the other held-out points" in words


def test_the_training_curves_name_both_n(tab):
    image, words, record = tab.training_dynamics("two_moons")
    assert isinstance(image, Image.Image)
    for run in record["runs"]:
        assert f"$N = {run['num_points']:,}$".replace(",", "{,}") in words


def test_the_local_view_compares_three_samplers_from_one_seed(tab):
    samples, curves, words, summary = tab.local_posterior(3, 5, False)
    assert isinstance(samples, Image.Image) and isinstance(curves, Image.Image)
    assert len(summary["timesteps"]) == len(summary["r2_local"]) == len(summary["r2_exact"]) == LOCAL_STEPS
    assert summary["patch_sizes"] == [5] * LOCAL_STEPS
    exact = summary["samplers"]["exact"]
    assert exact["copy"] and exact["ratio"] < COPY_RATIO  # the exact posterior only gives back training digits
    for name in ("model", "local", "exact"):
        row = summary["samplers"][name]
        assert row["copy"] == (row["d1"] < COPY_RATIO * row["d2"])
    assert "Seed 3" in words and "$P = 5$ at every step" in words
    # the UNet's run is cached per seed: a second patch size reuses it, and the exact curve is the same
    again = tab.local_posterior(3, 9, False)[3]
    assert again["r2_exact"] == summary["r2_exact"] and again["patch_sizes"] == [9] * LOCAL_STEPS


def test_the_whole_image_patch_is_the_exact_posterior_mean_and_copies(tab):
    """At P = 63 every pixel sees the whole image: the local x̂0 is E[x0 | x_t] at every step (the same r² curve);
    its sampler steps with one Gaussian around that mean (the exact sampler draws from the mixture), and copies."""
    summary = tab.local_posterior(1, 63, False)[3]
    r2 = [(a, b) for a, b in zip(summary["r2_local"], summary["r2_exact"]) if a is not None and b is not None]
    assert r2 and all(abs(a - b) < 1e-3 for a, b in r2)
    assert summary["samplers"]["local"]["copy"] and summary["samplers"]["exact"]["copy"]


def test_without_a_calibrated_table_the_caption_says_so(tab):
    assert tab.patch_table() is None  # the tiny model's folder ships none
    words = tab.local_posterior(0, 7, True)[2]
    assert "$P = 7$ (this model ships no calibrated table)" in words


@pytest.mark.parametrize(
    "args, message",
    [
        ((0, 4, False), r"patch_size must be an odd integer in \[1, 63\]"),
        ((0, 65, False), r"patch_size must be an integer in \[1, 63\]"),
        ((0, 5, "yes"), "calibrated must be true or false"),
        ((-1, 5, False), "seed must be"),
    ],
)
def test_bad_local_values_are_refused_by_name(tab, args, message):
    with pytest.raises(gr.Error, match=message):
        tab.local_posterior(*args)


def test_the_r2_plot_is_unclipped(tab):
    summary = tab.local_posterior(3, 5, False)[3]
    fig = plot_r2_curves(summary["timesteps"], [[v] for v in summary["r2_local"]], [[v] for v in summary["r2_exact"]])
    assert_layout_ok(fig)


def test_the_fitted_patch_size_is_said_to_mean_something_only_where_p_changes_r2():
    import json

    from pipelines.exact.heldout_seed import FIT_THRESHOLD, patch_fit
    from ui.text.mechanism import local_intro

    fit = patch_fit("models/ddpm-mnist")
    record = json.loads(open("models/ddpm-mnist/local_patch_sizes.json").read())
    spread = {t: max(r) - min(r) for t, r in zip(record["timesteps"], record["r2"])}
    assert all(spread[t] >= FIT_THRESHOLD for t in spread if t <= fit["t_star"])
    assert all(spread[t] < FIT_THRESHOLD for t in spread if t > fit["t_star"])
    assert fit["above"] < FIT_THRESHOLD <= fit["spread"][0]
    words = local_intro("digit", fit)
    assert f"Below $t \\approx {fit['t_star']}$ the fit means something" in words
    assert "Above $t \\approx 900$" not in words  # the old claim, which the staircase contradicted
    assert "no better than predicting every pixel as $\\bar y$" in words and "flat grey" not in words
    assert '**LS machine**, "local score"' in words and '**ELS machine**, "equivariant' in words


def test_the_shipped_record_marks_els_as_the_weaker_column_and_shows_a_held_out_seed():
    import json

    from pipelines.exact.heldout_seed import load_heldout
    from ui.mechanism_records import record_text

    record = json.loads(open("models/ddpm-mnist/denoisers.json").read())
    heldout = load_heldout("models/ddpm-mnist")
    words = record_text(record, "the page's UNet", "digit", heldout)
    assert heldout["seed"] not in heldout["calibration_seeds"]
    assert f"LS, seed {heldout['seed']}" in words and "which the fit never saw" in words
    assert "partly in-sample" in words
    assert "**ELS column is the weaker, smaller measurement**" in words and "not one fitted for ELS" in words
    assert f"ELS, seed 0 ({record['equivariant_subset']['images_compared']} digits: smaller)" in words


def test_the_puzzle_heading_and_the_means_it_names():
    from ui.text.mechanism import PUZZLE

    assert "## Why doesn't the trained $p_\\theta$ copy?" in PUZZLE
    assert "Training learns the exact mean" not in PUZZLE  # no tab says it in those words
    assert "E[x_{t-1}\\mid x_t]=\\tilde\\mu(x_t,E[x_0\\mid x_t])" in PUZZLE
