"""The page's header and the scale it gives for distances between digits."""

import torch

from pipelines.data.sources import load_mnist
from ui.text.page import DIGIT_TO_NOISE, header


def test_the_header_asks_the_question_first_and_names_the_model_in_words():
    words = header("models/ddpm-mnist", (1, 32, 32), 1000, "epsilon")
    assert words.index("**The question:**") < words.index("The model loaded here")
    assert r"$q(x_{t-1}\mid x_t,x_0)$" in words and "*Why do we need $p_\\theta$?*" in words
    assert "the shipped MNIST model, 1×32×32 images, $T = 1000$" in words and "models/" not in words
    assert "the noise $\\epsilon$" in words
    # a user's model is named by the id it was loaded with
    assert "someone/ddpm-shapes, 3×64×64 images" in header("someone/ddpm-shapes", (3, 64, 64), 1000, "epsilon")


def test_a_digit_lies_about_as_far_from_pure_noise_as_the_page_says():
    images, _ = load_mnist("train")
    x = images.reshape(len(images), -1).double()
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    median = (x - noise).norm(dim=1).median().item()
    assert abs(median - DIGIT_TO_NOISE) < 1, median
