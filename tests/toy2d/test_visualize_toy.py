"""pipelines.toy2d.plots and plot_cache: every 2-D picture renders whole — no title, label, tick label or legend
entry clipped or overlapping (the clipping guard) — and a click on the plane maps linearly to the point it shows."""

import pytest
import torch

from helpers.figure_layout import assert_layout_ok
from pipelines import toy2d
from pipelines.exact.comparisons import compare_samplers
from pipelines.exact.posterior import DatasetPosterior
from pipelines.toy2d.plot_cache import draw_toy_plane, draw_toy_step
from pipelines.toy2d.plots import (
    PLANE_AXES_LEFT,
    PLANE_AXES_SIZE,
    PLANE_AXES_TOP,
    PLANE_LIMIT,
    pixel_to_plane,
    plane_to_pixel,
    plot_toy_plane,
    plot_toy_samplers,
    plot_toy_step,
    plot_toy_training,
)


@pytest.fixture(scope="module")
def posterior():
    return DatasetPosterior(toy2d.as_images(toy2d.load_points("two_moons", 256)), toy2d.toy_scheduler())


@pytest.fixture(scope="module")
def model():
    return toy2d.load_toy_model("two_moons")


# the default point of the tab, a point far out where the zoom is wide, and a late step near one training point
VIEWS = [((0.0, 0.0), 60, 50), ((1.9, -1.9), 900, 800), ((0.5, 0.3), 5, 5)]


@pytest.mark.parametrize("x_t, t, stride", VIEWS)
def test_the_plane_and_the_zoomed_step_are_whole(posterior, model, x_t, t, stride):
    view = toy2d.toy_step_view(posterior, model, x_t, t, stride, num_draws=2000)
    assert_layout_ok(plot_toy_plane(view), f"plane at {x_t}, t = {t}")
    assert_layout_ok(plot_toy_step(view), f"zoomed step at {x_t}, t = {t}")


def test_the_fast_pictures_are_the_figures_pictures(posterior, model):
    """draw_toy_plane / draw_toy_step (a kept background, only the changing artists drawn over it) show what
    plot_toy_plane / plot_toy_step show, for one view after another (nothing of the previous view is left)."""
    import numpy as np

    from pipelines.pictures.render import drawn

    views = [toy2d.toy_step_view(posterior, model, x_t, t, stride, num_draws=1000) for x_t, t, stride in VIEWS]
    for fast, full in ((draw_toy_plane, plot_toy_plane), (draw_toy_step, plot_toy_step)):
        for view in views + views[:1]:
            quick, whole = np.asarray(drawn(fast, view), float), np.asarray(drawn(full, view), float)
            assert quick.shape == whole.shape
            assert np.abs(quick - whole).mean() < 0.5, f"{fast.__name__} at t = {view.t}"  # grey levels of 255


def test_the_plane_sits_where_a_click_says(posterior, model):
    fig = plot_toy_plane(toy2d.toy_step_view(posterior, model, (0.0, 0.0), 60, 50, num_draws=1000))
    ax = fig.axes[0]
    fig.canvas.draw()
    box = ax.get_window_extent()  # pixels, origin at the bottom
    height = fig.bbox.height
    assert (box.x0, height - box.y1, box.width) == pytest.approx((PLANE_AXES_LEFT, PLANE_AXES_TOP, PLANE_AXES_SIZE))
    for x, y in [(1.0, 1.0), (-PLANE_LIMIT, PLANE_LIMIT), (0.3, -1.2)]:
        column, row = plane_to_pixel(x, y)
        display = ax.transData.transform((x, y))
        assert (column, row) == pytest.approx((display[0], height - display[1]), abs=0.5)
        assert pixel_to_plane(column, row) == pytest.approx((x, y))


def test_the_samplers_picture_is_whole(posterior, model):
    comparison = compare_samplers(
        toy2d.toy_pipeline(model), posterior, seed=0, num_images=64, num_inference_steps=10, num_trajectories=2
    )
    points = toy2d.as_points(posterior.data)
    assert_layout_ok(plot_toy_samplers(points, comparison), "samplers")


@pytest.mark.parametrize("done", [0, 40, 300])
def test_the_training_picture_is_whole_at_every_stage(done):
    points = toy2d.load_points("spiral", 64)
    losses = torch.linspace(1.0, 0.3, done).tolist()
    samples = None if done == 0 else toy2d.load_points("spiral", 300).tolist()
    assert_layout_ok(plot_toy_training(losses, points, samples, done, 300, 256), f"training after {done}")
