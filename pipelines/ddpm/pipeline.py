"""PosteriorDDPMPipeline: DDPM sampling as a generator of steps.

`denoise()` is the one sampling loop of the project (the idea of improved-diffusion's
`p_sample_loop_progressive`): it yields a `DenoisingStep` per reverse step with x_t and x̂_0, so the app can
stream, record and scrub every step. `__call__` just consumes it.
"""

from __future__ import annotations

import inspect
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import torch
from diffusers import DiffusionPipeline, ImagePipelineOutput, UNet2DModel
from diffusers.utils.torch_utils import randn_tensor

from pipelines.checks import check_batch_size, first_line
from pipelines.ddpm.multistep import check_order, step_order
from pipelines.ddpm.optimal_variance import GAMMA_FILE, check_gamma, load_gamma
from pipelines.ddpm.scheduler import PosteriorDDPMScheduler

OUTPUT_TYPES = ("pil", "np", "pt")


WEIGHTS = "unet/diffusion_pytorch_model.safetensors"


PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


# Schedulers whose config is DDPM's β schedule: PosteriorDDPMPipeline converts them to PosteriorDDPMScheduler.
SCHEDULERS = ("DDPMScheduler", "DDIMScheduler", "PNDMScheduler")


class ModelFolderError(ValueError):
    """A folder or repo that is not a DDPM pipeline this project loads; the message says why, in one line."""


@dataclass
class DenoisingStep:
    """One reverse step x_t → x_{prev_t}. Tensors are (B, C, H, W) in model space (≈ [-1, 1]).

    index: 0 … num_steps − 1, in sampling order.
    timestep / prev_timestep: t and the next entry of the chain (−1 on the last step).
    sample: x_{prev_t}, the new noisy image. pred_original_sample: the model's x̂_0 predicted from x_t.
    posterior_mean / posterior_variance: the Gaussian the sample was drawn from.
    model_output: the UNet's raw output at (x_t, t).
    extrapolated_original_sample: the x̂_0* the posterior was built from: pred_original_sample at order 1, the
        multistep extrapolation of the last x̂_0's at order 2–3 (None from samplers without one).
    """

    index: int
    num_steps: int
    timestep: int
    prev_timestep: int
    sample: torch.Tensor
    pred_original_sample: torch.Tensor
    posterior_mean: torch.Tensor
    posterior_variance: torch.Tensor
    model_output: torch.Tensor
    extrapolated_original_sample: torch.Tensor | None = None


def reverse_chain(
    scheduler: PosteriorDDPMScheduler, num_inference_steps: int | None = None, timesteps: Sequence[int] | None = None
) -> list[tuple[int, int]]:
    """The (t, prev_t) steps of a sampling run, the one chain every sampler walks (the UNet's and the exact ones):
    `scheduler.timestep_plan`, each timestep paired with the next (−1 after the last). Custom `timesteps` win over
    a step count."""
    if timesteps is not None:
        num_inference_steps = None
    plan = scheduler.timestep_plan(num_inference_steps=num_inference_steps, timesteps=timesteps).tolist()
    return list(zip(plan, plan[1:] + [-1]))


def run_chain(
    step: Callable[[torch.Tensor, int, int], tuple[Any, torch.Tensor]],
    x: torch.Tensor,
    chain: list[tuple[int, int]],
    steps: Iterable[tuple[int, int]] | None = None,
    record: type[DenoisingStep] = DenoisingStep,
    extras: Sequence[str] = (),
) -> Iterator[DenoisingStep]:
    """THE sampling loop: walk `chain` from x_T = `x`, yielding a `record` (a `DenoisingStep`) per step.

    step(x_t, t, prev_t) → (out, model_output) is any denoiser's reverse step: `out` has prev_sample,
    pred_original_sample, posterior_mean and posterior_variance (the scheduler's step output, the exact posterior's),
    and each name in `extras` too, copied into the record. steps: `chain` wrapped in a progress bar, or None."""
    for index, (t, prev_t) in enumerate(chain if steps is None else steps):
        out, model_output = step(x, t, prev_t)
        x = out.prev_sample
        yield record(
            index=index,
            num_steps=len(chain),
            timestep=t,
            prev_timestep=prev_t,
            sample=x,
            pred_original_sample=out.pred_original_sample,
            posterior_mean=out.posterior_mean,
            posterior_variance=out.posterior_variance,
            model_output=model_output,
            **{name: getattr(out, name) for name in extras},
        )


