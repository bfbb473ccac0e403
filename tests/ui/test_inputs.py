"""ui/inputs.py: the page's input checks and uploads. Crafted image files (truncated, lying headers, flipped bytes,
every format and mode PIL writes) either become a digit or are refused with a ValueError naming `image`; the one
place a ValueError becomes a gr.Error keeps the handler's signature (the API's parameter names) and streams."""

from __future__ import annotations

import inspect
import io
import struct

import numpy as np
import pytest
from PIL import Image

FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")
MODES = ("L", "RGB", "RGBA", "P", "1", "I", "F", "CMYK", "LA")


def digit_pixels() -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.random((28, 28)) * 255).astype(np.uint8)


def encoded_images() -> dict[str, bytes]:
    """One small image per format and mode that PIL can write."""
    out = {}
    for fmt in FORMATS:
        for mode in MODES:
            buffer = io.BytesIO()
            try:
                Image.fromarray(digit_pixels()).convert(mode).save(buffer, format=fmt)
            except (OSError, ValueError, KeyError):
                continue  # this format cannot hold this mode
            out[f"{fmt}-{mode}"] = buffer.getvalue()
    buffer = io.BytesIO()
    first = Image.fromarray(digit_pixels())
    first.save(buffer, format="GIF", save_all=True, append_images=[Image.fromarray(255 - digit_pixels())])
    out["GIF-animated"] = buffer.getvalue()
    return out


