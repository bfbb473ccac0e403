"""The "Which variance for p_θ?" tab (ui/tab_variance.py) with the tiny random 1×32×32 model, and σ*² (variance
"analytic") through /sample: the served images are the library's, pixel for pixel."""

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.app_server import serve_app
from helpers.figure_layout import assert_layout_ok
from pipelines.ddpm.optimal_variance import GAMMA_FILE
from pipelines.exact.plots import plot_chain_variances
from ui.tabs.variance import VarianceTab

TIMEOUT_S = 300


@pytest.fixture(scope="module")
def gamma_dir(app_model_dir, tmp_path_factory):
    """The tiny model folder with a Γ_t file (Γ rising from 0.6 to 1: a model less sure of ε at small t)."""
    folder = tmp_path_factory.mktemp("with-gamma") / "model"
    shutil.copytree(app_model_dir, folder)
    (folder / GAMMA_FILE).write_text(json.dumps({"gamma": np.linspace(0.6, 1.0, 1000).tolist()}))
    return folder


@pytest.fixture(scope="module")
def gamma_ctx(gamma_dir, tmp_path_factory):
    import app
    from ui.context import AppContext
    from ui.files import RunStore

    pipe = app.load_model(str(gamma_dir), device="cpu")
    return AppContext(pipe=pipe, model_id="tiny+gamma", store=RunStore(root=tmp_path_factory.mktemp("runs")))


def test_the_chain_summary_holds_every_variance_per_step(gamma_ctx):
    tab = VarianceTab(gamma_ctx)
    image, words, summary = tab.variance(6, 0)
    K = 6
    assert isinstance(image, Image.Image)
    assert summary["timesteps"] == gamma_ctx.pipe.scheduler.timestep_plan(K).tolist()
    for key in ("beta_tilde", "beta", "sigma2_exact", "sigma2_model", "gamma_exact", "true_trajectory"):
        assert len(summary[key]) == K, key
    true_mean = np.asarray(summary["true_q"]).mean(1)
    # Bao et al.: σ*² with the exact Γ_t is the x_t-average of the true step's variance (η = 1)
    assert np.allclose(summary["sigma2_exact"], true_mean, rtol=1e-9, atol=1e-15)
    noisy = slice(0, K - 1)  # the last step goes to x_0: no noise in any sampler
    assert all(b >= s > 0 for b, s in zip(summary["beta"][noisy], summary["beta_tilde"][noisy]))
    assert all(v >= s * (1 - 1e-6) for v, s in zip(summary["sigma2_model"][noisy], summary["beta_tilde"][noisy]))
    assert summary["sigma2_model"][-1] == 0.0 and summary["gamma_missing_command"] is None
    assert "6-step chain" in words and r"$\tilde\beta_{t|s}$" in words
    # the other half of the story, computed by the 2-D tab's own function: β̃ too narrow between the two moons
    assert "2-D world" in words and "too narrow" in words and "the **average** over" in words
    assert tab.variance(6, 0)[2] is summary  # cached per (K, seed)


def test_the_plot_draws_every_curve_unclipped(gamma_ctx):
    summary = VarianceTab(gamma_ctx).variance(4, 1)[2]
    fig = plot_chain_variances(summary)
    assert_layout_ok(fig)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert len(labels) == 6 and any("model" in label for label in labels)


def test_without_a_gamma_file_the_caption_says_so_and_the_summary_names_the_command(ctx):
    image, words, summary = VarianceTab(ctx).variance(3, 0)
    assert summary["sigma2_model"] == [] and "no file of $\\Gamma_t$" in words
    assert "python -m" not in words  # no shell command on the page; a program calling /variance gets it:
    assert summary["gamma_missing_command"].startswith("python -m pipelines.ddpm.gamma --model")


def test_the_legend_promises_only_what_is_drawn():
    """The draws' range is shaded, and the legend says so, only when it is wide enough to see; else the legend says
    how close the draws are. Every legend entry is a curve or marker set of the plot."""
    from matplotlib.collections import PolyCollection

    from pipelines.exact.plots import SHADE_MIN_SPREAD

    ts, K = [900, 600, 300, 0], 4
    base = {"timesteps": ts, "prev_timesteps": ts[1:] + [-1], "beta": [0.9, 0.5, 0.2, 0.1],
            "beta_tilde": [0.8, 0.4, 0.1, 0.0], "sigma2_exact": [0.8, 0.4, 0.1, 0.0]}  # fmt: skip
    for spread, shaded in ((1.004, False), (SHADE_MIN_SPREAD * 1.5, True)):
        true_q = [[v, v * spread] for v in (0.8, 0.4, 0.1, 1e-4)]
        fig = plot_chain_variances({**base, "true_q": true_q})
        assert_layout_ok(fig)
        labels = [t.get_text() for t in fig.legends[0].get_texts()]
        fills = [c for c in fig.axes[0].collections if isinstance(c, PolyCollection)]
        assert bool(fills) == shaded and ("range shaded" in labels[0]) == shaded, labels[0]
        if not shaded:
            assert "agree within 0.4%" in labels[0]
        assert len(labels) == K and "Ho et al." in labels[2]


def test_the_caption_writes_small_numbers_in_latex_and_says_what_it_checks():
    from ui.tabs.variance import ChainReading
    from ui.text import variance as text

    reading = ChainReading(40, 25.0, 9.89e-5, 0.385, 0.998, 25, True, 90.3, 25, draw_spread=1.005)
    words = text.caption(reading, "digit")
    assert "$9.89\\times10^{-5}$ to 0.385" in words and "e-05" not in words
    assert "**width**" in words and "2-D world" in words and "best Gaussian" in words
    assert "too close to draw as a range" in words


