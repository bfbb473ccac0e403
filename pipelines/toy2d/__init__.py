"""The 2-D world: toy data sets, a small ε-MLP p_θ, its training loop, and the reverse step with every density drawn.

In two dimensions the whole answer to "why learn p_θ(x_{t-1} | x_t)?" can be looked at: the exact reverse step
q(x_{t-Δ} | x_t) over N training points is a mixture of N Gaussians (`DatasetPosterior`), a Gaussian p_θ can be
laid over it, and the gap measured in nats. Nothing here is a second implementation of DDPM: a 2-D point is a
(2, 1, 1) tensor — two channels, one pixel — so the forward process and q(x_{t-1} | x_t, x_0) come from
`PosteriorDDPMScheduler`, the exact step from `DatasetPosterior`, and sampling from `PosteriorDDPMPipeline.denoise`
with `ToyEpsilonMLP` in the UNet's place (it takes (B, 2, 1, 1) and a timestep, like a UNet2DModel).

    points = load_points("two_moons", 256)                      # (256, 2) in [-1, 1]²
    model = ToyEpsilonMLP()
    for progress in train_toy(model, points, num_steps=3000):  # the ε-MSE loss of Ho et al. (eq. 14)
        ...
    pipe = toy_pipeline(model)                                  # the image pipeline, with the MLP as its "UNet"
    posterior = DatasetPosterior(as_images(points), pipe.scheduler)
    view = toy_step_view(posterior, model, x_t=(0.1, 0.2), t=300, stride=100)
    view.step.kl_model.nats, view.step.kl_gaussian.nats         # KL(exact ‖ p_θ), KL(exact ‖ best Gaussian)
    view.as_dict()                                              # the API's JSON summary

One concept a module: `data` (the pools, N points, as_images / as_points), `model` (ToyEpsilonMLP, its scheduler
and pipeline, the shipped weights), `training` (train_toy), `densities` (mixtures, Gaussians, KL), `step_view`
(one reverse step with everything the page shows), `fields` (both denoisers on a grid over the plane), `plots`
(their pictures as Figures), `plot_cache` (the plane and the zoomed step drawn fast, their static parts rendered
once), `__main__` (the command that makes the shipped weights).
"""

from pipelines.toy2d.data import (
    DATASETS,
    DEFAULT_DATASET,
    DEFAULT_NUM_POINTS,
    EXTENT,
    MAX_POINTS,
    MIN_POINTS,
    POINT_SHAPE,
    POOL_SIZE,
    as_images,
    as_points,
    check_dataset,
    check_num_points,
    load_points,
    nearest_other_distances,
)
from pipelines.toy2d.densities import (
    KL_DRAWS,
    KLEstimate,
    gaussian_kl,
    gaussian_kl_split,
    gaussian_log_density,
    kl_mixture_to_gaussians,
    mixture_log_density,
    moment_matched,
    sample_mixture,
    significant,
)
from pipelines.toy2d.fields import DenoiserFields, denoiser_fields
from pipelines.toy2d.model import WEIGHTS_DIR, ToyEpsilonMLP, load_toy_model, new_toy_model, toy_pipeline, toy_scheduler
from pipelines.toy2d.step_view import (
    HEAVY_WEIGHT,
    STRIDES,
    VARIANCES,
    StepKLs,
    ToyStepView,
    check_stride,
    exact_step,
    gamma,
    model_step,
    model_variances,
    toy_step_view,
)
from pipelines.toy2d.training import (
    DEFAULT_TRAIN_STEPS,
    MAX_TRAIN_STEPS,
    MIN_TRAIN_STEPS,
    SHIPPED_TRAIN_STEPS,
    TRAIN_BATCH_SIZE,
    TRAIN_LEARNING_RATE,
    ToyTrainingProgress,
    check_train_steps,
    train_toy,
)

__all__ = [
    "as_images",
    "as_points",
    "check_dataset",
    "check_num_points",
    "check_stride",
    "check_train_steps",
    "DATASETS",
    "DEFAULT_DATASET",
    "DEFAULT_NUM_POINTS",
    "DEFAULT_TRAIN_STEPS",
    "denoiser_fields",
    "DenoiserFields",
    "exact_step",
    "EXTENT",
    "gamma",
    "gaussian_kl",
    "gaussian_kl_split",
    "gaussian_log_density",
    "HEAVY_WEIGHT",
    "KL_DRAWS",
    "kl_mixture_to_gaussians",
    "KLEstimate",
    "load_points",
    "load_toy_model",
    "MAX_POINTS",
    "MAX_TRAIN_STEPS",
    "MIN_POINTS",
    "MIN_TRAIN_STEPS",
    "mixture_log_density",
    "model_step",
    "model_variances",
    "moment_matched",
    "nearest_other_distances",
    "new_toy_model",
    "POINT_SHAPE",
    "POOL_SIZE",
    "sample_mixture",
    "SHIPPED_TRAIN_STEPS",
    "significant",
    "StepKLs",
    "STRIDES",
    "toy_pipeline",
    "toy_scheduler",
    "toy_step_view",
    "ToyEpsilonMLP",
    "ToyStepView",
    "ToyTrainingProgress",
    "TRAIN_BATCH_SIZE",
    "TRAIN_LEARNING_RATE",
    "train_toy",
    "VARIANCES",
    "WEIGHTS_DIR",
]
