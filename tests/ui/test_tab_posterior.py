"""The "Why do we need p_θ?" tab (ui/tabs/posterior.py), in-process with the tiny random 1×32×32 model: the training
target L_{t-1} (eq. 8) of the three means in the summary, the exact mean the smallest averaged loss, the "took"
numbers from the app's one cost measurement, the page's LaTeX and layout."""

import math

import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image

from helpers.app_server import PUBLIC_ENDPOINTS, serve_app
from helpers.tiny import save_tiny_pipeline
from pipelines.data.sources import load_mnist
from pipelines.pictures.images import to_uint8
from ui import format as fmt
from ui.context import AppContext
from ui.files import RunStore
from ui.tabs.exact import ExactSamplerTab, exact_step_ms, step_costs
from ui.tabs.posterior import PosteriorTab
from ui.text import posterior as text

ESTIMATES = ("tractable", "exact", "model")


@pytest.fixture(scope="module")
def tab(ctx):
    return PosteriorTab(ctx)


@pytest.mark.parametrize("t", [2, 300, 900])
def test_the_summary_has_the_training_loss_of_each_mean_in_nats_and_the_exact_mean_is_the_smallest_on_average(tab, t):
    out = tab.posterior(7, t, 0)
    summary = out[-1]
    loss = summary["training_loss"]
    assert set(loss) == {"this_x0", "expected"}
    for part in loss.values():
        assert set(part) == set(ESTIMATES)
        assert all(isinstance(v, float) and math.isfinite(v) and v >= 0 for v in part.values())
    # The tractable mean is the target itself for this x_0: zero loss.
    assert loss["this_x0"]["tractable"] == 0.0
    # The theorem, numerically: averaged over x_0 ~ q(x_0 | x_t), the exact mean E[x_{t-1}|x_t] minimises L_{t-1}.
    expected = loss["expected"]
    assert expected["exact"] <= min(expected.values()) * (1 + 1e-9) + 1e-12
    # L_{t-1} for this x_0 is ‖μ̃(x_t, x_0) − μ‖² / 2σ_t², with ‖μ̃ − μ‖ the served L2 distance between the means.
    sigma2 = summary["sigma2"]
    assert sigma2 > 0
    for name in ("exact", "model"):
        d = summary["mean_distances"]["tractable"][name]
        assert loss["this_x0"][name] == pytest.approx(d * d / (2 * sigma2), rel=1e-3, abs=1e-6)
    # And the page states the result next to the table.
    answer = out[-2]
    assert "What training does with" in answer and "Result:" in answer
    assert "(smallest)" in answer or "(smallest, equal to 3 significant figures)" in answer
    # the derivation comes before the numbers that check it ("the identity above"), each heading once
    numbers = answer.index("Checking it on this")
    assert answer.index("What training does with") < numbers and "identity above" in answer[numbers:]
    assert answer.count("What training does with") == 1
    assert "$$" not in answer[numbers:]  # a number formatted as $…$ right after a "$" would open display math


def test_took_for_the_exact_and_model_steps_is_the_apps_one_cost_measurement(tab, ctx):
    out = tab.posterior(3, 500, 1)
    summary = out[-1]
    costs = step_costs(ctx)
    assert summary["step_ms"]["exact"] == exact_step_ms(costs, 4500) and summary["step_ms"]["N"] == 4500
    assert summary["step_ms"]["model"] == costs.model_ms
    tractable, exact, model = out[6:9]
    assert fmt.duration(summary["step_ms"]["exact"]) in exact and "median of the app's cost measurement" in exact
    assert fmt.duration(summary["step_ms"]["model"]) in model
    assert "this request" in tractable
    # The same numbers, not a second measurement: the cache answers both tabs.
    assert step_costs(ctx) is costs


def test_tiny_and_huge_numbers_are_shown_sensibly():
    assert fmt.sci(0.0) == "0"
    assert fmt.sci(5e-324) == r"$\approx 0$ ($<10^{-12}$)"  # a denormal at small t
    assert fmt.sci(3.2e-9) == r"$3.20\times10^{-9}$"
    assert fmt.sci(0.0123) == "0.0123" and fmt.sci(12.34) == "12.3" and fmt.sci(512.3) == "512"
    assert fmt.sci_tex(3.2e-9) == r"3.20\times10^{-9}"
    assert fmt.duration(0.42) == "0.42 ms" and fmt.duration(3400) == "3.4 s" and fmt.duration(4.2e7) == "11.7 h"
    assert fmt.size_bytes(614_400_000) == "614 MB" and fmt.size_bytes(1.97e13) == "19.7 TB"


