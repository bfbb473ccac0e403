"""Tab "Which variance for p_θ?": along the demo's chain, the per-pixel variance of the true reverse step (exact,
over the model's training images) against the variances a Gaussian p_θ can use — β̃, β and Bao et al.'s optimal σ*²
(with the model's Γ_t and with the exact one) — and a sentence built from the numbers. API: /variance."""

from __future__ import annotations

import threading
from collections import OrderedDict

import gradio as gr
import numpy as np

from pipelines.ddpm.optimal_variance import GAMMA_FILE, make_command
from pipelines.exact.plots import plot_chain_variances
from pipelines.exact.variance import chain_variances, sampled_trajectory
from ui import format as fmt
from ui.base import LATEX, UI_CONCURRENCY
from ui.context import DEFAULT_NUM_INFERENCE_STEPS, AppContext
from ui.figures import drawn
from ui.inputs import MAX_SEED, api_outputs, check_int, check_seed, integer_input, user_errors

NUM_DRAWS = 8  # x_t ~ q(x_t) per step
CACHE_SIZE = 16  # chains kept (step count, seed)
MAX_VARIANCE_STEPS = 200  # the exact pass reads (NUM_DRAWS + 1) x_t per step: its cost grows with K
CLOSE = 0.05  # "the right width": within 5 % of the true variance

INTRO = r"""
### Which Gaussian for $p_\theta(x_{s} \mid x_t)$?

The true reverse step $q(x_s \mid x_t)$ is a mixture, not a Gaussian; $p_\theta$ replaces it by one Gaussian
$\mathcal N(\mu_\theta, \sigma^2 I)$. Its mean is learned; its variance is a choice: the posterior's own
$\tilde\beta$ (DDPM's `fixed_small`), the step's $\beta$ (`fixed_large`), or Bao et al.'s (2022) KL-optimal

$$\sigma^{*2} = \tilde\beta + \frac{\beta_{t|s}^2}{\alpha_{t|s}\,\bar\beta_t}\,(1-\Gamma_t),$$

$$\Gamma_t = \mathbb E_{x_t\sim q(x_t)} \frac{\lVert \epsilon_\theta(x_t,t)\rVert^2}{d},$$

the average over $x_t$ of the true step's per-pixel variance when $\epsilon_\theta$ is exact (`analytic`). Over
the {num_data} training digits the true step is computable: its variance is
$\tilde\beta + c_1^2\,\mathrm{tr}\,\mathrm{Cov}[x_0 \mid x_t]/d$ ($c_1$ the weight of $x_0$ in $\tilde\mu$).
The plot shows it at every step of the chain, at $x_t$ drawn from $q(x_t)$ and along one sampled trajectory.
"""


def times(ratio: float) -> str:
    """A ratio as words show it: "3.87×", "1,050×"."""
    return f"{ratio:.3g}×" if ratio < 100 else f"{ratio:,.0f}×"


