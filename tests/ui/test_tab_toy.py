"""The 2-D world through gradio_client against a live app: a model trained in one session drives that session's
views only; the shipped weights answer on first use."""

import pytest

from helpers.app_server import serve_app


@pytest.fixture(scope="module")
def app_url(app_model_dir, tmp_path_factory):
    with serve_app(app_model_dir, log_path=tmp_path_factory.mktemp("toy-log") / "app.log") as url:
        yield url


def test_training_in_one_session_leaves_the_other_on_the_shipped_model(app_url):
    from gradio_client import Client

    mine, theirs = Client(app_url, verbose=False), Client(app_url, verbose=False)
    before = mine.predict("spiral", 16, 60, 50, 0.0, 0.0, 0, api_name="/toy_step")[3]
    assert before["model"]["source"] == "shipped" and before["stride_table"][0]["stride"] == 1
    updates = list(mine.submit("spiral", 16, 200, 3, api_name="/toy_train"))
    final = updates[-1][2]
    assert final["done"] and len(final["losses"]) == 200 and all(not u[2]["done"] for u in updates[:-1])
    steps = [u[2]["step"] for u in updates]
    assert steps[0] == 0 and steps == sorted(steps) and steps[-1] == 200  # a picture at once, then in order
    assert f"update {steps[1]:,} of 200" in updates[1][1] if len(updates) > 2 else "200 updates" in updates[-1][1]
    *_, after_words, after = mine.predict("spiral", 16, 60, 50, 0.0, 0.0, 0, api_name="/toy_step")
    assert after["model"]["source"] == "trained in this session" and after["model"]["train_steps"] == 200
    assert "trained in this session" in after_words  # the view says which model it shows
    assert "mean loss over the last" in updates[-1][1] and final["final_loss"] == pytest.approx(
        sum(final["losses"][-100:]) / 100
    )
    assert after["model_mean"] != before["model_mean"]
    other = theirs.predict("spiral", 16, 60, 50, 0.0, 0.0, 0, api_name="/toy_step")[3]
    assert other["model"]["source"] == "shipped" and other["model_mean"] == before["model_mean"]
    sampled = mine.predict("spiral", 16, 50, 20, 0, api_name="/toy_sample")[2]
    assert sampled["exact_copy_fraction"] == 1.0 and sampled["model"]["source"] == "trained in this session"


def test_the_step_text_reads_the_view_and_the_copy_rule_is_the_librarys():
    from pipelines import toy2d
    from pipelines.exact.neighbours import COPY_RATIO_TEXT
    from pipelines.exact.posterior import DatasetPosterior
    from pipelines.toy2d.plots import STRIDE_VARIANCE_SYMBOLS
    from ui.text import toy as text

    posterior = DatasetPosterior(toy2d.as_images(toy2d.load_points("two_moons", 64)), toy2d.toy_scheduler())
    view = toy2d.toy_step_view(posterior, toy2d.load_toy_model("two_moons"), (0.0, 0.0), 60, 50, num_draws=1000)
    words = text.toy_step_text(view, one_step_beta=0.0013)
    assert "| 50 (this step) | 60 → 10 |" in words and view.kl_method in words
    # a strided step's variances are written β_{t|s}, β̃_{t|s} (s = t − Δ); a bare β_t only for Ho et al.'s one step
    assert all(f"$p_\\theta$ with {STRIDE_VARIANCE_SYMBOLS[name]}" in words for name in toy2d.VARIANCES)
    assert "\\beta_{t\\vert s}" in STRIDE_VARIANCE_SYMBOLS["fixed_large"] and "$\\beta_t$" not in words
    assert f"$\\beta_{{t|s}}$ = {view.step.variances['fixed_large']:.3g}, against 0.0013 for one step" in words
    # the means' distances from x_t, and where the plane shows them (a short step: on x_t, the zoom shows them)
    assert "from $x_t$" in words and "at its scale they are one spot" in words
    assert "nearly Gaussian" in words and view.stride_shape == "splits"
    summary = dict.fromkeys(
        ("num_samples", "num_points", "exact_pixel_copies", "exact_distinct_points", "model_pixel_copies", "seed"), 1
    )
    summary.update(exact_copy_fraction=1.0, model_copy_fraction=0.0, copy_distance=1e-3, num_inference_steps=10)
    summary.update(training_spacing_median=0.1, exact_seconds=0.1, model_seconds=0.1)
    summary["model"] = {"source": "shipped", "dataset": "two_moons", "num_points": 256, "train_steps": 10, "seed": 0}
    words = text.toy_sample_text(summary, 0.0, 0.05)
    assert f"$d_1/d_2 < {COPY_RATIO_TEXT}$" in words and "Gu et al., TMLR 2025" in words
    # which model and which N: the shipped model's N differs from the exact sampler's here, and the page says so
    assert "the shipped $p_\\theta$ (trained on $N = 256$ points" in words and "exact sampler uses $N = 1$" in words
    # the variance verdict at this x_t, with the numbers of the variance tab's MNIST chain beside it
    from ui.tabs.variance import ChainReading

    mnist = ChainReading(40, 25.0, 1e-4, 0.4, 0.998, 550, True, 90.3, 25)
    verdict = text.variance_sentence(view, mnist)
    from ui.format import times

    narrow = view.step.true_variance / view.step.variances["fixed_small"]  # the exact step is wider than β̃ here
    assert f"{times(narrow)} too narrow" in verdict and "within 0.2%" in verdict and "90.3× too wide" in verdict
    assert "on average over" in verdict


