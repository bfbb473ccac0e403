"""Tab "Which variance for p_θ?": along the demo's chain, the per-pixel variance of the true reverse step (exact,
over the model's training images) against the variances a Gaussian p_θ can use — β̃, β and Bao et al.'s optimal σ*²
(with the model's Γ_t and with the exact one) — and a sentence built from the numbers. API: /variance."""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass

import gradio as gr
import numpy as np

from pipelines import toy2d
from pipelines.ddpm.optimal_variance import make_command
from pipelines.ddpm.schedule import plan_timesteps
from pipelines.exact.plots import draw_spread, plot_chain_variances
from pipelines.exact.posterior import DatasetPosterior
from pipelines.exact.variance import chain_variances, sampled_trajectory
from pipelines.toy2d.step_view import DEFAULT_STRIDE, DEFAULT_T, DEFAULT_X_T
from ui.base import LATEX, UI_QUEUE, picture
from ui.context import DEFAULT_NUM_INFERENCE_STEPS, AppContext
from ui.figures import drawn
from ui.inputs import MAX_SEED, api_outputs, check_int, check_seed, integer_input, user_errors
from ui.text import variance as text

NUM_DRAWS = 8  # x_t ~ q(x_t) per step
CACHE_SIZE = 16  # chains kept (step count, seed)
MAX_VARIANCE_STEPS = 200  # the exact pass reads (NUM_DRAWS + 1) x_t per step: its cost grows with K
CLOSE = 0.05  # "the right width": within 5 % of the true variance


@dataclass(frozen=True)
class ChainReading:
    """What a chain's numbers say, over its noisy steps (the final step to x_0 adds no noise in any sampler).

    small_ratio: β̃ / the true variance where it is furthest from 1 (at small_t; small_close: within CLOSE at every
    noisy step); large_ratio: β / the true variance at its largest (large_t); trajectory_ratio: the true variance at
    the sampled trajectory's x_t / β̃ at its largest (None without a trajectory); model_ratio: σ*² with the model's
    Γ_t / the true variance, furthest from 1 (None without the model's Γ_t); exact_sigma_ratio: σ*² with the exact
    Γ_t / the mean true variance, furthest from 1; draw_spread: the largest (max / min) of the true variance over
    the x_t draws of one step (how wide the shaded range is); timesteps: the chain's t, all steps."""

    num_steps: int
    stride: float
    true_low: float
    true_high: float
    small_ratio: float
    small_t: int
    small_close: bool
    large_ratio: float
    large_t: int
    trajectory_ratio: float | None = None
    trajectory_t: int | None = None
    model_ratio: float | None = None
    model_t: int | None = None
    exact_sigma_ratio: float | None = None
    draw_spread: float | None = None
    timesteps: tuple[int, ...] = ()


def read_chain(record: dict, num_train_timesteps: int) -> ChainReading | None:
    """What `chain_variances`' record says (None for a chain with no noisy step)."""
    K = len(record["timesteps"])
    noisy = [i for i, s in enumerate(record["prev_timesteps"]) if s >= 0]
    if not noisy:
        return None
    ts = np.asarray(record["timesteps"])[noisy]
    true = np.asarray(record["true_q"], dtype=np.float64)[noisy].mean(1)
    small = np.asarray(record["beta_tilde"])[noisy] / true
    large = np.asarray(record["beta"])[noisy] / true
    worst_small, worst_large = int(np.argmax(np.abs(small - 1))), int(np.argmax(large))
    extra = {}
    if len(record.get("true_trajectory") or []) == K:
        along = np.asarray(record["true_trajectory"])[noisy] / np.asarray(record["beta_tilde"])[noisy]
        widest = int(np.argmax(along))
        extra.update(trajectory_ratio=float(along[widest]), trajectory_t=int(ts[widest]))
    if len(record.get("sigma2_model") or []) == K:
        model = np.asarray(record["sigma2_model"])[noisy] / true
        worst = int(np.argmax(np.abs(model - 1)))
        extra.update(model_ratio=float(model[worst]), model_t=int(ts[worst]))
    if len(record.get("sigma2_exact") or []) == K:
        best = np.asarray(record["sigma2_exact"])[noisy] / true
        extra["exact_sigma_ratio"] = float(best[int(np.argmax(np.abs(best - 1)))])
    extra["draw_spread"] = draw_spread(np.asarray(record["true_q"], dtype=np.float64)[noisy])
    return ChainReading(
        num_steps=K,
        timesteps=tuple(int(t) for t in record["timesteps"]),
        stride=num_train_timesteps / K,
        true_low=float(true.min()),
        true_high=float(true.max()),
        small_ratio=float(small[worst_small]),
        small_t=int(ts[worst_small]),
        small_close=bool(abs(small[worst_small] - 1) <= CLOSE),
        large_ratio=float(large[worst_large]),
        large_t=int(ts[worst_large]),
        **extra,
    )


