"""The page's header: which model is loaded."""

from __future__ import annotations


# ---------------------------------------------------------------------------------------------- page
def header(model_id: str, image_shape, num_train_timesteps: int, prediction_type: str) -> str:
    """The page's first lines (Markdown): the model, its image shape (C, H, W), T and what it predicts."""
    C, H, W = image_shape
    return (
        f"# DDPM, step by step\nModel **{model_id}**: {C}×{H}×{W} images, T = {num_train_timesteps} training "
        f"steps, {prediction_type} prediction. The Sample tab runs p_θ from pure noise, step by step; "
        "the other tabs ask why that loop needs a learned p_θ at all."
    )


DATASET_NAMES = {"two_moons": "two moons", "eight_gaussians": "eight Gaussians", "spiral": "spiral", "mnist": "MNIST"}


def dataset_name(dataset: str) -> str:
    """A data set as the page's words name it ("two moons", not its id two_moons)."""
    return DATASET_NAMES.get(dataset, dataset.replace("_", " "))


def dataset_choices(datasets) -> list[tuple[str, str]]:
    """A data set menu's (shown name, id) pairs: the student reads the name, the API takes the id."""
    return [(dataset_name(d), d) for d in datasets]