def test_the_tab_states_the_question_bayes_and_the_training_target_in_latex(ctx):
    import app

    demo = app.build_demo(ctx)
    markdowns = {b.elem_id: b for b in demo.blocks.values() if isinstance(b, gr.Markdown) and b.elem_id}
    for elem_id in (
        "posterior-question",
        "training-target",
        "posterior-bayes",
        "posterior-answer",
        "estimate-exact-text",
    ):
        delimiters = markdowns[elem_id].latex_delimiters
        assert {d["left"] for d in delimiters} == {"$$", "$"}, elem_id
    question = markdowns["posterior-question"].value
    assert "x_0" in question and "training target" in question and "Exact posterior sampler" in question
    bayes = markdowns["posterior-bayes"].value
    assert r"\frac{q(x_t\mid x_{t-1})\,q(x_{t-1})}{q(x_t)}" in bayes
    assert r"\delta(x_0-x_0^i)" in bayes and r"neither $q(x_{t-1})$ nor $q(x_t)$ is known" in bayes
    assert "training set only" in bayes
    target = markdowns["training-target"].value
    assert "D_{\\mathrm{KL}}" in target and "eq. 8" in target and "eq. 12" in target and "eq. 14" in target
    assert "exactly at the exact mean" in target


def test_the_json_summary_sits_in_a_closed_accordion(ctx):
    import app

    demo = app.build_demo(ctx)
    summaries = [
        b
        for b in demo.blocks.values()
        if isinstance(b, gr.JSON) and b.elem_id in ("posterior-summary", "exact-summary")
    ]
    assert len(summaries) == 2
    for block in summaries:
        parent = block.parent
        while parent is not None and not isinstance(parent, gr.Accordion):
            parent = parent.parent
        assert parent is not None and parent.open is False, block.elem_id


def loss_comparison(expected: dict, this_model: float = 0.104, epsilon_mse: float = 20.5, weight: float = 5.06e-3):
    """What `training_loss_text` reads of a PosteriorComparison: the loss table's numbers and the ε form's."""
    from types import SimpleNamespace

    return SimpleNamespace(
        training_loss={"this_x0": {"tractable": 0.0, "exact": 0.05, "model": this_model}, "expected": expected},
        num_pixels=1024,
        sigma2=0.018,
        epsilon_mse=epsilon_mse,
        epsilon_loss_weight=weight,
    )


def table_rows(page: str) -> dict[str, str]:
    rows = [line for line in page.splitlines() if line.startswith("| ") and "$" in line and "nats" not in line]
    return {name: next(r for r in rows if text.ESTIMATE_HEADINGS[name] in r) for name in ESTIMATES}


def test_the_loss_table_marks_every_mean_that_ties_the_smallest_to_the_digits_shown():
    tied = table_rows(
        text.training_loss_text(loss_comparison({"tractable": 0.4131, "exact": 0.4129, "model": 0.9}), "digit")
    )
    assert "equal to 3 significant figures" in tied["tractable"] and "equal to 3 significant figures" in tied["exact"]
    assert "smallest" not in tied["model"]
    clear = table_rows(
        text.training_loss_text(loss_comparison({"tractable": 0.52, "exact": 0.41, "model": 0.9}), "digit")
    )
    assert "(smallest)" in clear["exact"] and "smallest" not in clear["tractable"] + clear["model"]


def test_the_epsilon_form_says_whether_its_product_is_the_models_row():
    # 20.5 × 5.06e-3 = 0.1037: the model's row 0.104 — equal, and the page says so (and when it would not be)
    equal = text.training_loss_text(loss_comparison({"tractable": 0.5, "exact": 0.4, "model": 0.9}), "digit")
    assert "within 0.3% of the model's row" in equal and "clipped" in equal  # |0.1037 − 0.104| / 0.104, measured
    clipped = text.training_loss_text(
        loss_comparison({"tractable": 0.5, "exact": 0.4, "model": 0.9}, this_model=0.3), "digit"
    )
    assert "not the model's row" in clipped and "clips" in clipped


