"""What a public Space must never give away: files outside the app's own outputs (through gradio's file routes,
with absolute paths, `../` tricks or encodings of them), and the HF token it runs with.

One tiny-model server, started with a sentinel HF_TOKEN in its environment, probed with raw HTTP requests (sent
byte for byte, so no client library normalises the `../` away)."""

import http.client
import json
from pathlib import Path
from urllib.parse import quote, urlparse

import pytest

from helpers.app_server import REPO, serve_app

SENTINEL = "hf_SENTINELappTOKEN0123456789abcdefXYZ"  # must never be seen in any response or log
TIMEOUT_S = 300
GOOD = dict(seed=3, num_images=2, num_inference_steps=3, eta=1.0, timestep_spacing="leading", variance="fixed_small")


@pytest.fixture(scope="module")
def server(app_model_dir, tmp_path_factory):
    log = tmp_path_factory.mktemp("log") / "app.log"
    with serve_app(app_model_dir, log_path=log, env={"HF_TOKEN": SENTINEL}) as url:
        yield url, log


def raw_get(url: str, path: str) -> tuple[int, bytes]:
    """GET `path` exactly as written (no normalisation of dot segments or percent-escapes)."""
    parsed = urlparse(url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def secret_files() -> dict[str, bytes]:
    """Files on the server's machine that it must not serve, with a marker of their content."""
    return {
        "/etc/passwd": b"root:",
        str(REPO / "app.py"): b"import gradio",
        str(REPO / "requirements.txt"): b"torch==",
        str(REPO / "models" / "ddpm-mnist" / "unet" / "config.json"): b"block_out_channels",
    }


def attacks(path: str) -> list[str]:
    """Ways to ask gradio's file routes for `path`."""
    depth = "../" * 12
    relative = path.lstrip("/")
    return [
        f"/gradio_api/file={path}",
        f"/gradio_api/file={quote(path, safe='')}",
        f"/gradio_api/file={depth}{relative}",
        f"/gradio_api/file=%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f{quote(relative)}",
        f"/gradio_api/file=..%2f..%2f..%2f..%2f..%2f..%2f..%2f{quote(relative)}",
        f"/gradio_api/file=/tmp/gradio/{depth}{relative}",
        f"/file={path}",
        f"/gradio_api/file={path}%00.png",
    ]


def test_file_routes_serve_nothing_outside_the_apps_own_outputs(server):
    from gradio_client import Client

    url, _ = server
    for path, marker in secret_files().items():
        if not Path(path).exists():
            continue
        for attack in attacks(path):
            status, body = raw_get(url, attack)
            assert marker not in body, f"{attack} served {path}"
            assert status in (400, 403, 404, 405), (attack, status, body[:200])
    # The route itself works: a file the app produced is served (so the refusals above are not a broken route).
    result = Client(url, verbose=False, download_files=False).predict(**GOOD, api_name="/sample")
    grid = result[5]
    served_path = grid["path"] if isinstance(grid, dict) else grid
    status, body = raw_get(url, f"/gradio_api/file={quote(served_path)}")
    assert status == 200 and body.startswith(b"\x89PNG"), (status, body[:50])


def test_the_hf_token_appears_in_no_response_and_no_log(server):
    import httpx
    from gradio_client import Client

    url, log = server
    seen = []
    with httpx.Client(base_url=url, timeout=60) as http:
        for path in (
            "/",
            "/config",
            "/gradio_api/info",
            "/gradio_api/info?all_endpoints=true",
            "/gradio_api/startup-events",
        ):
            response = http.get(path)
            seen.append(response.text)
    client = Client(url, verbose=False, download_files=False)
    seen.append(json.dumps(client.predict(**GOOD, api_name="/sample"), default=str))
    try:
        client.predict(**{**GOOD, "seed": -1}, api_name="/sample")
    except Exception as error:  # noqa: BLE001 - the error text is a response too
        seen.append(str(error))
    seen.append(log.read_text())
    assert all(SENTINEL not in text for text in seen)


@pytest.mark.parametrize("name", ["lying BMP header (200000×200000)", "PNG with a short image-data chunk"])
def test_crafted_uploads_get_a_message_naming_image_not_gradios_generic_error(server, tmp_path, name):
    """Files that once escaped the upload check (PIL raised what it was not expected to) reach the API caller as
    the app's own refusal, and the server goes on serving."""
    import importlib.util

    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    where = Path(__file__).resolve().parents[1] / "ui" / "test_inputs.py"  # the crafted files the upload tests make
    spec = importlib.util.spec_from_file_location("upload_cases", where)
    cases = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cases)
    CRAFTED = cases.CRAFTED

    url, _ = server
    path = tmp_path / ("upload.bmp" if "BMP" in name else "upload.png")
    path.write_bytes(CRAFTED[name]())
    client = Client(url, verbose=False, download_files=False)
    with pytest.raises(AppError) as raised:
        client.predict(digit_index=0, t=10, seed=0, image=handle_file(str(path)), api_name="/posterior")
    message = str(raised.value)
    assert message.startswith("image") and "upstream Gradio app has raised an exception" not in message, message
    assert len(client.predict(**GOOD, api_name="/sample")[3]) == 2