def test_each_stride_row_shows_its_monte_carlo_error_once_and_the_training_loss_has_one_name():
    from pipelines import toy2d
    from pipelines.exact.posterior import DatasetPosterior
    from ui.tabs.toy import final_loss
    from ui.text import toy as text

    posterior = DatasetPosterior(toy2d.as_images(toy2d.load_points("two_moons", 256)), toy2d.toy_scheduler())
    view = toy2d.toy_step_view(posterior, toy2d.load_toy_model("two_moons"), (0.0, 0.0), 60, 50, num_draws=1000)
    rows = [line for line in text.toy_step_text(view).splitlines() if line.startswith("| 1 |")]
    assert len(rows) == 1 and rows[0].count("±") == 0 and rows[0].count("$2\\times10^{-8}$") == 1
    losses = [1.0] * 50 + [0.5] * 100
    summary = dict(dataset="spiral", num_points=16, train_steps=150, seed=0, step=150, done=True, seconds=1.0)
    done = text.toy_train_text({**summary, "loss": losses[-1], "final_loss": final_loss(losses)})
    line = text.toy_model_line({**summary, "source": "trained", "final_loss": final_loss(losses)})
    assert "mean loss over the last 100 updates 0.5000" in done and "over its last 100 updates 0.5000" in line


def test_a_finished_training_or_going_back_redraws_every_view_that_depends_on_the_model(ctx):
    """After /toy_train (and after "Use the shipped p_θ again") the step and samplers views are redrawn, so no view
    keeps showing the other model's numbers; opening the tab draws the step, the samplers and the untrained start."""
    import gradio as gr

    from ui.tabs.toy import ToyTab

    with gr.Blocks() as demo:
        with gr.Tab("2-D world") as block:
            tab = ToyTab(ctx)
            tab.block = block
            tab.layout()
    fns = list(demo.fns.values())

    def chain_after(start) -> list[str]:
        names, current = [], start
        while True:
            following = [f for f in fns if f.trigger_after == current._id]
            if not following:
                return names
            current = following[0]
            names.append(getattr(current.fn, "__name__", None))

    train = next(f for f in fns if f.api_name == "toy_train")
    assert chain_after(train)[-2:] == ["toy_step", "redraw_samples"]
    forget = next(f for f in fns if getattr(f.fn, "__name__", "") == "forget")
    assert chain_after(forget)[-2:] == ["toy_step", "redraw_samples"]
    on_open = {getattr(f.fn, "__name__", None) for f in fns if any(t[1] == "select" for t in f.targets)}
    assert {"toy_step", "redraw_samples", "train_preview"} <= on_open


def test_the_page_names_things_as_a_student_reads_them_and_says_the_strides_it_draws():
    """Data sets by name (not the API's ids), K steps with the stride Δ each takes, and why the untrained network's
    samples sit on the square's edges."""
    from pipelines.ddpm.scheduler import PosteriorDDPMScheduler
    from pipelines.toy2d.plots import plan_title
    from ui.text import toy as text

    plan = PosteriorDDPMScheduler().timestep_plan(100).tolist()
    assert (
        text.plan_words(plan)
        == r"$K = 100$ steps of stride $\Delta = 10$ ($t = 990 \to 980 \to \dots \to 0$, then to $x_0$)"
    )
    assert plan_title(plan) == "100 steps of Δ = 10"
    assert plan_title(PosteriorDDPMScheduler().timestep_plan(300).tolist()) == "300 steps of Δ = 3"
    summary = dict(dataset="two_moons", num_points=256, train_steps=3000, seed=0, step=0, done=False, loss=None)
    preview = text.toy_train_text({**summary, "preview": True})
    assert "two moons" in preview and "two_moons" not in preview and "clips $\\hat x_0$ to $[-1, 1]^2$" in preview
    line = text.toy_model_line({**summary, "source": "shipped"})
    assert "for two moons" in line and "two_moons" not in line
    assert "num_points" not in text.TOY_INTRO + text.TOY_STEP_INTRO + text.TOY_SAMPLE_INTRO + text.TOY_TRAIN_INTRO


def test_numbers_the_step_view_shows_twice_agree():
    """p_θ's σ (the scheduler's p_mean_variance, what the sampler draws with) and the components' √β̃ (the posterior
    coefficients) are the same number on the page; the chosen step's KLs head the text and its table row."""
    from pipelines import toy2d
    from pipelines.exact.posterior import DatasetPosterior
    from ui.text import toy as text
    from ui.text.toy import _math, nats

    posterior = DatasetPosterior(toy2d.as_images(toy2d.load_points("two_moons", 64)), toy2d.toy_scheduler())
    view = toy2d.toy_step_view(posterior, toy2d.load_toy_model("two_moons"), (0.0, 0.0), 60, 50, num_draws=1000)
    assert f"{view.model_std:.3g}" == f"{view.step.component_variance**0.5:.3g}"
    words = text.toy_step_text(view)
    row = next(line for line in words.splitlines() if "(this step)" in line)
    # the same number in the text and in the table (where every number is LaTeX, like its tiny neighbours)
    assert (
        f"**{nats(view.step.kl_model.nats)} nats**" in words and f"| {_math(nats(view.step.kl_gaussian.nats))} |" in row
    )
    assert (
        f"| {_math(nats(view.step.kl_by_variance['fixed_small'].nats))} |" in row
    )  # the sampler's variance: the same KL