def check_generator(generator, batch_size: int):
    """None, a torch.Generator, or a list of them (one per image, or a single one); ValueError otherwise."""
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    if (
        isinstance(generator, list)
        and len(generator) in (1, batch_size)
        and all(isinstance(g, torch.Generator) for g in generator)
    ):
        return generator
    raise ValueError(
        f"generator must be a torch.Generator or a list of {batch_size} (batch_size) of them, got {generator!r}"
    )


def _shape(text: str) -> str:
    """ "torch.Size([8, 1, 3, 3])" → "(8, 1, 3, 3)"."""
    inner = re.fullmatch(r"torch\.Size\(\[(.*)\]\)", text.strip())
    return f"({inner.group(1)})" if inner else text


# ---------------------------------------------------------------------------------------------- a DDPM folder
def check_pipeline_layout(files: Iterable[str], read_json: Callable[[str], dict], source: str) -> dict:
    """Raise ModelFolderError unless `files` form an unconditional DDPM pipeline with safetensors UNet weights.

    files: the paths in the folder/repo; read_json(path) reads one of them. Returns the UNet config."""
    files = set(files)
    if "model_index.json" not in files:
        raise ModelFolderError(f"{source} is not a diffusers pipeline: it has no model_index.json")
    index = read_json("model_index.json")
    components = {k: v for k, v in index.items() if not k.startswith("_") and isinstance(v, (list, tuple))}
    unet, scheduler = components.pop("unet", None), components.pop("scheduler", None)
    if list(unet or []) != ["diffusers", "UNet2DModel"] or not scheduler or components:
        found = ", ".join(f"{k}: {v[-1]}" for k, v in index.items() if isinstance(v, (list, tuple)) and v)
        raise ModelFolderError(
            f"{source} is not an unconditional DDPM pipeline: model_index.json must list a diffusers "
            f"UNet2DModel 'unet' and a 'scheduler', nothing else (it lists {found or 'nothing'})"
        )
    if scheduler[-1] not in SCHEDULERS:
        raise ModelFolderError(
            f"{source}: scheduler {scheduler[-1]!r} is not a DDPM-family scheduler ({', '.join(SCHEDULERS)})"
        )
    for needed in ("unet/config.json", "scheduler/scheduler_config.json"):
        if needed not in files:
            raise ModelFolderError(f"{source} is not a complete DDPM pipeline: {needed} is missing")
    if WEIGHTS not in files and f"{WEIGHTS}.index.json" not in files:
        pickles = sorted(f for f in files if f.startswith("unet/") and f.endswith(PICKLE_SUFFIXES))
        if pickles:
            raise ModelFolderError(
                f"{source} has only pickle weights ({', '.join(pickles)}), which are refused: unpickling "
                "a file can run arbitrary code. Convert them to safetensors first (load once where you "
                "trust the file, then save_pretrained(..., safe_serialization=True))"
            )
        raise ModelFolderError(f"{source} has no UNet weights: {WEIGHTS} is missing")
    _check_scheduler_config(read_json("scheduler/scheduler_config.json"), source)
    config = read_json("unet/config.json")
    if config.get("_class_name", "UNet2DModel") != "UNet2DModel":
        raise ModelFolderError(f"{source}: unet/config.json is a {config.get('_class_name')}, not a UNet2DModel")
    if config.get("in_channels", 3) != config.get("out_channels", 3):
        raise ModelFolderError(
            f"{source}: the UNet outputs {config.get('out_channels')} channels for "
            f"{config.get('in_channels')} in; learned-variance models are not supported"
        )
    return config


def _check_scheduler_config(config: dict, source: str) -> None:
    """ModelFolderError naming the setting unless the scheduler config builds a PosteriorDDPMScheduler (its
    checks name the key and the allowed values; diffusers' own schedulers fail later, deep in torch, on e.g. a
    negative step count)."""
    accepted = inspect.signature(PosteriorDDPMScheduler.__init__).parameters
    try:
        PosteriorDDPMScheduler(**{k: v for k, v in config.items() if k in accepted and k != "self"})
    except (ValueError, TypeError, RuntimeError) as error:
        raise ModelFolderError(f"{source}: scheduler/scheduler_config.json: {first_line(error)}") from None


