"""The generic checks every part shares, and the one-line error helpers: integers, floats, choices, seeds, batch
sizes, images in model space, the command-line parser (`OneLineParser`, `non_empty`) and `short_repr`/`first_line`.

A check returns the value in its canonical type or raises `ValueError` whose message names the parameter, the
value it got and the allowed range ("seed must be an integer in [0, 4294967295], got -1"). The library, train.py,
the benchmarks and the app (which turns the ValueError into a `gr.Error`, in ui/inputs.py) all use these, so the
same value is refused with the same words everywhere. A check of one domain's value lives beside that domain, built
on these (η and the variance choice in pipelines.ddpm.scheduler, Γ_t in pipelines.ddpm.optimal_variance, a model
folder in pipelines.ddpm.pipeline, a repo id in pipelines.hub.push, …).
"""

from __future__ import annotations

import argparse
import math
import numbers
from typing import Iterable

import numpy as np
import torch

# One seed range for the whole project: a JavaScript number holds every integer in it exactly, so a seed typed
# in the browser or sent as JSON is never rounded; torch.Generator.manual_seed accepts it as is.
MAX_SEED = 2**32 - 1
# Images in model space are in [-1, 1]; float32 rounding of a computed image may overshoot by a hair.
MODEL_SPACE_TOLERANCE = 1e-3


# ---------------------------------------------------------------------------------------------- messages
def short_repr(value, limit: int = 60) -> str:
    """repr(value) for a message, cut to `limit` characters: a request can send a megabyte-long string or list,
    and the error must stay one short line."""
    try:
        text = repr(value)
    except ValueError:  # an int past Python's 4300-digit repr limit
        return f"an integer of {value.bit_length()} bits"
    return text if len(text) <= limit else f"{text[: limit - 1]}… ({len(text):,} characters)"


def first_line(error: BaseException, innermost: bool = False) -> str:
    """The first line of an error's message (its type's name when the message is empty).

    innermost: follow `__cause__` / `__context__` to the error that started it (diffusers wraps safetensors'
    own, precise message twice)."""
    if innermost:
        while error.__cause__ is not None or error.__context__ is not None:
            error = error.__cause__ or error.__context__
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line (no usage block): `prog: error: … (see --help)`, exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def non_empty(value: str) -> str:
    """An argparse type: the string as given, refused when blank (an empty --model would load the current folder,
    an empty --host would listen on every interface). argparse prefixes the message with "argument --flag: "."""
    if not value.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return value


# ---------------------------------------------------------------------------------------------- numbers
def is_int(value) -> bool:
    """A Python or numpy integer, not a bool."""
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, bool)


def as_int(value, name: str) -> int:
    """A Python int from an integer or a one-element integer tensor; ValueError naming `name` otherwise."""
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_floating_point():
        return int(value.item())
    if is_int(value):
        return int(value)
    raise ValueError(f"{name} must be an integer, got {short_repr(value)}")


def _range(low, high) -> str:
    if low is not None and high is not None:
        return f" in [{low}, {high}]"
    if low is not None:
        return f" >= {low}"
    if high is not None:
        return f" <= {high}"
    return ""


def check_int(
    name: str, value, low: int | None = None, high: int | None = None, integral_floats: bool = False, meaning: str = ""
) -> int:
    """An integer in [low, high] (either bound may be None); ValueError naming `name` and the range otherwise.

    integral_floats: also accept 3.0 for 3 (JSON numbers from a browser or an API client arrive as floats)."""
    message = f"{name} must be an integer{_range(low, high)}{meaning}, got {short_repr(value)}"
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_floating_point():
        value = int(value.item())
    if not is_int(value):
        if not (
            integral_floats
            and isinstance(value, numbers.Real)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and float(value).is_integer()
        ):
            raise ValueError(message)
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(message)
    return value


def check_float(name: str, value, low: float, high: float, meaning: str = "") -> float:
    """A finite number in [low, high]; ValueError naming `name` and the range otherwise."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (numbers.Real, np.floating))
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise ValueError(f"{name} must be a number in [{low:g}, {high:g}]{meaning}, got {short_repr(value)}")
    return float(value)


def check_choice(name: str, value, choices: Iterable[str]) -> str:
    """One of `choices` (strings); ValueError listing them otherwise."""
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {short_repr(value)}")
    return value


def check_seed(seed, name: str = "seed", integral_floats: bool = False) -> int:
    """A seed: an integer in [0, MAX_SEED], the one range of the whole project."""
    return check_int(name, seed, 0, MAX_SEED, integral_floats=integral_floats)


def check_batch_size(batch_size, name: str = "batch_size") -> int:
    """A number of images, >= 1. No upper bound: memory is the caller's limit (the demo caps its own input)."""
    return check_int(name, batch_size, 1)


# ---------------------------------------------------------------------------------------------- images
def check_images(
    images,
    name: str = "images",
    image_shape: tuple[int, ...] | None = None,
    min_batch: int = 1,
    model_space: bool = False,
) -> torch.Tensor:
    """A float tensor (B, C, H, W) of finite values, B >= min_batch, matching `image_shape` (C, H, W) when given;
    with model_space, every value in [-1, 1] (within MODEL_SPACE_TOLERANCE). numpy arrays are accepted."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(images)
    want = "(B, C, H, W)" if image_shape is None else f"(B, {', '.join(map(str, image_shape))})"
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"{name} must be a tensor of shape {want}, got {type(images).__name__}")
    if images.ndim != 4 or 0 in images.shape[1:]:
        raise ValueError(f"{name} must have shape {want} with B >= 1, got {tuple(images.shape)}")
    if image_shape is not None and tuple(images.shape[1:]) != tuple(image_shape):
        raise ValueError(f"{name} must have shape {want} (channels, height, width), got {tuple(images.shape)}")
    if images.shape[0] < min_batch:
        least = "one image" if min_batch == 1 else f"{min_batch} images"
        raise ValueError(f"{name} must hold at least {least}, got {images.shape[0]}")
    if not images.is_floating_point():
        images = images.float()
    if not bool(torch.isfinite(images).all()):
        raise ValueError(f"{name} must hold finite values (no NaN or inf)")
    if model_space:
        check_model_space(images, name)
    return images


def check_model_space(images: torch.Tensor, name: str = "images") -> None:
    """Values in [-1, 1] (model space), within MODEL_SPACE_TOLERANCE; ValueError with the range found otherwise."""
    low, high = float(images.min()), float(images.max())
    if low < -1 - MODEL_SPACE_TOLERANCE or high > 1 + MODEL_SPACE_TOLERANCE:
        raise ValueError(f"{name} must hold values in [-1, 1] (model space), got values in [{low:.4g}, {high:.4g}]")
