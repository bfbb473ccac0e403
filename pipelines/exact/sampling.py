"""Sampling from pure noise with a data-set denoiser: the one loop that the exact posterior (`DatasetPosterior`) and
the local one (`LocalPosterior`) both walk, the pipeline's own (`pipelines.ddpm.pipeline.run_chain`) with their step
in place of the UNet's, and the check of a list of generators that their steps share.
"""

from __future__ import annotations

from typing import Callable, Iterator, Sequence

import torch
from diffusers.utils.torch_utils import randn_tensor

from pipelines.checks import check_batch_size
from pipelines.ddpm.pipeline import DenoisingStep, reverse_chain, run_chain


def _check_generators(generator, batch_size: int) -> None:
    """A list of generators must hold one per sample."""
    if isinstance(generator, list) and len(generator) != batch_size:
        raise ValueError(
            f"generator must be one torch.Generator or a list of {batch_size} (one per sample), "
            f"got a list of {len(generator)}"
        )


# ---------------------------------------------------------------------------------------------- from noise
def denoise_from_noise(
    denoiser,
    chain_of: Callable,
    batch_size: int,
    generator,
    num_inference_steps: int | None,
    timesteps: Sequence[int] | None,
    progress: bool,
    desc: str,
    record: type[DenoisingStep] = DenoisingStep,
    extras: Sequence[str] = (),
) -> Iterator[DenoisingStep]:
    """Sample from pure noise with a data-set denoiser (the exact posterior, the local one), a `record` per step.

    The arguments are `PosteriorDDPMPipeline.denoise`'s, in its order (these steps have no η or variance to choose),
    so one loop serves every sampler: the chain is `reverse_chain`, and x_T is drawn first in the pipeline's shape and
    dtype (float32), so a generator seeded alike starts every sampler from the same noise. `denoiser` has scheduler,
    image_shape, `_draw(x_t, chain, generator)` and `ideal_model_output`; `chain_of(t, prev_t, batch)` gives the
    step's coefficients."""
    batch_size = check_batch_size(batch_size)
    chain = reverse_chain(denoiser.scheduler, num_inference_steps, timesteps)
    x = randn_tensor((batch_size, *denoiser.image_shape), generator=generator, dtype=torch.float32)
    steps = None
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(chain, desc=desc)

    _check_generators(generator, batch_size)

    def one_step(x_t: torch.Tensor, t: int, prev_t: int):  # t, prev_t: from the checked plan
        out = denoiser._draw(x_t, chain_of(t, prev_t, batch_size), generator)
        return out, denoiser.ideal_model_output(x_t, t, out.pred_original_sample)

    yield from run_chain(one_step, x, chain, steps, record, extras)


def last_sample(steps: Iterator[DenoisingStep]) -> torch.Tensor:
    """The sample after the last step of a sampling run."""
    x = None
    for record in steps:
        x = record.sample
    return x