def test_the_answer_says_why_the_models_x0_is_far_off_while_its_step_is_close_with_the_coefficient(tab, ctx):
    out = tab.posterior(7, 300, 0)
    answer, summary = out[-2], out[-1]
    coef = ctx.pipe.scheduler.posterior_coefficients(300, 299)[0]
    assert 0 < coef < 0.05  # at t = 300 x̂_0 moves x_{t-1} by a few thousandths of its own change
    assert "far off while its" in answer and fmt.sci_tex(coef, 3) in answer
    x0_gap, mean_gap = summary["x0_distances"]["model"]["exact"], summary["mean_distances"]["model"]["exact"]
    assert f"{x0_gap * coef:.3f}" in answer and f"{mean_gap:.3f}" in answer


def test_words_the_student_may_not_know_are_explained_where_they_first_appear(tab):
    answer = tab.posterior(7, 300, 0)[-2]
    first = answer.index("nats")
    assert "natural log" in answer[first : first + 200]
    assert "$N$ when all are equally likely" in answer  # the effective number 1/Σw²
    assert "predicts the noise" in answer  # the ε form
    assert "predicts the noise" in text.training_target(4500, "digit")  # the ε-parametrisation


def test_the_texts_are_written_for_the_data_shown_not_for_mnist():
    """For a model of other images every sentence says image (a/an right), and MNIST's digit facts are left out."""
    texts = [
        text.posterior_question(108, "image"),
        text.training_target(108, "image"),
        text.bayes("image"),
        text.pair_note("image"),
        text.gallery_title("image"),
        text.candidates_title("image"),
        text.candidates_label("image"),
        text.x0_label("image"),
        text.index_info("image", 108),
        text.own_image(False),
        text.took_text("exact", 0.01, {"exact": 1.5, "model": 2.5, "N": 108}, "image"),
        *(part for texts in text.estimate_texts(108, 3072, 999, "image").values() for part in texts.values()),
    ]
    for words in texts:
        assert "digit" not in words and "MNIST" not in words, words
    assert "pick an image $x_0$" in texts[0] and "108 images" in texts[0]
    assert "one step over $N = 108$ images" in texts[10]
    assert (
        text.upload_label("image", False, 64)
        == "image: an uploaded image, used instead of the index above (resized and cropped to 64²)"
    )
    assert "pick a digit $x_0$" in text.posterior_question(4500, "digit")
    assert "digits (or photos)" in text.bayes("digit") and "(or photos)" not in text.bayes("image")


def test_a_training_loss_of_none_at_t_0_is_explained_not_shown_as_numbers():
    class AtZero:
        training_loss = None

    assert "does not apply" in text.training_loss_text(AtZero(), "digit")


# ------------------------------------------------------------------------------------------ the API and the handlers
TIMEOUT_S = 300  # per request; generous for busy CI machines, never reached when things work
T = 1000  # the tiny model's training steps
POSTERIOR = dict(digit_index=0, t=300, seed=0, image=None)


@pytest.fixture(scope="module")
def client(app_model_dir, tmp_path_factory):
    from gradio_client import Client

    with serve_app(app_model_dir, log_path=tmp_path_factory.mktemp("log") / "app.log") as url:
        yield Client(url, verbose=False)


def posterior(client, **overrides):
    """/posterior → (x0, x_t, candidates, 3 estimate pictures, 3 estimate texts, answer, summary)."""
    from gradio_client import handle_file

    args = {**POSTERIOR, **overrides}
    if args["image"] is not None:
        args["image"] = handle_file(str(args["image"]))
    return client.submit(**args, api_name="/posterior").result(timeout=TIMEOUT_S)


def digit_png(path, digit: torch.Tensor, invert: bool = False):
    """A (1, 1, 32, 32) training digit saved as the 28×28 grayscale PNG it came from (MNIST's 2-pixel padding
    removed); `invert` draws it dark on white, as a scan or a drawing would be."""
    array = ((digit[0, 0, 2:30, 2:30].numpy() + 1) * 127.5).round().astype(np.uint8)
    Image.fromarray(255 - array if invert else array, mode="L").save(path)
    return path


