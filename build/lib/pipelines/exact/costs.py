"""What one reverse step costs: the exact step over N images against the model's, under one protocol.

`measure_step_costs` times `DatasetPosterior.step` over the first n images of a data set for several n and one
model step (a UNet call and p_θ's step) on the same batch, fits ms ≈ c·N·D and extrapolates it to data sets an exact
step would have to read at every step of every sample (`StepCosts`).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from pipelines.checks import check_batch_size, check_float, check_images, check_int, check_seed, is_int, short_repr
from pipelines.exact.posterior import DatasetPosterior

DEFAULT_SIZES = (100, 250, 500, 1000, 2000, 4500)


# Data sets an exact step would have to read at every step of every sample: (name, N images, D values per image).
EXTRAPOLATION_SETS = (
    ("CIFAR-10", 50_000, 32 * 32 * 3),
    ("ImageNet 64×64", 1_281_167, 64 * 64 * 3),
    ("LAION-400M at 64×64×3", 400_000_000, 64 * 64 * 3),
)


# The extrapolated data sets are counted as stored in float32.
STORAGE_BYTES_PER_VALUE = 4


@dataclass
class StepCosts:
    """The cost of one reverse step, exact over N images and the model's, measured under one protocol.

    rows: one per requested size, {"N", "D", "ms", "min_ms", "max_ms", "repeats", "data_bytes"} — the median, min
    and max wall-clock milliseconds of one `DatasetPosterior.step` over the first N images, and the bytes those
    images occupy in the computation dtype. ms_per_element: c of ms ≈ c·N·D, fitted by least squares through the
    origin on the rows of fit_sizes (the larger half of the sizes). model_ms, model_min_ms, model_max_ms,
    model_repeats: one UNet call + `scheduler.step` on the same batch. extrapolated: {"name", "N", "D", "ms",
    "bytes"} per target data set, ms = c·N·D (this batch size, the exact step's dtype, the data in memory),
    bytes = N·D·STORAGE_BYTES_PER_VALUE (float32 storage). batch_size, t, dtype (of the exact step), torch_threads
    (the same for both sides), model_device: the setting.
    """

    rows: list[dict[str, Any]]
    ms_per_element: float
    fit_sizes: list[int]
    model_ms: float
    model_min_ms: float
    model_max_ms: float
    model_repeats: int
    extrapolated: list[dict[str, Any]]
    batch_size: int
    t: int
    dtype: str
    torch_threads: int
    model_device: str

    def as_dict(self) -> dict[str, Any]:
        """A JSON-safe summary (numbers and strings)."""
        return {
            "rows": [dict(r) for r in self.rows],
            "ms_per_element": self.ms_per_element,
            "fit_sizes": list(self.fit_sizes),
            "model_ms": self.model_ms,
            "model_min_ms": self.model_min_ms,
            "model_max_ms": self.model_max_ms,
            "model_repeats": self.model_repeats,
            "extrapolated": [dict(r) for r in self.extrapolated],
            "storage_bytes_per_value": STORAGE_BYTES_PER_VALUE,
            "batch_size": self.batch_size,
            "t": self.t,
            "dtype": self.dtype,
            "torch_threads": self.torch_threads,
            "model_device": self.model_device,
        }


def _timed_ms(step, repeats: int, min_seconds: float) -> list[float]:
    """Milliseconds of each timed call of step(): one warm-up call, then at least `repeats` calls and at least
    `min_seconds` in all (at most 100·repeats calls), so a fast step gets more repeats than a slow one."""
    step()
    times = []
    began = time.perf_counter()
    while len(times) < repeats or (time.perf_counter() - began < min_seconds and len(times) < 100 * repeats):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1e3)
    return times


def _check_targets(targets) -> list[tuple[str, int, int]]:
    message = f"targets must be (name, N, D) triples with N, D integers >= 1, got {short_repr(targets)}"
    if isinstance(targets, (str, bytes)) or not isinstance(targets, Sequence):
        raise ValueError(message)
    out = []
    for entry in targets:
        if (
            not isinstance(entry, Sequence)
            or isinstance(entry, (str, bytes))
            or len(entry) != 3
            or not isinstance(entry[0], str)
            or not all(is_int(v) and v >= 1 for v in entry[1:])
        ):
            raise ValueError(message)
        out.append((entry[0], int(entry[1]), int(entry[2])))
    return out


def _check_sizes(sizes, count: int) -> list[int]:
    if (
        isinstance(sizes, (str, bytes))
        or not isinstance(sizes, Sequence)
        or not sizes
        or not all(is_int(n) and 1 <= n <= count for n in sizes)
    ):
        raise ValueError(f"sizes must be integers in [1, {count}] (the data set's size), got {short_repr(sizes)}")
    return [int(n) for n in sizes]


def _exact_rows(data, sizes, scheduler, x_t, t, dtype, generator, repeats, min_seconds) -> list[dict[str, Any]]:
    """One row per n: the median, min and max ms of `DatasetPosterior.step` over the first n images."""
    D = int(np.prod(data.shape[1:]))
    rows = []
    for n in sizes:
        posterior = DatasetPosterior(data[:n], scheduler, dtype=dtype)
        times = _timed_ms(lambda: posterior.step(x_t, t, t - 1, generator), repeats, min_seconds)
        rows.append(
            {
                "N": n,
                "D": D,
                "ms": statistics.median(times),
                "min_ms": min(times),
                "max_ms": max(times),
                "repeats": len(times),
                "data_bytes": posterior.data_bytes,
            }
        )
    return rows


def _model_ms(pipe, x_t, t, generator, repeats, min_seconds) -> list[float]:
    """ms of each timed model step (one UNet call + `scheduler.step`) on x_t's batch, or on a batch of the model's
    shape, same size, when x_t's images are not the model's shape."""
    device, dtype = pipe.unet.device, pipe.unet.dtype
    if tuple(pipe.image_shape) == tuple(x_t.shape[1:]):
        x_model = x_t.to(device, dtype)
    else:
        x_model = torch.randn((x_t.shape[0], *pipe.image_shape), generator=generator).to(device, dtype)
    timestep = torch.tensor(t, dtype=torch.int64, device=device)

    def model_step():
        with torch.inference_mode():
            out = pipe.unet(x_model, timestep).sample
            pipe.scheduler.step(out, t, x_model, prev_timestep=t - 1)
            if device.type == "cuda":
                torch.cuda.synchronize()

    return _timed_ms(model_step, repeats, min_seconds)


def _fit(rows: list[dict[str, Any]], sizes: Sequence[int]) -> tuple[float, list[int]]:
    """c of ms ≈ c·N·D, least squares through the origin on the larger half of the distinct sizes (where the fixed
    cost of a step no longer dominates): c = Σ ms·x / Σ x², x = N·D. Returns (c, the sizes fitted)."""
    distinct = sorted(set(sizes))
    fit_sizes = distinct[len(distinct) // 2 :]
    fit = [r for r in rows if r["N"] in fit_sizes]
    return sum(r["ms"] * r["N"] * r["D"] for r in fit) / sum((r["N"] * r["D"]) ** 2 for r in fit), fit_sizes


def measure_step_costs(
    pipe,
    data: torch.Tensor | None = None,
    sizes: Sequence[int] = DEFAULT_SIZES,
    repeats: int = 7,
    batch_size: int = 1,
    t: int = 500,
    dtype: torch.dtype = torch.float64,
    seed: int = 0,
    min_seconds: float = 0.2,
    targets: Sequence[tuple[str, int, int]] = EXTRAPOLATION_SETS,
) -> StepCosts:
    """Time one exact reverse step over the first n images of data (each n in sizes) and one model step, alike.

    Both sides step the same batch x_t (batch_size images drawn from seed) at t → t − 1, with this process's torch
    threads, one warm-up per point, then at least `repeats` timed steps and at least `min_seconds` per point (more
    repeats where the step is fast); each point is the median. The exact step is `DatasetPosterior.step` in `dtype`
    on the CPU; the model's is one UNet call + `pipe.scheduler.step` on the UNet's device (when data's images are
    not the model's shape, the model steps a batch of its own shape, same size). The fit c of ms ≈ c·N·D is least
    squares through the origin on the larger half of the sizes, where the fixed cost of a step no longer dominates;
    it extrapolates to `targets` ((name, N, D) triples; default EXTRAPOLATION_SETS) as ms = c·N·D, bytes =
    N·D·4 (float32 storage). data: (N, C, H, W) in [-1, 1] (None → mnist train); sizes: integers in [1, N]."""
    if data is None:
        from pipelines.data.sources import load_mnist

        data = load_mnist("train")[0]
    data = check_images(data, "data")
    sizes = _check_sizes(sizes, len(data))
    repeats = check_int("repeats", repeats, 1)
    batch_size = check_batch_size(batch_size)
    t = check_int("t", t, 1, int(pipe.scheduler.config.num_train_timesteps) - 1)
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
    generator = torch.Generator().manual_seed(check_seed(seed))
    min_seconds = check_float("min_seconds", min_seconds, 0.0, 600.0)
    targets = _check_targets(targets)

    x_t = torch.randn((batch_size, *data.shape[1:]), generator=generator)
    rows = _exact_rows(data, sizes, pipe.scheduler, x_t, t, dtype, generator, repeats, min_seconds)
    model_times = _model_ms(pipe, x_t, t, generator, repeats, min_seconds)
    c, fit_sizes = _fit(rows, sizes)
    return StepCosts(
        rows=rows,
        ms_per_element=c,
        fit_sizes=fit_sizes,
        model_ms=statistics.median(model_times),
        model_min_ms=min(model_times),
        model_max_ms=max(model_times),
        model_repeats=len(model_times),
        extrapolated=[
            {"name": name, "N": n, "D": d, "ms": c * n * d, "bytes": n * d * STORAGE_BYTES_PER_VALUE}
            for name, n, d in targets
        ],
        batch_size=batch_size,
        t=t,
        dtype=str(dtype).replace("torch.", ""),
        torch_threads=torch.get_num_threads(),
        model_device=str(pipe.unet.device),
    )
