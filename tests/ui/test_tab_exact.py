"""The "Exact posterior sampler" tab (ui/tabs/exact.py) with the tiny random 1×32×32 model: the summary's
effective number of candidates per step, the held-out yardstick, the one cost protocol (measured once, the
extrapolation linear in N·D) and its plots; and, through the API, that /posterior and /exact_sample quote the same
cost numbers."""

import math
import time

import numpy as np
import pytest
from PIL import Image

from helpers.app_server import serve_app
from pipelines.data.sources import load_mnist
from pipelines.exact.comparisons import COMMIT_WEIGHT, heldout_nearest_distances
from pipelines.pictures.images import to_uint8
from ui.context import AppContext
from ui.files import RunStore
from ui.tabs.exact import ExactSamplerTab, exact_step_ms, step_costs
from ui.text import exact as text

TIMEOUT_S = 300
N = 4500  # the mnist train split


@pytest.fixture(scope="module")
def tab(ctx):
    return ExactSamplerTab(ctx)


@pytest.fixture(scope="module")
def run(tab):
    """One /exact_sample: 3 images, 5 steps (exact trajectories commit well before t = 0)."""
    return tab.exact_sample(0, 3, 5)


def test_effective_n_is_one_list_per_sample_one_value_per_step_from_about_n_down_to_one(run):
    summary = run[-1]
    exact = summary["exact"]
    effective_n, max_weight, timesteps = exact["effective_n"], exact["max_weight"], exact["timesteps"]
    assert len(timesteps) == 5 and timesteps == sorted(timesteps, reverse=True) and timesteps[-1] == 0
    assert len(effective_n) == len(max_weight) == 3
    assert all(len(row) == 5 for row in (*effective_n, *max_weight))
    for n_eff, w_max, commit in zip(effective_n, max_weight, exact["commit_step"]):
        assert all(1 - 1e-9 <= v <= N * (1 + 1e-9) for v in n_eff)
        assert n_eff[0] > 0.5 * N  # at the first step x_t is nearly noise: most digits are about as likely
        assert n_eff[-1] < 1.5 and w_max[-1] >= COMMIT_WEIGHT  # by the last step one digit has the weight
        assert commit is not None and w_max[commit] >= COMMIT_WEIGHT
        assert all(w < COMMIT_WEIGHT for w in w_max[:commit])
        assert all(1 / w <= n + 1e-6 for n, w in zip(n_eff, w_max))  # 1/Σw² ≤ 1/max w


def test_the_heldout_yardstick_is_the_median_distance_of_the_500_heldout_digits(run, ctx):
    summary = run[-1]
    heldout = load_mnist("heldout")[0]
    want = float(np.median(heldout_nearest_distances(heldout, ctx.dataset_posterior().data).numpy()))
    assert summary["num_heldout"] == 500
    assert summary["heldout_nearest_distance_median"] == pytest.approx(want, rel=1e-9)
    assert 3 < want < 20  # a real unseen digit is far from any training digit; a copy is at 0
    assert f"median {want:.2f}" in run[2]  # the caption quotes it


def test_the_cost_summary_is_measured_once_and_its_extrapolation_is_linear_in_n_times_d(run, ctx):
    cost = run[-1]["cost"]
    assert set(cost) >= {"measured", "ms_per_element", "model_ms", "extrapolated"}
    assert [r["N"] for r in cost["measured"]] == sorted(r["N"] for r in cost["measured"])
    assert cost["measured"][-1]["N"] == N and all(r["ms"] > 0 for r in cost["measured"])
    assert cost["model_ms"] > 0 and cost["ms_per_element"] > 0
    names = [e["name"] for e in cost["extrapolated"]]
    assert names[0] == "CIFAR-10" and any("ImageNet" in n for n in names) and any("LAION" in n for n in names)
    for e in cost["extrapolated"]:
        assert set(e) == {"name", "N", "D", "ms", "bytes"}
        assert e["ms"] / (e["N"] * e["D"]) == pytest.approx(cost["ms_per_element"], rel=1e-12)
        assert e["bytes"] == e["N"] * e["D"] * 4
    # Measured once per process: a second run quotes the very same numbers.
    start = time.perf_counter()
    again = ExactSamplerTab(ctx).exact_sample(1, 1, 1)[-1]["cost"]
    assert again == cost
    assert time.perf_counter() - start < 30