def caption(
    record: dict, num_train_timesteps: int, noun: str = "digit", toy: dict | None = None, spacing: str | None = None
) -> str:
    """The sentence under the plot, for the data shown (noun: "digit" for MNIST, "image" otherwise); toy: the 2-D
    world's default step (`toy_default_step`), said beside it; spacing: the chain's timestep spacing (its trailing
    twin, the Sample tab's default, is quoted beside it)."""
    reading = read_chain(record, num_train_timesteps)
    if reading is None:
        return text.NO_NOISY_STEP
    K = len(record["timesteps"])
    trailing = plan_timesteps(num_train_timesteps, "trailing", 0, K).tolist() if spacing else None
    return text.caption(reading, noun, toy, spacing, trailing, record.get("num_draws", NUM_DRAWS))


def noisy_steps(record: dict) -> dict:
    """The record with its noisy steps only, for the plot: the last step goes to x_0 and adds no noise in any
    sampler (true variance and β̃ are 0 there, off a log axis), so no curve gets a lone point at its t."""
    K = len(record["timesteps"])
    keep = [i for i, s in enumerate(record["prev_timesteps"]) if s >= 0]
    return {
        key: [value[i] for i in keep] if isinstance(value, list) and len(value) == K else value
        for key, value in record.items()
    }


_shared_lock = threading.Lock()
_toy_default: dict = {}
_default_readings: dict = {}


def toy_default_step() -> dict:
    """The 2-D world tab's default step (its data set, N, x_t, t, stride and seed, the shipped 2-D model) through
    the same function that tab draws it with (`toy2d.toy_step_view`), as `text.toy_contrast` reads it: the exact
    step's variance per coordinate and each of p_θ's variances divided by it. Computed once per process."""
    with _shared_lock:
        if not _toy_default:
            dataset, n = toy2d.DEFAULT_DATASET, toy2d.DEFAULT_NUM_POINTS
            posterior = DatasetPosterior(toy2d.as_images(toy2d.load_points(dataset, n)), toy2d.toy_scheduler())
            model = toy2d.load_toy_model(dataset)
            view = toy2d.toy_step_view(posterior, model, DEFAULT_X_T, DEFAULT_T, DEFAULT_STRIDE)
            _toy_default.update(step_variances(view), dataset=dataset, num_points=n, x_t=DEFAULT_X_T)
        return dict(_toy_default)


def step_variances(view) -> dict:
    """What a 2-D step view says about p_θ's variances: t, prev_t, the exact step's variance per coordinate (true)
    and each of p_θ's variances / true (ratios, by the scheduler's names)."""
    true = view.step.true_variance
    return {
        "t": view.t,
        "prev_t": view.prev_t,
        "true": true,
        "ratios": {name: value / true for name, value in view.step.variances.items()},
    }


def default_chain_reading(ctx: AppContext) -> ChainReading | None:
    """What this tab's default chain says (K = the demo's default steps, seed 0, x_t ~ q(x_t)): the same
    `chain_variances` draws as the tab's own default plot, so the same ratios. None without the model's data.
    Computed once per context."""
    if not ctx.has_data:
        return None
    key = id(ctx)
    with _shared_lock:
        if key not in _default_readings:
            K = min(DEFAULT_NUM_INFERENCE_STEPS, MAX_VARIANCE_STEPS, ctx.num_train_timesteps)
            plan = ctx.pipe.scheduler.timestep_plan(K).tolist()
            record = chain_variances(ctx.dataset_posterior(), plan, NUM_DRAWS, 0)
            _default_readings[key] = read_chain(record, ctx.num_train_timesteps)
        return _default_readings[key]


