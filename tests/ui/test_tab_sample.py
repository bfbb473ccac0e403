"""Tab "Sample from noise" (ui/tabs/sample.py): /sample as a `gradio_client` user sees it — `python app.py` in a
subprocess on a free loopback port with a tiny random 32×32 model — and its handlers in-process (other image
shapes, the live view's throttle, scrubbing)."""

import json
import math
import re

import httpx
import numpy as np
import pytest
import torch
from PIL import Image

from helpers.app_server import PUBLIC_ENDPOINTS, serve_app
from helpers.tiny import save_tiny_pipeline
from ui.context import AppContext
from ui.files import RunStore
from ui.tabs.sample import SampleTab

TIMEOUT_S = 300  # per request; generous for busy CI machines, never reached when things work
GOOD = dict(
    seed=0, num_images=1, num_inference_steps=1, eta=1.0, timestep_spacing="leading", variance="fixed_small", order=1
)
PARAMETERS = ["seed", "num_images", "num_inference_steps", "eta", "timestep_spacing", "variance", "order"]


@pytest.fixture(scope="module")
def app_url(app_model_dir, tmp_path_factory):
    with serve_app(app_model_dir, log_path=tmp_path_factory.mktemp("log") / "app.log") as url:
        yield url


@pytest.fixture(scope="module")
def client(app_url):
    from gradio_client import Client

    return Client(app_url, verbose=False)


def sample(client, **overrides):
    """Call /sample and wait for its final output: (x_t, x̂0, label, images, animation, grid, summary)."""
    return client.submit(**{**GOOD, **overrides}, api_name="/sample").result(timeout=TIMEOUT_S)


def pixels(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image).copy()


def gallery_pixels(images) -> list[np.ndarray]:
    return [pixels(item["image"]) for item in images]


def test_only_sample_is_public_and_its_parameters_are_named(client):
    api = client.view_api(print_info=False, return_format="dict")
    assert (
        list(api["named_endpoints"]) == PUBLIC_ENDPOINTS
    )  # scrubbing, dice, gallery clicks, drawings, plots, the toy plane's clicks are private
    assert api["unnamed_endpoints"] == {}
    parameters = api["named_endpoints"]["/sample"]["parameters"]
    assert [p["parameter_name"] for p in parameters] == PARAMETERS  # order last: positional callers keep working
    defaults = {p["parameter_name"]: p["parameter_default"] for p in parameters}
    # the page's default sampler: order 3, 10 steps, trailing (bench/results/samplers-1000.json)
    assert (defaults["order"], defaults["num_inference_steps"], defaults["timestep_spacing"]) == (3, 10, "trailing")


def test_sample_returns_the_images_the_animation_and_a_summary(client):
    xt, x0, label, images, animation, grid, summary = sample(client, seed=3, num_images=3, num_inference_steps=4)
    assert len(images) == 3
    assert all(image.shape == (32, 32) for image in gallery_pixels(images))  # 1×32×32 model: grayscale 32×32
    with Image.open(animation) as gif:
        assert gif.format == "GIF" and gif.n_frames == 4  # one frame per step (4 ≤ the frame cap)
    with Image.open(grid) as png:
        assert png.format == "PNG"
    # The run visited the leading plan of 4 of T = 1000 steps; the label and the summary say so, and its time.
    assert summary["timesteps"] == [750, 500, 250, 0]
    assert label.startswith("step 4 / 4, t = 0 → x₀ · done in ")
    shown_seconds = float(re.search(r"done in (\d+\.\d\d) s", label).group(1))
    assert summary["seconds"] > 0 and abs(summary["seconds"] - shown_seconds) <= 0.0051
    assert summary["image_shape"] == [1, 32, 32]
    # The final x_t grid shows the final images: the first image sits at the grid's top-left corner.
    first = gallery_pixels(images)[0]
    scale = pixels(xt).shape[1] // pixels(grid).shape[1]
    assert np.array_equal(pixels(xt)[2 * scale : (2 + 32) * scale : scale, 2 * scale : (2 + 32) * scale : scale], first)


