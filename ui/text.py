"""Every sentence and formula the page shows, built from numbers the library returns. No computation here
beyond formatting: the tabs pass in what `pipelines` computed."""

from __future__ import annotations

import math
import statistics

VARIANCES = {"fixed_small": "β̃_t (posterior variance)", "fixed_large": "β_t"}

# ---------------------------------------------------------------------------------------------- page
def header(model_id: str, image_shape, num_train_timesteps: int, prediction_type: str) -> str:
    C, H, W = image_shape
    return (f"# DDPM, step by step\nModel **{model_id}**: {C}×{H}×{W} images, T = {num_train_timesteps} training "
            f"steps, {prediction_type} prediction. Every sample below comes from the same sampling loop "
            "(`PosteriorDDPMPipeline.denoise`); the last two tabs ask why that loop needs a learned p_θ at all.")


def ms(seconds: float) -> str:
    """Seconds as "12.3 ms" or "45 µs"."""
    return f"{seconds * 1e3:.1f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.0f} µs"


def md(text: str) -> str:
    """Plain text for a gr.Markdown: escape what markdown would read as markup."""
    return text.replace("\\", "\\\\").replace("*", "\\*")


# ---------------------------------------------------------------------------------------------- tab: sample
SAMPLE_EXPLANATION = """
**xₜ** (left) is the noisy sample: pure Gaussian noise at t = T, an image at t = 0. Each step draws the next,
less noisy one from p_θ(xₜ₋₁ | xₜ); the picture shown is the sample just drawn.

**x̂₀** (right) is the network's one-shot guess of the final image from xₜ (Ho et al. eq. 15): a blurry average
of plausible digits early, sharp at the end. p_θ is the true posterior q(xₜ₋₁ | xₜ, x₀) with x₀ replaced by x̂₀.

**η (eta)** scales the noise added at each step: 1 = DDPM's posterior (stochastic), 0 = DDIM (deterministic:
the seed then fixes only the starting noise). With few steps, small η usually looks cleaner.

**Steps** trade time for fidelity: the run visits K of the T training timesteps (the spacing decides which);
the cost is linear in K, and the chain matches training exactly only at K = T. The **variance** is the noise
of each step: β̃ₜ (the posterior's, eq. 7) or βₜ (an upper bound; needs η = 1).
"""


def step_label(k: int, num_steps: int, t: int, prev_t: int) -> str:
    """"step k / K, t = 779 → 759": step k took x at t to the sample shown (x₀ on the last step)."""
    return f"step {k} / {num_steps}, t = {t} → {prev_t if prev_t >= 0 else 'x₀'}"


def filmstrip_caption(num_frames: int) -> str:
    return (f"**Filmstrip**: {num_frames} evenly spaced steps of the run, noise (left) to image (right); for each "
            "of the first images, x_t above x̂0.")


# ---------------------------------------------------------------------------------------------- tab: why p_θ
POSTERIOR_INTRO = """
**The question.** The forward process has a closed-form reverse step, q(xₜ₋₁ | xₜ, x₀) (Ho et al. eq. 6–7).
Why learn p_θ(xₜ₋₁ | xₜ) at all? Pick a digit x₀ and a step t, draw xₜ ~ q(xₜ | x₀), and compare three ways to
answer "where does xₜ go next?" — and what each one needs.
"""

ESTIMATE_LABELS = {"tractable": "tractable μ̃(x_t, x0)", "exact": "exact E[x_{t−1} | x_t]",
                   "model": "model μ_θ(x_t, t)"}


def estimate_texts(num_data: int, num_pixels: int, num_parameters: int) -> dict[str, dict[str, str]]:
    """Title, formula and what it needs, for each of the three estimates of the reverse step."""
    return {
        "tractable": {
            "title": "Tractable posterior q(x_{t−1} | x_t, x_0)",
            "formula": "μ̃_t(x_t, x_0) = √ᾱ_{t−1} β_t / (1 − ᾱ_t) · x_0 + √α_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · x_t   "
                       "(eq. 7)",
            "needs": "x_t and the clean digit x_0 — the very image we are trying to generate",
        },
        "exact": {
            "title": "Exact reverse step q(x_{t−1} | x_t) over the data set",
            "formula": "E[x_{t−1} | x_t] = Σ_i q(x_0^i | x_t) μ̃_t(x_t, x_0^i),  "
                       "q(x_0^i | x_t) ∝ exp(−‖x_t − √ᾱ_t x_0^i‖² / 2(1 − ᾱ_t))",
            "needs": f"x_t and all N = {num_data:,} training images ({num_data * num_pixels:,} numbers), compared at "
                     "every step",
        },
        "model": {
            "title": "Learned reverse step p_θ(x_{t−1} | x_t)",
            "formula": "μ_θ(x_t, t) = μ̃_t(x_t, x̂_0),  x̂_0 = (x_t − √(1 − ᾱ_t) ε_θ(x_t, t)) / √ᾱ_t   (eq. 11, 15)",
            "needs": f"x_t only — one call of the network ({num_parameters:,} parameters)",
        },
    }


def estimate_text(comparison, texts: dict[str, str], name: str, distance_to_x0: float) -> str:
    """The markdown under one estimate's picture: formula, what it needs, time, distances to the others."""
    others = [n for n in comparison.estimates if n != name]
    means = " · ".join(f"{n} {comparison.mean_distances[name][n]:.3f}" for n in others)
    x0s = " · ".join(f"{n} {comparison.x0_distances[name][n]:.3f}" for n in others)
    return (f"**{md(texts['title'])}**\n\n`{texts['formula']}`\n\n"
            f"- **needs:** {md(texts['needs'])}\n"
            f"- **took:** {ms(comparison.estimates[name].seconds)}\n"
            f"- **its x_{{t−1}} is from:** {means} · x0 {distance_to_x0:.3f}\n"
            f"- **its x̂0 is from:** {x0s}")


