"""app.py, the entry point: a bad --model exits with one line; the command line's defaults come from the
environment (the flags win)."""

import re

import pytest

from helpers.app_server import run_app, write_stable_diffusion_index


def _not_a_ddpm_folder(tmp_path):
    return write_stable_diffusion_index(tmp_path / "sd")


@pytest.mark.parametrize(
    "make_model, expected",
    [
        (lambda tmp: tmp / "no-such-model", "no such folder|does not exist"),
        (_not_a_ddpm_folder, "not an? (unconditional )?DDPM pipeline"),
    ],
    ids=["missing", "not-ddpm"],
)
def test_a_bad_model_exits_with_a_one_line_error(tmp_path, make_model, expected):
    model = make_model(tmp_path)
    result = run_app("--model", str(model), "--port", "1")
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert str(model) in lines[0] and re.search(expected, lines[0]), lines[0]
    assert "Traceback" not in result.stderr + result.stdout


@pytest.fixture(scope="module")
def app_module():
    import app

    return app


def test_command_line_defaults_come_from_the_environment(monkeypatch, app_module):
    monkeypatch.delenv("GRADIO_SERVER_NAME", raising=False)
    monkeypatch.delenv("DDPM_MODEL", raising=False)
    monkeypatch.delenv("GRADIO_SERVER_PORT", raising=False)
    args = app_module.parse_args([])
    assert (args.host, args.port, args.model) == ("127.0.0.1", 7860, "models/ddpm-mnist")
    monkeypatch.setenv("GRADIO_SERVER_PORT", "7999")
    monkeypatch.setenv("DDPM_MODEL", "some/model")
    args = app_module.parse_args([])
    assert (args.port, args.model) == (7999, "some/model")
    assert app_module.parse_args(["--port", "8001"]).port == 8001  # the flag wins over the environment
    for name in ("DDPM_FRAME_INTERVAL_S", "DDPM_FRAME_BUDGET"):
        monkeypatch.delenv(name, raising=False)
    args = app_module.parse_args([])
    assert (args.frame_interval_s, args.frame_budget) == (0.25, 0.05)  # the live view's throttle, by default
    monkeypatch.setenv("DDPM_FRAME_INTERVAL_S", "0.5")
    monkeypatch.setenv("DDPM_FRAME_BUDGET", "1")
    args = app_module.parse_args([])
    assert (args.frame_interval_s, args.frame_budget) == (0.5, 1.0)
    args = app_module.parse_args(["--frame-interval-s", "0", "--frame-budget", "0.2"])
    assert (args.frame_interval_s, args.frame_budget) == (0.0, 0.2)
