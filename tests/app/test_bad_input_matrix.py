"""The bad-input matrix (tests/helpers/bad_input_cases.py), run: every API endpoint, CLI flag and Python entry point
fed a bad value answers with one clear message naming the input; the app server answers the next good request; and
docs/bad-input-matrix.md is exactly what the table generates.

One app server for the whole module (a tiny random 1×32×32 model); CLIs are called in-process (their `main` /
`parse_args`, as `python -m …` would) and one real process proves the command-line wiring."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from PIL import Image

from helpers.app_server import REPO, app_env, serve_app, write_stable_diffusion_index
from helpers.bad_input_cases import (
    BROKEN_MODELS,
    CASES,
    DOC,
    ELSEWHERE,
    KINDS,
    MODEL_MESSAGES,
    SURFACES,
    Case,
    Expr,
    Upload,
    render,
)
from helpers.tiny import TINY_TRAIN_FLAGS

TIMEOUT_S = 300  # per request; generous for busy CI machines, never reached when things work
GOOD = {
    "/sample": dict(
        seed=0,
        num_images=1,
        num_inference_steps=1,
        eta=1.0,
        timestep_spacing="leading",
        variance="fixed_small",
        order=1,
    ),
    "/posterior": dict(digit_index=0, t=5, seed=0, image=None),
    "/exact_sample": dict(seed=0, num_images=1, num_inference_steps=1),
    "/toy_step": dict(dataset="two_moons", num_points=4, t=5, stride=1, x=0.0, y=0.0, seed=0),
    "/toy_sample": dict(dataset="two_moons", num_points=4, num_samples=2, num_inference_steps=2, seed=0),
    "/toy_train": dict(dataset="two_moons", num_points=4, train_steps=100, seed=0),
    "/variance": dict(num_inference_steps=2, seed=0),
    "/transition": dict(dataset="two_moons"),
    "/transition_train": dict(dataset="two_moons", num_points=4, train_steps=100, num_samples=8, seed=0),
}
TINY_TRAIN = [*TINY_TRAIN_FLAGS, "--max_train_steps", "1"]  # train.py flags of the tiny runs in test_training.py


def params(*surfaces: str) -> list:
    return [
        pytest.param(case, id=case.id, marks=[pytest.mark.xfail(reason=case.xfail)] if case.xfail else [])
        for case in CASES
        if case.surface in surfaces
    ]


def evaluate(value, **names):
    """`value` with every Expr (also inside lists and dicts) evaluated."""
    if isinstance(value, Expr):
        return eval(value, {"torch": torch, "math": math, **names})  # noqa: S307 (our own table's expressions)
    if isinstance(value, dict):
        return {k: evaluate(v, **names) for k, v in value.items()}
    if isinstance(value, list):
        return [evaluate(v, **names) for v in value]
    return value


# ------------------------------------------------------------------------------------------------- the table
def test_the_doc_is_what_the_table_generates():
    assert DOC.read_text(encoding="utf-8") == render(), "run: python tests/helpers/bad_input_cases.py"


def test_every_api_parameter_and_surface_is_in_the_matrix():
    assert {case.surface for case in CASES} == set(SURFACES)
    assert all(case.kind in KINDS for case in CASES), [c.id for c in CASES if c.kind not in KINDS]
    assert len({case.id for case in CASES}) == len(CASES)  # each row says something new
    for endpoint, good in GOOD.items():
        for name in good:
            kinds = {case.kind for case in CASES if case.surface == endpoint and case.input == name}
            # with the rows in ELSEWHERE (out of range, mostly), every parameter meets these kinds here
            assert {"wrong type", "empty"} <= kinds and kinds & {"NaN/inf", "huge"}, (endpoint, name, kinds)
    assert set(ELSEWHERE) <= {str(p.relative_to(REPO)) for p in (REPO / "tests").rglob("test_*.py")}


# ------------------------------------------------------------------------------------------------- model folders
def _write_json(path: Path, update) -> None:
    data = json.loads(path.read_text())
    update(data)
    path.write_text(json.dumps(data))


@pytest.fixture(scope="module")
def broken_models(app_model_dir, tmp_path_factory) -> dict[str, str]:
    """Each kind of BROKEN_MODELS: a copy of the tiny good model with one thing wrong (or a path / a Hub id)."""
    root = tmp_path_factory.mktemp("broken")
    weights = "unet/diffusion_pytorch_model.safetensors"

    def copy(kind: str) -> Path:
        return Path(shutil.copytree(app_model_dir, root / kind))

    paths = {"missing": str(root / "missing"), "hub-id-offline": "nobody/not-cached"}
    (root / "file").write_text("not a model")
    paths["file"] = str(root / "file")
    (root / "empty-folder").mkdir()
    paths["empty-folder"] = str(root / "empty-folder")
    folder = copy("corrupt")
    (folder / weights).write_bytes(b"this is not a safetensors file")
    folder = copy("truncated")
    (folder / weights).write_bytes((folder / weights).read_bytes()[:1000])
    folder = copy("zero-bytes")
    (folder / weights).write_bytes(b"")
    folder = copy("config-mismatch")
    _write_json(folder / "unet/config.json", lambda c: c.update(block_out_channels=[16, 32]))
    folder = copy("channels-mismatch")
    _write_json(folder / "unet/config.json", lambda c: c.update(in_channels=3, out_channels=3))
    folder = copy("bad-json")
    (folder / "unet/config.json").write_text("{ not json")
    folder = copy("bad-scheduler")
    _write_json(folder / "scheduler/scheduler_config.json", lambda c: c.update(num_train_timesteps=-5))
    write_stable_diffusion_index(root / "not-ddpm")
    folder = copy("pickle-only")
    (folder / weights).rename((folder / weights).with_suffix(".bin"))
    for kind in BROKEN_MODELS:
        paths.setdefault(kind, str(root / kind))
    assert set(paths) == set(BROKEN_MODELS)
    return paths


def resolve(value, broken: dict[str, str], model: Path, tmp: Path):
    """Fill the table's placeholders: {broken:KIND}, {model}, {tmp}."""
    if isinstance(value, list):
        return [resolve(v, broken, model, tmp) for v in value]
    if isinstance(value, str) and "{" in value:
        for kind, path in broken.items():
            value = value.replace(f"{{broken:{kind}}}", path)
        return value.replace("{model}", str(model)).replace("{tmp}", str(tmp))
    return value


