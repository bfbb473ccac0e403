"""A run of the tab "Sample from noise", recorded: its checked inputs and the timesteps it visits (`Run`), what it
leaves in its folder (every step's x_t and x̂0 for the slider, the PNG grid of the images, the trajectory GIF), its
final update, and reading it back (one step for the slider, the filmstrip of its steps).

The tab samples and streams (ui/tabs/sample.py); this module holds what a finished run is and what it leaves behind,
so a click's run and the first look (the run at the defaults shown before any click) are saved and shown alike."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np
from PIL import Image

from pipelines.pictures.images import display_scale, grid_uint8, make_filmstrip, make_trajectory_gif
from ui.context import AppContext
from ui.text import sample as text

FILMSTRIP_FRAMES = 10
FILMSTRIP_IMAGES = 4  # rows of the filmstrip: the first 4 images of the run
GIF_MAX_FRAMES = 30  # evenly spaced; noisy frames compress badly


def analytic_curve(pipe, timesteps: list[int], eta: float) -> tuple[list[int], list[float]]:
    """(t, σ*²) of each noisy step of the chain, as the sampler uses them (`analytic_variance`), for the schedule
    plot."""
    gamma, chain = pipe.analytic_gamma(), list(zip(timesteps, timesteps[1:] + [-1]))
    values = [pipe.scheduler.analytic_variance(t, s, gamma, eta, timesteps[-1]) for t, s in chain if s >= 0]
    return [t for t, s in chain if s >= 0], values


@dataclass
class Run:
    """One /sample request: its checked inputs and the timesteps it visits (descending)."""

    seed: int
    num_images: int
    eta: float
    spacing: str
    variance: str
    timesteps: list[int]
    order: int = 1

    @property
    def chain(self) -> list[tuple[int, int]]:
        """(t, prev_t) of each step; prev_t = -1 on the last step, which lands on x_0."""
        return list(zip(self.timesteps, self.timesteps[1:] + [-1]))

    @property
    def captions(self) -> list[str]:
        """The trajectory GIF's frame titles: "step k / K, t = 999 → 899" (the step's x̂₀ is from x at 999, the
        sample shown beside it is x at 899; "→ x₀" on the last step, which lands on x_0)."""
        K = len(self.timesteps)
        return [f"step {k + 1} / {K}, t = {t} → {after(s)}" for k, (t, s) in enumerate(self.chain)]


def after(prev_t: int) -> str:
    """The t a step lands on, as the pictures' captions write it: x₀ after the last step."""
    return str(prev_t) if prev_t >= 0 else "x₀"


def save_run(folder: Path, run: Run, xt_steps: np.ndarray, x0_steps: np.ndarray) -> tuple[Path, Path]:
    """Write the run's recorded steps (for scrubbing), its PNG grid and its trajectory GIF; their paths."""
    np.save(folder / "xt.npy", xt_steps)
    np.save(folder / "x0.npy", x0_steps)
    grid_path = folder / f"ddpm-seed{run.seed}.png"
    grid_uint8(xt_steps[-1]).save(grid_path)
    gif_path = make_trajectory_gif(
        xt_steps,
        x0_steps,
        run.captions,
        folder / f"ddpm-seed{run.seed}-trajectory.gif",
        max_frames=GIF_MAX_FRAMES,
        scale=2,
    )
    return gif_path, grid_path


def final_update(
    ctx: AppContext, run: Run, xt_steps, x0_steps, seconds: float, folder: Path, gif_path, grid_path
) -> tuple:
    """The last update: the final step's grids and label, the images, the files, the summary and the record."""
    num_steps = len(run.timesteps)
    images = [(grid_uint8(xt_steps[-1, i : i + 1], padding=0), f"#{i}") for i in range(run.num_images)]
    summary = {
        "seed": run.seed,
        "num_images": run.num_images,
        "num_inference_steps": num_steps,
        "eta": run.eta,
        "timestep_spacing": run.spacing,
        "variance": run.variance,
        "order": run.order,
        "timesteps": run.timesteps,
        "seconds": round(seconds, 3),
        "model": ctx.model_id,
        "image_shape": list(ctx.pipe.image_shape),
    }
    record = {"folder": str(folder), "timesteps": run.timesteps, "captions": run.captions, "gif": str(gif_path)}
    if run.variance == "analytic":  # the schedule plot marks each step's σ*²
        record["sigma_star"] = analytic_curve(ctx.pipe, run.timesteps, run.eta)
    final = f"{text.step_label(num_steps, num_steps, *run.chain[-1])} · done in {seconds:.2f} s"
    scale = display_scale(xt_steps[0])
    grids = grid_uint8(xt_steps[-1], scale=scale), grid_uint8(x0_steps[-1], scale=scale)
    return *grids, final, images, str(gif_path), str(grid_path), summary, record


def load_step(record: dict, k: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Step k (0-based) of a recorded run: its x_t and x̂0; None, with a warning, once its files are gone."""
    folder = Path(record["folder"])
    try:
        # mmap: scrubbing reads one step, not the whole recording
        return np.load(folder / "xt.npy", mmap_mode="r")[k], np.load(folder / "x0.npy", mmap_mode="r")[k]
    except (OSError, ValueError, IndexError):
        gr.Warning("The recorded steps of this run were cleaned up; press Sample again.")
        return None


def filmstrip(record: dict) -> Image.Image:
    """The filmstrip of a recorded run: FILMSTRIP_FRAMES of its steps, x_t over x̂0, for its first FILMSTRIP_IMAGES
    images. OSError once its files are gone."""
    folder = Path(record["folder"])
    xt_steps = np.load(folder / "xt.npy", mmap_mode="r")
    x0_steps = np.load(folder / "x0.npy", mmap_mode="r")
    # one step a column, "999→899": the step from t, and the t of the sample it drew (the x_t row)
    timesteps = record["timesteps"]
    captions = [f"{t}→{after(s)}" for t, s in zip(timesteps, timesteps[1:] + [-1])]
    return make_filmstrip(xt_steps, x0_steps, captions, num_frames=FILMSTRIP_FRAMES, max_images=FILMSTRIP_IMAGES)
