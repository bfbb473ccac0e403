"""The page's inputs: the limits that protect the demo, the checks of what a browser or an API client sends, and
uploads. `pipelines.checks` does the checking (ValueError naming the input and its range); `user_errors` is the
one place a ValueError becomes the `gr.Error` the page shows."""

from __future__ import annotations

import base64
import binascii
import functools
import inspect
import io
import os
from pathlib import Path

import gradio as gr
import torch

from pipelines import checks
from pipelines.checks import MAX_SEED, first_line, short_repr
from pipelines.data.sources import prepare_digit, prepare_image

# Limits that protect the demo (the library has none of its own: memory is its caller's limit).
MAX_NUM_IMAGES = 16
# Uploads are checked from the file's size and header before any pixel is decoded. A digit needs few pixels.
MAX_UPLOAD_BYTES = 2 << 20
MAX_UPLOAD_SIDE = 1024
MIN_UPLOAD_SIDE = 8
UPLOAD_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "WEBP": "WebP", "BMP": "BMP", "GIF": "GIF"}

__all__ = [
    "MAX_NUM_IMAGES",
    "MAX_SEED",
    "user_errors",
    "check_int",
    "check_seed",
    "check_float",
    "check_choice",
    "unchecked",
    "integer_input",
    "number_input",
    "api_output",
    "api_outputs",
    "name_api_outputs",
    "open_upload",
    "read_digit",
]


