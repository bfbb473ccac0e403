"""p_θ in 2-D: the ε-MLP `ToyEpsilonMLP` (a UNet stand-in for the same pipeline), its scheduler and pipeline, and the
shipped weights (models/toy2d/<dataset>/, made by `python -m pipelines.toy2d`)."""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.unets.unet_2d import UNet2DOutput
from torch import nn

from pipelines.checks import check_seed
from pipelines.ddpm.pipeline import PosteriorDDPMPipeline
from pipelines.ddpm.scheduler import PosteriorDDPMScheduler
from pipelines.toy2d.data import DEFAULT_DATASET, check_dataset


class ToyEpsilonMLP(ModelMixin, ConfigMixin):
    """ε_θ(x_t, t) for 2-D points: a sinusoidal time embedding (diffusers' `Timesteps` + `TimestepEmbedding`, as in
    the UNet) added to a linear embedding of x_t, then residual SiLU layers, then a linear read-out of ε̂.

    Called like a `UNet2DModel`: model(sample (B, 2, 1, 1), timestep (int, 0-d or (B,))) → output with .sample,
    so `PosteriorDDPMPipeline` samples with it unchanged. Saved and loaded with save_pretrained / from_pretrained
    (config.json + safetensors)."""

    @register_to_config
    def __init__(
        self,
        in_channels: int = 2,
        sample_size: int = 1,
        hidden_size: int = 128,
        num_layers: int = 3,
        time_embedding_dim: int = 64,
    ):
        super().__init__()
        self.time_proj = Timesteps(time_embedding_dim, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embedding = TimestepEmbedding(time_embedding_dim, hidden_size)
        self.input = nn.Linear(in_channels, hidden_size)
        self.layers = nn.ModuleList(nn.Linear(hidden_size, hidden_size) for _ in range(num_layers))
        self.output = nn.Linear(hidden_size, in_channels)

    def forward(self, sample: torch.Tensor, timestep, return_dict: bool = True):
        shape = sample.shape
        x = sample.reshape(shape[0], self.config.in_channels)
        t = torch.as_tensor(timestep, device=x.device)
        t = t.expand(shape[0]) if t.ndim == 0 else t.reshape(shape[0])
        h = self.input(x) + self.time_embedding(self.time_proj(t).to(x.dtype))
        for layer in self.layers:
            h = h + layer(nn.functional.silu(h))
        eps = self.output(nn.functional.silu(h)).reshape(shape)
        return UNet2DOutput(sample=eps) if return_dict else (eps,)


def new_toy_model(seed: int = 0, **config) -> ToyEpsilonMLP:
    """A freshly initialised ToyEpsilonMLP whose weights depend only on seed (the global RNG is left as it was)."""
    seed = check_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ToyEpsilonMLP(**config)


def toy_scheduler() -> PosteriorDDPMScheduler:
    """The image model's default schedule: T = 1000, linear β from 1e-4 to 0.02, ε-prediction, β̃ variance."""
    return PosteriorDDPMScheduler()


def toy_pipeline(model: ToyEpsilonMLP, scheduler: PosteriorDDPMScheduler | None = None) -> PosteriorDDPMPipeline:
    """The image pipeline with the MLP in the UNet's place: `denoise` yields every step of 2-D sampling."""
    pipe = PosteriorDDPMPipeline(unet=model, scheduler=scheduler or toy_scheduler())
    pipe.set_progress_bar_config(disable=True)
    return pipe


WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "models" / "toy2d"


def load_toy_model(dataset: str = DEFAULT_DATASET, weights_dir: str | Path | None = None) -> ToyEpsilonMLP:
    """The shipped p_θ for a data set (models/toy2d/<dataset>/: config.json + safetensors, eval mode)."""
    dataset = check_dataset(dataset)
    folder = Path(weights_dir or WEIGHTS_DIR) / dataset
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"{folder}: no shipped toy model (config.json); make it with `python -m "
            f"pipelines.toy2d --dataset {dataset}`"
        )
    return ToyEpsilonMLP.from_pretrained(folder, use_safetensors=True).eval()