def test_a_12_step_request_streams_its_steps(client):
    job = client.submit(**{**GOOD, "num_images": 2, "num_inference_steps": 12}, api_name="/sample")
    updates = list(job)
    labels = [update[2] for update in updates]
    # The live view shows the first step at once, then at most a few frames a second (the tiny model is faster
    # than that), then the last step with the results.
    assert labels[0].startswith("step 1 / 12") and labels[-1].startswith("step 12 / 12"), labels
    steps = [int(label.split()[1]) for label in labels]
    assert steps == sorted(steps) and steps[-1] == 12  # in order, ending with the last step
    # each label names its step of the leading 12-step plan (T // 12 = 83 apart): "step k / 12, t = a → b"
    plan = [83 * i for i in range(11, -1, -1)]
    for k, label in zip(steps, labels):
        after = str(plan[k]) if k < 12 else "x₀"
        assert label.startswith(f"step {k} / 12, t = {plan[k - 1]} → {after}"), label
    assert len(updates[-1][3]) == 2  # the images come with the final update


def test_same_seed_same_images_other_seed_different_whatever_runs_beside_it(client):
    args = dict(num_images=2, num_inference_steps=5)
    # Two runs at once (the queue lets 2 run concurrently), then the first seed again, alone.
    jobs = [client.submit(**{**GOOD, **args, "seed": seed}, api_name="/sample") for seed in (11, 12)]
    together = [job.result(timeout=TIMEOUT_S) for job in jobs]
    alone = sample(client, **args, seed=11)
    a, b, a_again = (gallery_pixels(out[3]) for out in (*together, alone))
    assert all(np.array_equal(x, y) for x, y in zip(a, a_again))
    assert not any(np.array_equal(x, y) for x, y in zip(a, b))
    assert together[0][6]["seed"] == 11 and together[1][6]["seed"] == 12  # each client got its own run


# (eta, timestep_spacing, variance): each option's every value; A–E pairwise differ in exactly the options noted
COMBOS = [
    (1.0, "leading", "fixed_small"),  # A
    (0.0, "linspace", "fixed_small"),  # B
    (0.5, "trailing", "fixed_small"),  # C
    (1.0, "trailing", "fixed_small"),  # D: C with another eta, A with another spacing
    (1.0, "trailing", "fixed_large"),  # E: D with another variance
]


@pytest.fixture(scope="module")
def library_pipe(app_model_dir):
    """The library's pipeline from the folder the app serves, laid out as the app lays it out on CPU."""
    from pipelines import PosteriorDDPMPipeline

    pipe = PosteriorDDPMPipeline.from_pretrained(app_model_dir)
    # Where and how app.load_model puts it (--device auto): the same float operations, so the same pixels.
    pipe.to("cuda" if torch.cuda.is_available() else "cpu")
    if pipe.device.type == "cpu":
        pipe.use_channels_last()
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_sample_honours_eta_spacing_and_variance_pixel_for_pixel(client, library_pipe):
    """Each /sample combination gives exactly the library's images for it: the app seeds one torch.Generator with
    the seed, samples with the spacing's plan, eta and the variance (fixed_small β̃_t, fixed_large β_t)."""
    from pipelines import PosteriorDDPMPipeline, PosteriorDDPMScheduler

    seed, K = 21, 5
    served = {}
    for eta, spacing, variance in COMBOS:
        out = sample(
            client, seed=seed, num_images=2, num_inference_steps=K, eta=eta, timestep_spacing=spacing, variance=variance
        )
        served[eta, spacing, variance] = np.stack(gallery_pixels(out[3]))
        scheduler = PosteriorDDPMScheduler.from_config(library_pipe.scheduler.config, timestep_spacing=spacing)
        assert out[6]["timesteps"] == scheduler.timestep_plan(K).tolist()
        pipe = PosteriorDDPMPipeline(unet=library_pipe.unet, scheduler=scheduler)
        pipe.set_progress_bar_config(disable=True)
        expected = pipe(
            batch_size=2,
            generator=torch.Generator().manual_seed(seed),
            num_inference_steps=K,
            eta=eta,
            variance_type=variance,
            output_type="np",
        ).images
        expected = (expected[..., 0] * 255).round().astype(np.uint8)
        assert np.array_equal(served[eta, spacing, variance], expected), (eta, spacing, variance)
    # not trivially true: every combination draws other images than every other one, from the same seed
    for i, a in enumerate(COMBOS):
        for b in COMBOS[i + 1 :]:
            assert not np.array_equal(served[a][0], served[b][0]), (a, b)