def test_the_endpoints_and_their_parameter_names(client):
    api = client.view_api(print_info=False, return_format="dict")
    named = api["named_endpoints"]
    # gallery clicks, drawings, plots, the toy plane's clicks: private
    assert set(named) == set(PUBLIC_ENDPOINTS)
    assert api["unnamed_endpoints"] == {}
    assert [p["parameter_name"] for p in named["/posterior"]["parameters"]] == ["digit_index", "t", "seed", "image"]
    assert [p["parameter_name"] for p in named["/exact_sample"]["parameters"]] == [
        "seed",
        "num_images",
        "num_inference_steps",
    ]


@pytest.fixture(scope="module")
def library_unet(app_model_dir):
    """The served model's UNet, loaded by the library and laid out as the app lays it out on CPU."""
    from pipelines import PosteriorDDPMPipeline

    return PosteriorDDPMPipeline.from_pretrained(app_model_dir).use_channels_last().unet


def expected_estimates(x0: torch.Tensor, t: int, seed: int, unet, data: torch.Tensor) -> dict:
    """The three estimates of /posterior, computed here from the formulas (float64) and the protocol the tab
    documents: x_t = √ᾱ_t x0 + √(1 − ᾱ_t) ε with ε the first draw of torch.Generator().manual_seed(seed)."""
    import math

    betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float32).double()  # the tiny model's linear schedule
    alphas_cumprod = torch.cumprod(1 - betas, 0)
    a_t, a_prev = float(alphas_cumprod[t]), float(alphas_cumprod[t - 1])
    beta = 1 - a_t / a_prev
    coef1, coef2 = math.sqrt(a_prev) * beta / (1 - a_t), math.sqrt(a_t / a_prev) * (1 - a_prev) / (1 - a_t)  # eq. 7
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    x0 = x0.double()
    x_t = math.sqrt(a_t) * x0 + math.sqrt(1 - a_t) * noise.double()  # eq. 4
    with torch.inference_mode():
        epsilon = unet(x_t.float(), torch.tensor(t)).sample.double()
    model_x0 = ((x_t - math.sqrt(1 - a_t) * epsilon) / math.sqrt(a_t)).clamp(-1, 1)  # eq. 15, clipped
    flat = data.double().reshape(len(data), -1)
    logits = -((x_t.reshape(1, -1) - math.sqrt(a_t) * flat) ** 2).sum(1) / (2 * (1 - a_t))  # q(x0ⁱ | x_t)
    exact_x0 = (torch.softmax(logits, 0) @ flat).reshape(x0.shape)
    return {
        "x_t": x_t,
        "x0": x0,
        "means": {
            "tractable": coef1 * x0 + coef2 * x_t,
            "exact": coef1 * exact_x0 + coef2 * x_t,
            "model": coef1 * model_x0 + coef2 * x_t,
        },
        "x0s": {"tractable": x0, "exact": exact_x0, "model": model_x0},
    }


def test_posterior_shows_three_estimates_with_consistent_distances_and_an_answer_in_numbers(
    client, train_digits, library_unet
):
    x0, xt, candidates, *views, tractable, exact, model, answer, summary = posterior(client, digit_index=7, t=300)
    assert summary["source"] == "digit_index" and summary["t"] == 300
    assert pixels(x0).shape == pixels(xt).shape and pixels(x0).shape[0] >= 32
    assert len(views) == 3 and all(pixels(view).shape[1] > pixels(view).shape[0] for view in views)  # x_t-1 | x̂0
    assert set(summary["estimates"]) == set(ESTIMATES)
    # Every distance is the one between the estimates computed here, from the formulas, for digit #7, t = 300
    # and seed 0: the served numbers are about these images, not merely some numbers.
    images, _ = train_digits
    want = expected_estimates(images[7:8], 300, 0, library_unet, images)
    shown_xt = pixels(xt)[::4, ::4].astype(int)  # the x_t picture, 4× upscaled: x_t itself, clamped to [-1, 1]
    assert np.abs(shown_xt - to_uint8(want["x_t"].float(), model_space=True)[0, ..., 0]).max() <= 1
    d = summary["mean_distances"]
    for i, a in enumerate(ESTIMATES):
        assert summary["distance_to_x0"][a] == pytest.approx(
            float((want["means"][a] - want["x0"]).norm()), rel=1e-4, abs=1e-4
        )
        for b in ESTIMATES[i + 1 :]:
            expected = float((want["means"][a] - want["means"][b]).norm())
            assert d[a][b] == d[b][a] == pytest.approx(expected, rel=1e-4, abs=1e-4), (a, b)
            assert summary["x0_distances"][a][b] == pytest.approx(
                float((want["x0s"][a] - want["x0s"][b]).norm()), rel=1e-4, abs=1e-4
            ), (a, b)
    assert candidates[0]["caption"].startswith("#7: ")  # the training digit the exact posterior weighs most
    # At t = 300 the digit is still recognisable: the exact posterior finds it among the 4,500 and agrees with
    # the tractable mean, which knows x0.
    exact_posterior = summary["exact_posterior"]
    assert exact_posterior["argmax_index"] == 7 and exact_posterior["source_index"] == 7
    assert exact_posterior["max_weight"] > 0.99
    assert d["exact"]["tractable"] < 1e-3
    # Each estimate's text shows its formula, its input, its time and its distances, as in the JSON.
    for name, shown in zip(ESTIMATES, (tractable, exact, model)):
        others = [other for other in ESTIMATES if other != name]
        assert "needs" in shown and "took" in shown
        assert all(f"{other} {d[name][other]:.3f}" in shown for other in others), shown
    assert "x_0" in tractable and "$N = 4{,}500$" in exact and "$x_t$ only" in model
    # The answer is computed from these numbers, not written in advance.
    assert f"{d['model']['exact']:.3f}" in answer and f"t = {summary['t']}" in answer
    assert "4,500" in answer


