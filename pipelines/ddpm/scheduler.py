"""PosteriorDDPMScheduler: the DDPM forward process q(x_t|x_0), its posterior q(x_{t-1}|x_t,x_0), and the
learned reverse step p_θ(x_{t-1}|x_t) — named as in Ho et al. (2020), "Denoising Diffusion Probabilistic Models".

Drop-in for diffusers' `DDPMScheduler` (same config keys, `from_config` works both ways), with four differences:
- `step()` is stateless: it reads only its arguments and the immutable schedule, so one instance can serve many
  concurrent requests. The respaced chain is passed as `prev_timestep` (the pipeline always does).
- η (eta) selects one member of the family of posteriors sharing DDPM's marginals (Song et al. 2021, eq. 16):
  η = 1 is DDPM's posterior exactly, η = 0 is the deterministic DDIM step.
- `variance_type="analytic"` (per call) is Bao et al.'s KL-optimal variance σ*² (Analytic-DPM), from a table Γ_t
  passed as `gamma` (see pipelines/ddpm/gamma.py).
- Bugs fixed: no noise on the final step whatever the spacing; `fixed_large_log` gives finite samples; bad step
  counts and timesteps are refused with a ValueError that names the parameter and the allowed range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.schedulers.scheduling_utils import KarrasDiffusionSchedulers, SchedulerMixin
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor

from pipelines.checks import as_int, check_float, is_int
from pipelines.ddpm.multistep import check_history, extend_history, extrapolate_x0
from pipelines.ddpm.optimal_variance import check_gamma, clipped_optimal_variance
from pipelines.ddpm.schedule import make_betas, plan_timesteps, threshold_sample

BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2", "sigmoid")

VARIANCE_TYPES = ("fixed_small", "fixed_small_log", "fixed_large", "fixed_large_log", "learned", "learned_range")

# What a sampling call may choose: the config's kinds plus "analytic" (σ*², needs Γ_t; never a config value, so a
# saved config stays loadable by diffusers' DDPMScheduler).
SAMPLING_VARIANCE_TYPES = VARIANCE_TYPES + ("analytic",)

# η < 1 is defined for these: the posterior family's λ² = η²β̃ (Song et al. 2021) and σ*² built on it.
ETA_VARIANCE_TYPES = ("fixed_small", "fixed_small_log", "analytic")

# The variances a Gaussian p_θ is compared with, by their sampling names, and their symbols (LaTeX, Ho et al. and
# Bao et al.): β̃_t (eq. 7, the posterior's), β_t (the forward step's), σ*²_t (the KL-optimal one).
VARIANCE_SYMBOLS = {"fixed_small": r"$\tilde\beta_t$", "fixed_large": r"$\beta_t$", "analytic": r"$\sigma^{*2}_t$"}

PREDICTION_TYPES = ("epsilon", "sample", "v_prediction")

TIMESTEP_SPACINGS = ("leading", "linspace", "trailing")


@dataclass
class PosteriorDDPMSchedulerOutput(BaseOutput):
    """One reverse step. All tensors have the sample's shape (B, C, H, W).

    prev_sample: x_{t-1}, drawn from N(posterior_mean, posterior_variance).
    pred_original_sample: the model's x̂_0 (after clipping/thresholding), eq. 15.
    posterior_mean: μ_θ(x_t, t) = μ̃_t(x_t, x̂_0*) for η = 1, eq. 7.
    posterior_variance: σ_t² of the step actually taken (0 on the final step).
    extrapolated_original_sample: x̂_0*, the guess the mean was built from (pred_original_sample at order 1; the
        multistep extrapolation at order 2–3, pipelines/ddpm/multistep.py). history: pass it to the next step.
    """

    prev_sample: torch.Tensor
    pred_original_sample: torch.Tensor
    posterior_mean: torch.Tensor
    posterior_variance: torch.Tensor
    extrapolated_original_sample: torch.Tensor | None = None
    history: tuple = ()


@dataclass
class ReverseGaussian(BaseOutput):
    """p_θ(x_{prev_t} | x_t) = N(mean, variance·I), the model's x̂_0 and the x̂_0* the mean was built from (sample-shaped
    tensors; the variance a 0-d tensor, or sample-shaped for learned variances)."""

    mean: torch.Tensor
    variance: torch.Tensor
    pred_original_sample: torch.Tensor
    extrapolated_original_sample: torch.Tensor | None = None


def check_eta(eta) -> float:
    """η must be a finite number in [0, 1]."""
    return check_float("eta", eta, 0.0, 1.0, " (0 = deterministic DDIM, 1 = DDPM posterior)")


class PosteriorDDPMScheduler(SchedulerMixin, ConfigMixin):
    """DDPM scheduler whose every formula is public: `add_noise`, `q_posterior`, `predict_x0`, `step`.

    Accepts every config key of diffusers' `DDPMScheduler`; see its documentation for their meaning.
    """

    _compatibles = [e.name for e in KarrasDiffusionSchedulers] + ["DDPMScheduler", "DDIMScheduler"]
    order = 1

    @register_to_config
    def __init__(
        self,
        num_train_timesteps: int = 1000,
        beta_start: float = 0.0001,
        beta_end: float = 0.02,
        beta_schedule: str = "linear",
        trained_betas: np.ndarray | list[float] | None = None,
        variance_type: str = "fixed_small",
        clip_sample: bool = True,
        prediction_type: str = "epsilon",
        thresholding: bool = False,
        dynamic_thresholding_ratio: float = 0.995,
        clip_sample_range: float = 1.0,
        sample_max_value: float = 1.0,
        timestep_spacing: str = "leading",
        steps_offset: int = 0,
        rescale_betas_zero_snr: bool = False,
    ):
        if not is_int(num_train_timesteps) or num_train_timesteps < 1:
            raise ValueError(f"num_train_timesteps must be an integer >= 1, got {num_train_timesteps!r}")
        for name, value, allowed in (
            ("beta_schedule", beta_schedule, BETA_SCHEDULES),
            ("variance_type", variance_type, VARIANCE_TYPES),
            ("prediction_type", prediction_type, PREDICTION_TYPES),
            ("timestep_spacing", timestep_spacing, TIMESTEP_SPACINGS),
        ):
            if trained_betas is not None and name == "beta_schedule":
                continue
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")

        betas = make_betas(
            num_train_timesteps, beta_start, beta_end, beta_schedule, trained_betas, rescale_betas_zero_snr
        )

        # The tables, computed once in float64 (α_t = 1 − β_t, ᾱ_t = Π α_s) and stored as float32.
        betas64 = betas.double().numpy()
        self._alphas_cumprod64 = np.cumprod(1.0 - betas64)
        self.betas = betas
        self.alphas = torch.from_numpy(1.0 - betas64).float()
        self.alphas_cumprod = torch.from_numpy(self._alphas_cumprod64).float()
        # Adjacent-chain posterior q(x_{t-1}|x_t,x_0) tables (eq. 6-7), as in improved-diffusion; q_posterior reads
        # them for t → t − 1, and a respaced step computes its own pair with _pair_coefficients.
        t = np.arange(num_train_timesteps)
        coef1, coef2, var = self._pair_coefficients(t, t - 1)
        self.posterior_mean_coef1 = torch.from_numpy(coef1).float()
        self.posterior_mean_coef2 = torch.from_numpy(coef2).float()
        self.posterior_variance = torch.from_numpy(var).float()

        self.init_noise_sigma = 1.0
        # diffusers-compatible mutable state, used only by `set_timesteps`/`previous_timestep` callers.
        self.num_inference_steps = None
        self.custom_timesteps = False
        self.timesteps = torch.arange(num_train_timesteps - 1, -1, -1, dtype=torch.int64)

    # ------------------------------------------------------------------ schedule helpers
    def _alpha_bar(self, t):
        """ᾱ_t in float64 for int or integer array t; ᾱ_t = 1 for t < 0 (the chain's end, x_0 itself)."""
        t = np.asarray(t)
        return np.where(t >= 0, self._alphas_cumprod64[np.clip(t, 0, None)], 1.0)

    def _pair_coefficients(self, t, prev_t):
        """For a step t → prev_t of a (respaced) chain: β'_t = 1 − ᾱ_t/ᾱ_prev and
        posterior_mean_coef1/2 and β̃'_t of eq. 7: μ̃ = coef1·x_0 + coef2·x_t, β̃' = (1−ᾱ_prev)/(1−ᾱ_t)·β'_t."""
        a_t, a_prev = self._alpha_bar(t), self._alpha_bar(prev_t)
        beta = 1.0 - a_t / a_prev
        coef1 = np.sqrt(a_prev) * beta / (1.0 - a_t)  # eq. 7
        coef2 = np.sqrt(a_t / a_prev) * (1.0 - a_prev) / (1.0 - a_t)  # eq. 7
        var = (1.0 - a_prev) / (1.0 - a_t) * beta  # eq. 7, β̃_t
        return coef1, coef2, var

    @staticmethod
    def _broadcast(values, like: torch.Tensor):
        """A Python float for a scalar (one t); a (B, 1, 1, …) tensor of `like`'s dtype for one value per sample."""
        values = np.asarray(values)
        if values.ndim == 0:
            return float(values)
        out = torch.from_numpy(values).to(device=like.device, dtype=like.dtype)
        return out.reshape(-1, *([1] * (like.ndim - 1)))

    def _check_t(self, t, name: str = "timestep"):
        """t as an int (scalar) or int64 numpy array (per sample), each in [0, T)."""
        T = self.config.num_train_timesteps
        if isinstance(t, torch.Tensor) and t.numel() > 1:
            if t.is_floating_point():
                raise ValueError(f"{name} must hold integers in [0, {T - 1}], got dtype {t.dtype}")
            arr = t.detach().cpu().numpy().astype(np.int64).reshape(-1)
            if arr.min() < 0 or arr.max() >= T:
                raise ValueError(f"{name} must be in [0, {T - 1}], got values in [{arr.min()}, {arr.max()}]")
            return arr
        value = as_int(t, name)
        if not 0 <= value < T:
            raise ValueError(f"{name} must be in [0, {T - 1}], got {value}")
        return value

    def _default_prev(self, t):
        """The previous entry of the chain set by `set_timesteps`, else t − 1 (diffusers' rule)."""
        if self.custom_timesteps or self.num_inference_steps:
            plan = self.timesteps.tolist()
            if t in plan:
                i = plan.index(t)
                return plan[i + 1] if i + 1 < len(plan) else -1
        return t - 1

    def previous_timestep(self, timestep) -> int | torch.Tensor:
        """diffusers-compatible: the timestep before `timestep` in the chain set by `set_timesteps` (−1 after the
        last), else timestep − 1. Returns what diffusers' DDPMScheduler returns: a 0-d int64 tensor when a chain is
        set or `timestep` is a tensor, an int for an int with no chain (so code that calls `.item()` works)."""
        prev = self._default_prev(as_int(timestep, "timestep"))
        if self.custom_timesteps or self.num_inference_steps or isinstance(timestep, torch.Tensor):
            return torch.tensor(prev, dtype=torch.int64)
        return prev

    # ------------------------------------------------------------------ forward process
    def add_noise(self, original_samples: torch.Tensor, noise: torch.Tensor, timesteps) -> torch.Tensor:
        """q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I), eq. 4: x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε.

        timesteps: an int or a (B,) integer tensor, each in [0, T)."""
        t = self._check_t(timesteps, "timesteps")
        a = self._alpha_bar(t)
        return (
            self._broadcast(np.sqrt(a), original_samples) * original_samples
            + self._broadcast(np.sqrt(1.0 - a), original_samples) * noise
        )

    q_sample = add_noise

    def get_velocity(self, sample: torch.Tensor, noise: torch.Tensor, timesteps) -> torch.Tensor:
        """v = √ᾱ_t ε − √(1 − ᾱ_t) x_0 (Salimans & Ho 2022), the v-prediction target."""
        t = self._check_t(timesteps, "timesteps")
        a = self._alpha_bar(t)
        return self._broadcast(np.sqrt(a), sample) * noise - self._broadcast(np.sqrt(1.0 - a), sample) * sample

    # ------------------------------------------------------------------ posterior
    def q_posterior(self, x0: torch.Tensor, x_t: torch.Tensor, t, prev_t=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance of q(x_{prev_t} | x_t, x_0) (eq. 6-7), for any prev_t < t of a respaced chain.

        prev_t defaults to t − 1; prev_t < 0 means ᾱ_prev = 1 (the step to x_0). Returns (mean, variance),
        the variance broadcastable to the mean: a 0-d tensor for scalar t, (B, 1, 1, 1) for per-sample t."""
        t = self._check_t(t, "t")
        if prev_t is None:  # the adjacent step t → t − 1: the tables built in __init__
            tables = (self.posterior_mean_coef1, self.posterior_mean_coef2, self.posterior_variance)
            coef1, coef2, var = (table.numpy()[t] for table in tables)
        else:
            prev_t = np.asarray(prev_t.cpu() if isinstance(prev_t, torch.Tensor) else prev_t, dtype=np.int64)
            if np.any(prev_t >= np.asarray(t)):
                raise ValueError("prev_t must be smaller than t")
            coef1, coef2, var = self._pair_coefficients(t, prev_t)
        mean = self._broadcast(coef1, x_t) * x0 + self._broadcast(coef2, x_t) * x_t
        variance = self._broadcast(var, x_t)
        if not isinstance(variance, torch.Tensor):
            variance = torch.tensor(variance, dtype=x_t.dtype, device=x_t.device)
        return mean, variance

    def predict_x0(self, model_output: torch.Tensor, x_t: torch.Tensor, t) -> torch.Tensor:
        """x̂_0 from the model's output: ε (eq. 15: x̂_0 = (x_t − √(1−ᾱ_t) ε) / √ᾱ_t), x_0 itself, or
        v (x̂_0 = √ᾱ_t x_t − √(1−ᾱ_t) v). No clipping here; `step` clips or thresholds."""
        return self._predict_x0(model_output, x_t, self._check_t(t, "t"))

    def _predict_x0(self, model_output: torch.Tensor, x_t: torch.Tensor, t) -> torch.Tensor:
        """`predict_x0` for a checked t."""
        a = self._alpha_bar(t)
        kind = self.config.prediction_type
        if kind == "epsilon":  # eq. 15
            return (x_t - self._broadcast(np.sqrt(1.0 - a), x_t) * model_output) / self._broadcast(np.sqrt(a), x_t)
        if kind == "sample":
            return model_output
        return self._broadcast(np.sqrt(a), x_t) * x_t - self._broadcast(np.sqrt(1.0 - a), x_t) * model_output

    def predict_epsilon(self, x0: torch.Tensor, x_t: torch.Tensor, t) -> torch.Tensor:
        """ε̂ = (x_t − √ᾱ_t x̂_0) / √(1 − ᾱ_t): the noise implied by x̂_0 (eq. 4 solved for ε)."""
        return self._predict_epsilon(x0, x_t, self._check_t(t, "t"))

    def _predict_epsilon(self, x0: torch.Tensor, x_t: torch.Tensor, t) -> torch.Tensor:
        """`predict_epsilon` for a checked t."""
        a = self._alpha_bar(t)
        return (x_t - self._broadcast(np.sqrt(a), x_t) * x0) / self._broadcast(np.sqrt(1.0 - a), x_t)

    def clip_x0(self, x0: torch.Tensor) -> torch.Tensor:
        """Clip or threshold x̂_0 as the config says (thresholding wins over clip_sample, as in diffusers)."""
        if self.config.thresholding:
            return threshold_sample(x0, self.config.dynamic_thresholding_ratio, self.config.sample_max_value)
        if self.config.clip_sample:
            return x0.clamp(-self.config.clip_sample_range, self.config.clip_sample_range)
        return x0

    # ------------------------------------------------------------------ timesteps
    def timestep_plan(
        self, num_inference_steps: int | None = None, timesteps: Sequence[int] | None = None
    ) -> torch.Tensor:
        """The descending timesteps of a sampling run (pure: changes nothing).

        Either `num_inference_steps` in [1, T], spaced by `config.timestep_spacing` exactly as diffusers does,
        or custom `timesteps`: strictly descending integers in [0, T). Neither → all T steps."""
        config = self.config
        return plan_timesteps(
            config.num_train_timesteps, config.timestep_spacing, config.steps_offset, num_inference_steps, timesteps
        )

    def set_timesteps(
        self, num_inference_steps: int | None = None, device=None, timesteps: Sequence[int] | None = None
    ):
        """diffusers-compatible: stores the plan on the instance. The pipeline uses `timestep_plan` instead."""
        plan = self.timestep_plan(num_inference_steps=num_inference_steps, timesteps=timesteps)
        self.custom_timesteps = timesteps is not None
        self.num_inference_steps = len(plan)
        self.timesteps = plan.to(device) if device is not None else plan

    def scale_model_input(self, sample: torch.Tensor, timestep=None) -> torch.Tensor:
        return sample

    # ------------------------------------------------------------------ reverse step
    def check_sampling_args(self, eta: float = 1.0, variance_type: str | None = None) -> tuple[float, str]:
        """Validate η and the variance choice together; returns (eta, variance_type) with the default filled in."""
        eta = check_eta(eta)
        variance_type = self.config.variance_type if variance_type is None else variance_type
        if not isinstance(variance_type, str) or variance_type not in SAMPLING_VARIANCE_TYPES:
            raise ValueError(
                f"variance_type must be one of {', '.join(SAMPLING_VARIANCE_TYPES)}; got {variance_type!r}"
            )
        if eta != 1.0 and variance_type not in ETA_VARIANCE_TYPES:
            raise ValueError(
                f"eta must be 1 with variance_type={variance_type!r}: eta < 1 is defined for the posterior variance "
                "β̃_t (fixed_small) and the analytic variance built on it only"
            )
        return eta, variance_type

    def posterior_coefficients(self, t, prev_t=None) -> tuple[float, float, float]:
        """(posterior_mean_coef1, posterior_mean_coef2, β̃) of the step t → prev_t of a respaced chain, eq. 7:
        μ̃ = coef1·x_0 + coef2·x_t and β̃ = (1 − ᾱ_prev)/(1 − ᾱ_t)·(1 − ᾱ_t/ᾱ_prev). prev_t None → t − 1; −1 → x_0."""
        t = self._check_t(t, "t")
        prev_t = t - 1 if prev_t is None else as_int(prev_t, "prev_t")
        if not -1 <= prev_t < t:
            raise ValueError(f"prev_t must be in [-1, {t - 1}] for t {t}, got {prev_t}")
        return tuple(float(v) for v in self._pair_coefficients(t, prev_t))

    def _split_model_output(self, model_output, sample, variance_type: str):
        """(the ε/x_0/v part, the learned-variance part or None), checked against the sample's shape."""
        for name, value in (("model_output", model_output), ("sample", sample)):
            if not isinstance(value, torch.Tensor):
                raise ValueError(f"{name} must be a torch.Tensor of shape (B, C, H, W), got {type(value).__name__}")
        learned = variance_type in ("learned", "learned_range")
        channels = sample.shape[1] if sample.ndim >= 2 else None
        if learned and model_output.ndim == sample.ndim and model_output.shape[1] == 2 * channels:
            model_output, predicted_variance = torch.split(model_output, channels, dim=1)
        else:
            predicted_variance = None
        if model_output.shape != sample.shape:
            raise ValueError(
                f"model_output must have the sample's shape {tuple(sample.shape)}"
                + (" (or twice its channels with learned variances)" if learned else "")
                + f", got {tuple(model_output.shape)}"
            )
        if learned and predicted_variance is None:
            raise ValueError(f"variance_type={variance_type!r} needs a model_output with {2 * channels} channels")
        return model_output, predicted_variance

    def p_mean_variance(
        self,
        model_output: torch.Tensor,
        sample: torch.Tensor,
        timestep,
        prev_timestep=None,
        eta: float = 1.0,
        variance_type: str | None = None,
        gamma=None,
        last_timestep: int | None = None,
        order: int = 1,
        history=None,
    ) -> ReverseGaussian:
        """p_θ(x_{prev_t} | x_t) = N(μ_θ, σ² I): its mean, variance and the x̂_0 it was built from (improved-diffusion's
        `p_mean_variance`). Pure: draws nothing. `step` samples from it.

        model_output: the network's output for x_t = `sample` (ε, x_0 or v; learned variances: twice the channels).
        prev_timestep: the next entry of the respaced chain (−1 for the last step); None → `previous_timestep`.
        eta: σ² = η²·β̃'_t; 1 = DDPM posterior, 0 = deterministic DDIM.
        variance_type: overrides the config's for this call only (e.g. "fixed_large" for σ² = β_t, "analytic" for
            Bao et al.'s KL-optimal σ*², see `analytic_variance`).
        gamma: with "analytic" only: Γ_t for every t in [0, T) (`pipelines.ddpm.optimal_variance.load_gamma`).
        last_timestep: with "analytic" only: the chain's last entry before x_0 (None → the plan set by
            `set_timesteps`, else 0); the step into it has its σ clipped (see `analytic_variance`).
        order: 1 = the model's x̂_0; 2 or 3 = x̂_0* extrapolated from it and `history`, the earlier steps'
            (timestep, x̂_0) that `step` returns (DPM-Solver++ in posterior form, pipelines/ddpm/multistep.py).
        The final step (prev_t = −1) has variance 0: its mean is the sample, as in Ho et al.'s sampler.
        """
        eta, variance_type = self.check_sampling_args(eta, variance_type)
        if variance_type == "analytic" and gamma is None:
            raise ValueError(
                'variance_type="analytic" needs gamma, Γ_t for every t (python -m pipelines.ddpm.gamma '
                "--model FOLDER writes it; pipelines.ddpm.optimal_variance.load_gamma reads it)"
            )
        model_output, predicted_variance = self._split_model_output(model_output, sample, variance_type)
        t = self._check_t(timestep, "timestep")
        if not isinstance(t, int):
            raise ValueError("timestep must be a single integer for step()")
        prev_t = self._default_prev(t) if prev_timestep is None else as_int(prev_timestep, "prev_timestep")
        if not -1 <= prev_t < t:
            raise ValueError(f"prev_timestep must be in [-1, {t - 1}] for timestep {t}, got {prev_t}")

        a_t = float(self._alpha_bar(t))
        a_prev = float(self._alpha_bar(prev_t))
        coef1, coef2, var_small = (float(v) for v in self._pair_coefficients(t, prev_t))
        beta = 1.0 - a_t / a_prev  # β'_t of the respaced chain

        model_x0 = self.clip_x0(self._predict_x0(model_output, sample, t))  # t is checked above
        sigma2 = eta**2 * var_small
        alpha_bar = lambda s: float(self._alpha_bar(s))  # noqa: E731
        x0 = extrapolate_x0(model_x0, t, prev_t, check_history(history), order, alpha_bar, sigma2)
        if eta == 1.0:
            mean = coef1 * x0 + coef2 * sample  # μ̃_t(x_t, x̂_0), eq. 7
        else:  # Song et al. 2021, eq. 12: √ᾱ_prev x̂_0 + √(1 − ᾱ_prev − σ²) ε̂
            eps = self._predict_epsilon(x0, sample, t)
            mean = math.sqrt(a_prev) * x0 + math.sqrt(max(1.0 - a_prev - sigma2, 0.0)) * eps

        # Σ_θ: fixed (β̃_t or β_t) or learned; none on the final step (prev_t < 0), whatever the spacing.
        if prev_t < 0:
            variance = 0.0
        elif variance_type == "analytic":
            variance = self.analytic_variance(t, prev_t, gamma, eta, last_timestep)
        elif variance_type in ("fixed_large", "fixed_large_log"):
            variance = beta  # the log form is a storage choice; diffusers takes √log β here and gets NaN
        elif variance_type == "learned":
            variance = predicted_variance.clamp(min=1e-20)
        elif variance_type == "learned_range":
            min_log, max_log = math.log(max(var_small, 1e-20)), math.log(beta)
            frac = (predicted_variance + 1) / 2  # improved-diffusion eq. 15
            variance = torch.exp(frac * max_log + (1 - frac) * min_log)
        else:
            variance = max(sigma2, 1e-20) if eta > 0 else 0.0
        if not isinstance(variance, torch.Tensor):
            variance = torch.tensor(variance, dtype=sample.dtype, device=sample.device)
        return ReverseGaussian(mean, variance, pred_original_sample=model_x0, extrapolated_original_sample=x0)

    def analytic_variance(self, t, prev_t, gamma, eta: float = 1.0, last_timestep: int | None = None) -> float:
        """σ*² of the step t → prev_t (Bao et al. 2022, Theorem 1) from Γ_t = gamma[t] and λ² = η²β̃, with the two
        clippings of the paper's sampler (`clipped_optimal_variance`): Cov[x_0 | x_t] within the data range
        [−clip_sample_range, clip_sample_range] when clip_sample is set, and the step into the chain's last noisy
        state (prev_t = last_timestep) within CLIP_PIXELS quantisation bins.

        prev_t = −1 (the step to x_0) gives 0. last_timestep None → the plan set by `set_timesteps`, else 0."""
        t = self._check_t(t, "t")
        prev_t = as_int(prev_t, "prev_t")
        if not -1 <= prev_t < t:
            raise ValueError(f"prev_t must be in [-1, {t - 1}] for t {t}, got {prev_t}")
        if prev_t < 0:
            return 0.0
        table = check_gamma(gamma, self.config.num_train_timesteps)
        if last_timestep is None:
            planned = self.custom_timesteps or self.num_inference_steps
            last_timestep = int(self.timesteps[-1]) if planned else 0
        return clipped_optimal_variance(
            float(self._alpha_bar(t)),
            float(self._alpha_bar(prev_t)),
            float(table[t]),
            eta,
            data_range=self.config.clip_sample_range,
            clip_data=self.config.clip_sample,
            into_last=prev_t == as_int(last_timestep, "last_timestep"),
        )

    def step(
        self,
        model_output: torch.Tensor,
        timestep,
        sample: torch.Tensor,
        generator: torch.Generator | list[torch.Generator] | None = None,
        return_dict: bool = True,
        prev_timestep=None,
        eta: float = 1.0,
        variance_type: str | None = None,
        gamma=None,
        last_timestep: int | None = None,
        order: int = 1,
        history=None,
    ) -> PosteriorDDPMSchedulerOutput | tuple:
        """One reverse step x_t → x_{prev_t} ~ p_θ(x_{prev_t} | x_t): a draw from `p_mean_variance` (same arguments);
        no draw where its variance is 0 (the final step, η = 0). The output's `history` (the last x̂_0 guesses) is
        the next step's `history` argument (return_dict=False returns the first four fields only)."""
        gaussian = self.p_mean_variance(
            model_output, sample, timestep, prev_timestep, eta, variance_type, gamma, last_timestep, order, history
        )
        mean, variance = gaussian.mean, gaussian.variance
        if variance.numel() == 1 and float(variance) == 0.0:
            prev_sample = mean
        else:
            noise = randn_tensor(sample.shape, generator=generator, device=sample.device, dtype=sample.dtype)
            prev_sample = mean + variance.sqrt() * noise

        if not return_dict:
            return (prev_sample, gaussian.pred_original_sample, mean, variance)
        x0, used = gaussian.pred_original_sample, gaussian.extrapolated_original_sample
        history = extend_history(check_history(history), as_int(timestep, "timestep"), x0)
        return PosteriorDDPMSchedulerOutput(prev_sample, x0, mean, variance, used, history)

    def __len__(self) -> int:
        return self.config.num_train_timesteps