def test_measuring_costs_takes_a_few_seconds_at_most(app_model_dir, tmp_path):
    import app

    fresh = AppContext(
        pipe=app.load_model(str(app_model_dir), device="cpu"), model_id="tiny", store=RunStore(root=tmp_path / "runs")
    )
    fresh.mnist_train()
    start = time.perf_counter()
    costs = step_costs(fresh)
    assert time.perf_counter() - start < 10  # about 1 s on an idle 2-core machine
    assert exact_step_ms(costs, N) == costs.rows[-1]["ms"]


@pytest.fixture
def figures(monkeypatch):
    """The tab's plots as matplotlib Figures (not the PNGs the page gets), to read their axes and lines."""
    import ui.tabs.exact

    monkeypatch.setattr(ui.tabs.exact, "plot_output", lambda plot, *args, **kwargs: plot(*args, **kwargs))


def test_the_page_gets_each_plot_as_a_png(tab):
    figure, _ = tab.cost_plot()
    assert figure.plot.startswith("data:image/png;base64,")


def test_the_cost_plot_is_log_log_with_measured_points_fit_extrapolation_and_the_model(tab, figures):
    figure, note = tab.cost_plot()
    ax = figure.axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    lines = ax.get_lines()
    measured = [list(line.get_xdata()) for line in lines if line.get_marker() == "o"]
    assert measured == [[250, 500, 1000, 2000, N]]
    stars = [line.get_xdata()[0] for line in lines if line.get_marker() == "*"]
    assert len(stars) == 3
    labels = [line.get_label() for line in lines]
    assert any(label.startswith("fit c·N·D") for label in labels)
    assert any("model $p_\\theta$" in label and "M parameters" in label for label in labels)  # which model, its size
    squares = [list(line.get_xdata()) for line in lines if line.get_marker() == "s"]
    assert squares == [[10_000, 100_000, 1_000_000]] * 2  # the index lines: exact (flat) and compressed (ivf)
    from helpers.figure_layout import assert_layout_ok

    assert_layout_ok(figure, "the cost plot with the index lines")  # its legend hides nothing, nothing is clipped
    annotations = " ".join(child.get_text() for child in ax.texts)
    assert "LAION-400M" in annotations and "web-scale" in annotations and "TB" in annotations
    assert "measured in this app" in note and "tiny" in note
    # the diamond at this data set is in the legend; c is written as the page writes it (3 figures, mathtext)
    assert any(label.startswith("this app's data set:") for label in labels)
    assert any(f"$c = {fmt_c}" in label for label in labels for fmt_c in [f"{float(tab_c(tab)):.2e}".split("e")[0]])


def tab_c(tab):
    """The fitted c of the tab's cost measurement."""
    return step_costs(tab.ctx).ms_per_element


def test_every_commit_marker_shows_when_trajectories_commit_at_the_same_step():
    """Three trajectories committing at one step: three nested rings of different sizes, and a count above them."""
    from pipelines.exact.plots import plot_commit

    timesteps = [900, 500, 100]
    effective_n = [[100.0, 1.0, 1.0]] * 3 + [[100.0, 50.0, 1.0]]
    max_weight = [[0.01, 1.0, 1.0]] * 3 + [[0.01, 0.1, 1.0]]
    fig = plot_commit(timesteps, effective_n, max_weight, [1, 1, 1, 2], 100)
    top = fig.axes[0]
    rings = [line.get_markersize() for line in top.get_lines() if line.get_marker() == "o"]
    assert len(rings) == 4 and len(set(rings[:3])) == 3  # one size per trajectory of the shared step
    texts = [t.get_text() for t in top.texts]
    assert "3" in texts and any(t.startswith("N = 100") for t in texts)  # the count, and the dotted line named