def test_the_tractable_mean_is_close_to_x0_at_small_t_and_far_at_large_t(client):
    small = posterior(client, digit_index=3, t=1)[-1]
    large = posterior(client, digit_index=3, t=900)[-1]
    # At t = 1 the step adds noise of norm √(1024 β̃_1) ≈ 0.3: μ̃ sits within that of x0 (a digit is ~30 from noise).
    assert small["distance_to_x0"]["tractable"] < small["step_noise_norm"] * 2 < 1.0
    assert large["distance_to_x0"]["tractable"] > 20 * small["distance_to_x0"]["tractable"]
    assert large["exact_posterior"]["effective_n"] > 2  # at t = 900 the exact posterior still hesitates


def test_same_seed_same_x_t_other_seed_other_x_t(client):
    a, b, c = (posterior(client, digit_index=5, t=500, seed=s) for s in (11, 11, 12))
    assert np.array_equal(pixels(a[1]), pixels(b[1])) and a[-1]["mean_distances"] == b[-1]["mean_distances"]
    assert not np.array_equal(pixels(a[1]), pixels(c[1]))


@pytest.mark.parametrize("invert", [False, True], ids=["light-on-dark", "dark-on-light"])
def test_an_uploaded_digit_is_used_instead_of_digit_index(client, train_digits, tmp_path, invert):
    images, _ = train_digits
    path = digit_png(tmp_path / "digit.png", images[42:43], invert=invert)
    summary = posterior(client, digit_index=0, t=50, image=path)[-1]
    assert summary["source"] == "image" and "digit_index" not in summary
    # The upload is training digit #42, pixel for pixel: the exact posterior names it, not digit_index 0.
    assert summary["exact_posterior"]["source_index"] == 42 and summary["exact_posterior"]["argmax_index"] == 42


def test_a_rgb_photo_of_any_size_is_accepted_as_a_digit(client, tmp_path):
    photo = np.full((60, 45, 3), 250, np.uint8)
    photo[10:50, 20:26] = (20, 30, 40)  # a dark "1" on white
    Image.fromarray(photo).save(tmp_path / "one.jpg", quality=95)
    out = posterior(client, t=10, image=tmp_path / "one.jpg")
    assert out[-1]["source"] == "image" and len(out) == 11


def _not_an_image(tmp_path):
    path = tmp_path / "digit.png"
    path.write_text("this is not a picture")
    return path


def _too_many_pixels(tmp_path):
    path = tmp_path / "huge.png"
    Image.new("L", (4000, 20)).save(path)  # a few kB of PNG, but 4000 pixels wide
    return path


def _too_many_bytes(tmp_path):
    path = tmp_path / "noise.bmp"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (1000, 1000, 3), dtype=np.uint8)).save(path)
    return path  # 3 MB of BMP, within the pixel limit


def _tiny(tmp_path):
    path = tmp_path / "dot.png"
    Image.new("L", (3, 3)).save(path)
    return path


