"""DDPM with every step exposed: the posterior scheduler, the step-by-step pipeline and the exact data-set posterior."""

from .exact_posterior import DatasetPosterior
from .pipeline_ddpm_posterior import DenoisingStep, PosteriorDDPMPipeline
from .scheduling_ddpm_posterior import PosteriorDDPMScheduler, PosteriorDDPMSchedulerOutput

__all__ = ["PosteriorDDPMScheduler", "PosteriorDDPMSchedulerOutput", "PosteriorDDPMPipeline", "DenoisingStep", "DatasetPosterior"]