class VarianceTab:
    """The variance of the true reverse step along a chain against β̃, β and σ*²."""

    title = "Which variance for p_θ?"

    def __init__(self, ctx: AppContext):
        self.ctx = ctx
        self.block = None  # the gr.Tab, set by build_demo
        self._cache: OrderedDict[tuple, dict] = OrderedDict()
        self._lock = threading.Lock()

    def layout(self) -> None:
        ctx = self.ctx
        high = min(MAX_VARIANCE_STEPS, ctx.num_train_timesteps)
        if not ctx.has_data:
            gr.Markdown(f"⚠️ **{ctx.data_notice()}**", elem_id="variance-notice")
        num_data = f"{len(ctx.train_images()):,}" if ctx.has_data else "N"
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                num_values = f"{math.prod(ctx.image_shape):,}"
                gr.Markdown(
                    text.intro(num_data, ctx.noun, num_values), latex_delimiters=LATEX, elem_id="variance-intro"
                )
                steps = integer_input(
                    gr.Slider(
                        1,
                        high,
                        value=min(DEFAULT_NUM_INFERENCE_STEPS, high),
                        step=1,
                        label="K, the chain's length in steps",
                        info=text.STEPS_INFO,
                        elem_id="variance-num-steps",
                    )
                )
                seed = integer_input(
                    gr.Number(
                        0,
                        label="seed",
                        info=f"integer in [0, {MAX_SEED}]; picks the draws of xₜ and the sampled trajectory",
                        precision=None,
                        elem_id="variance-seed",
                    ),
                    0,
                    MAX_SEED,
                )
                button = gr.Button(
                    "Compare the variances",
                    variant="primary",
                    elem_id="variance-button",
                    interactive=ctx.has_data,
                )
            with gr.Column(scale=3):
                plot = picture("per-pixel variance of each reverse step", "variance-plot")
                note = gr.Markdown(elem_id="variance-caption", latex_delimiters=LATEX)
                with gr.Accordion(
                    "JSON summary (every number of the plot; as a program calling the demo gets it)",
                    open=False,
                ):
                    summary = gr.JSON(label="summary", elem_id="variance-summary")
        outputs = api_outputs(plot=plot, caption=note, summary=summary)
        button.click(
            self.variance,
            inputs=[steps, seed],
            outputs=outputs,
            api_name="variance",
            show_progress="minimal",
            **UI_QUEUE,
        )
        if self.block is not None and ctx.has_data:  # the default chain when the tab is opened (cached per K, seed)
            self.block.select(
                self.variance, [steps, seed], outputs, api_visibility="private", show_progress="minimal", **UI_QUEUE
            )

    def chain(self, num_inference_steps: int, seed: int) -> dict:
        """`chain_variances` for the demo's K-step chain and seed, with the model's Γ_t when its folder has one;
        cached per (K, seed). The trajectory is the demo's sampler (DDPM, β̃) from that seed."""
        key = (num_inference_steps, seed)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        pipe = self.ctx.pipe
        plan, trajectory = sampled_trajectory(pipe, num_inference_steps, seed)
        try:
            gamma, missing = pipe.analytic_gamma(), None
        except ValueError:
            gamma, missing = None, make_command(getattr(pipe.config, "_name_or_path", "MODEL_FOLDER"))
        record = chain_variances(self.ctx.dataset_posterior(), plan, NUM_DRAWS, seed, trajectory, gamma)
        record.update(num_inference_steps=num_inference_steps, seed=seed, num_draws=NUM_DRAWS)
        record["gamma_model"] = None if gamma is None else [float(gamma[t]) for t in plan]
        record["gamma_missing_command"] = missing
        with self._lock:
            self._cache[key] = record
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return record

    @user_errors
    def variance(self, num_inference_steps, seed):
        """/variance: (plot, caption, summary) for a K-step chain from this seed."""
        K = check_int(
            "num_inference_steps", num_inference_steps, 1, min(MAX_VARIANCE_STEPS, self.ctx.num_train_timesteps)
        )
        seed = check_seed(seed)
        self.ctx.require_data()
        record = self.chain(K, seed)
        spacing = self.ctx.pipe.scheduler.config.timestep_spacing
        words = caption(record, self.ctx.num_train_timesteps, self.ctx.noun, toy_default_step(), spacing)
        if record["gamma_missing_command"]:
            words += text.no_model_gamma()
        title = f"The variance of each noisy reverse step of the {K}-step chain"
        figure = drawn(plot_chain_variances, noisy_steps(record), title)
        return figure, words, record
