"""The page's header: the question it answers and which model is loaded."""

from __future__ import annotations


# ---------------------------------------------------------------------------------------------- page
def header(model_id: str, image_shape, num_train_timesteps: int, prediction_type: str) -> str:
    """The page's first lines (Markdown, LaTeX): the question the page answers, where to read the answer, and the
    model loaded (its name in words, its folder or Hub id, image shape (C, H, W), T and what its network predicts)."""
    C, H, W = image_shape
    predicts = {"epsilon": "the noise $\\epsilon$", "sample": "the clean image $x_0$", "v_prediction": "$v$"}
    return (
        "# DDPM, step by step\n"
        "**The question:** in Ho et al.'s DDPM the forward step $q(x_t\\mid x_{t-1})$ is known and the posterior "
        "$q(x_{t-1}\\mid x_t,x_0)$ has a closed form, so why train a model $p_\\theta(x_{t-1}\\mid x_t)$ at all? "
        "The first tab, *Sample from noise*, runs the trained network from pure noise, step by step (Ho et al.'s "
        "sampler, or by default a faster rule for its $\\hat x_0$ guess); the answer "
        "starts on the second, *Why do we need $p_\\theta$?*, and each tab after it takes one part of it.\n\n"
        f"The model loaded here: {model_name(model_id)}, {C}×{H}×{W} images, $T = {num_train_timesteps}$ "
        f"training steps; its network predicts {predicts.get(prediction_type, prediction_type)}. The tabs "
        "*2-D world*, *Copies or new points?* and *Why doesn't $p_\\theta$ copy?* also use small models of their own, "
        "named there."
    )


def model_name(model_id: str) -> str:
    """A model as the page names it: the shipped MNIST model in words, anything else by its folder or Hub id."""
    if model_id.rstrip("/").endswith("models/ddpm-mnist"):
        return "the shipped MNIST model"
    return model_id


# The L2 scale of a 32×32 MNIST digit in [-1, 1] units, for the tabs' distances: the median distance of the training
# digits to a draw of pure noise N(0, I) (tests/ui/test_page_text.py measures it).
DIGIT_TO_NOISE = 45


DATASET_NAMES = {"two_moons": "two moons", "eight_gaussians": "eight Gaussians", "spiral": "spiral", "mnist": "MNIST"}


def dataset_name(dataset: str) -> str:
    """A data set as the page's words name it ("two moons", not its id two_moons)."""
    return DATASET_NAMES.get(dataset, dataset.replace("_", " "))


def dataset_choices(datasets) -> list[tuple[str, str]]:
    """A data set menu's (shown name, id) pairs: the student reads the name, the API takes the id."""
    return [(dataset_name(d), d) for d in datasets]