def test_order_is_the_librarys_multistep_pixel_for_pixel(client, library_pipe):
    """/sample's order is the pipeline's: orders 2 and 3 give exactly the library's images for them (η = 1,
    trailing), and each order draws other images than the others from the same seed and noise."""
    from pipelines import PosteriorDDPMPipeline, PosteriorDDPMScheduler

    seed, K = 8, 6
    scheduler = PosteriorDDPMScheduler.from_config(library_pipe.scheduler.config, timestep_spacing="trailing")
    pipe = PosteriorDDPMPipeline(unet=library_pipe.unet, scheduler=scheduler)
    pipe.set_progress_bar_config(disable=True)
    served = {}
    for order in (1, 2, 3):
        out = sample(client, seed=seed, num_images=2, num_inference_steps=K, timestep_spacing="trailing", order=order)
        served[order] = np.stack(gallery_pixels(out[3]))
        assert out[6]["order"] == order
        g = torch.Generator().manual_seed(seed)
        expected = pipe(batch_size=2, generator=g, num_inference_steps=K, output_type="np", order=order).images
        assert np.array_equal(served[order], (expected[..., 0] * 255).round().astype(np.uint8)), order
    assert not np.array_equal(served[1], served[2]) and not np.array_equal(served[2], served[3])


BAD_VALUES = [
    ("num_inference_steps", 0),
    ("num_inference_steps", 100000),
    ("num_inference_steps", 2.5),
    ("num_images", 0),
    ("num_images", 10**5),
    ("eta", -0.1),
    ("eta", 1.5),
    ("eta", None),  # what a browser sends for NaN
    ("seed", -1),
    ("seed", 1.5),
    ("seed", "7"),
    ("timestep_spacing", "sideways"),
    ("variance", "learned"),
    ("order", 0),
    ("order", 4),
    ("order", 2.5),
]


@pytest.mark.parametrize("name, value", BAD_VALUES, ids=[f"{n}={v!r}" for n, v in BAD_VALUES])
def test_a_bad_value_is_refused_by_name_and_the_next_request_succeeds(client, name, value):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=rf"^{name} must be .*(\[|one of)"):
        sample(client, **{name: value})
    assert len(sample(client)[3]) == 1


def test_beta_t_variance_needs_eta_1(client):
    from gradio_client.exceptions import AppError

    # names eta, 1 and the variance, and says why (η < 1 is DDIM's family of variances)
    with pytest.raises(AppError, match=r"^(?=.*\beta\b.*\b1\b)(?=.*fixed_large)(?=.*DDIM's family)"):
        sample(client, variance="fixed_large", eta=0.5)
    # with eta = 1 it is accepted, and draws other images than β̃_t from the same seed (3 steps: 2 add noise)
    large, small = (
        gallery_pixels(sample(client, num_inference_steps=3, variance=v)[3]) for v in ("fixed_large", "fixed_small")
    )
    assert not np.array_equal(large[0], small[0])


def test_nan_eta_is_refused(app_url, client):
    # gradio_client will not send NaN (not JSON), but a raw HTTP caller can: post it by hand.
    body = json.dumps({"data": [0, 1, 1, math.nan, "leading", "fixed_small", 1]})  # Python writes NaN as NaN
    api = app_url.rstrip("/") + "/gradio_api/call/sample"
    event_id = httpx.post(api, content=body, headers={"content-type": "application/json"}).json()["event_id"]
    with httpx.stream("GET", f"{api}/{event_id}", timeout=TIMEOUT_S) as response:
        text = "".join(response.iter_text())
    assert "event: error" in text and "eta must be a number in [0, 1]" in text and "got nan" in text
    assert len(sample(client)[3]) == 1


