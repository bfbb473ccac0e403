"""The clipping guard on every plot of the Sample, Why and Exact tabs (the plots modules): drawn with the inputs
the app gives them (the shipped model's scheduler, a 40-step chain, realistic costs and distances), every title, label,
tick label, legend entry and annotation lies inside its figure and none covers another; and the guard itself catches
a clipped title, overlapping texts and tick labels running into a neighbouring axes."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from matplotlib.figure import Figure

from helpers.figure_layout import assert_layout_ok, layout_problems
from pipelines import PosteriorDDPMScheduler
from pipelines.ddpm.plots import plot_schedule
from pipelines.exact.plots import plot_commit, plot_nearest_distances, plot_step_cost, plot_step_costs

REPO = Path(__file__).resolve().parents[2]


def shipped_scheduler() -> PosteriorDDPMScheduler:
    config = json.loads((REPO / "models/ddpm-mnist/scheduler/scheduler_config.json").read_text())
    return PosteriorDDPMScheduler.from_config(config)


def chain(scheduler, k: int = 40) -> list[int]:
    scheduler.set_timesteps(k)
    return [int(t) for t in scheduler.timesteps]


# ---------------------------------------------------------------------------------------------- the guard itself
def test_the_guard_catches_a_title_cut_at_the_top_and_two_texts_on_each_other():
    fig = Figure(figsize=(4, 3), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_title("a title pushed out of the figure", y=1.4)
    ax.text(0.5, 0.5, "one text", transform=ax.transAxes)
    ax.text(0.52, 0.5, "another text", transform=ax.transAxes)
    problems = layout_problems(fig)
    assert any("a title pushed" in p and "clipped" in p for p in problems), problems
    assert any("one text" in p and "overlap" in p for p in problems), problems


def test_the_guard_catches_tick_labels_running_into_the_next_axes():
    fig = Figure(figsize=(4, 2), dpi=100)
    left, right = fig.subplots(1, 2, gridspec_kw={"wspace": 0.0})
    right.set_ylim(1e6, 1e7)  # long tick labels on the right axes' left side, over the left axes' tick labels
    right.set_yticks([2e6, 5e6, 8e6], ["2 000 000", "5 000 000", "8 000 000"])
    left.set_xticks([0.5, 1.0], ["0.5", "1.0 (a long label)"])
    right.set_xticks([0.0, 0.5], ["0.0 (a long label)", "0.5"])
    problems = layout_problems(fig)
    assert any("overlap" in p for p in problems), problems


def test_the_guard_catches_a_legend_over_tick_labels():
    fig = Figure(figsize=(3, 3), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))  # axes filling the figure: tick labels drawn inside it, under the legend
    ax.plot([0, 1], [0, 1], label="a line with a long legend entry")
    ax.tick_params(direction="in", pad=-15)
    ax.legend(loc="lower left")
    problems = layout_problems(fig)
    assert any("legend covers" in p or "clipped" in p for p in problems), problems


# ---------------------------------------------------------------------------------------------- every plot
@pytest.mark.parametrize("t", [None, 0, 975, 999])
def test_schedule_plot_of_the_shipped_scheduler_is_whole(t):
    scheduler = shipped_scheduler()
    timesteps = None if t is None else chain(scheduler)
    assert_layout_ok(plot_schedule(scheduler, t=t, timesteps=timesteps), f"plot_schedule(t={t})")


def step_costs(model_ms: float = 2.4, sizes=(250, 500, 1000, 2000, 4500), c: float = 2.2e-6, D: int = 1024):
    """Numbers shaped like `StepCosts` (what the app measures at first use): exact step ms ≈ c·N·D."""
    rows = [{"N": n, "D": D, "ms": c * n * D * (1.3 if n < 1000 else 1.0)} for n in sizes]
    targets = (
        ("CIFAR-10", 50_000, 32 * 32 * 3),
        ("ImageNet 64×64", 1_281_167, 64 * 64 * 3),
        ("LAION-400M at 64×64×3", 400_000_000, 64 * 64 * 3),
    )
    extrapolated = [{"name": name, "N": n, "D": d, "ms": c * n * d, "bytes": 4 * n * d} for name, n, d in targets]
    return SimpleNamespace(rows=rows, ms_per_element=c, model_ms=model_ms, extrapolated=extrapolated)


@pytest.mark.parametrize("model_ms", [0.6, 2.4, 45.0])
def test_step_cost_plot_is_whole(model_ms):
    costs = step_costs(model_ms=model_ms)
    title = "One reverse step: exact cost grows with N·D, the model's does not"
    assert_layout_ok(plot_step_costs(costs, title=title), f"plot_step_costs(model_ms={model_ms})")


def commit_inputs(num_images: int, k: int = 40, num_data: int = 4500, seed: int = 0):
    """Per trajectory, 1/Σw² falling from N to 1 and max w rising to 1 over a k-step chain, committing midway."""
    rng = np.random.default_rng(seed)
    timesteps = chain(shipped_scheduler(), k)
    effective_n, max_weight, commit = [], [], []
    for _ in range(num_images):
        where = int(rng.integers(k // 3, k - 2))
        n_eff = [float(num_data) ** max(0.0, 1 - j / where) for j in range(k)]
        effective_n.append(n_eff)
        max_weight.append([min(1.0, 1 / n) for n in n_eff])
        commit.append(where)
    return timesteps, effective_n, max_weight, commit, num_data


@pytest.mark.parametrize("num_images", [1, 8, 16])
def test_commit_plot_is_whole(num_images):
    assert_layout_ok(plot_commit(*commit_inputs(num_images)), f"plot_commit({num_images} trajectories)")


@pytest.mark.parametrize("exact, model", [([0.0] * 8, [7.1, 8.3, 6.9, 9.4, 7.7, 8.8, 6.2, 7.9]), ([0.0], [0.2])])
def test_nearest_distance_plot_is_whole(exact, model):
    heldout = np.random.default_rng(0).normal(7.5, 1.2, size=500).clip(2, None)
    assert_layout_ok(plot_nearest_distances(heldout, exact, model), "plot_nearest_distances")


def test_nearest_distance_plot_shows_the_exact_samples_ticks_at_zero_clear_of_the_y_axis():
    """Copies sit at distance 0: their ticks must be drawn inside the axes, away from its left edge (the y axis)."""
    heldout = np.random.default_rng(0).normal(7.5, 1.2, size=500)
    fig = plot_nearest_distances(heldout, [0.0] * 8, [7.0] * 8)
    ax = fig.axes[0]
    left, right = ax.get_xlim()
    assert left < 0 and -left >= 0.02 * (right - left)  # at least 2 % of the width between the y axis and 0


def test_step_cost_series_plot_is_whole():
    series = {
        dtype: [
            {"n": n, "median_ms": 2.2e-6 * n * 1024 * k, "median_cpu_ms": 2.0e-6 * n * 1024 * k}
            for n in (100, 1000, 4500)
        ]
        for k, dtype in ((1, "float32"), (2, "float64"))
    }
    figure = plot_step_cost(series, model_ms=2.4, keys=("median_ms", "median_cpu_ms"))
    assert_layout_ok(figure, "plot_step_cost")