def read_json_object(path: Path) -> dict:
    """The JSON object in `path`; ModelFolderError (one line) if it is unreadable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFolderError(f"{path} is not a readable JSON file ({first_line(error)})") from None
    if not isinstance(data, dict):
        raise ModelFolderError(f"{path} must hold a JSON object")
    return data


def _folder_files(folder: Path) -> list[str]:
    return [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]


def _hub_gamma_file(repo_id: str, kwargs: dict) -> str | None:
    """The local path of the Hub repo's analytic_variance.json, downloaded (or from the cache) with the loader's
    revision, token, cache_dir and local_files_only; None when the repo has none or it cannot be had offline."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    options = {key: kwargs[key] for key in ("revision", "token", "cache_dir", "local_files_only") if key in kwargs}
    try:
        return hf_hub_download(repo_id, GAMMA_FILE, **options)
    except (EntryNotFoundError, LocalEntryNotFoundError):
        return None


def check_model_folder(model_dir: str | os.PathLike) -> dict:
    """ModelFolderError unless `model_dir` is a DDPM pipeline folder (model_index.json, unet/config.json with
    safetensors weights, scheduler/scheduler_config.json). Returns the UNet config."""
    folder = Path(model_dir)
    if not folder.is_dir():
        raise ModelFolderError(
            f"model folder {str(folder)!r} does not exist"
            if not folder.exists()
            else f"{str(folder)!r} is a file, not a model folder"
        )
    return check_pipeline_layout(
        _folder_files(folder), lambda name: read_json_object(folder / name), f"folder {str(folder)!r}"
    )


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """Model space [-1, 1] → [0, 1], clamped."""
    return (images / 2 + 0.5).clamp(0, 1)