@pytest.mark.parametrize("steps, seed", [(0, 0), (201, 0), (2.5, 0), (5, -1)])
def test_bad_values_are_refused_by_name(ctx, steps, seed):
    import gradio as gr

    with pytest.raises(gr.Error, match="num_inference_steps must be|seed must be"):
        VarianceTab(ctx).variance(steps, seed)


@pytest.fixture(scope="module")
def client(gamma_dir, tmp_path_factory):
    from gradio_client import Client

    with serve_app(gamma_dir, log_path=tmp_path_factory.mktemp("log") / "app.log") as url:
        yield Client(url, verbose=False)


def test_sample_with_sigma_star_is_the_library_pixel_for_pixel(client, gamma_dir):
    from pipelines import PosteriorDDPMPipeline

    pipe = PosteriorDDPMPipeline.from_pretrained(gamma_dir).use_channels_last()
    pipe.set_progress_bar_config(disable=True)
    for eta in (1.0, 0.0):
        out = client.submit(
            seed=4,
            num_images=2,
            num_inference_steps=5,
            eta=eta,
            timestep_spacing="leading",
            variance="analytic",
            order=1,
            api_name="/sample",
        ).result(timeout=TIMEOUT_S)
        served = np.stack([np.asarray(Image.open(item["image"])) for item in out[3]])
        expected = pipe(2, torch.Generator().manual_seed(4), 5, eta, variance_type="analytic", output_type="np").images
        assert np.array_equal(served, (expected[..., 0] * 255).round().astype(np.uint8)), eta
        assert out[6]["variance"] == "analytic"


def test_the_variance_endpoint(client):
    image, words, summary = client.predict(num_inference_steps=4, seed=0, api_name="/variance")
    assert Image.open(image).size[0] > 400 and len(summary["sigma2_model"]) == 4 and "4-step chain" in words


def test_both_tabs_quote_one_computation_of_the_others_default():
    """The variance tab's 2-D numbers are the 2-D tab's default view's; the 2-D tab's MNIST numbers are this tab's
    default chain's (the same chain_variances draws)."""
    from pipelines import toy2d
    from pipelines.exact.posterior import DatasetPosterior
    from ui.tabs import toy
    from ui.tabs.variance import step_variances, toy_default_step

    points = toy2d.load_points(toy2d.DEFAULT_DATASET, toy2d.DEFAULT_NUM_POINTS)
    posterior = DatasetPosterior(toy2d.as_images(points), toy2d.toy_scheduler())
    view = toy2d.toy_step_view(
        posterior,
        toy2d.load_toy_model(toy2d.DEFAULT_DATASET),
        (toy.DEFAULT_X, toy.DEFAULT_Y),
        toy.DEFAULT_T,
        toy.DEFAULT_STRIDE,
    )
    quoted = toy_default_step()
    assert quoted["ratios"] == step_variances(view)["ratios"] and quoted["t"] == toy.DEFAULT_T
    assert quoted["ratios"]["fixed_small"] < 0.5 < quoted["ratios"]["fixed_large"]  # β̃ too narrow there


def test_the_2d_tab_quotes_this_tabs_default_chain(ctx):
    from ui.context import DEFAULT_NUM_INFERENCE_STEPS
    from ui.tabs.variance import default_chain_reading, read_chain

    K = min(DEFAULT_NUM_INFERENCE_STEPS, ctx.num_train_timesteps)
    own = read_chain(VarianceTab(ctx).chain(K, 0), ctx.num_train_timesteps)
    quoted = default_chain_reading(ctx)
    assert (quoted.small_ratio, quoted.large_ratio) == (own.small_ratio, own.large_ratio)


def test_the_words_are_written_for_the_data_shown():
    from ui.tabs.variance import ChainReading, caption
    from ui.text import variance as text

    reading = ChainReading(5, 200.0, 0.01, 0.5, 0.8, 600, False, 3.0, 20, 2.0, 400, 1.5, 300)
    for noun, other in (("digit", "image"), ("image", "digit")):
        words = text.intro("4,500", noun) + text.caption(reading, noun)
        assert "4,500 training " + noun + "s" in words and "no training " + noun in words and other not in words
    assert "too narrow by up to 20% (at $t = 600$)" in text.caption(reading, "digit")
    one_step = {"timesteps": [999], "prev_timesteps": [-1]}
    assert caption(one_step, 1000) == text.NO_NOISY_STEP


def test_the_stride_is_exact_when_the_steps_are_equal_and_about_otherwise():
    """K = 40 visits 975, 950, …, 0: strides of 25, no "about"; trailing K = 30 rounds T/K = 33.3 to 33 or 34."""
    from pipelines.ddpm.schedule import plan_timesteps
    from ui.tabs.variance import ChainReading
    from ui.text import variance as text

    equal = ChainReading(40, 25.0, 9.89e-5, 0.385, 0.998, 25, True, 90.3, 25, timesteps=tuple(range(975, -1, -25)))
    words = text.caption(equal, "digit")
    assert "strides of 25 timesteps" in words and "about 25" not in words
    assert text.stride_words(equal) == "25"
    trailing = tuple(int(t) for t in plan_timesteps(1000, "trailing", 0, 30))
    uneven = ChainReading(30, 1000 / 30, 0.01, 0.5, 0.998, 25, True, 3.0, 25, timesteps=trailing)
    assert len({a - b for a, b in zip(trailing, trailing[1:])}) > 1 and text.stride_words(uneven) == "about 33"


def test_the_intro_sets_numbers_and_d_in_latex():
    from ui.text import variance as text

    words = text.intro("4,500", "digit", "1,024")
    assert "$D = 1{,}024$ numbers in one digit" in words and "stands in here for the true one" in words