# ---------------------------------------------------------------------------------------------- errors
def user_errors(handler):
    """Run `handler` so that a ValueError (a refused input, or a value the library refuses) reaches the page as a
    gr.Error with the same words, and nothing else about it (no traceback in the log). Works for plain handlers
    and for generators (streaming); the signature and docstring stay the handler's, so the API's parameter names
    and descriptions do not change."""

    def refuse(error: ValueError):
        raise gr.Error(str(error), print_exception=False) from None

    if inspect.isgeneratorfunction(handler):

        @functools.wraps(handler)
        def stream(*args, **kwargs):
            try:
                yield from handler(*args, **kwargs)
            except ValueError as error:
                refuse(error)

        return stream

    @functools.wraps(handler)
    def call(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except ValueError as error:
            refuse(error)

    return call


# ---------------------------------------------------------------------------------------------- values
# Whole numbers arrive from the browser and from JSON as floats: 3.0 is 3, 2.5 is refused.
def check_int(name: str, value, low: int, high: int) -> int:
    return checks.check_int(name, value, low, high, integral_floats=True)


def check_seed(value, name: str = "seed") -> int:
    return checks.check_seed(value, name, integral_floats=True)


check_float = checks.check_float
check_choice = checks.check_choice


# ---------------------------------------------------------------------------------------------- uploads
def unchecked(component: gr.components.Component) -> gr.components.Component:
    """Let the component's value reach the handler as sent, so that the handler's check names the input and its
    range (gradio's own check says only "Value 0 is less than minimum value 1"). For a valid value, a Slider's
    or Radio's preprocess returns it unchanged anyway. Set on the instance: subclassing a component makes
    gradio write a .pyi file next to this one."""
    component.preprocess = lambda payload: payload
    if getattr(component, "data_model", None) is not None:
        component.data_model = _lenient_data_model(component.data_model)
    return component


# ---------------------------------------------------------------------------------------------- the API's view
def _typed(component: gr.components.Component, kind: str, words: str, low, high) -> gr.components.Component:
    low = getattr(component, "minimum", None) if low is None else low
    high = getattr(component, "maximum", None) if high is None else high
    if low is None or high is None:
        raise TypeError(f"{component.label}: give low and high (only a Slider has its own range)")
    schema = {
        "type": kind,
        "minimum": low,
        "maximum": high,
        # what view_api() prints after the parameter's type
        "additional_description": f"{words} in [{low}, {high}]",
    }
    component.api_info = component.api_info_as_input = lambda: dict(schema)
    return unchecked(component)


def integer_input(component: gr.components.Component, low: int | None = None, high: int | None = None):
    """`component` (a gr.Number or gr.Slider that holds a whole number) as the API shows it: `int` in
    `Client.view_api()`, "integer in [low, high]" as its description and JSON-schema minimum / maximum (the
    OpenAPI page too). `low` / `high` default to a Slider's own range. Also `unchecked`: the value reaches the
    handler as sent (3.0 from the browser, 2.5 or "4" from an API caller), so that the handler's `check_int` is
    the one message a caller meets. Only the description changes; gradio checks nothing against it.

        seed = integer_input(gr.Number(0, label="seed", precision=None), 0, MAX_SEED)
        steps = integer_input(gr.Slider(1, T, value=40, step=1, label="num_inference_steps"))"""
    return _typed(component, "integer", "integer", low, high)


def number_input(component: gr.components.Component, low: float | None = None, high: float | None = None):
    """`integer_input` for a real number: `float` in view_api(), "number in [low, high]" as its description."""
    return _typed(component, "number", "number", low, high)


def api_output(component: gr.components.Component, name: str) -> gr.components.Component:
    """Name `component`, an output of an API endpoint, `name` in the API (view_api(), the page's "Use via API",
    the README) whatever its label on the page; gradio would name it after its label (sanitized) or, with no
    label, `value_<id>`. `name_api_outputs(demo)` applies the names."""
    component._api_output_name = name
    return component


def api_outputs(**named: gr.components.Component) -> list[gr.components.Component]:
    """The outputs of an endpoint in order, each named in the API by its keyword (`api_output`):
    `outputs=api_outputs(x_t=xt_image, summary=summary_json)`."""
    return [api_output(component, name) for name, component in named.items()]


def name_api_outputs(demo: gr.Blocks) -> gr.Blocks:
    """Make `demo`'s API info name every output marked with `api_output` by that name. gradio reads the info
    through `Blocks.get_api_info` (the /info route, which gradio_client's view_api() and the page's API view
    read), an override point it supports; this wraps it on the instance."""
    get_api_info = demo.get_api_info

    def named_api_info(*args, **kwargs):
        info = get_api_info(*args, **kwargs)
        for fn in demo.fns.values():
            endpoint = info["named_endpoints"].get(f"/{fn.api_name}")
            if endpoint is None:
                continue
            outputs = [block for block in fn.outputs if not block.skip_api]
            for block, returned in zip(outputs, endpoint["returns"]):
                returned["label"] = getattr(block, "_api_output_name", returned["label"])
        return info

    demo.get_api_info = named_api_info
    return demo


NOT_A_FILE = "not_a_file"  # the key in a payload's meta that carries what was sent instead of a file


def _lenient_data_model(model):
    """`model` (e.g. gr.Image's ImageData), but a value that does not fit it (a bare path string, a number, a
    list) reaches the handler, marked, instead of failing gradio's validation with no message at all (the server
    runs with show_error=False). Same fields and schema title, so the API description does not change."""
    from pydantic import ConfigDict, ValidationError, model_validator

    class Lenient(model):
        model_config = ConfigDict(title=model.__name__)

        @model_validator(mode="before")
        @classmethod
        def _mark_what_does_not_fit(cls, value):
            try:
                model.model_validate(value)
            except ValidationError:
                sent = f"{short_repr(value)} ({type(value).__name__})"
                return {"meta": {"_type": "gradio.FileData", NOT_A_FILE: sent}}
            return value

    return Lenient


def _inside(path: str, folders) -> bool:
    """Whether `path`, links resolved, lies inside one of `folders` (nothing is read from the file itself)."""
    real = Path(os.path.realpath(path))
    return any(real.is_relative_to(os.path.realpath(folder)) for folder in folders)


def open_upload(payload, name: str = "image", allowed_dirs=None):
    """An uploaded image as a decoded PIL image, or None when nothing was sent; ValueError naming `name` else.

    The file's size, format and pixel dimensions are checked from its header (PIL opens lazily) before a pixel
    is decoded, so a non-image or an oversized image costs nothing. `payload` is what gradio hands an unchecked
    gr.Image: a FileData (a path in gradio's cache, or a data: URL), a dict of its fields, or a path. A path is
    opened only inside `allowed_dirs` (default: gradio's upload folder): an API caller can send any path, and
    the server must not read (or say whether it has) files nobody uploaded. Whatever a crafted file makes the
    image decoder raise (truncation, a lying header, a corrupt palette, …) is refused as "could not be decoded"."""
    from PIL import Image

    if payload is None:
        return None
    *most, last = UPLOAD_FORMATS.values()
    formats = f"{', '.join(most)} or {last}"
    limit = f"{MAX_UPLOAD_BYTES / 2**20:g} MiB"
    if isinstance(payload, dict):
        path, url, orig_name, meta = (payload.get(key) for key in ("path", "url", "orig_name", "meta"))
    elif isinstance(payload, (str, os.PathLike)):
        path, url, orig_name, meta = os.fspath(payload), None, None, None
    else:
        path, url, orig_name, meta = (getattr(payload, key, None) for key in ("path", "url", "orig_name", "meta"))
    if isinstance(meta, dict) and NOT_A_FILE in meta:
        raise ValueError(
            f"{name} must be an uploaded image file ({formats}), got {meta[NOT_A_FILE]}; with "
            "gradio_client, pass handle_file(path)"
        )
    shown = short_repr(orig_name or (Path(path).name if isinstance(path, str) and path else "the upload"))
    if isinstance(path, str) and path:
        folders = (gr.utils.get_upload_folder(),) if allowed_dirs is None else tuple(allowed_dirs)
        if not _inside(path, folders):
            raise ValueError(
                f"{name} must be a file uploaded to this app (with gradio_client, pass "
                f"handle_file(path)); {shown} was not uploaded"
            )
        try:
            size = os.path.getsize(path)
        except OSError:
            raise ValueError(f"{name} must be an image file ({formats}); {shown} cannot be read") from None
        if size > MAX_UPLOAD_BYTES:
            raise ValueError(f"{name} must be at most {limit}, got {size / 2**20:.1f} MiB ({shown})")
        source = path
    elif isinstance(url, str) and url.startswith("data:") and "," in url:
        encoded = url.split(",", 1)[1]
        if len(encoded) * 3 // 4 > MAX_UPLOAD_BYTES:  # the decoded size, known before decoding
            raise ValueError(f"{name} must be at most {limit}, got {len(encoded) * 3 / 4 / 2**20:.1f} MiB")
        try:
            source = io.BytesIO(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            raise ValueError(f"{name} must be an image file ({formats}); got a malformed data URL") from None
    elif isinstance(url, str) and url:
        # Links are not fetched: the server would download whatever an API caller names (SSRF).
        raise ValueError(
            f"{name} must be an uploaded image file ({formats}); links are not fetched, got {short_repr(url)}"
        )
    else:
        raise ValueError(
            f"{name} must be an uploaded image file ({formats}); got a value with neither a path nor a data: URL"
        )
    try:
        image = Image.open(source)  # lazy: reads the header only
    except Exception:  # noqa: BLE001 - PIL's header parsers raise many types (SyntaxError, struct.error, …)
        raise ValueError(f"{name} must be an image file ({formats}); {shown} is not one") from None
    if image.format not in UPLOAD_FORMATS and image.format != "MPO":  # MPO: how PIL reads many cameras' JPEGs
        image.close()
        raise ValueError(f"{name} must be an image file ({formats}); {shown} is {image.format}")
    width, height = image.size
    if not (MIN_UPLOAD_SIDE <= width <= MAX_UPLOAD_SIDE and MIN_UPLOAD_SIDE <= height <= MAX_UPLOAD_SIDE):
        image.close()
        raise ValueError(
            f"{name} must be from {MIN_UPLOAD_SIDE}×{MIN_UPLOAD_SIDE} to {MAX_UPLOAD_SIDE}×"
            f"{MAX_UPLOAD_SIDE} pixels (a 28×28 digit is best), got {width}×{height}"
        )
    try:
        image.load()
    except Exception as exc:  # noqa: BLE001 - a crafted body can fail the decoder in any of its ways
        image.close()
        raise ValueError(f"{name}: {shown} could not be decoded: {first_line(exc)}") from None
    return image


def read_digit(
    payload, image_shape: tuple[int, int, int], allowed_dirs=None, digit: bool = True
) -> torch.Tensor | None:
    """An uploaded digit as (1, C, H, W) in [-1, 1] like the training digits, or None when nothing was sent.
    digit=False: any image, made like an image of a training folder (resized and center-cropped to the model's
    size, grayscale or RGB as it draws: `pipelines.data.sources.prepare_image`).

    Opening, decoding and converting are one guarded step: whatever the file does to PIL on the way (a mode that
    fails to convert, a frame that fails to seek), the caller gets a ValueError naming `image`."""
    upload = open_upload(payload, "image", allowed_dirs=allowed_dirs)
    if upload is None:
        return None
    try:
        return prepare_digit(upload, image_shape) if digit else prepare_image(upload, image_shape)
    except ValueError as exc:  # prepare_digit's words name `image`
        raise ValueError(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - see above
        raise ValueError(
            f"image: the upload could not be converted to a{' digit' if digit else 'n image'}: {first_line(exc)}"
        ) from None
    finally:
        upload.close()