class PosteriorDDPMPipeline(DiffusionPipeline):
    """Unconditional DDPM/DDIM sampling with every step exposed.

    unet: a diffusers `UNet2DModel`. scheduler: a `PosteriorDDPMScheduler` (a stock `DDPMScheduler` config is
    converted on load, so stock diffusers DDPM folders load as they are).
    """

    model_cpu_offload_seq = "unet"

    def __init__(self, unet: UNet2DModel, scheduler):
        super().__init__()
        if not isinstance(scheduler, PosteriorDDPMScheduler):
            scheduler = PosteriorDDPMScheduler.from_config(scheduler.config)
        self.register_modules(unet=unet, scheduler=scheduler)
        self._analytic_gamma = None

    def set_analytic_gamma(self, gamma) -> "PosteriorDDPMPipeline":
        """Use this Γ_t table (T values, `pipelines.ddpm.gamma`) for variance_type="analytic". Returns self."""
        self._analytic_gamma = check_gamma(gamma, self.scheduler.config.num_train_timesteps)
        return self

    def analytic_gamma(self):
        """Γ_t for every t (T,): the table set by `set_analytic_gamma`, else read once from the model folder's
        analytic_variance.json. ValueError naming the command that makes the file when there is none."""
        if self._analytic_gamma is None:
            folder = getattr(self.config, "_name_or_path", None)
            if not folder or not os.path.isdir(folder):
                where = f"the Hub repo {folder} has no {GAMMA_FILE}" if folder else "this pipeline has no model folder"
                raise ValueError(
                    f'variance_type="analytic" needs Γ_t: {where}; pass a table to set_analytic_gamma '
                    "(python -m pipelines.ddpm.gamma --model FOLDER makes one, and push uploads it)"
                )
            self._analytic_gamma = load_gamma(folder, self.scheduler.config.num_train_timesteps)
        return self._analytic_gamma

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of the images this pipeline draws."""
        size = self.unet.config.sample_size
        h, w = (size, size) if isinstance(size, int) else tuple(size)
        return (self.unet.config.in_channels, h, w)

    def use_channels_last(self) -> "PosteriorDDPMPipeline":
        """Store the UNet's weights channels-last (NHWC), the layout oneDNN's CPU convolutions prefer: faster on CPU
        (bench/bench_sampling.py measures it), with the same outputs up to float rounding. app.py does this on CPU.
        Returns the pipeline."""
        self.unet.to(memory_format=torch.channels_last)
        return self

    @property
    def is_channels_last(self) -> bool:
        """Whether the UNet's weights are channels-last (`use_channels_last`). Read from conv_out's weight: conv_in's,
        with one input channel, is contiguous in both layouts at once."""
        weight = self.unet.conv_out.weight
        return weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()

    def _model_output(self, x: torch.Tensor, t: int) -> torch.Tensor:
        timestep = torch.tensor(t, dtype=torch.int64, device=x.device)
        return self.unet(x, timestep).sample

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs) -> "PosteriorDDPMPipeline":
        """Load a DDPM pipeline folder or Hub repo (stock diffusers layout: unet/ + scheduler/).

        Only safetensors weights are loaded: a folder or repo with only pickle weights (.bin) is refused, never
        unpickled. Remote code is never run. The Γ_t table for variance_type="analytic" (analytic_variance.json) is
        read from a folder when first needed (`analytic_gamma`); a Hub repo's is downloaded here, with the same
        revision, token, cache and offline settings. A repo without one loads as before."""
        if kwargs.pop("use_safetensors", True) is not True:
            raise ValueError("use_safetensors must be True: this project never loads pickle weights")
        if kwargs.get("trust_remote_code"):
            raise ValueError("trust_remote_code is not supported: this project never runs remote code")
        kwargs.pop("custom_pipeline", None)
        path = pretrained_model_name_or_path
        if not isinstance(path, (str, os.PathLike)) or not os.fspath(path).strip():
            # "" would be the current folder to os.path and a malformed repo id to huggingface_hub
            raise ValueError(
                f"pretrained_model_name_or_path must be a model folder or a Hub repo id (USER/NAME), got {path!r}"
            )
        if os.path.isdir(path) and "subfolder" not in kwargs and "variant" not in kwargs:
            # What a DDPM folder is (a UNet2DModel and a DDPM-family scheduler with valid settings, safetensors
            # weights), checked before diffusers loads whatever model_index.json names.
            check_model_folder(path)
        try:
            pipe = super().from_pretrained(path, use_safetensors=True, **kwargs)
        except OSError as error:
            if "Unable to load weights from checkpoint file" in str(error):
                # The file is there but is not safetensors (corrupt, truncated, or another format renamed)
                raise OSError(
                    f"{path}: the UNet weights are not a valid safetensors file (corrupt or truncated?): "
                    f"{first_line(error, innermost=True)}"
                ) from error
            # diffusers says only that a .safetensors file is missing; say why a .bin next to it is not used
            if "safetensors" not in str(error):
                raise
            raise OSError(
                f"{path}: no safetensors weights. This project never loads "
                "pickle weights (.bin): unpickling a file can run arbitrary code. Convert them to "
                "safetensors first."
            ) from error
        except ValueError as error:
            mismatch = re.search(r"because (\S+) expected shape (.+?), but got (.+?)\.(\s|$)", str(error))
            if mismatch is None:
                raise
            name, expected, found = mismatch.group(1, 2, 3)
            raise ValueError(
                f"{path}: unet/config.json does not match the weights: {name} should have shape "
                f"{_shape(expected)} by the config, the safetensors file has {_shape(found)}"
            ) from error
        if not os.path.isdir(path):  # a Hub repo: `_name_or_path` is its id, so fetch the Γ_t table now
            gamma_file = _hub_gamma_file(os.fspath(path), kwargs)
            if gamma_file is not None:
                steps = pipe.scheduler.config.num_train_timesteps
                pipe.set_analytic_gamma(load_gamma(os.path.dirname(gamma_file), steps))
        return pipe

    def save_pretrained(self, save_directory, safe_serialization: bool = True, **kwargs) -> None:
        """Write a stock diffusers DDPM folder (DDPMPipeline + DDPMScheduler config, safetensors weights), which
        `diffusers.DDPMPipeline.from_pretrained` loads with no code of ours."""
        from diffusers import DDPMPipeline, DDPMScheduler

        if not safe_serialization:
            raise ValueError("safe_serialization must be True: this project writes safetensors weights only")
        stock = DDPMPipeline(unet=self.unet, scheduler=DDPMScheduler.from_config(self.scheduler.config))
        stock.save_pretrained(save_directory, safe_serialization=True, **kwargs)

    @torch.inference_mode()
    def denoise(
        self,
        batch_size: int = 1,
        generator: torch.Generator | list[torch.Generator] | None = None,
        num_inference_steps: int | None = 1000,
        eta: float = 1.0,
        timesteps: Sequence[int] | None = None,
        variance_type: str | None = None,
        progress: bool = True,
        order: int = 1,
    ) -> Iterator[DenoisingStep]:
        """Sample from pure noise, yielding every reverse step (see `DenoisingStep`).

        batch_size >= 1; num_inference_steps in [1, T] (respaced by the scheduler's timestep_spacing) or
        custom `timesteps` (strictly descending, in [0, T)); eta in [0, 1]; variance_type overrides the
        scheduler's (e.g. "fixed_large" for σ² = β_t, "analytic" for Bao et al.'s optimal σ*² from the folder's
        analytic_variance.json, see `analytic_gamma`; the step into the last timestep has its σ clipped, see
        `PosteriorDDPMScheduler.analytic_variance`). order in [1, 3]: 1 = the model's x̂_0 (Ho et al.'s step);
        2 or 3 = the same posterior with x̂_0 extrapolated from the last steps' (DPM-Solver++ multistep, lower on
        the first and last steps as `pipelines.ddpm.multistep.step_order` says); each step records both x̂_0's.
        Noise is drawn in the order and shapes of diffusers' DDPMPipeline, so one generator gives the same images
        in both (and at order 2 the same as its DPMSolverMultistepScheduler(algorithm_type="sde-dpmsolver++")).
        """
        batch_size = check_batch_size(batch_size)
        generator = check_generator(generator, batch_size)
        chain = reverse_chain(self.scheduler, num_inference_steps, timesteps)
        _, chosen = self.scheduler.check_sampling_args(eta, variance_type)  # fail before any work
        order = check_order(order)
        gamma = self.analytic_gamma() if chosen == "analytic" else None
        device = self._execution_device
        x = randn_tensor((batch_size, *self.image_shape), generator=generator, device=device, dtype=self.unet.dtype)

        position = {t: i for i, (t, _) in enumerate(chain)}
        history = ()  # the last steps' (t, x̂_0): this run's own, so concurrent runs share the scheduler safely

        def unet_step(x_t: torch.Tensor, t: int, prev_t: int):
            nonlocal history
            model_output = self._model_output(x_t, t)
            out = self.scheduler.step(
                model_output,
                t,
                x_t,
                generator=generator,
                prev_timestep=prev_t,
                eta=eta,
                variance_type=variance_type,
                gamma=gamma,
                last_timestep=chain[-1][0],
                order=step_order(order, position[t], len(chain)),
                history=history,
            )
            history = out.history
            return out, model_output

        steps = self.progress_bar(chain) if progress else None
        yield from run_chain(unet_step, x, chain, steps, extras=("extrapolated_original_sample",))

    def __call__(
        self,
        batch_size: int = 1,
        generator: torch.Generator | list[torch.Generator] | None = None,
        num_inference_steps: int | None = 1000,
        eta: float = 1.0,
        timesteps: Sequence[int] | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
        variance_type: str | None = None,
        order: int = 1,
    ) -> ImagePipelineOutput | tuple:
        """Draw `batch_size` images (arguments as `denoise`). output_type: "pil" (list of PIL images), "np"
        ((B, H, W, C) float in [0, 1]) or "pt" ((B, C, H, W) float tensor in [0, 1])."""
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"output_type must be one of {', '.join(OUTPUT_TYPES)}; got {output_type!r}")
        x = None
        steps = self.denoise(batch_size, generator, num_inference_steps, eta, timesteps, variance_type, order=order)
        for step in steps:
            x = step.sample
        images = to_unit_range(x)
        if output_type != "pt":
            images = images.cpu().permute(0, 2, 3, 1).numpy()
            if output_type == "pil":
                images = self.numpy_to_pil(images)
        if not return_dict:
            return (images,)
        return ImagePipelineOutput(images=images)
