"""The denoiser as a field over the plane: where each x_t is sent by the exact posterior and by the network.

At one t, every point x_t of a grid is mapped to an estimate of x_0: the exact denoiser E[x_0 | x_t] over the
training points (the training loss's optimum, `DatasetPosterior`) and the network's x̂_0 = (x_t − √(1 − ᾱ_t) ε̂) / √ᾱ_t
(eq. 15, unclipped). At small t the exact field sends almost every x_t onto a training point (it can only give back
training points); a network that generalises sends it near the data's curve instead. Arrays only, no plotting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from pipelines.checks import check_float, check_int
from pipelines.exact.neighbours import nearest_distances
from pipelines.exact.posterior import DatasetPosterior
from pipelines.toy2d.data import as_images, as_points
from pipelines.toy2d.model import ToyEpsilonMLP, toy_scheduler

MIN_GRID, MAX_GRID, DEFAULT_GRID = 2, 401, 21


DEFAULT_EXTENT = 1.0


@dataclass
class DenoiserFields:
    """Both denoisers on a grid × grid lattice over [-extent, extent]² at timestep t.

    axis: (G,) the coordinates of each row and column. x_t: (G, G, 2) the grid points, x_t[i, j] = (axis[j],
    axis[i]). exact, network: (G, G, 2) float64, the exact E[x_0 | x_t] over the training points and the network's
    x̂_0. exact_distance, network_distance: (G, G) float64, each estimate's distance to its nearest training point.
    """

    t: int
    alpha_bar: float
    axis: torch.Tensor
    x_t: torch.Tensor
    exact: torch.Tensor
    network: torch.Tensor
    exact_distance: torch.Tensor
    network_distance: torch.Tensor
    num_points: int

    def as_dict(self) -> dict[str, Any]:
        """A JSON-safe summary: the grid, both fields and their distances to the training points, as lists."""
        return {
            "t": self.t,
            "alpha_bar": self.alpha_bar,
            "num_points": self.num_points,
            "axis": self.axis.tolist(),
            "exact": self.exact.tolist(),
            "network": self.network.tolist(),
            "exact_distance": self.exact_distance.tolist(),
            "network_distance": self.network_distance.tolist(),
        }


@torch.inference_mode()
def denoiser_fields(
    model: ToyEpsilonMLP, points: torch.Tensor, t: int, grid: int = DEFAULT_GRID, extent: float = DEFAULT_EXTENT
) -> DenoiserFields:
    """The exact denoiser over points (N ≥ 2, 2) and the network's x̂_0 at every point of a grid × grid lattice over
    [-extent, extent]² (grid in [2, 401], extent in (0, 10]) at timestep t in [0, T)."""
    scheduler = toy_scheduler()
    T = int(scheduler.config.num_train_timesteps)
    t = check_int("t", t, 0, T - 1)
    grid = check_int("grid", grid, MIN_GRID, MAX_GRID, meaning=" (points per side)")
    extent = check_float("extent", extent, 1e-6, 10.0)
    points = torch.as_tensor(points)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) < 2:
        raise ValueError(f"points must have shape (N, 2) with N >= 2, got {tuple(points.shape)}")
    exact = DatasetPosterior(as_images(points), scheduler)
    a = float(exact.alphas_cumprod[t])
    axis = torch.linspace(-extent, extent, grid, dtype=torch.float64)
    rows, cols = torch.meshgrid(axis, axis, indexing="ij")
    x_t = torch.stack([cols, rows], dim=-1).reshape(-1, 2)  # (G², 2): x along a row, y down the rows
    x0_exact = as_points(exact.predict_x0(as_images(x_t), t)).double()
    eps = model(as_images(x_t.float()), t).sample.reshape(-1, 2).double()
    x0_network = (x_t - (1.0 - a) ** 0.5 * eps) / a**0.5  # eq. 15
    shape = (grid, grid)
    return DenoiserFields(
        t=t,
        alpha_bar=a,
        axis=axis,
        x_t=x_t.reshape(*shape, 2),
        exact=x0_exact.reshape(*shape, 2),
        network=x0_network.reshape(*shape, 2),
        exact_distance=nearest_distances(x0_exact, points).reshape(shape),
        network_distance=nearest_distances(x0_network, points).reshape(shape),
        num_points=len(points),
    )
