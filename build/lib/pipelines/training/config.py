"""What a training run is given: `TrainConfig` (train.py's flags, checked in one place), the default UNet
(DEFAULT_UNET) and `unet_kwargs` that build it from --model_config or the flags, the checkpoint folder pattern, and
`TrainingError`, whose message names the bad input. The loop that runs it is pipelines/training/loop.py.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.checks import check_choice, check_int, check_seed

CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")


DEFAULT_UNET = {
    "block_out_channels": [16, 32, 64],
    "down_block_types": ["DownBlock2D", "DownBlock2D", "AttnDownBlock2D"],
    "up_block_types": ["AttnUpBlock2D", "UpBlock2D", "UpBlock2D"],
    "layers_per_block": 1,
    "norm_num_groups": 8,
}


class TrainingError(ValueError):
    """A bad training setting or an I/O failure; the message names the input."""


@dataclass
class TrainConfig:
    output_dir: str = "ddpm-model"
    dataset: str = "mnist"
    train_data_dir: str | None = None
    dataset_name: str | None = None
    resolution: int = 32
    channels: int = 1
    heldout_fraction: float = 0.1  # a folder's or 🤗 data set's seeded held-out part (mnist keeps its 4,500/500 split)
    subset_size: int | None = None  # train on a seeded block of this many training images …
    subset_index: int = 0  # … the block with this index (blocks never share an image)
    subset_seed: int = 0
    model_config: str | None = None  # a JSON file of UNet2DModel kwargs
    block_out_channels: list[int] = field(default_factory=lambda: list(DEFAULT_UNET["block_out_channels"]))
    layers_per_block: int = 1
    attention: bool = True  # self-attention at the lowest resolution
    ddpm_num_steps: int = 1000
    ddpm_beta_schedule: str = "linear"
    prediction_type: str = "epsilon"
    snr_gamma: float | None = None
    train_batch_size: int = 64
    gradient_accumulation_steps: int = 1
    learning_rate: float = 1e-3
    lr_scheduler: str = "constant_with_warmup"
    lr_warmup_steps: int = 500
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_weight_decay: float = 0.0
    adam_epsilon: float = 1e-8
    max_grad_norm: float = 1.0
    use_ema: bool = True
    ema_max_decay: float = 0.9999
    ema_inv_gamma: float = 1.0
    ema_power: float = 0.75
    max_train_steps: int | None = None
    num_epochs: int = 100
    checkpointing_steps: int = 500
    checkpoints_total_limit: int | None = 3
    resume_from_checkpoint: str | None = None
    save_images_steps: int = 1000
    num_inference_steps: int = 50  # for the sample grids
    mixed_precision: str = "no"
    seed: int = 0
    num_threads: int | None = None
    logger: str = "tensorboard"
    push_to_hub: bool = False
    hub_model_id: str | None = None
    hub_token: str | None = None
    command: str = ""  # the exact command line, recorded in the model card

    def validate(self) -> None:
        """Every numeric flag in its range; every choice one of its options (TrainingError naming the flag)."""
        try:
            self._validate()
        except TrainingError:
            raise
        except ValueError as error:  # pipelines.checks' words, with the flag's name
            raise TrainingError(str(error)) from None

    def _validate(self) -> None:
        def positive_int(name, minimum=1):
            check_int(f"--{name}", getattr(self, name), minimum)

        for name in (
            "train_batch_size",
            "gradient_accumulation_steps",
            "ddpm_num_steps",
            "num_epochs",
            "checkpointing_steps",
            "save_images_steps",
            "resolution",
            "layers_per_block",
        ):
            positive_int(name)
        positive_int("lr_warmup_steps", 0)
        if self.max_train_steps is not None:
            positive_int("max_train_steps")
        if self.checkpoints_total_limit is not None:
            positive_int("checkpoints_total_limit")
        if self.num_threads is not None:
            positive_int("num_threads")
        if self.subset_size is not None:
            positive_int("subset_size")
        positive_int("subset_index", 0)
        check_seed(self.subset_seed, "--subset_seed")
        if not (isinstance(self.heldout_fraction, (int, float)) and 0 <= self.heldout_fraction < 1):
            raise TrainingError(f"--heldout_fraction must be in [0, 1), got {self.heldout_fraction!r}")
        if self.channels not in (1, 3):
            raise TrainingError(f"--channels must be 1 or 3, got {self.channels!r}")
        for name in ("learning_rate", "adam_epsilon", "max_grad_norm", "ema_inv_gamma", "ema_power"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise TrainingError(f"--{name} must be a finite number > 0, got {value!r}")
        for name in ("adam_beta1", "adam_beta2", "ema_max_decay"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0 <= value < 1):
                raise TrainingError(f"--{name} must be in [0, 1), got {value!r}")
        if not (math.isfinite(self.adam_weight_decay) and self.adam_weight_decay >= 0):
            raise TrainingError(f"--adam_weight_decay must be a finite number >= 0, got {self.adam_weight_decay!r}")
        if self.snr_gamma is not None and not (math.isfinite(self.snr_gamma) and self.snr_gamma > 0):
            raise TrainingError(f"--snr_gamma must be a finite number > 0, got {self.snr_gamma!r}")
        choices = {
            "prediction_type": ("epsilon", "sample", "v_prediction"),
            "ddpm_beta_schedule": ("linear", "scaled_linear", "squaredcos_cap_v2", "sigmoid"),
            "mixed_precision": ("no", "fp16", "bf16"),
            "logger": ("tensorboard", "none"),
            "lr_scheduler": (
                "linear",
                "cosine",
                "cosine_with_restarts",
                "polynomial",
                "constant",
                "constant_with_warmup",
            ),
        }
        for name, allowed in choices.items():
            check_choice(f"--{name}", getattr(self, name), allowed)
        if not 1 <= self.num_inference_steps <= self.ddpm_num_steps:
            # diffusers#2263: sampling with more steps than the model was trained on indexes past the schedule
            raise TrainingError(
                f"--num_inference_steps must be in [1, {self.ddpm_num_steps}] "
                f"(--ddpm_num_steps), got {self.num_inference_steps}"
            )
        if any((not isinstance(c, int)) or c < 1 for c in self.block_out_channels):
            raise TrainingError(f"--block_out_channels must be positive integers, got {self.block_out_channels!r}")
        check_seed(self.seed, "--seed")
        # An empty path is not "no path": --output_dir "" would train (and prune checkpoints) in the current
        # folder, and an empty --train_data_dir / --dataset_name would silently fall back to MNIST.
        for name in ("output_dir", "train_data_dir", "dataset_name"):
            value = getattr(self, name)
            if value is not None and not str(value).strip():
                raise TrainingError(f"--{name} must not be empty")
        if self.push_to_hub and not self.hub_model_id:
            raise TrainingError("--push_to_hub needs --hub_model_id USER/NAME")


def unet_kwargs(config: TrainConfig) -> dict:
    """UNet2DModel keyword arguments from --model_config or the flags."""
    if config.model_config:
        path = Path(config.model_config)
        try:
            kwargs = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise TrainingError(f"--model_config {str(path)!r} is not a readable JSON file: {error}") from error
        if not isinstance(kwargs, dict):
            raise TrainingError(f"--model_config {str(path)!r} must hold a JSON object of UNet2DModel arguments")
        kwargs = {k: v for k, v in kwargs.items() if not k.startswith("_")}
    else:
        n = len(config.block_out_channels)
        attn = config.attention
        kwargs = {
            "block_out_channels": list(config.block_out_channels),
            "down_block_types": ["DownBlock2D"] * (n - 1) + ["AttnDownBlock2D" if attn else "DownBlock2D"],
            "up_block_types": ["AttnUpBlock2D" if attn else "UpBlock2D"] + ["UpBlock2D"] * (n - 1),
            "layers_per_block": config.layers_per_block,
            "norm_num_groups": math.gcd(8, *config.block_out_channels),
        }
    kwargs.update(sample_size=config.resolution, in_channels=config.channels, out_channels=config.channels)
    return kwargs