def test_the_cost_text_says_the_exact_step_is_cheap_here_and_hopeless_at_scale(tab, ctx):
    _, _, words = tab.cost_view()
    assert "4,500" in words and "cheap" in words and "feasible only for toy data" in words and "copies" in words
    assert "web-scale" in words and "TB" in words


def test_the_cost_text_gives_the_index_sentence_and_the_spacing_is_said(tab):
    _, _, words = tab.cost_view()
    assert "Through an index" in words and "affordable at scale" in words
    assert "only gives back training digits" in words and "$N = 1{,}000{,}000$" in words
    info = tab._spacing_info()  # the K slider's info: the model's own (leading) timesteps against the Sample tab's
    assert "leading" in info and "950, 900, …, 0" in info and "would visit 999, 949, …, 49 at this K" in info  # K = 20


def test_the_run_plots_draw_each_trajectory_and_ignore_a_malformed_summary(tab, run, figures):
    commit, commit_note, distances, distances_note = tab.run_plots(run[-1])
    top, bottom = commit.axes
    assert top.get_yscale() == "log"
    assert len([line for line in top.get_lines() if line.get_marker() in ("None", "", None)]) >= 3
    assert "3 of 3 exact trajectories committed" in commit_note
    assert "held-out real digits" in distances_note and "median" in distances_note.lower()
    assert tab.run_plots({"exact": {"timesteps": "x"}}) == (None, "", None, "")
    assert tab.run_plots(None) == (None, "", None, "")
    short = {**run[-1], "exact": {**run[-1]["exact"], "effective_n": [[1.0] * 4] * 3}}  # 4 values for 5 steps
    assert tab.run_plots(short) == (None, "", None, "")
    endless = {**run[-1], "exact": {**run[-1]["exact"], "timesteps": list(range(10_000))}}  # more steps than T
    assert tab.run_plots(endless) == (None, "", None, "")


def test_the_commit_and_yardstick_texts_define_their_terms():
    commit = text.commit_intro("digit")
    assert "effective number of candidates" in commit and r"1/\sum_i w_i^2" in commit
    assert "99 %" in commit and "held-out" in text.distances_intro("digit")


def test_the_texts_are_written_for_the_data_shown_not_for_mnist():
    """For a model of 3×64×64 images every text says image, names its shape, and never says digit or MNIST."""
    shape = (3, 64, 64)
    costs = step_costs_like(D=3 * 64 * 64)
    texts = [
        text.exact_intro("image", shape),
        text.gallery_label("exact", "image"),
        text.gallery_title("model", "image"),
        text.copy_rule("image"),
        text.commit_intro("image"),
        text.commit_caption([1, None], [900, 500, 0], "image"),
        text.distances_intro("image"),
        text.distances_caption([0.0], [9.0], 8.0, "image"),
        text.cost_text(costs, 2.5, 108, "image", shape, 1000),
        text.data_mark("image", costs),
    ]
    for words in texts:
        assert "digit" not in words and "MNIST" not in words, words
    assert "3×64×64 values" in texts[0] and "a training image" in texts[0]
    assert "108 3×64×64 images" in texts[8] and r"$p_\theta(x_{t-1}\mid x_t)$" in texts[2]
    assert "than real unseen images are" in texts[7] and "a hint that they are new, not a measurement" in texts[7]
    # and for MNIST the 32×32 pixels and the scale of a digit
    mnist = text.exact_intro("digit", (1, 32, 32))
    assert "all 32×32 pixels" in mnist and "a digit is about 45 from a draw of pure noise" in mnist
    assert "real MNIST digits" in text.distances_intro("digit")


