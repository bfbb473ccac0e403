"""The bad-input matrix: ONE table of cases (surface, input, kind, bad value, expected message). It drives
tests/app/test_bad_input_matrix.py and generates docs/bad-input-matrix.md, which a test keeps equal to it.

    python tests/helpers/bad_input_cases.py          # rewrite docs/bad-input-matrix.md from this table
    python tests/helpers/bad_input_cases.py --check  # exit 1 if the doc differs

Each case says what is sent (`value`), how the doc shows it (`shown`) and a fragment the one-line message must
contain (`message`; None: the request is refused by gradio itself, before the app's code, with no message).
Cases other test files already assert are not repeated here; `ELSEWHERE` lists those files for the doc.
This module needs neither torch nor gradio: values that need them are `Expr` strings, evaluated by the test.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "bad-input-matrix.md"


class Expr(str):
    """A Python expression the test evaluates (with torch, math, the tiny model's paths): a value this module
    cannot build without importing torch, or one too large to keep in a table."""


@dataclass(frozen=True)
class Upload:
    """A file the test writes and uploads through gradio's upload route, as gradio_client's handle_file does."""

    kind: str  # a maker in the test: tiff, truncated_png, empty_file, svg, over_server_limit


@dataclass(frozen=True)
class Case:
    surface: str  # a key of SURFACES
    input: str  # the parameter / flag / file the message must name
    kind: str  # one of KINDS
    shown: str  # the bad value, as the doc shows it
    value: object  # what the test sends (see SURFACES)
    message: str | None  # a fragment of the one-line message; None: refused by gradio with no message
    env: dict = field(default_factory=dict)  # CLI cases: environment variables set for the call
    xfail: str = ""  # an open bug (reported, in a file this matrix does not own): the test is xfail

    @property
    def id(self) -> str:
        return f"{self.surface} {self.input}={self.shown}"


KINDS = (
    "wrong type",
    "out of range",
    "NaN/inf",
    "huge",
    "empty",
    "corrupt file",
    "missing model",
    "corrupt weights",
    "config ≠ weights",
    "not a DDPM pipeline",
    "not allowed",
)

# How each surface is called. API endpoints: a good request with `input` replaced by `value` (raw JSON, so NaN
# and Infinity go as a raw HTTP caller can send them), then the good request again, which must succeed. CLIs:
# `value` is argv; "{model}" is the tiny good model folder, "{broken:KIND}" a broken copy (see BROKEN_MODELS),
# "{tmp}" a fresh temporary folder. Python API: `value` is a dict of keyword arguments, or the folder for
# from_pretrained.
SURFACES = {
    "/sample": "API endpoint (gradio_client / HTTP); also the Sample tab's controls",
    "/posterior": "API endpoint; also the “Why do we need p_θ?” tab's controls and its image upload",
    "/exact_sample": "API endpoint; also the exact-sampler tab's controls",
    "/toy_step": "API endpoint; also the 2-D world tab's reverse-step controls",
    "/toy_sample": "API endpoint; also the 2-D world tab's samplers controls",
    "/toy_train": "API endpoint; also the 2-D world tab's training controls",
    "/variance": "API endpoint; also the “Which variance for p_θ?” tab's controls",
    "/transition": "API endpoint; also the “Copies or new points?” tab's table controls",
    "/transition_train": "API endpoint; also the “Copies or new points?” tab's live pair training",
    "/transition_pair": "API endpoint; also the “Copies or new points?” tab's shipped-pair button",
    "/denoiser_fields": "API endpoint; also the “Why doesn't p_θ copy?” tab's 2-D denoiser controls",
    "/loss_gap": "API endpoint; also the “Why doesn't p_θ copy?” tab's loss-gap view",
    "/training_dynamics": "API endpoint; also the “Why doesn't p_θ copy?” tab's training-curves view",
    "/local_posterior": "API endpoint; also the “Why doesn't p_θ copy?” tab's local-posterior controls",
    "app.py": "`python app.py` flags (`--model` also loads the model: every broken folder below)",
    "train.py": "`python train.py` / `accelerate launch train.py` flags",
    "pipelines.evaluation": "`python -m pipelines.evaluation` flags",
    "pipelines.hub": "`python -m pipelines.hub` subcommands",
    "from_pretrained": "`PosteriorDDPMPipeline.from_pretrained(folder_or_repo_id)`",
    "pipe()": "`PosteriorDDPMPipeline.__call__` / `denoise` keyword arguments",
    "scheduler.step": "`PosteriorDDPMScheduler.step(model_output, timestep, sample, …)`",
    "scheduler.set_timesteps": "`PosteriorDDPMScheduler.set_timesteps(num_inference_steps, timesteps=…)`",
    "PosteriorDDPMScheduler()": "`PosteriorDDPMScheduler(**config)` (also what a scheduler_config.json holds)",
}

# Broken model folders, each a copy of the tiny good one with one thing wrong: (what the doc shows, how).
BROKEN_MODELS = {
    "missing": "a path that does not exist",
    "file": "a file, not a folder",
    "empty-folder": "an empty folder",
    "corrupt": "unet/diffusion_pytorch_model.safetensors replaced by 29 bytes of text",
    "truncated": "the safetensors file cut to its first 1,000 bytes",
    "zero-bytes": "a 0-byte safetensors file",
    "config-mismatch": "unet/config.json says block_out_channels [16, 32], the weights are [8, 16]",
    "channels-mismatch": "unet/config.json says 3 channels, the weights have 1",
    "bad-json": "unet/config.json is not JSON",
    "bad-scheduler": "scheduler_config.json has num_train_timesteps: -5",
    "not-ddpm": "a Stable Diffusion model_index.json (UNet2DConditionModel + VAE)",
    "pickle-only": "only unet/diffusion_pytorch_model.bin (pickle)",
    "hub-id-offline": "nobody/not-cached, a Hub id not in the cache, offline",
}

MODEL_KIND = {
    "missing": "missing model",
    "file": "missing model",
    "empty-folder": "missing model",
    "hub-id-offline": "missing model",
    "corrupt": "corrupt weights",
    "truncated": "corrupt weights",
    "zero-bytes": "corrupt weights",
    "config-mismatch": "config ≠ weights",
    "channels-mismatch": "config ≠ weights",
    "bad-json": "config ≠ weights",
    "bad-scheduler": "config ≠ weights",
    "not-ddpm": "not a DDPM pipeline",
    "pickle-only": "not allowed",
}

MODEL_MESSAGES = {
    "missing": "no such folder (and not a Hub id of the form USER/NAME)",
    "file": "is a file, not a model folder",
    "empty-folder": "is not a diffusers pipeline: it has no model_index.json",
    "corrupt": "the UNet weights are not a valid safetensors file (corrupt or truncated?): Error while "
    "deserializing header",
    "truncated": "the UNet weights are not a valid safetensors file (corrupt or truncated?)",
    "zero-bytes": "the UNet weights are not a valid safetensors file (corrupt or truncated?)",
    "config-mismatch": "unet/config.json does not match the weights: conv_in.bias should have shape (16) by the "
    "config, the safetensors file has (8)",
    "channels-mismatch": "unet/config.json does not match the weights: conv_in.weight should have shape "
    "(8, 3, 3, 3) by the config, the safetensors file has (8, 1, 3, 3)",
    "bad-json": "unet/config.json is not a readable JSON file",
    "bad-scheduler": "scheduler/scheduler_config.json: num_train_timesteps must be an integer >= 1, got -5",
    "not-ddpm": "is not an unconditional DDPM pipeline: model_index.json must list a diffusers UNet2DModel",
    "pickle-only": "has only pickle weights (unet/diffusion_pytorch_model.bin), which are refused",
    "hub-id-offline": "no cached copy of the Hub repo nobody/not-cached",
}


def _model_cases(surface: str, input_: str, argv, kinds, overrides: dict | None = None) -> list[Case]:
    """One case per broken folder kind: `argv(placeholder)` is what the surface is given."""
    overrides = overrides or {}
    return [
        Case(
            surface,
            input_,
            MODEL_KIND[k],
            BROKEN_MODELS[k],
            argv(f"{{broken:{k}}}"),
            overrides.get(k, MODEL_MESSAGES[k]),
        )
        for k in kinds
    ]


def _api(surface: str, rows) -> list[Case]:
    """(input, kind, shown, value, message) rows of one endpoint."""
    return [Case(surface, *row) for row in rows]


SEED = "seed must be an integer in [0, 4294967295], got "
IMAGE_TYPES = "image must be an uploaded image file (PNG, JPEG, WebP, BMP or GIF)"
ETA = "eta must be a number in [0, 1] (0 = deterministic DDIM, 1 = DDPM posterior), got "
NAN, INF = math.nan, math.inf


def _toy_rows(ints: dict[str, str], floats: dict[str, str], seed: bool = True) -> list[tuple]:
    """The 2-D world's inputs: for each integer (name → its allowed-range message) and real number, a string,
    NaN or a huge number, and null; the data set: a number, null and a megabyte-long name."""
    datasets = "dataset must be one of two_moons, eight_gaussians, spiral; got "
    rows = [
        ("dataset", "wrong type", "5", 5, datasets + "5"),
        ("dataset", "huge", '"x" * 10**6', "x" * 10**6, datasets + "'xxxx"),
        ("dataset", "empty", "null", None, datasets + "None"),
    ]
    for name, message in ints.items():
        rows += [
            (name, "wrong type", '"3"', "3", message + "'3'"),
            (name, "wrong type", "2.5", 2.5, message + "2.5"),
            (name, "NaN/inf", "NaN", NAN, message + "nan"),
            (name, "empty", "null", None, message + "None"),
        ]
    for name, message in floats.items():
        rows += [
            (name, "wrong type", '"0"', "0", message + "'0'"),
            (name, "NaN/inf", "Infinity", INF, message + "inf"),
            (name, "huge", "1e300", 1e300, message + "1e+300"),
            (name, "empty", "null", None, message + "None"),
        ]
    if seed:
        rows += [
            ("seed", "wrong type", '"0"', "0", SEED + "'0'"),
            ("seed", "NaN/inf", "Infinity", INF, SEED + "inf"),
            ("seed", "empty", "null", None, SEED + "None"),
        ]
    return rows


POINTS = "num_points must be an integer in [4, 4000], got "
VARIANCE_STEPS = "num_inference_steps must be an integer in [1, 200], got "
SHIPPED_TABLES = "dataset must be one of two_moons"  # … and every other data set with a shipped table
TOY_DATASETS = "dataset must be one of two_moons, eight_gaussians, spiral; got "
PAIR_SEED = "seed must be an integer in [0, 2147483647], got "
FIELDS_N = "num_points must be an integer in [4, 2000], got "
PATCH = "patch_size must be an odd integer in [1, 63], got "

CASES: list[Case] = [
    # ---- /sample (seed, num_images, num_inference_steps, eta, timestep_spacing, variance, order); T = 1000 ----------
    *_api(
        "/sample",
        [
            ("seed", "wrong type", "[]", [], SEED + "[]"),
            ("seed", "wrong type", "true", True, SEED + "True"),
            ("seed", "out of range", "2**32", 2**32, SEED + "4294967296"),
            ("seed", "NaN/inf", "NaN", NAN, SEED + "nan"),
            ("seed", "NaN/inf", "Infinity", INF, SEED + "inf"),
            ("seed", "huge", "10**30", 10**30, SEED + "1000000000000000000000000000000"),
            ("seed", "empty", "null (an empty number box)", None, SEED + "None"),
            ("num_images", "wrong type", '"4"', "4", "num_images must be an integer in [1, 16], got '4'"),
            ("num_images", "out of range", "17", 17, "num_images must be an integer in [1, 16], got 17"),
            ("num_images", "NaN/inf", "NaN", NAN, "num_images must be an integer in [1, 16], got nan"),
            ("num_images", "huge", "1e300", 1e300, "num_images must be an integer in [1, 16], got 1e+300"),
            ("num_images", "empty", "null", None, "num_images must be an integer in [1, 16], got None"),
            (
                "num_inference_steps",
                "wrong type",
                '"50"',
                "50",
                "num_inference_steps must be an integer in [1, 1000], got '50'",
            ),
            (
                "num_inference_steps",
                "out of range",
                "-1",
                -1,
                "num_inference_steps must be an integer in [1, 1000], got -1",
            ),
            (
                "num_inference_steps",
                "out of range",
                "1001 (T + 1)",
                1001,
                "num_inference_steps must be an integer in [1, 1000], got 1001",
            ),
            (
                "num_inference_steps",
                "NaN/inf",
                "Infinity",
                INF,
                "num_inference_steps must be an integer in [1, 1000], got inf",
            ),
            (
                "num_inference_steps",
                "huge",
                "10**18",
                10**18,
                "num_inference_steps must be an integer in [1, 1000], got 1000000000000000000",
            ),
            (
                "num_inference_steps",
                "empty",
                "null",
                None,
                "num_inference_steps must be an integer in [1, 1000], got None",
            ),
            ("eta", "wrong type", '"1"', "1", ETA + "'1'"),
            ("eta", "wrong type", "true", True, ETA + "True"),
            ("eta", "NaN/inf", "Infinity", INF, ETA + "inf"),
            ("eta", "NaN/inf", "-Infinity", -INF, ETA + "-inf"),
            ("eta", "huge", "1e308", 1e308, ETA + "1e+308"),
            ("eta", "empty", '""', "", ETA + "''"),
            (
                "timestep_spacing",
                "wrong type",
                "1",
                1,
                "timestep_spacing must be one of leading, linspace, trailing; got 1",
            ),
            (
                "timestep_spacing",
                "out of range",
                '"Leading"',
                "Leading",
                "timestep_spacing must be one of leading, linspace, trailing; got 'Leading'",
            ),
            (
                "timestep_spacing",
                "empty",
                '""',
                "",
                "timestep_spacing must be one of leading, linspace, trailing; got ''",
            ),
            (
                "timestep_spacing",
                "NaN/inf",
                "NaN",
                NAN,
                "timestep_spacing must be one of leading, linspace, trailing; got nan",
            ),
            (
                "timestep_spacing",
                "huge",
                "a 1 MB string",
                Expr('"x" * 10**6'),
                "timestep_spacing must be one of leading, linspace, trailing; got 'xxxxxxxxxx",
            ),
            (
                "timestep_spacing",
                "empty",
                "null",
                None,
                "timestep_spacing must be one of leading, linspace, trailing; got None",
            ),
            ("variance", "wrong type", "0", 0, "variance must be one of fixed_small, fixed_large, analytic; got 0"),
            ("variance", "empty", '""', "", "variance must be one of fixed_small, fixed_large, analytic; got ''"),
            ("variance", "empty", "null", None, "variance must be one of fixed_small, fixed_large, analytic; got None"),
            ("variance", "NaN/inf", "NaN", NAN, "variance must be one of fixed_small, fixed_large, analytic; got nan"),
            (
                "variance",
                "huge",
                "a list of 10**5 zeros",
                Expr("[0] * 10**5"),
                "variance must be one of fixed_small, fixed_large, analytic; got [0, 0, 0, 0, 0,",
            ),
            ("order", "wrong type", '"2"', "2", "order must be an integer in [1, 3], got '2'"),
            ("order", "wrong type", "true", True, "order must be an integer in [1, 3], got True"),
            ("order", "out of range", "0", 0, "order must be an integer in [1, 3], got 0"),
            ("order", "out of range", "4", 4, "order must be an integer in [1, 3], got 4"),
            ("order", "out of range", "2.5", 2.5, "order must be an integer in [1, 3], got 2.5"),
            ("order", "NaN/inf", "NaN", NAN, "order must be an integer in [1, 3], got nan"),
            ("order", "empty", "null", None, "order must be an integer in [1, 3], got None"),
        ],
    ),
    # ---- /posterior (digit_index, t, seed, image) ------------------------------------------------------------------
    *_api(
        "/posterior",
        [
            ("digit_index", "wrong type", "[0]", [0], "digit_index must be an integer in [0, 4499], got [0]"),
            ("digit_index", "wrong type", "1.5", 1.5, "digit_index must be an integer in [0, 4499], got 1.5"),
            ("digit_index", "NaN/inf", "NaN", NAN, "digit_index must be an integer in [0, 4499], got nan"),
            ("digit_index", "NaN/inf", "Infinity", INF, "digit_index must be an integer in [0, 4499], got inf"),
            (
                "digit_index",
                "huge",
                "10**30",
                10**30,
                "digit_index must be an integer in [0, 4499], got 1000000000000000000000000000000",
            ),
            ("digit_index", "empty", "null", None, "digit_index must be an integer in [0, 4499], got None"),
            ("t", "wrong type", '"5"', "5", "t must be an integer in [1, 999], got '5'"),
            ("t", "out of range", "-3", -3, "t must be an integer in [1, 999], got -3"),
            ("t", "NaN/inf", "NaN", NAN, "t must be an integer in [1, 999], got nan"),
            ("t", "NaN/inf", "-Infinity", -INF, "t must be an integer in [1, 999], got -inf"),
            ("t", "huge", "1e300", 1e300, "t must be an integer in [1, 999], got 1e+300"),
            ("t", "empty", "null", None, "t must be an integer in [1, 999], got None"),
            ("seed", "wrong type", '"x"', "x", SEED + "'x'"),
            ("seed", "out of range", "2**32", 2**32, SEED + "4294967296"),
            ("seed", "NaN/inf", "NaN", NAN, SEED + "nan"),
            ("seed", "empty", "null", None, SEED + "None"),
            (
                "image",
                "wrong type",
                '"/etc/passwd" (a path string, no handle_file)',
                "/etc/passwd",
                IMAGE_TYPES + ", got '/etc/passwd' (str); with gradio_client, pass handle_file(path)",
            ),
            ("image", "wrong type", "5", 5, IMAGE_TYPES + ", got 5 (int)"),
            ("image", "wrong type", "[1, 2]", [1, 2], IMAGE_TYPES + ", got [1, 2] (list)"),
            ("image", "empty", '""', "", IMAGE_TYPES + ", got '' (str)"),
            (
                "image",
                "empty",
                '{"foo": 1} (neither path nor url)',
                {"foo": 1},
                IMAGE_TYPES + "; got a value with neither a path nor a data: URL",
            ),
            (
                "image",
                "not allowed",
                '{"path": "/etc/passwd"} (a server file nobody uploaded)',
                {"path": "/etc/passwd"},
                "image must be a file uploaded to this app (with gradio_client, pass handle_file(path)); 'passwd' was "
                "not uploaded",
            ),
            (
                "image",
                "not allowed",
                '{"path": …, "meta": FileData} outside the upload folder',
                {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}},
                None,
            ),
            (
                "image",
                "not allowed",
                '{"url": "http://127.0.0.1:9/x.png"} (a link)',
                {"url": "http://127.0.0.1:9/x.png"},
                IMAGE_TYPES + "; links are not fetched, got 'http://127.0.0.1:9/x.png'",
            ),
            (
                "image",
                "wrong type",
                "a data: URL that is not base64",
                {"url": "data:image/png;base64,@@@"},
                IMAGE_TYPES.replace("an uploaded", "an") + "; got a malformed data URL",
            ),
            (
                "image",
                "huge",
                "a 3 MiB data: URL",
                Expr('{"url": "data:image/png;base64," + "A" * (4 << 20)}'),
                "image must be at most 2 MiB, got 3.0 MiB",
            ),
            (
                "image",
                "wrong type",
                "upload: a TIFF",
                Upload("tiff"),
                IMAGE_TYPES.replace("an uploaded", "an") + "; 'digit.tiff' is TIFF",
            ),
            (
                "image",
                "wrong type",
                "upload: an SVG",
                Upload("svg"),
                IMAGE_TYPES.replace("an uploaded", "an") + "; 'digit.svg' is not one",
            ),
            (
                "image",
                "empty",
                "upload: a 0-byte .png",
                Upload("empty_file"),
                IMAGE_TYPES.replace("an uploaded", "an") + "; 'empty.png' is not one",
            ),
            (
                "image",
                "corrupt file",
                "upload: a PNG cut in half (valid header)",
                Upload("truncated_png"),
                "image: 'half.png' could not be decoded: image file is truncated",
            ),
            (
                "image",
                "huge",
                "upload: 11 MB, over the server's 10 MB limit",
                Upload("over_server_limit"),
                "File size exceeded maximum allowed size of 10485760 bytes",
            ),
        ],
    ),
    # ---- the 2-D world (good request: N = 4, t = 5, stride 1; 100 training steps) --------------------------------
    *_api(
        "/toy_step",
        _toy_rows(
            {
                "num_points": POINTS,
                "t": "t must be an integer in [1, 999], got ",
                "stride": "stride must be an integer in [1, 5] (prev_t = t − stride >= 0 at t = 5), got ",
            },
            {
                "x": "x must be a number in [-2, 2] (first coordinate of xₜ), got ",
                "y": "y must be a number in [-2, 2] (second coordinate of xₜ), got ",
            },
        )
        + [
            (
                "stride",
                "out of range",
                "6 (> t = 5)",
                6,
                "stride must be an integer in [1, 5] (prev_t = t − stride >= 0 at t = 5), got 6",
            )
        ],
    ),
    *_api(
        "/toy_sample",
        _toy_rows(
            {
                "num_points": POINTS,
                "num_samples": "num_samples must be an integer in [1, 2000], got ",
                "num_inference_steps": "num_inference_steps must be an integer in [1, 1000], got ",
            },
            {},
        ),
    ),
    *_api(
        "/toy_train",
        _toy_rows({"num_points": POINTS, "train_steps": "train_steps must be an integer in [100, 20000], got "}, {})
        + [
            ("train_steps", "out of range", "20001", 20001, "train_steps must be an integer in [100, 20000], got 20001")
        ],
    ),
    *_api(
        "/variance",
        [
            *(
                ("num_inference_steps", kind, shown, value, VARIANCE_STEPS + got)
                for kind, shown, value, got in (
                    ("wrong type", '"3"', "3", "'3'"),
                    ("wrong type", "2.5", 2.5, "2.5"),
                    ("NaN/inf", "NaN", NAN, "nan"),
                    ("empty", "null", None, "None"),
                    ("out of range", "0", 0, "0"),
                    ("huge", "10**6", 10**6, "1000000"),
                )
            ),
            ("seed", "wrong type", '"0"', "0", SEED + "'0'"),
            ("seed", "NaN/inf", "Infinity", INF, SEED + "inf"),
            ("seed", "empty", "null", None, SEED + "None"),
        ],
    ),
    *_api(
        "/transition",
        [
            ("dataset", "wrong type", "5", 5, SHIPPED_TABLES),
            ("dataset", "huge", '"x" * 10**6', "x" * 10**6, SHIPPED_TABLES),
            ("dataset", "empty", "null", None, SHIPPED_TABLES),
            ("dataset", "out of range", '"circles"', "circles", SHIPPED_TABLES),
        ],
    ),
    *_api(
        "/transition_train",
        _toy_rows(
            {
                "num_points": "num_points must be an integer in [4, 2000], got ",
                "train_steps": "train_steps must be an integer in [100, 20000], got ",
                "num_samples": "num_samples must be an integer in [8, 1024], got ",
            },
            {},
            seed=False,
        )
        + [
            ("dataset", "out of range", '"mnist" (shipped only)', "mnist", TOY_DATASETS + "'mnist'"),
            (
                "num_points",
                "out of range",
                "2001 (2N > pool)",
                2001,
                "num_points must be an integer in [4, 2000], got 2001",
            ),
            ("seed", "wrong type", '"0"', "0", PAIR_SEED + "'0'"),
            ("seed", "out of range", "2**31", 2**31, PAIR_SEED + "2147483648"),
            ("seed", "NaN/inf", "Infinity", INF, PAIR_SEED + "inf"),
            ("seed", "empty", "null", None, PAIR_SEED + "None"),
        ],
    ),
    *_api(
        "/transition_pair",
        [
            ("dataset", "out of range", '"circles"', "circles", SHIPPED_TABLES),
            ("num_points", "out of range", "100 (not in the ladder)", 100, "num_points must be one of the shipped"),
            ("num_points", "out of range", "3", 3, "num_points must be an integer in [4, 2250], got 3"),
            ("num_points", "NaN/inf", "NaN", NAN, "num_points must be an integer in [4, 2250], got nan"),
            ("num_points", "empty", "null", None, "num_points must be an integer in [4, 2250], got None"),
        ],
    ),
    # ---- the mechanism tab: /denoiser_fields (dataset, num_points, t), /loss_gap, /training_dynamics (dataset),
    # /local_posterior (seed, patch_size, calibrated) ----------------------------------------------------------------
    *_api(
        "/denoiser_fields",
        [
            ("dataset", "wrong type", "5", 5, TOY_DATASETS + "5"),
            ("dataset", "out of range", '"mnist"', "mnist", TOY_DATASETS + "'mnist'"),
            ("dataset", "empty", "null", None, TOY_DATASETS + "None"),
            ("num_points", "out of range", "100 (not in the ladder)", 100, "num_points must be one of the shipped"),
            ("num_points", "huge", "10**9", 10**9, FIELDS_N + "1000000000"),
            ("num_points", "NaN/inf", "NaN", NAN, FIELDS_N + "nan"),
            ("t", "out of range", "1000", 1000, "t must be an integer in [0, 999], got 1000"),
            ("t", "wrong type", "2.5", 2.5, "t must be an integer in [0, 999], got 2.5"),
            ("t", "empty", "null", None, "t must be an integer in [0, 999], got None"),
        ],
    ),
    *(
        case
        for surface in ("/loss_gap", "/training_dynamics")
        for case in _api(
            surface,
            [
                ("dataset", "wrong type", "5", 5, TOY_DATASETS + "5"),
                ("dataset", "huge", '"x" * 10**6', "x" * 10**6, TOY_DATASETS + "'xxxx"),
                ("dataset", "empty", "null", None, TOY_DATASETS + "None"),
            ],
        )
    ),
    *_api(
        "/local_posterior",
        [
            ("seed", "out of range", "-1", -1, SEED + "-1"),
            ("seed", "NaN/inf", "Infinity", INF, SEED + "inf"),
            ("patch_size", "out of range", "4 (even)", 4, PATCH + "4"),
            ("patch_size", "out of range", "65", 65, "patch_size must be an integer in [1, 63], got 65"),
            ("patch_size", "wrong type", '"5"', "5", "patch_size must be an integer in [1, 63], got '5'"),
            ("patch_size", "empty", "null", None, "patch_size must be an integer in [1, 63], got None"),
            ("calibrated", "wrong type", '"yes"', "yes", "calibrated must be true or false, got 'yes'"),
            ("calibrated", "empty", "null", None, "calibrated must be true or false, got None"),
        ],
    ),
    # ---- /exact_sample (seed, num_images, num_inference_steps) -------------------------------------------------
    *_api(
        "/exact_sample",
        [
            ("seed", "wrong type", '"0"', "0", SEED + "'0'"),
            ("seed", "out of range", "2**32", 2**32, SEED + "4294967296"),
            ("seed", "NaN/inf", "Infinity", INF, SEED + "inf"),
            ("seed", "empty", "null", None, SEED + "None"),
            ("num_images", "wrong type", "true", True, "num_images must be an integer in [1, 16], got True"),
            ("num_images", "NaN/inf", "NaN", NAN, "num_images must be an integer in [1, 16], got nan"),
            (
                "num_images",
                "huge",
                "10**30",
                10**30,
                "num_images must be an integer in [1, 16], got 1000000000000000000000000000000",
            ),
            ("num_images", "empty", "null", None, "num_images must be an integer in [1, 16], got None"),
            (
                "num_inference_steps",
                "wrong type",
                '"3"',
                "3",
                "num_inference_steps must be an integer in [1, 1000], got '3'",
            ),
            (
                "num_inference_steps",
                "wrong type",
                "2.5",
                2.5,
                "num_inference_steps must be an integer in [1, 1000], got 2.5",
            ),
            (
                "num_inference_steps",
                "NaN/inf",
                "Infinity",
                INF,
                "num_inference_steps must be an integer in [1, 1000], got inf",
            ),
            (
                "num_inference_steps",
                "empty",
                "null",
                None,
                "num_inference_steps must be an integer in [1, 1000], got None",
            ),
        ],
    ),
    # ---- app.py -------------------------------------------------------------------------------------------------
    Case("app.py", "--port", "wrong type", "abc", ["--port", "abc"], "argument --port: invalid int value: 'abc'"),
    Case("app.py", "--port", "out of range", "0", ["--port", "0"], "--port must be in [1, 65535], got 0"),
    Case(
        "app.py",
        "--port",
        "huge",
        "10**12",
        ["--port", "1000000000000"],
        "--port must be in [1, 65535], got 1000000000000",
    ),
    Case("app.py", "--port", "empty", '""', ["--port", ""], "argument --port: invalid int value: ''"),
    Case(
        "app.py",
        "GRADIO_SERVER_PORT",
        "wrong type",
        "env GRADIO_SERVER_PORT=abc",
        [],
        "GRADIO_SERVER_PORT must be an integer port, got 'abc'",
        env={"GRADIO_SERVER_PORT": "abc"},
    ),
    Case(
        "app.py",
        "--queue-max-size",
        "out of range",
        "0",
        ["--queue-max-size", "0"],
        "--queue-max-size must be in [1, 10000], got 0",
    ),
    Case(
        "app.py",
        "--queue-max-size",
        "wrong type",
        "abc",
        ["--queue-max-size", "abc"],
        "argument --queue-max-size: invalid int value: 'abc'",
    ),
    Case(
        "app.py",
        "--max-temp-mb",
        "huge",
        "10**9",
        ["--max-temp-mb", "1000000000"],
        "--max-temp-mb must be in [1, 1048576], got 1000000000",
    ),
    Case(
        "app.py",
        "DDPM_MAX_TEMP_MB",
        "wrong type",
        "env DDPM_MAX_TEMP_MB=lots",
        [],
        "DDPM_MAX_TEMP_MB must be an integer in [1, 1048576], got 'lots'",
        env={"DDPM_MAX_TEMP_MB": "lots"},
    ),
    Case(
        "app.py",
        "--frame-interval-s",
        "out of range",
        "-1",
        ["--frame-interval-s", "-1"],
        "--frame-interval-s must be in [0, 60], got -1.0",
    ),
    Case(
        "app.py",
        "--frame-interval-s",
        "NaN/inf",
        "nan",
        ["--frame-interval-s", "nan"],
        "--frame-interval-s must be in [0, 60], got nan",
    ),
    Case(
        "app.py",
        "--frame-budget",
        "out of range",
        "1.5",
        ["--frame-budget", "1.5"],
        "--frame-budget must be in [0, 1], got 1.5",
    ),
    Case(
        "app.py",
        "DDPM_FRAME_BUDGET",
        "wrong type",
        "env DDPM_FRAME_BUDGET=most",
        [],
        "DDPM_FRAME_BUDGET must be a number in [0, 1], got 'most'",
        env={"DDPM_FRAME_BUDGET": "most"},
    ),
    Case("app.py", "--host", "empty", '""', ["--host", ""], "argument --host: must not be empty"),
    Case("app.py", "--model", "empty", '""', ["--model", ""], "argument --model: must not be empty"),
    Case("app.py", "--device", "out of range", "tpu", ["--device", "tpu"], "argument --device: invalid choice: 'tpu'"),
    Case("app.py", "--bogus", "wrong type", "an unknown flag", ["--bogus"], "unrecognized arguments: --bogus"),
    # --data: checked at start, after the model loads (tests/app/test_your_data.py: images of the wrong size or
    # channels, a data set whose content hash changed, the memory bound)
    Case("app.py", "--data", "empty", '""', ["--model", "{model}", "--data", ""], "argument --data: must not be empty"),
    Case(
        "app.py",
        "--data",
        "missing model",
        "a folder that does not exist",
        ["--model", "{model}", "--data", "{tmp}/nope", "--port", "1"],
        "no such folder (and not a 🤗 data set id of the form USER/NAME or mnist)",
    ),
    Case(
        "app.py",
        "--data",
        "empty",
        "an empty folder",
        ["--model", "{model}", "--data", "{tmp}", "--port", "1"],
        "holds no images (png/jpg/jpeg/webp/bmp)",
    ),
    Case(
        "app.py",
        "--data",
        "wrong type",
        "digits (neither a folder nor USER/NAME)",
        ["--model", "{model}", "--data", "digits", "--port", "1"],
        "--data 'digits': no such folder",
    ),
    *_model_cases(
        "app.py",
        "--model",
        lambda m: ["--model", m, "--port", "1"],
        [k for k in BROKEN_MODELS if k not in ("missing", "not-ddpm")],
    ),  # those two: test_app.py
    # ---- train.py (every case fails before any training step) ---------------------------------------------------
    Case(
        "train.py",
        "--learning_rate",
        "NaN/inf",
        "inf",
        ["--learning_rate", "inf"],
        "--learning_rate must be a finite number > 0, got inf",
    ),
    Case(
        "train.py", "--adam_beta1", "NaN/inf", "nan", ["--adam_beta1", "nan"], "--adam_beta1 must be in [0, 1), got nan"
    ),
    Case(
        "train.py",
        "--adam_weight_decay",
        "NaN/inf",
        "inf",
        ["--adam_weight_decay", "inf"],
        "--adam_weight_decay must be a finite number >= 0, got inf",
    ),
    Case(
        "train.py", "--snr_gamma", "NaN/inf", "nan", ["--snr_gamma", "nan"], "--snr_gamma must be a finite number > 0"
    ),
    Case(
        "train.py",
        "--ema_max_decay",
        "out of range",
        "1.0",
        ["--ema_max_decay", "1.0"],
        "--ema_max_decay must be in [0, 1), got 1.0",
    ),
    Case("train.py", "--channels", "out of range", "2", ["--channels", "2"], "--channels must be 1 or 3, got 2"),
    Case(
        "train.py",
        "--subset_size",
        "out of range",
        "0",
        ["--subset_size", "0"],
        "--subset_size must be an integer >= 1",
    ),
    Case(
        "train.py",
        "--subset_size",
        "huge",
        "2250 with --subset_index 2",
        ["--subset_size", "2250", "--subset_index", "2"],
        "subset_size 2250 × (subset_index 2 + 1) = 6750 is more than the 4500 training images",
    ),
    Case(
        "train.py",
        "--subset_size",
        "wrong type",
        "abc",
        ["--subset_size", "abc"],
        "argument --subset_size: invalid int value: 'abc'",
    ),
    Case(
        "train.py",
        "--subset_index",
        "out of range",
        "-1",
        ["--subset_index", "-1"],
        "--subset_index must be an integer >= 0",
    ),
    Case(
        "train.py",
        "--heldout_fraction",
        "out of range",
        "1",
        ["--heldout_fraction", "1"],
        "--heldout_fraction must be in [0, 1), got 1.0",
    ),
    Case(
        "train.py",
        "--block_out_channels",
        "out of range",
        "0",
        ["--block_out_channels", "0"],
        "--block_out_channels must be positive integers, got [0]",
    ),
    Case(
        "train.py",
        "--block_out_channels",
        "empty",
        "(no value)",
        ["--block_out_channels"],
        "argument --block_out_channels: expected at least one argument",
    ),
    Case(
        "train.py",
        "--resolution",
        "out of range",
        "0",
        ["--resolution", "0"],
        "--resolution must be an integer >= 1, got 0",
    ),
    Case(
        "train.py",
        "--resolution",
        "huge",
        "65536",
        ["--resolution", "65536"],
        "dataset mnist is 1 channel at resolution 32; got channels=1, resolution=65536",
    ),
    Case(
        "train.py",
        "--train_batch_size",
        "huge",
        "10**9",
        ["--train_batch_size", "1000000000"],
        "--train_batch_size 1000000000 × 1 process(es) is larger than the data set (4500 images)",
    ),
    Case(
        "train.py",
        "--layers_per_block",
        "wrong type",
        "abc",
        ["--layers_per_block", "abc"],
        "argument --layers_per_block: invalid int value: 'abc'",
    ),
    Case("train.py", "--dataset", "out of range", "cifar", ["--dataset", "cifar"], "dataset must be 'mnist'"),
    Case(
        "train.py",
        "--logger",
        "out of range",
        "wandb",
        ["--logger", "wandb"],
        "--logger must be one of tensorboard, none",
    ),
    Case(
        "train.py",
        "--num_threads",
        "out of range",
        "0",
        ["--num_threads", "0"],
        "--num_threads must be an integer >= 1",
    ),
    Case(
        "train.py",
        "--model_config",
        "missing model",
        "a missing file",
        ["--model_config", "{tmp}/none.json"],
        "is not a readable JSON file",
    ),
    Case(
        "train.py",
        "--resume_from_checkpoint",
        "missing model",
        "a missing folder",
        ["--resume_from_checkpoint", "{tmp}/none"],
        "is not a complete checkpoint folder",
    ),
    Case(
        "train.py",
        "--hub_model_id",
        "wrong type",
        "x (with --push_to_hub)",
        ["--push_to_hub", "--hub_model_id", "x"],
        "--hub_model_id must look like USER/NAME, got 'x'",
    ),
    Case(
        "train.py",
        "--seed",
        "out of range",
        "-1",
        ["--seed", "-1"],
        "--seed must be an integer in [0, 4294967295], got -1",
    ),
    Case("train.py", "--seed", "huge", "2**64", ["--seed", str(2**64)], "--seed must be an integer in [0, 4294967295]"),
    Case("train.py", "--output_dir", "empty", "''", ["--output_dir", ""], "--output_dir must not be empty"),
    Case("train.py", "--train_data_dir", "empty", "''", ["--train_data_dir", ""], "--train_data_dir must not be empty"),
    Case("train.py", "--dataset_name", "empty", "''", ["--dataset_name", ""], "--dataset_name must not be empty"),
    # ---- python -m pipelines.evaluation --------------------------------------------------------------------------
    Case("pipelines.evaluation", "--eta", "NaN/inf", "nan", ["--model", "{model}", "--eta", "nan"], ETA + "nan"),
    Case("pipelines.evaluation", "--eta", "NaN/inf", "inf", ["--model", "{model}", "--eta", "inf"], ETA + "inf"),
    Case(
        "pipelines.evaluation",
        "--num_samples",
        "huge",
        "10**12",
        ["--model", "{model}", "--num_samples", str(10**12)],
        "num_samples must be an integer in [2, 100000] (FID needs 2), got 1000000000000",
    ),
    Case(
        "pipelines.evaluation",
        "--seed",
        "out of range",
        "-1",
        ["--model", "{model}", "--seed", "-1"],
        "seed must be an integer in [0, 4294967295], got -1",
    ),
    Case(
        "pipelines.evaluation",
        "--seed",
        "huge",
        "2**64",
        ["--model", "{model}", "--seed", str(2**64)],
        "seed must be an integer in [0, 4294967295], got 18446744073709551616",
    ),
    Case(
        "pipelines.evaluation",
        "--batch_size",
        "out of range",
        "-1",
        ["--model", "{model}", "--batch_size", "-1"],
        "batch_size must be an integer >= 1, got -1",
    ),
    Case(
        "pipelines.evaluation",
        "--batch_size",
        "wrong type",
        "1.5",
        ["--model", "{model}", "--batch_size", "1.5"],
        "argument --batch_size: invalid int value: '1.5'",
    ),
    Case(
        "pipelines.evaluation",
        "--device",
        "out of range",
        "tpu",
        ["--model", "{model}", "--device", "tpu"],
        "device 'tpu' is not a torch device",
    ),
    Case(
        "pipelines.evaluation",
        "--device",
        "empty",
        '""',
        ["--model", "{model}", "--device", ""],
        "device '' is not a torch device",
    ),
    Case(
        "pipelines.evaluation",
        "--judge",
        "missing model",
        "a missing folder",
        ["--model", "{model}", "--judge", "{tmp}/none"],
        "is not a folder",
    ),
    Case(
        "pipelines.evaluation",
        "--model",
        "empty",
        '""',
        ["--model", ""],
        "pretrained_model_name_or_path must be a model folder or a Hub repo id (USER/NAME), got ''",
    ),
    Case(
        "pipelines.evaluation",
        "train-judge --learning_rate",
        "NaN/inf",
        "nan",
        ["train-judge", "--learning_rate", "nan"],
        "learning_rate must be a number in (0, 1), got nan",
    ),
    Case(
        "pipelines.evaluation",
        "train-judge --epochs",
        "out of range",
        "0",
        ["train-judge", "--epochs", "0"],
        "epochs must be an integer >= 1, got 0",
    ),
    *_model_cases(
        "pipelines.evaluation",
        "--model",
        lambda m: ["--model", m],
        ["corrupt", "config-mismatch", "bad-scheduler", "not-ddpm"],
    ),
    # ---- python -m pipelines.evaluation memorization ---------------------------------------------------------------
    Case(
        "pipelines.evaluation",
        "memorization --num_samples",
        "out of range",
        "0",
        ["memorization", "--model", "{model}", "--num_samples", "0"],
        "--num_samples must be an integer in [1, 10000] (samples drawn), got 0",
    ),
    Case(
        "pipelines.evaluation",
        "memorization --num_samples",
        "huge",
        "10**6",
        ["memorization", "--model", "{model}", "--num_samples", str(10**6)],
        "--num_samples must be an integer in [1, 10000] (samples drawn), got 1000000",
    ),
    Case(
        "pipelines.evaluation",
        "memorization --num_inference_steps",
        "out of range",
        "5000",
        ["memorization", "--model", "{model}", "--data", "mnist", "--num_inference_steps", "5000"],
        "--num_inference_steps must be an integer in [1, 1000] (the model's T), got 5000",
    ),
    Case(
        "pipelines.evaluation",
        "memorization --data",
        "missing model",
        "a missing folder",
        ["memorization", "--model", "{model}", "--data", "{tmp}/none"],
        "no such folder (and not a 🤗 data set id of the form USER/NAME or mnist)",
    ),
    Case(
        "pipelines.evaluation",
        "memorization --data",
        "empty",
        "an empty folder",
        ["memorization", "--model", "{model}", "--data", "{tmp}"],
        "holds no images (png/jpg/jpeg/webp/bmp)",
    ),
    Case(
        "pipelines.evaluation",
        "memorization --data",
        "empty",
        '""',
        ["memorization", "--model", "{model}", "--data", ""],
        "--data must not be empty (a folder, a 🤗 data set id, or mnist)",
    ),
    Case(
        "pipelines.evaluation",
        "memorization --data",
        "empty",
        "(none, and no training_data.json)",
        ["memorization", "--model", "{model}"],
        "the model records no training data (no training_data.json): pass --data with its images",
    ),
    Case(
        "pipelines.evaluation",
        "memorization --model",
        "missing model",
        "a missing folder",
        ["memorization", "--model", "{tmp}/none"],
        "no such folder (and not a Hub id of the form USER/NAME)",
    ),
    Case(
        "pipelines.evaluation",
        "memorization --index",
        "out of range",
        "hnsw",
        ["memorization", "--model", "{model}", "--index", "hnsw"],
        "--index must be one of none, auto, flat, ivf; got 'hnsw'",
    ),
    Case(
        "pipelines.evaluation",
        "memorization --index_parts",
        "out of range",
        "0",
        ["memorization", "--model", "{model}", "--index_parts", "0"],
        "--index_parts must be an integer >= 1 (at most the shards), got 0",
    ),
    Case(
        "pipelines.evaluation",
        "memorization --nprobe",
        "out of range",
        "0",
        ["memorization", "--model", "{model}", "--nprobe", "0"],
        "--nprobe must be an integer >= 1 (at most the index's cells), got 0",
    ),
    Case(
        "pipelines.evaluation",
        "memorization --shard_size",
        "out of range",
        "0",
        ["memorization", "--model", "{model}", "--shard_size", "0"],
        "--shard_size must be an integer >= 1 (images per shard), got 0",
    ),
    Case(
        "pipelines.evaluation",
        "memorization --shards",
        "empty",
        '""',
        ["memorization", "--model", "{model}", "--shards", ""],
        "--shards must not be empty (a shard folder)",
    ),
    Case(
        "pipelines.evaluation",
        "memorization --shards",
        "missing model",
        "a folder without shards",
        ["memorization", "--model", "{model}", "--shards", "{tmp}"],
        "holds no shards: pass --data IMAGE_FOLDER to write them there",
    ),
    *_model_cases(
        "pipelines.evaluation",
        "memorization --model",
        lambda m: ["memorization", "--model", m, "--data", "mnist"],
        ["corrupt", "not-ddpm"],
    ),
    # ---- python -m pipelines.hub --------------------------------------------------------------------------------
    Case("pipelines.hub", "(subcommand)", "empty", "(none)", [], "the following arguments are required: command"),
    Case(
        "pipelines.hub", "(subcommand)", "out of range", "bogus", ["bogus"], "argument command: invalid choice: 'bogus'"
    ),
    Case("pipelines.hub", "check MODEL", "empty", "(none)", ["check"], "the following arguments are required: model"),
    Case(
        "pipelines.hub",
        "check MODEL",
        "empty",
        '""',
        ["check", ""],
        "model must be a model folder or a Hub repo id (USER/NAME), got ''",
    ),
    Case(
        "pipelines.hub",
        "push --repo-id",
        "empty",
        "(none)",
        ["push", "{model}"],
        "the following arguments are required: --repo-id",
    ),
    Case(
        "pipelines.hub",
        "deploy-space SPACE_ID",
        "wrong type",
        "a/b/c",
        ["deploy-space", "a/b/c"],
        "space_id must look like USER/NAME, got 'a/b/c'",
    ),
    Case(
        "pipelines.hub",
        "deploy-space --root",
        "missing model",
        "a missing folder",
        ["deploy-space", "me/space", "--root", "{tmp}/none"],
        "none/space.json cannot be read (No such file or directory)",
    ),
    Case(
        "pipelines.hub",
        "deploy-space --model",
        "missing model",
        "a missing folder",
        ["deploy-space", "me/space", "--model", "{tmp}/none"],
        "is not a folder (deploy a model folder that train.py wrote)",
    ),
    Case(
        "pipelines.hub",
        "deploy-space --data",
        "empty",
        "(none, and no training_data.json)",
        ["deploy-space", "me/space", "--model", "{model}"],
        "the model records no training data (no training_data.json): pass --data with its images",
    ),
    Case(
        "pipelines.hub",
        "deploy-space --data",
        "missing model",
        "a missing folder",
        ["deploy-space", "me/space", "--model", "{model}", "--data", "{tmp}/none"],
        "no such folder (and not a 🤗 data set id of the form USER/NAME or mnist)",
    ),
    Case(
        "pipelines.hub",
        "deploy-space --max-data-mb",
        "huge",
        "mnist's 5,000 digits over --max-data-mb 1",
        ["deploy-space", "me/space", "--model", "{model}", "--data", "mnist", "--max-data-mb", "1"],
        "--max-data-mb: the training images (4,500 + 500 held out, 1×32×32, 8-bit) take 5.1 MB, above the bound "
        "of 1 MB",
    ),
    Case(
        "pipelines.hub",
        "deploy-space --max-data-mb",
        "NaN/inf",
        "nan",
        ["deploy-space", "me/space", "--model", "{model}", "--max-data-mb", "nan"],
        "--max-data-mb must be a number > 0, got nan",
    ),
    Case(
        "pipelines.hub",
        "deploy-space --max-data-mb",
        "out of range",
        "0",
        ["deploy-space", "me/space", "--model", "{model}", "--max-data-mb", "0"],
        "--max-data-mb must be a number > 0, got 0.0",
    ),
    *_model_cases(
        "pipelines.hub",
        "deploy-space --model",
        lambda m: ["deploy-space", "me/space", "--model", m],
        ["empty-folder", "not-ddpm"],
    ),
    Case(
        "pipelines.hub", "card MODEL_DIR", "missing model", "a missing folder", ["card", "{tmp}/none"], "does not exist"
    ),
    *_model_cases(
        "pipelines.hub",
        "check MODEL",
        lambda m: ["check", m],
        ["corrupt", "truncated", "config-mismatch", "bad-scheduler", "not-ddpm", "hub-id-offline"],
    ),
    # ---- Python API ---------------------------------------------------------------------------------------------
    Case(
        "from_pretrained",
        "pretrained_model_name_or_path",
        "empty",
        '""',
        "",
        "pretrained_model_name_or_path must be a model folder or a Hub repo id (USER/NAME), got ''",
    ),
    Case(
        "from_pretrained",
        "pretrained_model_name_or_path",
        "wrong type",
        "None",
        None,
        "pretrained_model_name_or_path must be a model folder or a Hub repo id (USER/NAME), got None",
    ),
    Case(
        "from_pretrained",
        "pretrained_model_name_or_path",
        "wrong type",
        "5",
        5,
        "pretrained_model_name_or_path must be a model folder or a Hub repo id (USER/NAME), got 5",
    ),
    *_model_cases(
        "from_pretrained",
        "pretrained_model_name_or_path",
        lambda m: m,
        [k for k in BROKEN_MODELS if k != "pickle-only"],  # pickle-only: tests/ddpm/test_pipeline.py
        {
            "missing": "is neither a valid local path nor a valid repo id",
            "file": "is neither a valid local path nor a valid repo id",
            "hub-id-offline": "Cannot load model nobody/not-cached: the model is not fully cached locally",
        },
    ),
    Case(
        "pipe()",
        "batch_size",
        "wrong type",
        "True",
        {"batch_size": True},
        "batch_size must be an integer >= 1, got True",
    ),
    Case(
        "pipe()", "batch_size", "wrong type", '"2"', {"batch_size": "2"}, "batch_size must be an integer >= 1, got '2'"
    ),
    Case(
        "pipe()",
        "num_inference_steps",
        "wrong type",
        '"10"',
        {"num_inference_steps": "10"},
        "num_inference_steps must be an integer in [1, 1000], got '10'",
    ),
    Case(
        "pipe()",
        "num_inference_steps",
        "NaN/inf",
        "math.inf",
        {"num_inference_steps": INF},
        "num_inference_steps must be an integer in [1, 1000], got inf",
    ),
    Case(
        "pipe()",
        "num_inference_steps",
        "huge",
        "10**12",
        {"num_inference_steps": 10**12},
        "num_inference_steps must be an integer in [1, 1000], got 1000000000000",
    ),
    Case("pipe()", "eta", "NaN/inf", "math.inf", {"eta": INF}, ETA + "inf"),
    Case("pipe()", "eta", "wrong type", '"1"', {"eta": "1"}, ETA + "'1'"),
    Case("pipe()", "eta", "empty", "None", {"eta": None}, ETA + "None"),
    Case(
        "pipe()",
        "timesteps",
        "empty",
        "[]",
        {"timesteps": []},
        "timesteps must be a non-empty list of integers in [0, 999], got []",
    ),
    Case(
        "pipe()",
        "timesteps",
        "out of range",
        "[1000]",
        {"timesteps": [1000]},
        "timesteps must be in [0, 999], got values from 1000 to 1000",
    ),
    Case(
        "pipe()",
        "timesteps",
        "wrong type",
        "[5.0]",
        {"timesteps": [5.0]},
        "timesteps must be integers in [0, 999], got [5.0]",
    ),
    Case(
        "pipe()",
        "timesteps",
        "NaN/inf",
        "[math.nan]",
        {"timesteps": [NAN]},
        "timesteps must be integers in [0, 999], got [nan]",
    ),
    Case(
        "pipe()",
        "timesteps",
        "wrong type",
        "5 (not a list)",
        {"timesteps": 5},
        "timesteps must be a non-empty list of integers in [0, 999], got 5",
    ),
    Case(
        "pipe()",
        "output_type",
        "empty",
        "None",
        {"output_type": None},
        "output_type must be one of pil, np, pt; got None",
    ),
    Case(
        "pipe()",
        "generator",
        "wrong type",
        '"seed"',
        {"generator": "seed"},
        "generator must be a torch.Generator or a list of 1 (batch_size) of them, got 'seed'",
    ),
    Case(
        "pipe()",
        "generator",
        "wrong type",
        "0 (a seed, not a generator)",
        {"generator": 0},
        "generator must be a torch.Generator or a list of 1 (batch_size) of them, got 0",
    ),
    Case(
        "pipe()",
        "generator",
        "out of range",
        "3 generators for batch_size 2",
        {"batch_size": 2, "generator": Expr("[torch.Generator() for _ in range(3)]")},
        "generator must be a torch.Generator or a list of 2 (batch_size) of them",
    ),
    Case(
        "pipe()",
        "variance_type",
        "out of range",
        '"bogus"',
        {"variance_type": "bogus"},
        "variance_type must be one of fixed_small, fixed_small_log, fixed_large, fixed_large_log, learned, "
        "learned_range, analytic; got 'bogus'",
    ),
    Case(
        "pipe()",
        "variance_type",
        "config ≠ weights",
        '"learned" (the UNet has 1 output channel)',
        {"variance_type": "learned"},
        "variance_type='learned' needs a model_output with 2 channels",
    ),
    Case("scheduler.step", "timestep", "wrong type", "1.5", {"timestep": 1.5}, "timestep must be an integer, got 1.5"),
    Case(
        "scheduler.step", "timestep", "NaN/inf", "math.nan", {"timestep": NAN}, "timestep must be an integer, got nan"
    ),
    Case(
        "scheduler.step",
        "timestep",
        "wrong type",
        "torch.tensor(5.0)",
        {"timestep": Expr("torch.tensor(5.0)")},
        "timestep must be an integer, got tensor(5.)",
    ),
    Case("scheduler.step", "timestep", "out of range", "-1", {"timestep": -1}, "timestep must be in [0, 999], got -1"),
    Case(
        "scheduler.step",
        "timestep",
        "wrong type",
        "two timesteps",
        {"timestep": Expr("torch.tensor([5, 4])")},
        "timestep must be a single integer for step()",
    ),
    Case(
        "scheduler.step",
        "sample",
        "wrong type",
        "a list",
        {"sample": [[0.0]]},
        "sample must be a torch.Tensor of shape (B, C, H, W), got list",
    ),
    Case(
        "scheduler.step",
        "model_output",
        "empty",
        "None",
        {"model_output": None},
        "model_output must be a torch.Tensor of shape (B, C, H, W), got NoneType",
    ),
    Case(
        "scheduler.step",
        "prev_timestep",
        "wrong type",
        "1.5",
        {"prev_timestep": 1.5},
        "prev_timestep must be an integer, got 1.5",
    ),
    Case(
        "scheduler.step",
        "prev_timestep",
        "out of range",
        "-5",
        {"prev_timestep": -5},
        "prev_timestep must be in [-1, 9] for timestep 10, got -5",
    ),
    Case("scheduler.step", "eta", "empty", "None", {"eta": None}, ETA + "None"),
    Case(
        "scheduler.set_timesteps",
        "num_inference_steps",
        "NaN/inf",
        "math.inf",
        {"num_inference_steps": INF},
        "num_inference_steps must be an integer in [1, 1000], got inf",
    ),
    Case(
        "scheduler.set_timesteps",
        "num_inference_steps",
        "wrong type",
        '"10"',
        {"num_inference_steps": "10"},
        "num_inference_steps must be an integer in [1, 1000], got '10'",
    ),
    Case(
        "scheduler.set_timesteps",
        "num_inference_steps",
        "huge",
        "10**9",
        {"num_inference_steps": 10**9},
        "num_inference_steps must be an integer in [1, 1000], got 1000000000",
    ),
    Case(
        "scheduler.set_timesteps",
        "num_inference_steps",
        "out of range",
        "0",
        {"num_inference_steps": 0},
        "num_inference_steps must be an integer in [1, 1000], got 0",
    ),
    Case(
        "scheduler.set_timesteps",
        "timesteps",
        "empty",
        "[]",
        {"timesteps": []},
        "timesteps must be a non-empty list of integers in [0, 999], got []",
    ),
    Case(
        "scheduler.set_timesteps",
        "num_inference_steps + timesteps",
        "wrong type",
        "both",
        {"num_inference_steps": 10, "timesteps": [5, 3]},
        "pass either num_inference_steps or timesteps, not both",
    ),
    Case(
        "PosteriorDDPMScheduler()",
        "num_train_timesteps",
        "out of range",
        "0",
        {"num_train_timesteps": 0},
        "num_train_timesteps must be an integer >= 1, got 0",
    ),
    Case(
        "PosteriorDDPMScheduler()",
        "num_train_timesteps",
        "wrong type",
        "1.5",
        {"num_train_timesteps": 1.5},
        "num_train_timesteps must be an integer >= 1, got 1.5",
    ),
    Case(
        "PosteriorDDPMScheduler()",
        "beta_end",
        "NaN/inf",
        "math.nan",
        {"beta_end": NAN},
        "betas must be 1000 values in (0, 1]",
    ),
    Case(
        "PosteriorDDPMScheduler()",
        "beta_end",
        "out of range",
        "2.0",
        {"beta_end": 2.0},
        "betas must be 1000 values in (0, 1]",
    ),
    Case(
        "PosteriorDDPMScheduler()",
        "timestep_spacing",
        "out of range",
        '"x"',
        {"timestep_spacing": "x"},
        "timestep_spacing must be one of leading, linspace, trailing; got 'x'",
    ),
]

# Bad inputs asserted by other test files (not repeated above); the doc lists them by file.
ELSEWHERE = {
    "tests/ui/test_tab_sample.py": "/sample: num_inference_steps 0, 100000, 2.5; num_images 0, 10**5; eta -0.1, 1.5, "
    'null, NaN; seed -1, 1.5, "7"; timestep_spacing "sideways"; variance '
    '"learned"; fixed_large with eta < 1; order 0, 4, 2.5.',
    "tests/app/test_app.py": "`python app.py --model`: a missing folder, a non-DDPM folder (real processes).",
    "tests/ui/test_tab_posterior.py": '/posterior: t 0, 1000, 2.5; digit_index -1, 4500, "3"; seed -1; image: not '
    "an image, 4000×20 pixels, 3 MB of BMP, 3×3 pixels. An empty drawing; a model of another shape on the posterior "
    "tabs.",
    "tests/ui/test_tab_exact.py": "/exact_sample: num_images 0, 17; num_inference_steps 0, 1001; seed -1, 1.5.",
    "tests/app/test_your_data.py": "`python app.py --data`: images of the wrong size or channels, a data set whose "
    "content hash changed since training, more images than the memory bound; a model with no data (each tab's notice).",
    "tests/ui/test_inputs.py": "uploads: every format and mode PIL writes, cut, with flipped bytes, with "
    "lying headers.",
    "tests/ddpm/test_pipeline.py": "pipe(): batch_size 0, 2.5; num_inference_steps 0, 1001; eta NaN, 1.01; "
    'eta 0.5 with fixed_large; descending timesteps; output_type "jpg"; a pickle-only '
    "folder; use_safetensors=False.",
    "tests/ddpm/test_scheduler.py": "timestep_plan: bad step counts and timesteps; step(): wrong shapes, timestep "
    '1000, prev_timestep = t, eta -0.1/1.5/NaN/inf/"1", unknown variance; unknown '
    "prediction_type and beta_schedule.",
    "tests/training/test_training.py": "train.py: --train_batch_size 0 and abc, --learning_rate -1e-4 and nan, "
    "--prediction_type, --mixed_precision, --num_inference_steps 2000, --resolution 31; "
    "missing, empty and unreadable --train_data_dir; --dataset_name offline.",
    "tests/evaluation/test_evaluation.py": "pipelines.evaluation: --num_samples 0 and many, "
    "--num_inference_steps -3 and 5000, "
    "--eta 2, --batch_size 0, --variance_type learned_range; a missing model folder "
    "(real process); evaluate_images on bad tensors.",
    "tests/hub/test_hub.py": "pipelines.hub push: an empty / latent / pickle-only / scheduler-less folder, malformed "
    "repo ids, no token, offline; load_pipeline: missing and pickle-only folders; a "
    "rejected token, a missing repo, a pickle-only repo on a (local) Hub.",
}


def render() -> str:
    """docs/bad-input-matrix.md, from CASES."""
    lines = [
        "# Bad-input matrix",
        "",
        "<!-- generated by tests/helpers/bad_input_cases.py from its CASES table; do not edit by hand: run "
        "`python tests/helpers/bad_input_cases.py` (tests/app/test_bad_input_matrix.py fails when this "
        "file drifts) -->",
        "",
        "Every input a user can give the demo, fed a bad value: each is refused with one clear message that names "
        "the input (API: a gradio error, `gr.Error`; CLI: one line on stderr and a non-zero exit status, never a "
        "traceback; Python API: a `ValueError` or `OSError`), and the server answers the next good request. "
        "`tests/app/test_bad_input_matrix.py` runs every row below; the message column is a fragment the real "
        "message contains.",
        "",
        f"{len(CASES)} cases. Kinds: {', '.join(KINDS)}.",
        "",
    ]
    for surface, description in SURFACES.items():
        cases = [c for c in CASES if c.surface == surface]
        if not cases:
            continue
        lines += [
            f"## {surface}",
            "",
            f"{description}.",
            "",
            "| input | kind | bad value | message |",
            "|---|---|---|---|",
        ]
        for c in cases:
            message = (
                f"`{c.message}`"
                if c.message is not None
                else "(refused by gradio before the app's code; no message: the server runs with show_error=False)"
            )
            if c.xfail:
                message += f" — **open bug:** {c.xfail}"
            lines.append(f"| {_cell(c.input)} | {c.kind} | {_cell(c.shown)} | {_cell(message)} |")
        lines.append("")
    lines += ["## Covered by other test files", ""]
    lines += [f"- `{path}`: {_cell(text)}" for path, text in ELSEWHERE.items()]
    lines.append("")
    return "\n".join(lines)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        same = DOC.is_file() and DOC.read_text(encoding="utf-8") == text
        print(f"{DOC} is {'up to date' if same else 'out of date: run python tests/helpers/bad_input_cases.py'}")
        return 0 if same else 1
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC} ({len(CASES)} cases)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