BAD_POSTERIOR = [
    ("t", 0, r"t must be an integer in \[1, 999\]"),
    ("t", T, r"t must be an integer in \[1, 999\]"),
    ("t", 2.5, r"t must be an integer in \[1, 999\]"),
    ("digit_index", -1, r"digit_index must be an integer in \[0, 4499\]"),
    ("digit_index", 4500, r"digit_index must be an integer in \[0, 4499\]"),
    ("digit_index", "3", r"digit_index must be an integer in \[0, 4499\]"),
    ("seed", -1, r"seed must be an integer in \[0, 4294967295\]"),
    ("image", _not_an_image, r"image must be an image file \(PNG, JPEG, WebP, BMP or GIF\); 'digit.png' is not one"),
    ("image", _too_many_pixels, r"image must be from 8×8 to 1024×1024 pixels .*got 4000×20"),
    ("image", _too_many_bytes, r"image must be at most 2 MiB, got 2\.9 MiB"),
    ("image", _tiny, r"image must be from 8×8 .*got 3×3"),
]


@pytest.mark.parametrize(
    "name, value, message", BAD_POSTERIOR, ids=[f"{n}={getattr(v, '__name__', repr(v))}" for n, v, _ in BAD_POSTERIOR]
)
def test_a_bad_posterior_input_is_refused_by_name_and_the_next_request_succeeds(client, tmp_path, name, value, message):
    from gradio_client.exceptions import AppError

    if callable(value):
        value = value(tmp_path)
    with pytest.raises(AppError, match=rf"^{message}"):
        posterior(client, **{name: value})
    assert posterior(client, t=5)[-1]["t"] == 5


@pytest.fixture(scope="module")
def app_module():
    import app

    return app


def test_a_drawn_digit_is_used_as_x0(app_module, ctx, train_digits):
    """A drawing of training digit #42 (black ink on a transparent 280×280 canvas, as the sketchpad sends it)
    becomes the image input, and the exact posterior recognises digit #42 in it."""
    images, _ = train_digits
    ink = ((images[42, 0, 2:30, 2:30].numpy() + 1) * 127.5).round().astype(np.uint8)
    canvas = np.zeros((280, 280, 4), np.uint8)
    canvas[..., 3] = np.kron(ink, np.ones((10, 10), np.uint8))  # each MNIST pixel a 10×10 block of ink
    tab = PosteriorTab(ctx)
    path = tab.use_drawing({"background": None, "layers": [], "composite": canvas})
    with Image.open(path) as drawn:
        assert drawn.size == (28, 28)
    summary = tab.posterior(0, 20, 0, image=path)[-1]
    assert summary["source"] == "image" and summary["exact_posterior"]["argmax_index"] == 42


def test_an_empty_drawing_is_refused(app_module, ctx):
    import gradio as gr

    tab = PosteriorTab(ctx)
    for sketch in (None, {"background": None, "layers": [], "composite": np.zeros((280, 280, 4), np.uint8)}):
        with pytest.raises(gr.Error, match="sketch is empty: draw a digit first"):
            tab.use_drawing(sketch)


def test_a_model_of_another_shape_gets_a_clear_message_not_a_crash(app_module, tmp_path):
    """An RGB 24×24 model with no record of its data: the app builds, the four tabs that compare with the training
    images (Why, Exact, Which variance, and the local view of "Why doesn't p_θ copy?") say which flag to pass, and
    their handlers refuse with that message."""
    import gradio as gr

    model = save_tiny_pipeline(tmp_path / "rgb", sample_size=24, channels=3)
    pipe = app_module.load_model(str(model), device="cpu")
    ctx = AppContext(pipe=pipe, model_id="rgb", store=RunStore(root=tmp_path / "runs"))
    demo = app_module.build_demo(ctx)
    notices = [
        block.value
        for block in demo.blocks.values()
        if isinstance(block, gr.Markdown) and "--data FOLDER_OR_DATASET_ID" in (block.value or "")
    ]
    assert len(notices) == 4 and all("3×24×24" in notice for notice in notices)
    with pytest.raises(gr.Error, match="the app has none for rgb \\(3×24×24\\).*--data"):
        PosteriorTab(ctx).posterior(0, 10, 0)
    with pytest.raises(gr.Error, match="--data FOLDER_OR_DATASET_ID"):
        ExactSamplerTab(ctx).exact_sample(0, 1, 1)


@pytest.fixture(scope="module")
def train_digits():
    return load_mnist("train")


def pixels(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image).copy()
