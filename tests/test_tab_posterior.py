"""The "Why do we need p_θ?" tab (ui/tab_posterior.py), in-process with the tiny random 1×32×32 model: the training
target L_{t-1} (eq. 8) of the three means in the summary, the exact mean the smallest averaged loss, the "took"
numbers from the app's one cost measurement, the page's LaTeX and layout."""

import math

import gradio as gr
import pytest

from ui import text
from ui.context import AppContext
from ui.files import RunStore
from ui.tab_exact import exact_step_ms, step_costs
from ui.tab_posterior import PosteriorTab

ESTIMATES = ("tractable", "exact", "model")


@pytest.fixture(scope="module")
def ctx(app_model_dir, tmp_path_factory):
    import app

    pipe = app.load_model(str(app_model_dir), device="cpu")
    return AppContext(pipe=pipe, model_id="tiny", store=RunStore(root=tmp_path_factory.mktemp("runs")))


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
    assert "What training does with" in answer and "(smallest)" in answer and "Result:" in answer
    assert "$$" not in answer  # a number formatted as $…$ right after a "$" would open display math


def test_took_for_the_exact_and_model_steps_is_the_apps_one_cost_measurement(tab, ctx):
    out = tab.posterior(3, 500, 1)
    summary = out[-1]
    costs = step_costs(ctx)
    assert summary["step_ms"]["exact"] == exact_step_ms(costs, 4500) and summary["step_ms"]["N"] == 4500
    assert summary["step_ms"]["model"] == costs.model_ms
    tractable, exact, model = out[6:9]
    assert text.duration(summary["step_ms"]["exact"]) in exact and "median of the app's cost measurement" in exact
    assert text.duration(summary["step_ms"]["model"]) in model
    assert "this request" in tractable
    # The same numbers, not a second measurement: the cache answers both tabs.
    assert step_costs(ctx) is costs


def test_tiny_and_huge_numbers_are_shown_sensibly():
    assert text.sci(0.0) == "0"
    assert text.sci(5e-324) == r"$\approx 0$ ($<10^{-12}$)"  # a denormal at small t
    assert text.sci(3.2e-9) == r"$3.20\times10^{-9}$"
    assert text.sci(0.0123) == "0.0123" and text.sci(12.34) == "12.3" and text.sci(512.3) == "512"
    assert text.sci_tex(3.2e-9) == r"3.20\times10^{-9}"
    assert text.duration(0.42) == "0.42 ms" and text.duration(3400) == "3.4 s" and text.duration(4.2e7) == "11.7 h"
    assert text.size_bytes(614_400_000) == "614 MB" and text.size_bytes(1.97e13) == "19.7 TB"


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
    assert r"\delta(x_0-x_0^i)" in bayes and "is that correct?" in bayes and "Yes" in bayes
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


def test_a_training_loss_of_none_at_t_0_is_explained_not_shown_as_numbers():
    class AtZero:
        training_loss = None

    assert "does not apply" in text.training_loss_text(AtZero())