def test_the_app_adapts_to_rgb_models_and_shows_exactly_what_the_pipeline_draws(tmp_path, app_module):
    """An RGB 3×24×24 model: the images have its shape, and are the pipeline's own output for that seed."""
    model = save_tiny_pipeline(tmp_path / "rgb", sample_size=24, channels=3)
    pipe = app_module.load_model(str(model), device="cpu")
    # On CPU the app stores the UNet channels-last (faster: bench_sampling.py); the images are still the pipeline's.
    assert pipe.is_channels_last
    ctx = AppContext(pipe=pipe, model_id="rgb", store=RunStore(root=tmp_path / "runs"))
    tab = SampleTab(ctx)
    outputs = list(
        tab.sample(
            seed=5,
            num_images=2,
            num_inference_steps=3,
            eta=1.0,
            timestep_spacing="leading",
            variance="fixed_small",
            order=1,
        )
    )
    images = [np.asarray(image) for image, _ in outputs[-1][3]]
    assert [image.shape for image in images] == [(24, 24, 3)] * 2
    expected = pipe(
        batch_size=2, generator=torch.Generator().manual_seed(5), num_inference_steps=3, eta=1.0, output_type="np"
    ).images
    assert np.array_equal(np.stack(images), (expected * 255).round().astype(np.uint8))


@pytest.mark.parametrize(
    "interval, budget, frames",
    [
        (0.0, 1.0, [1, 2, 3, 4, 5]),  # no throttle: every step's frame (the last comes with the results)
        (60.0, 1.0, [1]),  # at most one frame a minute: the first step only
        (0.0, 0.0, [1]),  # frames may cost nothing of the run's time: the first step only
    ],
)
def test_the_live_view_streams_as_its_throttle_says(tmp_path, app_module, app_model_dir, interval, budget, frames):
    """--frame-interval-s and --frame-budget (AppContext.frame_interval_s / frame_budget): which steps stream."""
    pipe = app_module.load_model(str(app_model_dir), device="cpu")
    ctx = AppContext(
        pipe=pipe,
        model_id="tiny",
        store=RunStore(root=tmp_path / "runs"),
        frame_interval_s=interval,
        frame_budget=budget,
    )
    *streamed, final = SampleTab(ctx).sample(
        seed=0,
        num_images=2,
        num_inference_steps=6,
        eta=1.0,
        timestep_spacing="leading",
        variance="fixed_small",
        order=1,
    )
    assert [int(label.split()[1]) for _, _, label, *_ in streamed] == frames
    assert final[2].startswith("step 6 / 6") and len(final[3]) == 2


def test_scrubbing_shows_each_recorded_step(tmp_path, app_module, app_model_dir):
    pipe = app_module.load_model(str(app_model_dir), device="cpu")
    ctx = AppContext(pipe=pipe, model_id="tiny", store=RunStore(root=tmp_path / "runs"))
    tab = SampleTab(ctx)
    *_, final = tab.sample(
        seed=1, num_images=2, num_inference_steps=6, eta=0.0, timestep_spacing="trailing", variance="fixed_small"
    )
    record = final[-1]
    slider, filmstrip, gif, _plot = tab.finish(record)
    assert slider.maximum == 6 and slider.value == 6 and filmstrip.width > filmstrip.height
    shown = [tab.scrub(k, record) for k in range(1, 7)]
    assert [label.split(",")[0] for _, _, label, _ in shown] == [f"step {k} / 6" for k in range(1, 7)]
    grids = [np.asarray(xt) for xt, *_ in shown]
    assert all(not np.array_equal(a, b) for a, b in zip(grids, grids[1:]))  # each step its own picture
    assert np.array_equal(grids[-1], np.asarray(final[0]))  # the last recorded step is the final image


@pytest.fixture(scope="module")
def app_module():
    import app

    return app


