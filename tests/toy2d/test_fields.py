"""denoiser_fields: the exact denoiser E[x_0 | x_t] and the network's x̂_0 on a grid over the plane."""

import json

import pytest
import torch

from pipelines import toy2d
from pipelines.exact.neighbours import nearest_distances
from pipelines.exact.posterior import DatasetPosterior
from pipelines.toy2d.fields import denoiser_fields
from pipelines.transition import ladders

POINTS = ladders.pool("two_moons")[:8]


@pytest.fixture(scope="module")
def untrained():
    return toy2d.new_toy_model(seed=0, hidden_size=16, num_layers=1).eval()


def test_shapes_grid_and_both_fields(untrained):
    f = denoiser_fields(untrained, POINTS, t=300, grid=5, extent=0.5)
    assert f.axis.shape == (5,) and f.axis[0] == -0.5 and f.axis[-1] == 0.5
    assert f.x_t.shape == f.exact.shape == f.network.shape == (5, 5, 2)
    assert f.exact_distance.shape == f.network_distance.shape == (5, 5)
    assert torch.equal(f.x_t[1, 3], torch.stack([f.axis[3], f.axis[1]]))  # x along a row, y down the rows
    x_t = f.x_t.reshape(-1, 2)
    exact = DatasetPosterior(toy2d.as_images(POINTS), toy2d.toy_scheduler()).predict_x0(toy2d.as_images(x_t), 300)
    assert torch.allclose(f.exact.reshape(-1, 2), exact.reshape(-1, 2).double())
    with torch.no_grad():
        eps = untrained(toy2d.as_images(x_t.float()), 300).sample.reshape(-1, 2).double()
    expected = toy2d.toy_scheduler().predict_x0(eps, x_t, 300)
    assert torch.allclose(f.network.reshape(-1, 2), expected, atol=1e-5)
    assert torch.allclose(f.exact_distance.flatten(), nearest_distances(f.exact.reshape(-1, 2), POINTS))
    assert json.loads(json.dumps(f.as_dict()))["t"] == 300


def test_at_small_t_the_exact_field_snaps_to_training_points_and_the_network_does_not():
    folder = ladders.pair_folder(ladders.DEFAULT_OUTPUT, "two_moons", 64)
    if not (folder / "a" / "config.json").is_file():
        pytest.skip("no shipped two_moons pair at N = 64")
    model, indices = ladders.load_pair_model(folder, "a")
    f = denoiser_fields(model, ladders.pool("two_moons")[indices], t=0, grid=21)
    exact, network = f.exact_distance.flatten(), f.network_distance.flatten()
    assert (exact < 1e-3).double().mean() > 0.9 and exact.median() < 1e-6
    assert (network < 1e-3).double().mean() < 0.05 and network.median() > 1e-2


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"t": 1000}, r"t must be an integer in \[0, 999\]"),
        ({"t": 0, "grid": 1}, r"grid must be an integer in \[2, 401\]"),
        ({"t": 0, "extent": 0.0}, r"extent must be a number in \[1e-06, 10\]"),
    ],
)
def test_bad_arguments(untrained, kwargs, words):
    with pytest.raises(ValueError, match=words):
        denoiser_fields(untrained, POINTS, **kwargs)
    with pytest.raises(ValueError, match=r"points must have shape \(N, 2\) with N >= 2"):
        denoiser_fields(untrained, POINTS[:1], t=0)


def test_the_fields_plot_has_both_panels_titled_and_one_colour_scale(untrained):
    from helpers.figure_layout import assert_layout_ok
    from pipelines.toy2d.plots import FIELD_ARROWS, plot_denoiser_fields

    f = denoiser_fields(untrained, POINTS, t=10, grid=41)
    fig = plot_denoiser_fields(f, POINTS)
    assert_layout_ok(fig)
    exact, network, bar = fig.axes
    for ax, name, distance in ((exact, "exact", f.exact_distance), (network, "network", f.network_distance)):
        title = ax.get_title()
        assert title.startswith(name) and "$t$ = 10" in title and "$N$ = 8" in title
        assert rf"$\bar\alpha_t$ = {f.alpha_bar:.4f}" in title
        thinned = distance[::2, ::2]  # 41 per side thinned to 21
        assert f"nearest training point: {float(thinned.median()):.3f}" in title
        arrows = ax.collections[-1]
        assert len(arrows.get_offsets()) == FIELD_ARROWS**2
        assert ax.get_xlabel() == "first coordinate" and ax.get_ylabel() == "second coordinate"
    assert exact.collections[-1].norm is network.collections[-1].norm  # one colour scale
    assert "nearest training point" in bar.get_ylabel()


def test_the_fields_plot_refuses_bad_input(untrained):
    from pipelines.toy2d.plots import plot_denoiser_fields

    f = denoiser_fields(untrained, POINTS, t=10, grid=5)
    with pytest.raises(ValueError, match=r"points must have shape \(8, 2\)"):
        plot_denoiser_fields(f, POINTS[:4])
    with pytest.raises(ValueError, match="fields must be a DenoiserFields"):
        plot_denoiser_fields(f.as_dict(), POINTS)
    with pytest.raises(ValueError, match=r"data must have shape \(M, 2\)"):
        plot_denoiser_fields(f, POINTS, data=torch.zeros(5, 3))


def test_the_fields_plot_draws_the_data_behind_when_given(untrained):
    from helpers.figure_layout import assert_layout_ok
    from pipelines.toy2d.plots import plot_denoiser_fields

    pool = ladders.pool("two_moons")[:200]
    fig = plot_denoiser_fields(denoiser_fields(untrained, POINTS, t=20, grid=5), POINTS, data=pool)
    assert_layout_ok(fig)
    (legend,) = fig.legends  # one legend below both panels, over no arrow
    assert [text.get_text() for text in legend.get_texts()] == ["the data (pool)", "training points (N = 8)"]
    for ax in fig.axes[:2]:
        assert ax.get_legend() is None
        assert len(ax.collections[0].get_offsets()) == 200