def mutations(data: bytes, rng: np.random.Generator):
    """What an attacker sends instead: cuts at every header boundary, flipped bytes (mostly in the header), huge
    little-endian numbers where sizes live, and junk after valid magic bytes."""
    n = len(data)
    for cut in sorted({1, 4, 8, 12, 16, 20, 24, 26, 30, 33, 40, 50, 64, n // 4, n // 2, n - 12, n - 4, n - 1}):
        if 0 < cut < n:
            yield f"cut at {cut}", data[:cut]
    for k in range(30):
        changed = bytearray(data)
        position = int(rng.integers(0, min(n, 128))) if k < 20 else int(rng.integers(0, n))
        changed[position] = int(rng.integers(0, 256))
        yield f"byte {position} set", bytes(changed)
    for _ in range(6):
        changed = bytearray(data)
        position = int(rng.integers(0, min(n, 64)))
        changed[position : position + 4] = b"\xff\xff\xff\x7f"
        yield f"huge number at {position}", bytes(changed)
    yield "junk after the magic bytes", data[:8] + bytes(rng.integers(0, 256, 500, dtype=np.uint8))


def lying_bmp() -> bytes:
    """A BMP whose header claims 200,000 × 200,000 pixels: PIL refuses it as a decompression bomb when opening."""
    buffer = io.BytesIO()
    Image.fromarray(digit_pixels()).save(buffer, format="BMP")
    data = bytearray(buffer.getvalue())
    data[18:26] = struct.pack("<ii", 200_000, 200_000)
    return bytes(data)


def short_idat_png() -> bytes:
    """A PNG whose image-data chunk claims 50 bytes fewer than it holds: the header is valid, and PIL's decoder then
    reads compressed data as the next chunk's header (SyntaxError "broken PNG file")."""
    buffer = io.BytesIO()
    Image.fromarray(digit_pixels()).convert("RGB").save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    at = data.index(b"IDAT") - 4
    data[at : at + 4] = struct.pack(">I", struct.unpack(">I", data[at : at + 4])[0] - 50)
    return bytes(data)


CRAFTED = {"lying BMP header (200000×200000)": lying_bmp, "PNG with a short image-data chunk": short_idat_png}


def read(tmp_path, data: bytes):
    from ui.inputs import read_digit

    path = tmp_path / "upload.bin"
    path.write_bytes(data)
    return read_digit(str(path), (1, 32, 32), allowed_dirs=(tmp_path,))


@pytest.mark.parametrize("name", list(CRAFTED))
def test_the_crafted_files_that_once_escaped_are_refused_naming_image(tmp_path, name):
    with pytest.raises(ValueError, match=r"^image"):
        read(tmp_path, CRAFTED[name]())


def test_every_mutated_upload_is_a_digit_or_a_one_line_refusal_naming_image(tmp_path):
    rng = np.random.default_rng(1)
    outcomes = {"digit": 0, "refused": 0}
    for name, data in encoded_images().items():
        for what, mutated in [("as written", data), *mutations(data, rng)]:
            try:
                digit = read(tmp_path, mutated)
            except ValueError as error:  # anything else escaping is the bug this test exists for
                message = str(error)
                assert message.startswith("image") and "\n" not in message, (name, what, message)
                outcomes["refused"] += 1
            else:
                assert digit.shape == (1, 1, 32, 32), (name, what)
                assert float(digit.min()) >= -1 and float(digit.max()) <= 1, (name, what)
                outcomes["digit"] += 1
    # both outcomes happen a lot: the corpus exercises the decoder, not only the header check
    assert outcomes["digit"] > 300 and outcomes["refused"] > 300, outcomes


def test_an_upload_outside_the_allowed_folders_is_not_read(tmp_path):
    from ui.inputs import read_digit

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    path = outside / "digit.png"
    Image.fromarray(digit_pixels()).save(path)
    inside = tmp_path / "uploads"
    inside.mkdir()
    with pytest.raises(ValueError, match="image must be a file uploaded to this app"):
        read_digit(str(path), (1, 32, 32), allowed_dirs=(inside,))
    assert read_digit(str(path), (1, 32, 32), allowed_dirs=(outside,)).shape == (1, 1, 32, 32)


def test_user_errors_turns_value_errors_into_gr_errors_and_keeps_the_signature():
    import gradio as gr

    from ui.inputs import check_int, user_errors

    def handler(seed, num_images=2):
        """doc"""
        return check_int("num_images", num_images, 1, 16) + seed

    def streamer(seed):
        yield 1
        raise ValueError(f"seed is bad: {seed}")

    wrapped, streamed = user_errors(handler), user_errors(streamer)
    assert list(inspect.signature(wrapped).parameters) == ["seed", "num_images"] and wrapped.__doc__ == "doc"
    assert inspect.isgeneratorfunction(streamed)  # gradio streams it
    assert wrapped(1, 3.0) == 4  # a whole number sent as a float is that integer
    with pytest.raises(gr.Error, match=r"num_images must be an integer in \[1, 16\], got 2.5"):
        wrapped(1, 2.5)
    stream = streamed(7)
    assert next(stream) == 1
    with pytest.raises(gr.Error, match="seed is bad: 7"):
        next(stream)
    with pytest.raises(KeyError):  # only ValueError is the user's: a bug stays a bug
        user_errors(lambda: {}["x"])()


# ------------------------------------------------------------------------------------------------ the API's view
def test_integer_and_number_inputs_are_typed_with_their_range_and_reach_the_handler_as_sent():
    import gradio as gr

    from ui.inputs import integer_input, number_input

    with gr.Blocks():
        seed = integer_input(gr.Number(0, label="seed", precision=None), 0, 9)
        steps = integer_input(gr.Slider(1, 50, value=4, step=1, label="steps"))
        eta = number_input(gr.Slider(0.0, 1.0, value=1.0, label="eta"))
        with pytest.raises(TypeError, match="give low and high"):
            integer_input(gr.Number(0, label="n"))
    assert seed.api_info() == {
        "type": "integer",
        "minimum": 0,
        "maximum": 9,
        "additional_description": "integer in [0, 9]",
    }
    assert steps.api_info_as_input()["additional_description"] == "integer in [1, 50]"
    assert eta.api_info()["type"] == "number" and eta.api_info()["maximum"] == 1.0
    # only the description is typed: 2.5, "4" and 99 reach the handler, whose check names the input
    assert [steps.preprocess(v) for v in (2.5, "4", 99)] == [2.5, "4", 99]
    assert [seed.preprocess(v) for v in (2.5, "4", -1)] == [2.5, "4", -1]


def test_api_outputs_name_the_outputs_in_the_api_info_whatever_their_labels():
    import gradio as gr

    from ui.inputs import api_outputs, integer_input, name_api_outputs

    with gr.Blocks() as demo:
        n = integer_input(gr.Slider(1, 3, value=2, step=1, label="n"))
        picture = gr.Image(label="a picture: with words")
        words = gr.Markdown()
        hidden = gr.State()
        unnamed = gr.Textbox()
        gr.Button().click(
            lambda n: (None, "", None, ""), [n], [*api_outputs(image=picture, text=words), hidden, unnamed]
        )
        gr.Button().click(lambda n: "", [n], [unnamed], api_name="other")
    name_api_outputs(demo)
    info = demo.get_api_info()["named_endpoints"]
    assert [r["label"] for r in info["/lambda"]["returns"]] == ["image", "text", "value_" + str(unnamed._id)]
    assert [r["label"] for r in info["/other"]["returns"]] == ["value_" + str(unnamed._id)]
    assert info["/lambda"]["parameters"][0]["python_type"] == {"type": "int", "description": "integer in [1, 3]"}
