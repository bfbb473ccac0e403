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


def test_the_loss_gap_caption_says_what_the_table_says(tab):
    image, words, record = tab.loss_gap("two_moons")
    first = min((r["t_low"], r["t_high"]) for r in record["rows"])  # the caption reads the smallest-t band
    rows = [r for r in record["rows"] if (r["t_low"], r["t_high"]) == first]
    assert f"$t$ in [{first[0]}, {first[1]})" in words
    assert isinstance(image, Image.Image) and len(rows) >= 2
    if all(r["train_optimum"] < r["train_network"] for r in rows):
        assert "lower than the network's at every $N$" in words
    worse = [r for r in rows if r["heldout_optimum"] > r["heldout_network"]]
    assert f"at {len(worse)} of {len(rows)} $N$" in words if worse else "no worse" in words


def test_the_training_curves_name_both_n(tab):
    image, words, record = tab.training_dynamics("two_moons")
    assert isinstance(image, Image.Image)
    for run in record["runs"]:
        assert f"$N = {run['num_points']:,}$" in words


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