def explain_comparison(c) -> str:
    """A few plain sentences (markdown) that answer "why learn p_θ?" from the numbers of one comparison
    (a `pipelines.exact_posterior.PosteriorComparison`)."""
    e = c.estimates
    d = c.mean_distances
    lines = [
        f"At t = {c.t}, x_t keeps √ᾱ_t = {math.sqrt(c.alpha_bar):.3f} of the digit and "
        f"√(1 − ᾱ_t) = {math.sqrt(1 - c.alpha_bar):.3f} noise.",
        f"**Tractable** μ̃(x_t, x_0) took {ms(e['tractable'].seconds)}, but it needs x_0 — the image we are "
        "trying to generate. At sampling time we only have x_t, so this formula cannot drive a sampler.",
    ]
    who = (f"the source digit #{c.source_index}" if c.source_index is not None and c.argmax_index == c.source_index
           else f"training image #{c.argmax_index}")
    lines.append(
        f"**Exact** E[x_{{t−1}} | x_t] needs no x_0, but it compared x_t with all {c.num_data:,} training images "
        f"({c.num_data * c.num_pixels:,} numbers) in {ms(e['exact'].seconds)} — for every step of every sample, "
        f"growing with the data set. It puts {c.max_weight:.1%} of its weight on {who} "
        f"(effective number of candidates {c.effective_n:,.1f})."
    )
    if c.max_weight > 0.99 and c.source_index is not None and c.argmax_index == c.source_index:
        lines.append(f"Here it has recognised the digit, so it sits {d['exact']['tractable']:.3f} from the tractable "
                     "mean: the exact sampler ends on a copy of a training image.")
    elif c.max_weight > 0.99:
        lines.append("It is already certain of one training image: the exact sampler can only return copies of "
                     "training images, never a new digit.")
    else:
        lines.append(f"It still hesitates between about {c.effective_n:,.0f} images, so its mean blurs them "
                     f"({d['exact']['tractable']:.3f} from the tractable mean).")
    x0d = c.x0_distances
    lines.append(
        f"**Model** μ_θ(x_t, t) needs only x_t and one network call ({ms(e['model'].seconds)}, "
        f"{c.num_parameters:,} parameters, the same cost whatever the data set's size): what it learned from the "
        f"data is in its weights. Its mean lands {d['model']['exact']:.3f} from the exact mean and "
        f"{d['model']['tractable']:.3f} from the tractable one; its x̂_0 is {x0d['model']['exact']:.3f} from the "
        f"exact E[x_0 | x_t] (L2 over all pixels; for scale, the noise one step adds has norm "
        f"{c.step_noise_norm:.3f})."
    )
    return "\n\n".join(lines)


# ---------------------------------------------------------------------------------------------- tab: exact sampler
EXACT_INTRO = """
With a finite data set the true reverse step is known exactly: q(xₜ₋₁ | xₜ) = Σᵢ q(x₀ⁱ | xₜ) q(xₜ₋₁ | xₜ, x₀ⁱ),
a mixture over all N training digits. Sample with it from pure noise and every chain ends **on a training digit,
exactly**: it can only copy. The model p_θ, from the same noise and the same steps, draws digits of its own.
Each sample is shown beside its nearest training digit (L2 distance over all 32×32 pixels, in [-1, 1] units).
"""


def exact_caption(summary: dict, num_images: int) -> str:
    """The numbers of one /exact_sample run in words."""
    exact, model = summary["exact"], summary["model"]
    exact_d, model_d = exact["nearest_distances"], model["nearest_distances"]
    steps = summary["num_inference_steps"]
    return (
        f"Same seed ({summary['seed']}), same {steps} step{'s' if steps > 1 else ''}, same starting noise.\n\n"
        f"- **exact q(x_{{t−1}} | x_t):** {exact['copies']}/{num_images} samples are copies of training "
        f"digits (largest distance to the nearest {max(exact_d):.2f}), in {exact['seconds']:.2f} s\n"
        f"- **model p_θ:** {model['copies']}/{num_images} copies; distance to the nearest training digit: "
        f"median {statistics.median(model_d):.2f}, smallest {min(model_d):.2f}, in {model['seconds']:.2f} s\n\n"
        f"A copy is a sample within {summary['copy_distance']:g} of a training digit. The exact sampler can only "
        "give back what it was shown; a model that generalises draws new digits."
    )


def pair_caption(index: int, distance: float, copy_distance: float) -> str:
    what = "copy of" if distance < copy_distance else "nearest"
    return f"{what} #{index}, d = {distance:.2f}"


COST_PLOT_TITLE = "Exact reverse step: its cost grows with N"


def cost_source_bench(machine: dict, repeats) -> str:
    return (f"exact step: bench/results/exact_posterior.json (bench/bench_exact_posterior.py on "
            f"{machine.get('cpu_model', 'unknown CPU')}, {machine.get('torch_threads', '?')} torch "
            f"thread(s), median of {repeats})")


def cost_source_measured(repeats: int) -> str:
    return (f"exact step: measured in this app at first use ({repeats} repeats per N; run "
            "bench/bench_exact_posterior.py for steadier numbers)")


def cost_note(source: str, model_id: str, model_ms: float | None) -> str:
    if model_ms is None:
        return source + "."
    return f"{source}. Model line: {model_id}, one UNet call + step, batch 1, measured in this app."
