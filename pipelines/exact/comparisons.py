"""Tractable vs exact vs model: what a step of p_θ is measured against, as numbers and tensors.

`compare_estimates`: for one digit x_0 and a step t → t − 1, three answers to "where does x_t go next?" — the
tractable μ̃_t(x_t, x_0) (needs x_0), the exact E[x_{t-1} | x_t] over the data set (needs all N images), and the
model's μ_θ (needs only x_t) — with the training loss L_{t-1} of eq. 8 of each mean. `compare_samplers`: the exact
sampler and the model from the same noise, each sample with its nearest training image, and where the exact sampler
committed to one image. The app's tabs lay them out; their words live in ui/text/, their plots in
pipelines/exact/plots.py.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from diffusers.utils.torch_utils import randn_tensor

from pipelines.checks import check_batch_size, check_images, check_int, check_seed, is_int
from pipelines.exact.neighbours import (
    COPY_DISTANCE,
    COPY_RATIO,
    COPY_RULE,
    copy_summary,
    l2_distance,
    nearest_distances,
)
from pipelines.exact.posterior import DatasetPosterior

# The exact sampler has committed to one training image once q(x_0 | x_t) puts this much weight on it.
COMMIT_WEIGHT = 0.99


@dataclass
class Estimate:
    """One estimate of the reverse step at (x_t, t): of x_{t-1} (mean) and of x_0 (pred_original_sample)."""

    name: str
    mean: torch.Tensor
    pred_original_sample: torch.Tensor
    seconds: float


@dataclass
class PosteriorComparison:
    """What the "Why do we need p_θ?" tab shows for one digit x_0 and one t (tensors (1, C, H, W)).

    noise: the ε of x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε (eq. 4). sigma2: σ_t² = β̃_t, the variance of q(x_{t-1} | x_t, x_0)
    (0 at t = 0). training_loss: L_{t-1}(μ) = ‖μ̃_t(x_t, x_0) − μ‖² / 2σ_t² (eq. 8, without its constant C), in nats
    summed over pixels, for μ = each estimate's mean: {"this_x0": {name: L}, "expected": {name: E_{x_0 ~ q(x_0|x_t)}
    L over the data set}}; None at t = 0, where σ_t² = 0 and eq. 8 does not apply. The model's μ is the mean its
    step uses (x̂_0 clipped as the scheduler says). epsilon_mse: ‖ε − ε_θ‖² over pixels, ε_θ the noise the raw
    network output implies (before any clipping); epsilon_loss_weight: β_t² / (2σ_t² α_t (1 − ᾱ_t)) (eq. 12), so
    that weight · epsilon_mse is L_{t-1} of the unclipped μ_θ, equal to training_loss["this_x0"]["model"] when the
    scheduler does not clip x̂_0 or the clip changes nothing (None at t = 0).
    """

    t: int
    prev_t: int
    alpha_bar: float
    x0: torch.Tensor
    x_t: torch.Tensor
    estimates: dict[str, Estimate]
    mean_distances: dict[str, dict[str, float]]
    x0_distances: dict[str, dict[str, float]]
    num_data: int
    num_pixels: int
    num_parameters: int
    max_weight: float
    argmax_index: int
    effective_n: float
    top_indices: list[int]
    top_weights: list[float]
    step_noise_norm: float
    source_index: int | None = None
    noise: torch.Tensor | None = None
    sigma2: float = 0.0
    training_loss: dict[str, dict[str, float]] | None = None
    epsilon_mse: float | None = None
    epsilon_loss_weight: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-safe summary (numbers and strings, no tensors) for the app's API."""
        weight, mse = self.epsilon_loss_weight, self.epsilon_mse
        return {
            "t": self.t,
            "prev_t": self.prev_t,
            "alpha_bar": self.alpha_bar,
            "sigma2": self.sigma2,
            "training_loss": self.training_loss,
            "epsilon_loss": {
                "mse": mse,
                "weight": weight,
                "loss": None if weight is None or mse is None else weight * mse,
            },
            "num_data": self.num_data,
            "num_pixels": self.num_pixels,
            "num_parameters": self.num_parameters,
            "step_noise_norm": self.step_noise_norm,
            "estimates": {name: {"seconds": e.seconds} for name, e in self.estimates.items()},
            "mean_distances": self.mean_distances,
            "x0_distances": self.x0_distances,
            "exact_posterior": {
                "max_weight": self.max_weight,
                "argmax_index": self.argmax_index,
                "effective_n": self.effective_n,
                "top_indices": self.top_indices,
                "top_weights": self.top_weights,
                "source_index": self.source_index,
            },
        }


