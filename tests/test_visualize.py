"""pipelines.visualize: grids put each image where it belongs, GIFs and filmstrips hold the steps asked for,
the schedule plot shows the scheduler's own tables."""

import numpy as np
import pytest
import torch
from PIL import Image

from pipelines import PosteriorDDPMScheduler
from pipelines.visualize import (
    evenly_spaced,
    grid_uint8,
    make_filmstrip,
    make_grid,
    make_trajectory_gif,
    plot_schedule,
    schedule_curves,
    to_uint8,
)


def steps(K=7, B=3, H=5, W=4, C=1, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(K, B, H, W, C), dtype=np.uint8)


@pytest.mark.parametrize("channels, mode", [(1, "L"), (3, "RGB")])
def test_grid_places_every_image_with_padding(channels, mode):
    images = steps(K=1, B=5, C=channels)[0]
    grid = grid_uint8(images, nrow=3, padding=2, scale=2)
    assert grid.mode == mode and grid.size == ((3 * (4 + 2) + 2) * 2, (2 * (5 + 2) + 2) * 2)
    array = np.asarray(grid).reshape(grid.height, grid.width, channels)[::2, ::2]  # undo the ×2 upscale
    for i in range(5):
        r, c = divmod(i, 3)
        y, x = 2 + r * 7, 2 + c * 6
        assert np.array_equal(array[y : y + 5, x : x + 4], images[i])
    assert (array[0] == 255).all() and (array[:, 0] == 255).all()  # white padding


def test_make_grid_maps_model_space_to_pixels():
    x = torch.tensor([-1.0, 0.0, 1.0, 3.0]).reshape(1, 1, 2, 2)
    assert to_uint8(x, model_space=True).ravel().tolist() == [0, 128, 255, 255]  # clamped, rounded
    grid = make_grid(x, padding=0, model_space=True)
    assert np.asarray(grid).tolist() == [[0, 128], [255, 255]]


def test_evenly_spaced_includes_both_ends_and_never_repeats():
    assert evenly_spaced(50, 10)[0] == 0 and evenly_spaced(50, 10)[-1] == 49 and len(evenly_spaced(50, 10)) == 10
    assert evenly_spaced(4, 10) == [0, 1, 2, 3]
    assert evenly_spaced(1, 10) == [0]
    with pytest.raises(ValueError, match="num_steps"):
        evenly_spaced(0, 3)


def test_trajectory_gif_has_one_frame_per_picked_step_and_loops(tmp_path):
    xt, x0 = steps(K=7), steps(K=7, seed=1)
    path = make_trajectory_gif(xt, x0, [f"step {k}" for k in range(7)], tmp_path / "t.gif", max_frames=4)
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.n_frames == 4 and gif.info.get("loop") == 0


def test_filmstrip_has_a_column_per_picked_step():
    xt, x0 = steps(K=30, B=3), steps(K=30, B=3, seed=1)
    few = make_filmstrip(xt, x0, [str(k) for k in range(30)], num_frames=3, max_images=2)
    more = make_filmstrip(xt, x0, [str(k) for k in range(30)], num_frames=6, max_images=2)
    assert more.width > few.width and more.height == few.height
    with pytest.raises(ValueError, match="captions"):
        make_filmstrip(xt, x0, ["only one"])


def test_schedule_plot_shows_the_scheduler_tables_and_marks_t():
    scheduler = PosteriorDDPMScheduler(num_train_timesteps=1000)
    curves = schedule_curves(scheduler)
    assert np.allclose(curves["alphas_cumprod"], scheduler.alphas_cumprod.double().numpy())
    assert np.allclose(curves["snr"], curves["alphas_cumprod"] / (1 - curves["alphas_cumprod"]))
    figure = plot_schedule(scheduler, t=400, timesteps=[900, 400, 0])
    assert "t = 400" in figure.get_suptitle()
    for ax in figure.axes:
        assert any(list(line.get_xdata()) == [400, 400] for line in ax.get_lines())  # the marker at t
