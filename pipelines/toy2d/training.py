"""Training ε_θ on N points with the simple loss of Ho et al. (eq. 14), one optimizer update at a time."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn

from pipelines.checks import check_float, check_int, check_seed
from pipelines.ddpm.scheduler import PosteriorDDPMScheduler
from pipelines.toy2d.data import as_images
from pipelines.toy2d.model import ToyEpsilonMLP, toy_scheduler

MIN_TRAIN_STEPS, MAX_TRAIN_STEPS, DEFAULT_TRAIN_STEPS = 100, 20_000, 3000
SHIPPED_TRAIN_STEPS = 10_000  # the shipped weights: `python -m pipelines.toy2d` (every data set, N = 256, seed 0)
TRAIN_BATCH_SIZE = 256
TRAIN_LEARNING_RATE = 1e-2


def check_train_steps(train_steps, name: str = "train_steps", integral_floats: bool = False) -> int:
    return check_int(name, train_steps, MIN_TRAIN_STEPS, MAX_TRAIN_STEPS, integral_floats, " (optimizer steps)")


@dataclass
class ToyTrainingProgress:
    """Where `train_toy` is after one optimizer update: update = 1 … num_updates, loss = that batch's ε-MSE."""

    update: int
    num_updates: int
    loss: float


def train_toy(
    model: ToyEpsilonMLP,
    points: torch.Tensor,
    num_steps: int = DEFAULT_TRAIN_STEPS,
    seed: int = 0,
    scheduler: PosteriorDDPMScheduler | None = None,
    batch_size: int = TRAIN_BATCH_SIZE,
    learning_rate: float = TRAIN_LEARNING_RATE,
) -> Iterator[ToyTrainingProgress]:
    """Train ε_θ on points (N, 2) with the simple loss of Ho et al. (eq. 14), yielding after every update.

    Each update: x_0 ~ the N points (with replacement), t ~ U{0, …, T−1}, ε ~ N(0, I), x_t = scheduler.add_noise
    (eq. 4), loss = ‖ε − ε_θ(x_t, t)‖² averaged. Adam, learning rate with a cosine decay to 0 over num_steps.
    The model's own weights are updated in place; the seed fixes the batches, so a run is repeatable on one
    machine. Stop early by not asking for the next update."""
    points = as_images(points).float()
    num_steps = check_train_steps(num_steps)
    seed = check_seed(seed)
    batch_size = check_int("batch_size", batch_size, 1)
    learning_rate = check_float("learning_rate", learning_rate, 1e-6, 1.0)
    scheduler = scheduler or toy_scheduler()
    T = scheduler.config.num_train_timesteps
    generator = torch.Generator().manual_seed(seed)
    # fused: one kernel per update for all parameters (on 2 CPU cores ~10 % faster per update than the default)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate, fused=True)
    decay = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: 0.5 * (1.0 + math.cos(math.pi * i / num_steps)))
    model.train()
    try:
        for update in range(1, num_steps + 1):
            x0 = points[torch.randint(0, len(points), (batch_size,), generator=generator)]
            t = torch.randint(0, T, (batch_size,), generator=generator)
            noise = torch.randn(x0.shape, generator=generator)
            loss = nn.functional.mse_loss(model(scheduler.add_noise(x0, noise, t), t).sample, noise)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            decay.step()
            yield ToyTrainingProgress(update=update, num_updates=num_steps, loss=float(loss.detach()))
    finally:
        model.eval()