# ------------------------------------------------------------------------------------------------- API endpoints
@pytest.fixture(scope="module")
def app_url(app_model_dir, tmp_path_factory):
    with serve_app(app_model_dir, log_path=tmp_path_factory.mktemp("log") / "app.log") as url:
        yield str(url)


@pytest.fixture(scope="module")
def http():
    """One HTTP client for the module: a new one per call costs more CPU than the bad request itself."""
    with httpx.Client(timeout=TIMEOUT_S) as client:
        yield client


def call(http: httpx.Client, url: str, endpoint: str, data: list) -> tuple[str, object]:
    """POST the inputs as raw JSON (NaN and Infinity included, as any HTTP caller may send them) and wait for the
    last event: ("complete", outputs) or ("error", message or None)."""
    body = json.dumps({"data": data})  # json.dumps writes NaN / Infinity; gradio's parser reads them
    api = f"{url}gradio_api/call{endpoint}"
    response = http.post(api, content=body, headers={"content-type": "application/json"})
    response.raise_for_status()
    with http.stream("GET", f"{api}/{response.json()['event_id']}") as stream:
        text = "".join(stream.iter_text())
    events = [block for block in text.split("\n\n") if block.startswith("event:")]
    kind, _, payload = events[-1].partition("\ndata:")
    kind, payload = kind.removeprefix("event:").strip(), json.loads(payload.strip() or "null")
    if kind == "error":
        return kind, (payload or {}).get("error")
    return kind, payload