def caption(record: dict, num_train_timesteps: int) -> str:
    """The sentence the student should take away, built from the chain's numbers (the noisy steps only: the final
    step to x_0 adds no noise in any sampler)."""
    K = len(record["timesteps"])
    noisy = [i for i, s in enumerate(record["prev_timesteps"]) if s >= 0]
    if not noisy:
        return "A 1-step chain goes straight to $x_0$ and adds no noise: there is no variance to choose."
    ts = np.asarray(record["timesteps"])[noisy]
    true = np.asarray(record["true_q"], dtype=np.float64)[noisy].mean(1)
    small = np.asarray(record["beta_tilde"])[noisy] / true
    large = np.asarray(record["beta"])[noisy] / true
    worst_small, worst_large = int(np.argmax(np.abs(small - 1))), int(np.argmax(large))
    stride = num_train_timesteps / K
    parts = [
        f"Along this {K}-step chain (strides of about {stride:.0f} timesteps) the true step's per-pixel variance "
        f"runs from {true.min():.3g} to {true.max():.3g}."
    ]
    if abs(small[worst_small] - 1) <= CLOSE:
        parts.append(
            rf"$\tilde\beta$ is within {abs(small[worst_small] - 1):.1%} of it at every noisy step: each step is "
            "small enough that one Gaussian with the posterior's own variance has the right width."
        )
    else:
        parts.append(
            rf"$\tilde\beta$ is {'too narrow' if small[worst_small] < 1 else 'too wide'} by up to "
            f"{abs(small[worst_small] - 1):.0%} (at $t = {ts[worst_small]}$): this stride is too big for the "
            "posterior's own variance."
        )
    parts.append(
        rf"$\beta$ is up to {times(large[worst_large])} too wide (at $t = {ts[worst_large]}$, where $\tilde\beta$ and "
        r"$\beta$ part). $\sigma^{*2}$ with the exact $\Gamma_t$ is the mean true variance itself (Bao et al.'s "
        "theorem; the circles sit on the blue line)."
    )
    if len(record.get("true_trajectory") or []) == K:
        along = np.asarray(record["true_trajectory"])[noisy] / np.asarray(record["beta_tilde"])[noisy]
        widest = int(np.argmax(along))
        parts.append(
            rf"At the $x_t$ of the sampled trajectory (×) the true step is up to {times(along[widest])} "
            rf"$\tilde\beta$ (at $t = {ts[widest]}$): a sample of the model is no training digit, so the exact "
            "posterior over them decides later there than at a noised training digit."
        )
    if len(record.get("sigma2_model") or []) == K:
        model = np.asarray(record["sigma2_model"])[noisy] / true
        worst = int(np.argmax(np.abs(model - 1)))
        parts.append(
            rf"With the model's $\Gamma_t$, $\sigma^{{*2}}$ is up to {times(model[worst])} the true variance "
            rf"(at $t = {ts[worst]}$): the model, which generalises, is less sure of $\epsilon$ than the exact "
            r"posterior over the training digits, which has already picked one digit there ($\Gamma_t \to 1$, "
            r"$\sigma^{*2} \to \tilde\beta$)."
        )
    return " ".join(parts)


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
                gr.Markdown(
                    self.words(INTRO.replace("{num_data}", num_data)),
                    latex_delimiters=LATEX,
                    elem_id="variance-intro",
                )
                steps = integer_input(
                    gr.Slider(
                        1,
                        high,
                        value=min(DEFAULT_NUM_INFERENCE_STEPS, high),
                        step=1,
                        label="num_inference_steps (K), the chain's length",
                        elem_id="variance-num-steps",
                    )
                )
                seed = integer_input(
                    gr.Number(
                        0,
                        label="seed",
                        info=f"integer in [0, {MAX_SEED}]; the x_t draws and the sampled trajectory",
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
                plot = gr.Image(
                    label="per-pixel variance of each reverse step",
                    type="pil",
                    format="png",
                    interactive=False,
                    show_label=False,
                    elem_id="variance-plot",
                )
                note = gr.Markdown(elem_id="variance-caption", latex_delimiters=LATEX)
                with gr.Accordion("JSON summary (every number of the plot; the API's last output)", open=False):
                    summary = gr.JSON(label="summary", elem_id="variance-summary")
        button.click(
            self.variance,
            inputs=[steps, seed],
            outputs=api_outputs(plot=plot, caption=note, summary=summary),
            api_name="variance",
            concurrency_limit=UI_CONCURRENCY,
            concurrency_id="ui",
            show_progress="minimal",
        )

    def words(self, markdown: str) -> str:
        """The page's words for this model's data (digit for MNIST, image otherwise)."""
        return fmt.for_data(markdown, self.ctx.noun, self.ctx.image_shape)

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
        words = self.words(caption(record, self.ctx.num_train_timesteps))
        if record["gamma_missing_command"]:
            words += (
                rf" (No $\sigma^{{*2}}$ with the model's $\Gamma_t$: the model folder has no {GAMMA_FILE}; "
                f"make it with `{record['gamma_missing_command']}`.)"
            )
        figure = drawn(plot_chain_variances, record, f"The variance of each of the {K} reverse steps")
        return figure, words, record
