"""DDPM with every step exposed, and the exact posterior it is trained toward. The public names:

    from pipelines import (PosteriorDDPMScheduler, PosteriorDDPMPipeline, DenoisingStep, DatasetPosterior,
                           LocalPosterior, load_pipeline)

Each sub-package answers one question (see its docstring): `ddpm` (how p_θ samples), `exact` (the true reverse
step over a data set), `data`, `training`, `evaluation`, `hub`, `toy2d` (the 2-D world), `transition` (copies or new
images as N grows) and `pictures` (drawing only); `checks` is the validation every part shares.

The public names load on first use, so that `import pipelines.checks` (used by every command line before it parses
its flags) does not import diffusers."""

from __future__ import annotations

import importlib

_PUBLIC = {
    "PosteriorDDPMScheduler": "ddpm.scheduler",
    "PosteriorDDPMSchedulerOutput": "ddpm.scheduler",
    "PosteriorDDPMPipeline": "ddpm.pipeline",
    "DenoisingStep": "ddpm.pipeline",
    "DatasetPosterior": "exact.posterior",
    "LocalPosterior": "exact.local",
    "load_pipeline": "hub.loading",
}

__all__ = list(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