def _pairwise(tensors: dict[str, torch.Tensor]) -> dict[str, dict[str, float]]:
    """L2 distance over all pixels between every pair of (1, C, H, W) tensors; symmetric, 0 on the diagonal."""
    names = list(tensors)
    out = {a: {} for a in names}
    for i, a in enumerate(names):
        out[a][a] = 0.0
        for b in names[i + 1 :]:
            d = l2_distance(tensors[a], tensors[b])
            out[a][b] = out[b][a] = d
    return out


def _check_same_process(pipe, dataset_posterior: DatasetPosterior) -> None:
    if not isinstance(dataset_posterior, DatasetPosterior):
        raise ValueError(f"dataset_posterior must be a DatasetPosterior, got {type(dataset_posterior).__name__}")
    if tuple(pipe.image_shape) != tuple(dataset_posterior.image_shape):
        raise ValueError(
            f"dataset_posterior's images {dataset_posterior.image_shape} must match the model's "
            f"{tuple(pipe.image_shape)} (channels, height, width)"
        )
    a, b = pipe.scheduler.alphas_cumprod, dataset_posterior.scheduler.alphas_cumprod
    if a.shape != b.shape or not torch.allclose(a, b, rtol=1e-6, atol=0):
        raise ValueError(
            "dataset_posterior's scheduler must have the model's noise schedule (ᾱ_t): build it with "
            "DatasetPosterior(data, pipe.scheduler)"
        )


def _check_x0_and_t(x0, t, pipe, dataset_posterior: DatasetPosterior) -> tuple[torch.Tensor, int]:
    """x0 as one (1, C, H, W) image in [-1, 1] on the model's device and dtype; t an integer in [0, T)."""
    _check_same_process(pipe, dataset_posterior)
    T = int(pipe.scheduler.config.num_train_timesteps)
    if not is_int(t) or not 0 <= t < T:
        raise ValueError(f"t must be an integer in [0, {T - 1}], got {t!r}")
    if isinstance(x0, torch.Tensor) and x0.ndim == 3:
        x0 = x0.unsqueeze(0)
    x0 = check_images(x0, "x0", dataset_posterior.image_shape, model_space=True)
    if x0.shape[0] != 1:
        raise ValueError(f"x0 must be one image, got a batch of {x0.shape[0]}")
    return x0.to(device=pipe.unet.device, dtype=pipe.unet.dtype), int(t)


def _timed(compute):
    start = time.perf_counter()
    result = compute()
    return result, time.perf_counter() - start


