"""An independent few-line DDPM training loop (Ho et al. 2020, Algorithm 1) to check pipelines.training against.

Plain torch + diffusers' UNet2DModel + AdamW; it imports nothing from pipelines/. It shares with `train()` only
what defines a run, so that the same run gives the same weights:
- the initial weights: torch.manual_seed(seed), then UNet2DModel(**kwargs);
- the data order: epoch e is the permutation torch.randperm(n, seed·100003 + e), cut into batches, the last
  partial batch dropped;
- the noise order: per batch (micro-batch, under accumulation) ε ~ randn, then t ~ randint[0, T), from the
  global RNG;
- the optimizer: AdamW, then the gradient clipped to max_grad_norm, lr warmed up linearly then constant;
- EMA with warm-up (diffusers' EMAModel): decay_k = min(max_decay, 1 − (1 + (k−1)/inv_gamma)^−power), 0 at k = 1.

Under gradient accumulation it takes ONE optimizer step on the concatenation of the `accumulation` micro-batches
(the bigger batch), which is what accumulation is meant to equal.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def alphas_cumprod(num_steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """ᾱ_t = Π_{s≤t} (1 − β_s) for the linear schedule (Ho et al. 2020, §4), in float64."""
    betas = torch.linspace(beta_start, beta_end, num_steps, dtype=torch.float32).double()
    return torch.cumprod(1.0 - betas, dim=0)


def min_snr_weight(snr: torch.Tensor, gamma: float, prediction_type: str) -> torch.Tensor:
    """Min-SNR-γ (Hang et al. 2023): the ε-loss weight min(SNR, γ)/SNR, re-expressed per regression target.

    ‖x0 − x̂0‖² = ‖ε − ε̂‖²/SNR and ‖v − v̂‖² = ‖ε − ε̂‖²·(SNR + 1)/SNR, so the same per-sample weighting of the
    x0 error is min(SNR, γ) for x0, min(SNR, γ)/SNR for ε and min(SNR, γ)/(SNR + 1) for v."""
    clipped = torch.minimum(snr, torch.full_like(snr, gamma))
    return {"epsilon": clipped / snr, "sample": clipped, "v_prediction": clipped / (snr + 1)}[prediction_type]


def reference_train(
    images: torch.Tensor,
    unet_kwargs: dict,
    *,
    seed: int,
    steps: int,
    batch_size: int,
    accumulation: int = 1,
    prediction_type: str = "epsilon",
    snr_gamma: float | None = None,
    lr: float = 1e-3,
    warmup: int = 0,
    max_grad_norm: float = 1.0,
    num_train_timesteps: int = 1000,
    ema_max_decay: float | None = None,
    ema_inv_gamma: float = 1.0,
    ema_power: float = 0.75,
):
    """Train from scratch; returns (raw state_dict, EMA state_dict or None, the loss of each optimizer step)."""
    from diffusers import UNet2DModel

    torch.manual_seed(seed)
    model = UNet2DModel(**unet_kwargs).train()
    ema = [p.detach().clone() for p in model.parameters()] if ema_max_decay is not None else None
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.999), weight_decay=0.0, eps=1e-8)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda k: min(1.0, k / warmup) if warmup else 1.0)
    abar = alphas_cumprod(num_train_timesteps)

    def micro_batches():
        epoch = 0
        while True:
            order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
            for i in range(len(images) // batch_size):
                yield images[order[i * batch_size : (i + 1) * batch_size]]
            epoch += 1

    stream, losses = micro_batches(), []
    for k in range(1, steps + 1):
        x0s, noises, ts = [], [], []
        for _ in range(accumulation):
            x0 = next(stream)
            noises.append(torch.randn_like(x0))
            ts.append(torch.randint(0, num_train_timesteps, (x0.shape[0],)))
            x0s.append(x0)
        x0, noise, t = torch.cat(x0s), torch.cat(noises), torch.cat(ts)
        a = abar[t].view(-1, 1, 1, 1)
        x_t = (a.sqrt() * x0 + (1 - a).sqrt() * noise).float()  # q(x_t | x0), eq. 4
        target = {"epsilon": noise, "sample": x0, "v_prediction": (a.sqrt() * noise - (1 - a).sqrt() * x0).float()}[
            prediction_type
        ]  # v: Salimans & Ho
        per_sample = ((model(x_t, t).sample - target) ** 2).mean(dim=(1, 2, 3))
        if snr_gamma is not None:
            snr = (abar[t] / (1 - abar[t])).float()
            per_sample = per_sample * min_snr_weight(snr, snr_gamma, prediction_type)
        loss = per_sample.mean()
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if ema is not None:
            decay = 0.0 if k == 1 else min(ema_max_decay, 1 - (1 + (k - 1) / ema_inv_gamma) ** -ema_power)
            with torch.no_grad():
                for e, p in zip(ema, model.parameters()):
                    e.mul_(decay).add_(p.detach(), alpha=1 - decay)
    names = [name for name, _ in model.named_parameters()]
    raw = {name: value.detach().clone() for name, value in model.state_dict().items()}
    ema_state = None if ema is None else {**raw, **dict(zip(names, ema))}
    return raw, ema_state, losses


def denoising_loss(
    model, images: torch.Tensor, *, seed: int = 1234, draws: int = 8, num_train_timesteps: int = 1000
) -> float:
    """E‖ε − ε_θ(x_t, t)‖² over `draws` fixed (ε, t) per image, t spread over [0, T): a fixed yardstick."""
    abar = alphas_cumprod(num_train_timesteps)
    generator = torch.Generator().manual_seed(seed)
    x0 = images.repeat(draws, 1, 1, 1)
    noise = torch.randn(x0.shape, generator=generator)
    t = torch.linspace(0, num_train_timesteps - 1, len(x0)).long()[torch.randperm(len(x0), generator=generator)]
    a = abar[t].view(-1, 1, 1, 1)
    x_t = (a.sqrt() * x0 + (1 - a).sqrt() * noise).float()
    with torch.no_grad():
        return F.mse_loss(model.eval()(x_t, t).sample, noise).item()