def test_the_copy_verdict_and_threshold_are_the_librarys_rule():
    from pipelines.exact.neighbours import COPY_RATIO

    assert text.RULE == "$d_1/d_2 < 1/3$" and COPY_RATIO == 1 / 3
    assert text.pair_caption(4, 1.0, 3.01).startswith("copy of #4")
    assert text.pair_caption(4, 1.0, 3.0).startswith("nearest #4")  # d₁ < d₂/3 strictly, as is_copy_by_ratio says
    assert text.pair_caption(4, 1.0, None) == "nearest #4: d₁ 1.00"


def step_costs_like(D: int):
    """A StepCosts with made-up numbers, for the texts."""
    from pipelines.exact.costs import StepCosts

    rows = [{"N": 108, "D": D, "ms": 2.5}]
    extrapolated = [{"name": "CIFAR-10", "N": 50_000, "D": 3072, "ms": 100.0, "bytes": 50_000 * 3072 * 4}]
    return StepCosts(rows, 1e-6, [108], 3.0, 2.9, 3.1, 3, extrapolated, 1, 500, "float64", 2, "cpu")


# ------------------------------------------------------------------------------------------------- the API
@pytest.fixture(scope="module")
def client(app_model_dir, tmp_path_factory):
    from gradio_client import Client

    with serve_app(app_model_dir, log_path=tmp_path_factory.mktemp("log") / "app.log") as url:
        yield Client(url, verbose=False)


def test_both_endpoints_quote_the_same_cost_numbers_and_the_new_summary_fields(client):
    posterior = client.submit(digit_index=7, t=300, seed=0, image=None, api_name="/posterior").result(timeout=TIMEOUT_S)
    exact = client.submit(seed=0, num_images=2, num_inference_steps=3, api_name="/exact_sample").result(
        timeout=TIMEOUT_S
    )
    assert len(posterior) == 11 and len(exact) == 4  # the outputs are unchanged
    p, e = posterior[-1], exact[-1]
    loss = p["training_loss"]
    assert set(loss) == {"this_x0", "expected"}
    assert all(isinstance(v, float) and math.isfinite(v) for part in loss.values() for v in part.values())
    assert loss["expected"]["exact"] <= min(loss["expected"].values()) * (1 + 1e-9) + 1e-12
    cost = e["cost"]
    measured = {r["N"]: r["ms"] for r in cost["measured"]}
    assert p["step_ms"]["exact"] == measured[N] and p["step_ms"]["model"] == cost["model_ms"]
    assert len(e["exact"]["effective_n"]) == 2 and all(len(row) == 3 for row in e["exact"]["effective_n"])
    assert e["heldout_nearest_distance_median"] > 3


# ------------------------------------------------------------------------------ the API: copies, reproducibility
EXACT = dict(seed=0, num_images=2, num_inference_steps=3)


def exact_sample(client, **overrides):
    """/exact_sample → (exact gallery, model gallery, caption, summary)."""
    return client.submit(**{**EXACT, **overrides}, api_name="/exact_sample").result(timeout=TIMEOUT_S)