@torch.inference_mode()
def compare_estimates(
    x0: torch.Tensor,
    t: int,
    pipe,
    dataset_posterior: DatasetPosterior,
    generator: torch.Generator | None = None,
) -> PosteriorComparison:
    """Three answers to "where does x_t go next?" for one digit x_0 and a step t → t − 1.

    Draws x_t ~ q(x_t | x_0) (scheduler.add_noise), then computes
      tractable: μ̃_t(x_t, x_0) — needs x_0, the answer itself;
      exact:     E[x_{t-1} | x_t] over the data set — needs all N images;
      model:     μ_θ(x_t, t) — needs only x_t (one UNet call, then p_θ's mean, `scheduler.p_mean_variance`, η = 1);
    each with its x̂_0 and the seconds it took, plus the pairwise L2 distances (over all pixels, model space) and
    the training loss L_{t-1} of each mean (eq. 8) for this x_0 and averaged over q(x_0 | x_t) (see
    `PosteriorComparison`). x0: (C, H, W) or (1, C, H, W) in [-1, 1]; t in [0, T)."""
    x0, t = _check_x0_and_t(x0, t, pipe, dataset_posterior)
    scheduler, prev_t = pipe.scheduler, t - 1
    noise = randn_tensor(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    x_t = scheduler.add_noise(x0, noise, t)  # q(x_t | x_0), eq. 4
    x0_64, x_t64 = x0.detach().cpu().double(), x_t.detach().cpu().double()

    (tractable_mean, tractable_var), tractable_seconds = _timed(
        lambda: scheduler.q_posterior(x0_64, x_t64, t, prev_t)  # μ̃_t(x_t, x_0), β̃_t, eq. 7
    )
    exact, exact_seconds = _timed(lambda: dataset_posterior.posterior(x_t64, t, prev_t))

    def model_step():
        output = pipe.unet(x_t, torch.tensor(t, dtype=torch.int64, device=x_t.device)).sample
        output = output.detach().cpu().double()
        return output, scheduler.p_mean_variance(output, x_t64, t, prev_t, eta=1.0)  # μ_θ, eq. 11

    (model_output, model), model_seconds = _timed(model_step)
    estimates = {
        "tractable": Estimate("tractable", tractable_mean.float(), x0_64.float(), tractable_seconds),
        "exact": Estimate("exact", exact.posterior_mean.float(), exact.pred_original_sample.float(), exact_seconds),
        "model": Estimate("model", model.mean.float(), model.pred_original_sample.float(), model_seconds),
    }
    sigma2 = float(tractable_var)
    means = {"model": model.mean, "exact": exact.posterior_mean.double(), "tractable": tractable_mean}
    epsilon_mse, epsilon_loss_weight = _epsilon_loss(scheduler, dataset_posterior, noise, model_output, x_t64, t)
    distance, index = dataset_posterior.nearest_neighbours(x0_64)
    k = min(5, dataset_posterior.num_images)
    top_w, top_i = exact.weights[0].topk(k)
    return PosteriorComparison(
        t=t,
        prev_t=prev_t,
        alpha_bar=float(dataset_posterior.alphas_cumprod[t]),
        x0=x0_64.float(),
        x_t=x_t64.float(),
        estimates=estimates,
        mean_distances=_pairwise({n: e.mean for n, e in estimates.items()}),
        x0_distances=_pairwise({n: e.pred_original_sample for n, e in estimates.items()}),
        num_data=dataset_posterior.num_images,
        num_pixels=dataset_posterior.dim,
        num_parameters=sum(p.numel() for p in pipe.unet.parameters()),
        max_weight=float(exact.max_weight[0]),
        argmax_index=int(exact.argmax_index[0]),
        effective_n=float(exact.effective_n[0]),
        top_indices=[int(i) for i in top_i],
        top_weights=[float(w) for w in top_w],
        step_noise_norm=math.sqrt(sigma2 * dataset_posterior.dim),  # ‖√β̃ ε‖ ≈ √(D β̃)
        source_index=int(index[0, 0]) if float(distance[0, 0]) < COPY_DISTANCE else None,
        noise=noise.cpu().float(),
        sigma2=sigma2,
        training_loss=_training_loss(dataset_posterior, x_t64, t, sigma2, means),
        epsilon_mse=epsilon_mse,
        epsilon_loss_weight=epsilon_loss_weight,
    )


def _epsilon_loss(scheduler, dataset_posterior, noise, model_output, x_t64, t: int):
    """(‖ε − ε_θ‖² over pixels, ε_θ the noise the raw network output implies (before any clipping); the weight
    β_t² / (2σ_t² α_t (1 − ᾱ_t)) of eq. 12, None when σ_t² = 0)."""
    channels = x_t64.shape[1]
    raw_x0 = scheduler.predict_x0(model_output[:, :channels], x_t64, t)  # eq. 15, unclipped
    eps_theta = scheduler.predict_epsilon(raw_x0, x_t64, t)
    epsilon_mse = float(((noise.detach().cpu().double() - eps_theta) ** 2).sum())
    if t == 0:
        return epsilon_mse, None
    sigma2 = scheduler.posterior_coefficients(t, t - 1)[2]
    a_t = float(dataset_posterior.alphas_cumprod[t])
    alpha_t = a_t / float(dataset_posterior.alphas_cumprod[t - 1])
    return epsilon_mse, (1 - alpha_t) ** 2 / (2 * sigma2 * alpha_t * (1 - a_t))  # eq. 12


def _training_loss(
    dataset_posterior: DatasetPosterior, x_t64: torch.Tensor, t: int, sigma2: float, means: dict[str, torch.Tensor]
) -> dict[str, dict[str, float]] | None:
    """The training loss of `PosteriorComparison`, in float64: L_{t-1}(μ) = ‖μ̃_t(x_t, x_0) − μ‖² / 2σ_t² (eq. 8) for
    each candidate mean μ (means["tractable"] is μ̃_t(x_t, x_0) itself), for this x_0 and its expectation over
    q(x_0 | x_t) (`DatasetPosterior.expected_sq_distance`). None when σ_t² = 0 (t = 0), where eq. 8 does not apply."""
    if sigma2 <= 0:
        return None
    names = list(means)
    stacked = torch.cat([means[name].double() for name in names])
    expected = dataset_posterior.expected_sq_distance(x_t64.expand(len(names), -1, -1, -1), t, stacked, t - 1)
    tractable = means["tractable"]
    return {
        "this_x0": {name: float(((tractable - means[name]) ** 2).sum()) / (2 * sigma2) for name in names},  # eq. 8
        "expected": {name: float(e) / (2 * sigma2) for name, e in zip(names, expected)},
    }


@dataclass
class SamplerComparison:
    """The exact sampler and the model from the same seed, each sample with its nearest training image.

    Samples are (B, C, H, W); nearest indices and distances (B,). K = the number of steps, timesteps their t.
    exact_effective_n, exact_max_weight: (B, K) float64, 1 / Σ_i w_i² and max_i w_i of q(x_0 | x_t) at the input
    x_t of each exact step. exact_commit_step: per sample, the index (0 … K − 1) of the first step whose largest
    weight is >= COMMIT_WEIGHT, or None. heldout_nearest_distances: (M,) float64, each held-out real image's
    distance to its nearest training image (the yardstick of a new image), or None when none were given.
    exact_trajectories, model_trajectories: (K + 1, num_trajectories, C, H, W), x_T then every step's sample of the
    first num_trajectories samples, or None when none were asked for.
    """

    seed: int
    num_inference_steps: int
    exact_samples: torch.Tensor
    exact_nearest_indices: torch.Tensor
    exact_nearest_distances: torch.Tensor
    exact_seconds: float
    model_samples: torch.Tensor
    model_nearest_indices: torch.Tensor
    model_nearest_distances: torch.Tensor
    model_seconds: float
    timesteps: list[int] | None = None
    exact_effective_n: torch.Tensor | None = None
    exact_max_weight: torch.Tensor | None = None
    exact_commit_step: list[int | None] | None = None
    heldout_nearest_distances: torch.Tensor | None = None
    exact_trajectories: torch.Tensor | None = None
    model_trajectories: torch.Tensor | None = None
    exact_second_distances: torch.Tensor | None = None  # (B,) distance to the second-nearest training image
    model_second_distances: torch.Tensor | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-safe summary for the app's API. "heldout_nearest_distance_median" (and "num_heldout") only when
        held-out images were given."""
        summary = {
            "seed": self.seed,
            "num_inference_steps": self.num_inference_steps,
            "exact": {
                "nearest_indices": self.exact_nearest_indices.tolist(),
                "nearest_distances": self.exact_nearest_distances.tolist(),
                **_copies(self.exact_nearest_distances, self.exact_second_distances, self.exact_nearest_indices),
                "seconds": self.exact_seconds,
                "timesteps": None if self.timesteps is None else list(self.timesteps),
                "effective_n": None if self.exact_effective_n is None else self.exact_effective_n.tolist(),
                "max_weight": None if self.exact_max_weight is None else self.exact_max_weight.tolist(),
                "commit_step": None if self.exact_commit_step is None else list(self.exact_commit_step),
            },
            "model": {
                "nearest_indices": self.model_nearest_indices.tolist(),
                "nearest_distances": self.model_nearest_distances.tolist(),
                **_copies(self.model_nearest_distances, self.model_second_distances, self.model_nearest_indices),
                "seconds": self.model_seconds,
            },
            "copy_rule": COPY_RULE,
            "copy_ratio": COPY_RATIO,
            "copy_distance": COPY_DISTANCE,
            "commit_weight": COMMIT_WEIGHT,
        }
        if self.heldout_nearest_distances is not None:
            summary["heldout_nearest_distance_median"] = float(np.median(self.heldout_nearest_distances.numpy()))
            summary["num_heldout"] = int(self.heldout_nearest_distances.numel())
        return summary


def _copies(d1: torch.Tensor, d2: torch.Tensor | None, indices: torch.Tensor) -> dict[str, Any]:
    """`copy_summary` (the project's one rule, d1 / d2 < COPY_RATIO, and the pixel-exact copies beside it), plus
    each sample's second-nearest distance and ratio d1 / d2 (None without a second-nearest)."""
    ratios = None if d2 is None else [float(a / b) if b > 0 else None for a, b in zip(d1.tolist(), d2.tolist())]
    return {
        "second_distances": None if d2 is None else d2.tolist(),
        "ratios": ratios,
        **copy_summary(d1, d2, indices),
    }


def heldout_nearest_distances(heldout: torch.Tensor, data: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
    """The L2 distance (over all pixels, model space) from each held-out real image to its nearest image in data.

    heldout: (M, C, H, W) in [-1, 1], images of the same distribution the model never saw; data: (N, C, H, W), the
    training set. Returns (M,) float64: how far a genuinely new image is from the training set, the yardstick for
    the nearest distances of generated samples."""
    heldout = check_images(heldout, "heldout", model_space=True)
    if isinstance(data, torch.Tensor) and data.ndim == 4 and tuple(heldout.shape[1:]) != tuple(data.shape[1:]):
        raise ValueError(
            f"heldout must have the data's image shape {tuple(data.shape[1:])} (channels, height, "
            f"width), got {tuple(heldout.shape)}"
        )
    return nearest_distances(heldout, data, chunk_size)


def _commit_steps(max_weight: torch.Tensor) -> list[int | None]:
    """Per row of max_weight (B, K), the first column >= COMMIT_WEIGHT, or None."""
    steps = []
    for row in max_weight:
        hits = torch.nonzero(row >= COMMIT_WEIGHT).squeeze(1)
        steps.append(int(hits[0]) if len(hits) else None)
    return steps


def compare_samplers(
    pipe,
    dataset_posterior: DatasetPosterior,
    seed: int = 0,
    num_images: int = 4,
    num_inference_steps: int = 50,
    heldout: torch.Tensor | None = None,
    num_trajectories: int = 0,
) -> SamplerComparison:
    """Sample `num_images` with the exact q(x_{t-1} | x_t) and with p_θ (η = 1) from the same seed and step count.

    Both start from the same x_T (a generator per sampler, seeded alike). Samples are (B, C, H, W) in [-1, 1];
    nearest training images by L2 over all pixels (`nearest_neighbours` against dataset_posterior.data). Each
    exact step's effective_n and max_weight of q(x_0 | x_t) are kept, and where each exact sample committed.
    heldout: optional (M, C, H, W) real images in [-1, 1] outside the data set, whose nearest distances
    (`heldout_nearest_distances`) say how far from the training set a new image lies. num_trajectories: keep every
    step of the first that many samples of each sampler (x_T included)."""
    _check_same_process(pipe, dataset_posterior)
    seed = check_seed(seed)
    num_images = check_batch_size(num_images)
    num_trajectories = check_int("num_trajectories", num_trajectories, 0, num_images, meaning=" (at most num_images)")
    if not is_int(num_inference_steps) or not 1 <= num_inference_steps <= dataset_posterior.num_train_timesteps:
        raise ValueError(
            f"num_inference_steps must be an integer in [1, {dataset_posterior.num_train_timesteps}], "
            f"got {num_inference_steps!r}"
        )
    heldout_d = None if heldout is None else heldout_nearest_distances(heldout, dataset_posterior.data)
    start = time.perf_counter()
    exact, timesteps, effective_n, max_weight, exact_path = None, [], [], [], []
    for record in dataset_posterior.denoise(num_images, torch.Generator().manual_seed(seed), num_inference_steps):
        exact = record.sample
        exact_path.append(exact[:num_trajectories].float())
        timesteps.append(int(record.timestep))
        effective_n.append(record.effective_n.double())
        max_weight.append(record.max_weight.double())
    exact_seconds = time.perf_counter() - start
    effective_n, max_weight = torch.stack(effective_n, dim=1), torch.stack(max_weight, dim=1)
    start = time.perf_counter()
    model, model_path = None, []
    for record in pipe.denoise(
        num_images, torch.Generator().manual_seed(seed), num_inference_steps, eta=1.0, progress=False
    ):
        model = record.sample
        model_path.append(model[:num_trajectories].cpu().float())
    model = model.cpu().float()
    model_seconds = time.perf_counter() - start
    k = min(2, len(dataset_posterior))  # nearest and second-nearest: the copy rule's ratio
    (exact_d, exact_i), (model_d, model_i) = (dataset_posterior.nearest_neighbours(x, k) for x in (exact, model))
    return SamplerComparison(
        seed=seed,
        num_inference_steps=int(num_inference_steps),
        exact_samples=exact.float(),
        exact_nearest_indices=exact_i[:, 0],
        exact_nearest_distances=exact_d[:, 0],
        exact_seconds=exact_seconds,
        model_samples=model,
        model_nearest_indices=model_i[:, 0],
        model_nearest_distances=model_d[:, 0],
        model_seconds=model_seconds,
        timesteps=timesteps,
        exact_effective_n=effective_n,
        exact_max_weight=max_weight,
        exact_commit_step=_commit_steps(max_weight),
        heldout_nearest_distances=heldout_d,
        exact_second_distances=exact_d[:, 1] if k == 2 else None,
        model_second_distances=model_d[:, 1] if k == 2 else None,
        exact_trajectories=_with_start(
            exact_path, num_trajectories, (num_images, *dataset_posterior.image_shape), seed
        ),
        model_trajectories=_with_start(
            model_path, num_trajectories, (num_images, *dataset_posterior.image_shape), seed
        ),
    )


def _with_start(path: list[torch.Tensor], count: int, shape: tuple, seed: int) -> torch.Tensor | None:
    """x_T (the first draw of a generator seeded alike, as both samplers start; drawn whole, then cut, since torch
    draws small and large tensors differently) stacked before the recorded steps."""
    if count == 0:
        return None
    start = randn_tensor(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float32)[:count]
    return torch.stack([start, *path])
