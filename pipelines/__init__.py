"""DDPM with every step exposed: the posterior scheduler, the step-by-step pipeline and the exact data-set posterior.

The public names load on first use, so that `import pipelines.checks` (used by every command line before it parses
its flags) does not import diffusers."""

from __future__ import annotations

import importlib

_PUBLIC = {
    "PosteriorDDPMScheduler": "scheduling_ddpm_posterior",
    "PosteriorDDPMSchedulerOutput": "scheduling_ddpm_posterior",
    "PosteriorDDPMPipeline": "pipeline_ddpm_posterior",
    "DenoisingStep": "pipeline_ddpm_posterior",
    "DatasetPosterior": "exact_posterior",
}

__all__ = list(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