def tiles(picture: np.ndarray, scale: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """A "sample | nearest training digit" picture (two 32×32 digits, `scale`× upscaled, captioned above, side by
    side) → the two digits, as (32, 32) uint8."""
    side = 32 * scale
    return picture[-side::scale, :side:scale], picture[-side::scale, -side::scale]


def test_the_exact_sampler_copies_training_digits_and_the_model_does_not(client, train_digits):
    exact, model, caption, summary = exact_sample(client, seed=3, num_images=3, num_inference_steps=4)
    assert len(exact) == len(model) == 3
    exact_d, model_d = summary["exact"]["nearest_distances"], summary["model"]["nearest_distances"]
    assert len(exact_d) == len(model_d) == 3
    assert all(d < 1e-3 for d in exact_d) and summary["exact"]["copies"] == 3  # every exact sample is a copy
    assert all(d > 1.0 for d in model_d) and summary["model"]["copies"] == 0  # the model draws its own
    # Each picture is "sample | nearest training digit #i", and the distance is between those two digits: the
    # exact one's two halves are the same digit, training digit #i; the model's are apart by d (to the 8-bit
    # rounding of the pictures: at most √1024 · 1/255 over the 32×32 pixels).
    images, _ = train_digits
    for items, kind in ((exact, "exact"), (model, "model")):
        for item, index, d in zip(items, summary[kind]["nearest_indices"], summary[kind]["nearest_distances"]):
            assert f"#{index}: d₁/d₂ " in item["caption"]  # the copy rule's ratio (d₁ is drawn in the picture)
            assert ("copy of" in item["caption"]) == (kind == "exact")
            sample, nearest = tiles(pixels(item["image"]))
            assert np.array_equal(nearest, to_uint8(images[index : index + 1], model_space=True)[0, ..., 0])
            shown = float(np.linalg.norm((sample.astype(float) - nearest.astype(float)) * 2 / 255))
            assert abs(shown - d) <= 0.13, (kind, index, shown, d)
    assert "3/3 samples are copies" in caption and "0/3 copies" in caption
    assert f"median {np.median(model_d):.2f}" in caption


def test_exact_sample_is_reproducible_from_its_seed(client):
    a, b, c = (exact_sample(client, seed=s)[-1] for s in (21, 21, 22))
    for kind in ("exact", "model"):
        assert a[kind]["nearest_indices"] == b[kind]["nearest_indices"]
        assert a[kind]["nearest_distances"] == b[kind]["nearest_distances"]
    assert a["exact"]["nearest_indices"] != c["exact"]["nearest_indices"]


BAD_EXACT = [
    ("num_images", 0, r"num_images must be an integer in \[1, 16\]"),
    ("num_images", 17, r"num_images must be an integer in \[1, 16\]"),
    ("num_inference_steps", 0, r"num_inference_steps must be an integer in \[1, 1000\]"),
    ("num_inference_steps", 1001, r"num_inference_steps must be an integer in \[1, 1000\]"),
    ("seed", -1, r"seed must be an integer in \[0, 4294967295\]"),
    ("seed", 1.5, r"seed must be an integer in \[0, 4294967295\]"),
]


@pytest.mark.parametrize("name, value, message", BAD_EXACT, ids=[f"{n}={v!r}" for n, v, _ in BAD_EXACT])
def test_a_bad_exact_sample_input_is_refused_by_name_and_the_next_request_succeeds(client, name, value, message):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=rf"^{message}"):
        exact_sample(client, **{name: value})
    assert len(exact_sample(client, num_images=1, num_inference_steps=1)[0]) == 1


@pytest.fixture(scope="module")
def train_digits():
    return load_mnist("train")


def pixels(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image).copy()


def test_the_view_drawn_on_opening_is_kept_and_the_api_always_samples(tab):
    first = tab.opening_sample(3, 2, 3)
    assert tab.opening_sample(3, 2, 3) is first  # later visitors see it at once
    again = tab.exact_sample(3, 2, 3)
    assert again is not first and again[3]["exact"]["nearest_indices"] == first[3]["exact"]["nearest_indices"]
    assert "same starting noise." in first[2] and "the two chains part after the first step" in first[2]


def test_the_sample_strip_has_its_own_axis_and_each_d_its_own_line_style(tab, figures):
    import matplotlib

    matplotlib.use("Agg")
    from pipelines.exact.plots import plot_nearest_distances, plot_step_costs
    from ui.tabs.exact import step_costs

    fig = plot_nearest_distances([8.0, 9.0, 10.0], [0.0, 0.0], [8.5, 9.5])
    strip, histogram = fig.axes
    assert [t.get_text() for t in strip.get_yticklabels()] == ["2 exact, median 0.00", "2 model, median 9.00"]
    assert histogram.get_ylabel().endswith("(count)") and not strip.get_ylabel()
    costs = step_costs(tab.ctx)
    lines = [line for line in plot_step_costs(costs).axes[0].get_lines() if "D = " in line.get_label()]
    styles = {(str(line.get_linestyle()), line.get_color()) for line in lines if line.get_label().startswith("c·N·D")}
    assert len(styles) == len({e["D"] for e in costs.extrapolated} - {costs.rows[0]["D"]})
