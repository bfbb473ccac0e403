"""pipelines.pictures.images: grids put each image where it belongs, GIFs and filmstrips hold the steps asked for,
the schedule plot shows the scheduler's own tables."""

import numpy as np
import pytest
import torch
from PIL import Image

from pipelines import PosteriorDDPMScheduler
from pipelines.ddpm.plots import plot_schedule, schedule_curves
from pipelines.pictures.images import (
    evenly_spaced,
    grid_uint8,
    labelled_row,
    make_filmstrip,
    make_grid,
    make_trajectory_gif,
    to_uint8,
    trajectory_frame,
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
    assert "$t$ = 400" in figure.get_suptitle()
    for ax in figure.axes:
        assert any(list(line.get_xdata()) == [400, 400] for line in ax.get_lines())  # the marker at t


def test_schedule_plot_shows_the_runs_own_strided_step_beside_the_one_step_values():
    """The header labels the one-step β_t, β̃_t (t → t−1) and the run's own step t → s with β_{t|s}, β̃_{t|s}; the
    log panel marks β_{t|s} at each step of the run and β̃_{t|s} at each noisy one; the last step (to x_0) adds no
    noise."""
    from pipelines.ddpm.plots import chain_steps

    scheduler = PosteriorDDPMScheduler(num_train_timesteps=1000)
    a = scheduler.alphas_cumprod.double().numpy()
    run = [999, 899, 799, 699, 599, 499, 399, 299, 199, 99]
    steps = chain_steps(a, run)
    assert np.allclose(steps["beta"][:-1], 1 - a[run[:-1]] / a[run[1:]])
    assert np.allclose(steps["beta_tilde"][:-1], (1 - a[run[1:]]) / (1 - a[run[:-1]]) * steps["beta"][:-1])
    assert steps["s"][-1] == -1 and steps["beta_tilde"][-1] == 0  # ᾱ_s = 1 for x_0
    one = chain_steps(a, list(range(999, -1, -1)))  # s = t − 1: Ho et al.'s β_t and β̃_t
    # ᾱ is float32: the ratio of two neighbours carries its rounding (1e-4 relative at small β)
    assert np.allclose(one["beta"][:-1], scheduler.betas.double().numpy()[999:0:-1], rtol=1e-3)
    assert np.allclose(one["beta_tilde"][:-1], scheduler.posterior_variance.double().numpy()[999:0:-1], rtol=1e-3)
    header = plot_schedule(scheduler, t=199, timesteps=run).get_suptitle()
    assert "one step $t\\to t-1$" in header and "199 → 99" in header
    assert f"$\\beta_{{t|s}}$ = {steps['beta'][8]:.3g}" in header
    assert f"$\\tilde\\beta_{{t|s}}$ = {steps['beta_tilde'][8]:.3g}" in header
    assert "it adds no noise" in plot_schedule(scheduler, t=99, timesteps=run).get_suptitle()
    figure = plot_schedule(scheduler, t=99, timesteps=run)
    # β_{t|s} at every step, the last (to x_0, β_{t|s} = 1 − ᾱ_t) too; β̃_{t|s} at the noisy ones, its 0 on the last
    # step named in the legend instead (a log axis cannot draw it)
    (beta,) = [line for line in figure.axes[1].get_lines() if line.get_label().startswith(r"$\beta_{t|s}$")]
    (tilde,) = [line for line in figure.axes[1].get_lines() if line.get_label().startswith(r"$\tilde\beta_{t|s}$")]
    assert list(beta.get_xdata()) == run and np.allclose(beta.get_ydata(), steps["beta"])
    assert np.isclose(beta.get_ydata()[-1], 1 - a[99])
    assert list(tilde.get_xdata()) == run[:-1] and "0 on the last" in tilde.get_label()
    assert "\n" not in plot_schedule(scheduler, t=500).get_suptitle()  # no run: the one-step values only


# ---------------------------------------------------------------------------------------------- text in pictures
def ink_box(picture: Image.Image, top: int = 0, bottom: int | None = None):
    """The bounding box (left, top, right, bottom) of the dark pixels in rows [top, bottom) of a picture."""
    gray = np.asarray(picture.convert("L"))[top:bottom]
    rows, cols = np.nonzero(gray < 128)
    assert len(rows), "no text drawn"
    return int(cols.min()), int(rows.min()) + top, int(cols.max()) + 1, int(rows.max()) + 1 + top


WHITE = np.full((32, 32, 1), 255, dtype=np.uint8)
CAPTIONS = [
    "step 1 / 40, t = 975 → 950",
    "x_t",
    "xₜ₋₁",
    "x̂0",
    "x̂₀",
    "99→x₀",
    "d₁/d₂ 0.45",
    "t = 999",
    "#4499",
    "exact",
    "copy of #4499, d = 0.00",
]


@pytest.mark.parametrize("caption", CAPTIONS)
@pytest.mark.parametrize("scale", [1, 3])
def test_a_caption_lies_whole_in_its_strip_above_the_image(caption, scale):
    """Every pixel of the caption's ink is inside the picture, clear of its edges and of the image below it (a
    white image here, so any dark pixel is text), however short the image is."""
    picture = labelled_row([WHITE], [caption], scale=scale)
    strip = picture.height - 32 * scale
    left, top, right, bottom = ink_box(picture)
    assert left >= 1 and top >= 1 and right <= picture.width - 1 and bottom <= strip - 1, (caption, picture.size)


def test_the_underscore_of_x_t_is_drawn_inside_the_strip():
    """ "x_t" must not read as "x t": its ink reaches below the baseline of "xt" (the underscore), inside the strip."""
    low = {name: ink_box(labelled_row([WHITE], [name], scale=2))[3] for name in ("x_t", "xt")}
    picture = labelled_row([WHITE], ["x_t"], scale=2)
    assert low["xt"] < low["x_t"] <= picture.height - 64 - 1


def test_the_hat_of_x_hat_0_is_drawn_inside_the_strip():
    hat, plain = (ink_box(labelled_row([WHITE], [name]))[1] for name in ("x̂0", "x0"))
    assert 1 <= hat < plain


def test_trajectory_frame_title_and_captions_are_whole():
    """The app's frame: 16 images, scale 2, titled "step 1 / 40, t = 975" above the "x_t" and "x̂0" captions."""
    white = np.full((16, 32, 32, 1), 255, dtype=np.uint8)
    frame = trajectory_frame(white, white, "step 1 / 40, t = 975", scale=2)
    left, top, right, bottom = ink_box(frame)
    assert left >= 1 and top >= 1 and right <= frame.width - 1
    grid = grid_uint8(white, scale=2)
    # title strip + caption strip + grid: all ink in the two strips above the grids
    assert bottom <= frame.height - grid.height - 1
    # the title's ink and the captions' ink do not touch: a white row separates them
    gray = np.asarray(frame.convert("L"))[: frame.height - grid.height]
    ink_rows = np.nonzero((gray < 128).any(axis=1))[0]
    assert (np.diff(ink_rows) > 1).any(), "title and captions run into each other"


def test_a_long_caption_widens_its_picture_instead_of_being_cut():
    picture = labelled_row([WHITE], ["a caption much wider than a 32-pixel digit"], scale=1)
    assert picture.width > 32
    assert ink_box(picture)[2] <= picture.width - 1


def test_filmstrip_row_names_and_step_captions_are_whole():
    white = np.full((30, 3, 32, 32, 1), 255, dtype=np.uint8)
    strip = make_filmstrip(white, white, [f"t = {999 - k}" for k in range(30)], num_frames=10, max_images=2)
    left, top, right, bottom = ink_box(strip)
    assert left >= 1 and top >= 1 and right <= strip.width - 1 and bottom <= strip.height - 1
