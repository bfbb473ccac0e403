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
