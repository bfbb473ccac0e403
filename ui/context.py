"""AppContext: what every tab shares — the one loaded pipeline (its scheduler is stateless, so concurrent
requests share it), the run store, and, built on first use, the MNIST train digits and the exact posterior over
them. Also the settings every tab reads (concurrency, the default step count)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import torch

from pipelines import DatasetPosterior, PosteriorDDPMPipeline, PosteriorDDPMScheduler
from pipelines.scheduling_ddpm_posterior import TIMESTEP_SPACINGS

from .files import RunStore

DEFAULT_MODEL = "models/ddpm-mnist"
# The one place the default step count lives: the default model's card has the quality of each step count.
DEFAULT_NUM_INFERENCE_STEPS = 40
SAMPLE_CONCURRENCY = 2  # /sample and /exact_sample runs at once; more wait in the queue
UI_CONCURRENCY = 4  # scrubbing / finishing / plotting events at once
# The live view of /sample sends a frame at most every FRAME_INTERVAL_S (and always the first step), and only while
# the frames so far cost at most FRAME_BUDGET of the run's time: each frame is two PNGs encoded, cached and sent to
# every viewer, so a fast model streaming every step spends more time showing than sampling
# (bench/bench_streaming.py). Every step is still recorded for the slider and the GIF. app.py's --frame-interval-s
# and --frame-budget set them per server (0 and 1: every step's frame).
FRAME_INTERVAL_S = 0.25
FRAME_BUDGET = 0.05
# The two posterior tabs: the exact posterior runs over the mnist train digits, so they need an MNIST-shaped model.
MNIST_SHAPE = (1, 32, 32)


@dataclass
class AppContext:
    """The pipeline, its name, the run store, and the lazily built MNIST data and `DatasetPosterior`.

    `schedulers` holds one scheduler per timestep spacing, used only to plan timesteps. The mnist train digits
    and the `DatasetPosterior` over them are built on first use (thread-safe) and shared: both are read-only."""

    pipe: PosteriorDDPMPipeline
    model_id: str
    store: RunStore = field(default_factory=RunStore)
    sample_concurrency: int = SAMPLE_CONCURRENCY
    frame_interval_s: float = FRAME_INTERVAL_S
    frame_budget: float = FRAME_BUDGET
    schedulers: dict[str, PosteriorDDPMScheduler] = field(init=False)
    _mnist_train: tuple[torch.Tensor, torch.Tensor] | None = field(default=None, init=False, repr=False)
    _dataset_posterior: DatasetPosterior | None = field(default=None, init=False, repr=False)
    # Re-entrant: dataset_posterior() calls mnist_train() while holding it.
    _lazy_lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)

    def __post_init__(self):
        config = self.pipe.scheduler.config
        self.schedulers = {s: PosteriorDDPMScheduler.from_config(config, timestep_spacing=s) for s in TIMESTEP_SPACINGS}

    @property
    def num_train_timesteps(self) -> int:
        return int(self.pipe.scheduler.config.num_train_timesteps)

    def timestep_plan(self, spacing: str, num_inference_steps: int) -> list[int]:
        """The descending timesteps of a K-step run with this spacing (the scheduler's rule, not ours)."""
        return self.schedulers[spacing].timestep_plan(num_inference_steps).tolist()

    # -- the mnist train digits and the exact posterior over them, built once, on first use, by one thread --
    @property
    def has_mnist_model(self) -> bool:
        """Whether the model draws 1×32×32 images, the shape of the mnist digits the exact posterior runs over."""
        return tuple(self.pipe.image_shape) == MNIST_SHAPE

    def mnist_notice(self) -> str:
        C, H, W = self.pipe.image_shape
        return (
            f"This tab needs a 1-channel 32×32 MNIST model (such as {DEFAULT_MODEL}): it compares the model "
            f"with the exact posterior over the 4,500 MNIST training digits. The loaded model {self.model_id} "
            f"draws {C}×{H}×{W} images; start the app with --model {DEFAULT_MODEL}."
        )

    def require_mnist_model(self) -> None:
        """ValueError (shown on the page) when the model is not MNIST-shaped."""
        if not self.has_mnist_model:
            raise ValueError(self.mnist_notice())

    def mnist_train(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The mnist train split: images (4500, 1, 32, 32) in [-1, 1] and labels (4500,), loaded once."""
        with self._lazy_lock:
            if self._mnist_train is None:
                from pipelines.data import load_mnist

                self._mnist_train = load_mnist("train")
            return self._mnist_train

    def dataset_posterior(self) -> DatasetPosterior:
        """The exact q(x_{t-1} | x_t) over the mnist train digits, with the model's noise schedule; built once
        and shared (it is read-only after construction, so concurrent requests may use it)."""
        with self._lazy_lock:
            if self._dataset_posterior is None:
                self._dataset_posterior = DatasetPosterior(self.mnist_train()[0], self.pipe.scheduler)
            return self._dataset_posterior