def test_the_first_look_is_a_recorded_run_at_the_defaults_that_the_slider_scrubs(tmp_path, app_module, app_model_dir):
    """Before any click the tab shows a run at its defaults (sampled once, on the first page load): the images of
    /sample at those settings and seed 0, a step box that does not say "done" (a click's run does), the slider over
    its K steps, and every step scrubbable; later loads get the same run without sampling again."""
    from ui.tabs import sample as module

    pipe = app_module.load_model(str(app_model_dir), device="cpu")
    ctx = AppContext(pipe=pipe, model_id="tiny", store=RunStore(root=tmp_path / "runs"))
    tab = SampleTab(ctx)
    first = tab.first_view()
    xt, x0, label, images, gif, grid, summary, record, slider, filmstrip, animation, _plot = first
    K = module.DEFAULT_STEPS
    assert label.startswith(f"step {K} / {K}, ") and "done" not in label and "recorded" in label
    assert (summary["seed"], summary["num_inference_steps"], summary["order"]) == (0, K, module.DEFAULT_ORDER)
    assert len(images) == module.DEFAULT_NUM_IMAGES and gif == animation and slider.maximum == K
    assert filmstrip.width > filmstrip.height
    *_, clicked = tab.sample(0, module.DEFAULT_NUM_IMAGES, K, module.DEFAULT_ETA, module.DEFAULT_SPACING,
                             "fixed_small", module.DEFAULT_ORDER)  # fmt: skip
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for (a, _), (b, _) in zip(images, clicked[3]))
    assert [tab.scrub(k, record)[2].split(",")[0] for k in (1, K)] == [f"step 1 / {K}", f"step {K} / {K}"]
    ctx.store.prune()  # the first look lives outside the pruned run folders
    assert tab.scrub(2, record)[2].startswith(f"step 2 / {K}")
    assert tab.first_view() is first


def test_the_fid_numbers_under_the_order_are_the_benchmarks():
    """The FIDs the sentence under the order quotes, rounded from the sampler benchmark's results."""
    from pathlib import Path

    from ui.text import sample as text

    results = Path(__file__).resolve().parents[2] / "bench" / "results"

    def fids(name: str, label: str, steps: int) -> list[float]:
        rows = json.loads((results / name).read_text())["results"]
        return [r["fid"] for r in rows if r["label"] == label and r["num_inference_steps"] == steps]

    big = json.loads((results / "samplers-1000.json").read_text())
    order3 = fids("samplers-1000.json", "ours β̃, order 3", 10)
    assert len(order3) == 3 and round(sum(order3) / 3, 1) == text.FID_1000["order 3, 10 steps"]
    assert round(big["reference"]["fid"], 1) == text.FID_1000["1000 steps"]
    sde = fids("samplers-1000.json", "diffusers SDE-DPM-Solver++ 2M", 10)
    assert len(sde) == 3 and round(sum(sde) / 3, 1) == text.FID_1000["SDE-DPM-Solver++ 2M"]
    order1 = "diffusers DDPM (= ours, order 1, β̃)"
    assert big["settings"]["timestep_spacing"] == "trailing"
    for key, steps in (("order 1, 10 steps", 10), ("order 1, 20 steps", 20)):
        assert [round(f, 1) for f in fids("samplers-1000.json", order1, steps)] == [text.FID_1000[key]], key
    for key, label in [
        ("DDIM", "diffusers DDIM η=0"),
        ("DPM-Solver++ (ODE)", "diffusers DPM-Solver++ 2M (ODE)"),
        ("UniPC", "diffusers UniPC (bh2, order 2)"),
    ]:
        assert [round(f, 1) for f in fids("samplers-1000.json", label, 10)] == [text.FID_1000[key]], key
        assert text.FID_1000[key] > text.FID_1000["SDE-DPM-Solver++ 2M"] > text.FID_1000["order 3, 10 steps"]