def make_upload(kind: str, folder: Path) -> Path:
    """The files of the Upload cases."""
    if kind == "tiff":
        path = folder / "digit.tiff"
        Image.new("L", (28, 28), 128).save(path)
    elif kind == "svg":
        path = folder / "digit.svg"
        path.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="28" height="28"><circle r="9"/></svg>')
    elif kind == "empty_file":
        path = folder / "empty.png"
        path.write_bytes(b"")
    elif kind == "truncated_png":
        path = folder / "half.png"
        noise = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
        Image.fromarray(noise).save(path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # the header survives, the pixels do not
    elif kind == "over_server_limit":
        path = folder / "big.png"
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(11 * 10**6))
    else:
        raise KeyError(kind)
    return path


def upload(http: httpx.Client, url: str, path: Path) -> httpx.Response:
    """gradio's upload route, as gradio_client's handle_file uses it."""
    with path.open("rb") as f:
        return http.post(f"{url}gradio_api/upload", files={"files": (path.name, f)})


@pytest.mark.parametrize(
    "case",
    params(
        "/sample",
        "/posterior",
        "/exact_sample",
        "/toy_step",
        "/toy_sample",
        "/toy_train",
        "/variance",
        "/transition",
        "/transition_train",
    ),
)
def test_a_bad_api_value_is_refused_by_name_and_the_server_answers_the_next_request(
    http, app_url, case: Case, tmp_path
):
    value = evaluate(case.value)
    reaches_the_endpoint = True
    if isinstance(value, Upload):
        response = upload(http, app_url, make_upload(value.kind, tmp_path))
        if value.kind == "over_server_limit":  # refused at the upload by gradio's own limit, above the app's
            assert response.status_code == 413 and case.message in response.text, response.text
            reaches_the_endpoint = False
        else:
            assert response.status_code == 200, response.text
            path = response.json()[0]
            value = {"path": path, "orig_name": Path(path).name, "meta": {"_type": "gradio.FileData"}}
    if reaches_the_endpoint:
        kind, message = call(http, app_url, case.surface, list({**GOOD[case.surface], case.input: value}.values()))
        assert kind == "error", (kind, message)
        if case.message is None:
            assert message is None  # refused by gradio itself, before the app's code
        else:
            # one short line, whatever was sent (a megabyte-long value is cut in the message)
            assert case.message in message and "\n" not in message and len(message) < 300, message
    kind, outputs = call(http, app_url, case.surface, list(GOOD[case.surface].values()))
    assert kind == "complete", outputs


# ------------------------------------------------------------------------------------------------- CLIs
def one_line(status, err: str, out: str, message: str) -> str:
    """The CLI contract: a non-zero exit status, one line on stderr that holds `message`, no traceback."""
    assert status not in (0, None), (status, err)
    assert "Traceback" not in err + out
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert message in lines[0], lines[0]
    return lines[0]


def run_main(main, argv: list[str]):
    try:
        return main(argv)
    except SystemExit as exit_:  # argparse's own checks (types, choices) and app.py's
        return exit_.code


@pytest.fixture
def no_launch(monkeypatch):
    """app.main must fail before it serves anything: a case that reached launch() fails instead of blocking."""
    import gradio as gr

    def launch(*args, **kwargs):
        raise AssertionError("app.py got as far as launching the server")

    monkeypatch.setattr(gr.Blocks, "launch", launch)


@pytest.mark.parametrize("case", params("app.py"))
def test_app_cli(case: Case, broken_models, app_model_dir, tmp_path, monkeypatch, capsys, no_launch):
    import app

    for name in ("GRADIO_SERVER_PORT", "GRADIO_SERVER_NAME", "DDPM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    argv = resolve(case.value, broken_models, app_model_dir, tmp_path)
    if "{broken:" in str(case.value) or "--data" in case.value:
        status = run_main(app.main, argv)  # parses, then loads the model (and --data)
    else:
        status = run_main(app.parse_args, argv)
    captured = capsys.readouterr()
    line = one_line(status, captured.err, captured.out, case.message)
    assert line.startswith("app.py: error: ")


@pytest.mark.parametrize("case", params("train.py"))
def test_train_cli(case: Case, broken_models, app_model_dir, tmp_path, capsys):
    import train

    # The tiny run's flags first, so that a case that were accepted would train one tiny step, not hours.
    argv = [
        "--output_dir",
        str(tmp_path / "out"),
        *TINY_TRAIN,
        *resolve(case.value, broken_models, app_model_dir, tmp_path),
    ]
    status = run_main(train.main, argv)
    captured = capsys.readouterr()
    assert one_line(status, captured.err, captured.out, case.message).startswith("train.py: error: ")


@pytest.mark.parametrize("case", params("pipelines.evaluation"))
def test_evaluation_cli(case: Case, broken_models, app_model_dir, tmp_path, capsys):
    from pipelines.evaluation import cli as evaluation

    argv = resolve(case.value, broken_models, app_model_dir, tmp_path)
    if argv[:1] == ["--model"]:  # a case that were accepted would score 2 one-step samples, not 1000 × 1000 steps
        argv = [
            "--num_samples",
            "2",
            "--num_inference_steps",
            "1",
            "--no_progress",
            "--output",
            str(tmp_path / "report.json"),
            *argv,
        ]
    status = run_main(evaluation.main, argv)
    captured = capsys.readouterr()
    assert one_line(status, captured.err, captured.out, case.message).startswith("python -m pipelines.evaluation")


@pytest.mark.parametrize("case", params("pipelines.hub"))
def test_hub_cli(case: Case, broken_models, app_model_dir, tmp_path, capsys):
    from pipelines.hub import cli as hub

    status = run_main(hub.main, resolve(case.value, broken_models, app_model_dir, tmp_path))
    captured = capsys.readouterr()
    one_line(status, captured.err, captured.out, case.message)


def test_hub_check_of_a_mismatched_config_is_one_line_in_a_real_process(broken_models):
    """The one real process here (python -m pipelines.hub's own wiring, progress bars and all); app.py's is in
    tests/app/test_app.py. Every other CLI case calls the same `main` in-process."""
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.hub", "check", broken_models["config-mismatch"]],
        cwd=REPO,
        env=app_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert result.returncode == 1
    line = one_line(result.returncode, result.stderr, result.stdout, MODEL_MESSAGES["config-mismatch"])
    assert line.startswith("pipelines.hub: error: ")


# ------------------------------------------------------------------------------------------------- Python API
@pytest.mark.parametrize("case", params("from_pretrained"))
def test_from_pretrained(case: Case, broken_models, app_model_dir, tmp_path):
    from pipelines import PosteriorDDPMPipeline

    with pytest.raises((ValueError, OSError)) as raised:
        PosteriorDDPMPipeline.from_pretrained(resolve(case.value, broken_models, app_model_dir, tmp_path))
    assert case.message in str(raised.value) and "\n" not in str(raised.value), str(raised.value)


@pytest.fixture(scope="module")
def pipe(app_model_dir):
    from pipelines import PosteriorDDPMPipeline

    pipe = PosteriorDDPMPipeline.from_pretrained(app_model_dir)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.mark.parametrize("case", params("pipe()"))
def test_pipeline_call_and_denoise(case: Case, pipe):
    kwargs = {"num_inference_steps": 1, **evaluate(case.value)}
    if "timesteps" in kwargs:
        kwargs.pop("num_inference_steps")
    with pytest.raises(ValueError) as raised:
        pipe(**kwargs)
    assert case.message in str(raised.value), str(raised.value)
    if "output_type" not in kwargs:  # the same check, before any work, in the step-by-step loop
        with pytest.raises(ValueError) as raised:
            next(pipe.denoise(**kwargs, progress=False))
        assert case.message in str(raised.value), str(raised.value)


@pytest.mark.parametrize("case", params("scheduler.step", "scheduler.set_timesteps", "PosteriorDDPMScheduler()"))
def test_scheduler(case: Case):
    from pipelines import PosteriorDDPMScheduler

    kwargs = evaluate(case.value)
    with pytest.raises(ValueError) as raised:
        if case.surface == "scheduler.step":
            x = torch.zeros(1, 1, 4, 4)
            PosteriorDDPMScheduler().step(**{"model_output": x, "timestep": 10, "sample": x, **kwargs})
        elif case.surface == "scheduler.set_timesteps":
            PosteriorDDPMScheduler().set_timesteps(**kwargs)
        else:
            PosteriorDDPMScheduler(**kwargs)
    assert case.message in str(raised.value), str(raised.value)