def test_the_live_view_sends_no_frame_the_final_update_would_soon_replace(
    tmp_path, app_module, app_model_dir, monkeypatch
):
    """On a clock where each step takes 1 s and frames may come every 1 s: 8 steps stream steps 1 … 6, not 7 (the
    final update, 1 s later, would replace it within FINAL_SOON_INTERVALS = 2 intervals), then the final."""
    from types import SimpleNamespace

    from ui.tabs import sample as module

    pipe = app_module.load_model(str(app_model_dir), device="cpu")
    clock = [0.0]
    monkeypatch.setattr(module, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    denoise = pipe.denoise

    def one_second_steps(**kwargs):
        for step in denoise(**kwargs):
            clock[0] += 1.0
            yield step

    monkeypatch.setattr(pipe, "denoise", one_second_steps)
    store = RunStore(root=tmp_path / "runs")
    ctx = AppContext(pipe=pipe, model_id="tiny", store=store, frame_interval_s=1.0, frame_budget=1.0)
    *streamed, final = SampleTab(ctx).sample(0, 2, 8, 1.0, "leading", "fixed_small", 1)
    assert module.FINAL_SOON_INTERVALS == 2
    assert [int(label.split()[1]) for _, _, label, *_ in streamed] == [1, 2, 3, 4, 5, 6]
    assert final[2].startswith("step 8 / 8")


def test_the_seeds_spread_and_the_spacing_words_are_the_1000_sample_benchmarks():
    """The between-seed spread the sentence under the order quotes at 15 to 25 steps, from the sampler benchmark's
    own per-step-count spread (3 seeds, 1,000 samples); every FID on the tab is from those 1,000-sample runs: the
    spacing paragraph quotes none (its 200-sample numbers disagreed with them)."""
    from pathlib import Path

    from ui.text import sample as text

    results = json.loads((Path(__file__).resolve().parents[2] / "bench" / "results" / "samplers-1000.json").read_text())
    assert results["settings"]["num_samples"] == 1000
    spreads = [results["comparison"][str(k)]["fid_spread"] for k in (15, 20, 25)]
    assert (round(min(spreads), 1), round(max(spreads), 1)) == text.SEED_SPREAD_1000
    for k in (10, 15, 20, 25):  # the benchmark's spread is the largest max − min over the samplers run with 3 seeds
        seeded: dict[str, list[float]] = {}
        for r in results["results"]:
            if r["num_inference_steps"] == k and r.get("fid") is not None:
                seeded.setdefault(r["label"], []).append(r["fid"])
        assert max(max(f) - min(f) for f in seeded.values() if len(f) == 3) == pytest.approx(
            results["comparison"][str(k)]["fid_spread"]
        )
    assert "by {} to {}, most minus least over 3 seeds".format(*text.SEED_SPREAD_1000) in text.ORDER_SENTENCE
    # and at 10 steps, the step count of every FID quoted without one
    assert round(results["comparison"]["10"]["fid_spread"], 1) == text.SEED_SPREAD_10
    assert f"by up to {text.SEED_SPREAD_10} at 10 steps" in text.ORDER_SENTENCE
    assert "one seed unless said" in text.ORDER_SENTENCE
    words = " ".join(text.sample_explanation("digit").split())
    assert "FID 14.3 against 6.0" in words and "200 samples" not in words and "trailing against" not in words


def test_the_schedule_numbers_in_the_words_are_the_shipped_schedulers():
    """√ᾱ at the two starts, the spacing plans and β_{t|s} / β̃_{t|s} at t = 199 of the default run."""
    from pathlib import Path

    from pipelines import PosteriorDDPMScheduler
    from pipelines.ddpm.plots import chain_steps
    from ui.text import sample as text

    folder = Path(__file__).resolve().parents[2] / "models" / "ddpm-mnist" / "scheduler"
    scheduler = PosteriorDDPMScheduler.from_pretrained(folder)
    a = scheduler.alphas_cumprod.double().numpy()
    words = " ".join(text.sample_explanation("digit").split())  # one line: the sentences' own line breaks dropped
    assert f"= {a[999] ** 0.5:.3f}$ of the" in words and f"= {a[900] ** 0.5:.3f}$ of the image" in words
    trailing = PosteriorDDPMScheduler.from_config(scheduler.config, timestep_spacing="trailing").timestep_plan(10)
    leading = PosteriorDDPMScheduler.from_config(scheduler.config, timestep_spacing="leading").timestep_plan(10)
    assert (trailing[0], leading[0], leading[-1], trailing[0] - leading[0]) == (999, 900, 0, 99)
    steps = chain_steps(a, trailing.tolist())
    k = list(steps["t"]).index(199)
    assert f"is {steps['beta'][k] / steps['beta_tilde'][k]:.1f} times" in words


def test_the_2d_number_the_words_quote_is_the_2d_tabs_default_step():
    from ui.format import times
    from ui.tabs.variance import toy_default_step
    from ui.text import sample as text

    ratio = toy_default_step()["ratios"]["fixed_small"]
    assert f"{times(1 / ratio)} too narrow for a long" in " ".join(text.sample_explanation("digit").split())
