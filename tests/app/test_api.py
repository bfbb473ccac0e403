"""The Python API as docs/api.md documents it, against a live server (`python app.py`, the tiny MNIST-shaped model):

- `client.view_api(return_format="dict")` says what the page's endpoint tables say: every endpoint documented
  (and nothing documented that is not served), each parameter's name, type, default and range, each output's
  name; integers are `int` with their range in the description `view_api()` prints;
- each output has the type the page gives it in both client modes (default: local paths; download_files=False:
  dicts with path and url), and /sample's streamed updates are complete (no placeholders);
- every Python snippet of the page runs as written (the server's URL put in), and between them they use both client
  modes; examples/my_digit.png is what the page's command makes.

The format this test reads (docs/api.md, "# Calling it from Python": one section per endpoint):

    ## `/endpoint`
    | parameter | type | default | range |        type: `int`, `float`, `str`, `bool` or `file`; default: a Python
    |---|---|---|---|                              literal in backticks; range: "LOW … HIGH …" for numbers, the
    | `name` | `int` | `0` | 0 … 16: words |       choices in backticks for `str`, free text for `file`
    | output | what | default client | `download_files=False` |
    |---|---|---|---|                              each client column starts with `str`, `dict` or `list[dict]`;
    | `name` | words | `str`: a local path | `dict`: `path`, `url`, … |
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from helpers.app_server import REPO, app_env, serve_app

API_DOC = REPO / "docs" / "api.md"  # the README links it: calling the app from Python
README_URL = "http://127.0.0.1:7860/"  # the URL the page's snippets use; replaced by the live server's
TIMEOUT_S = 300  # per request or snippet; generous for busy CI machines, never reached when things work
# Endpoints whose defaults take long on a CI box: the arguments the output-type check calls them with instead.
FAST_ARGS = {
    "/sample": dict(num_images=2, num_inference_steps=3),
    "/exact_sample": dict(num_images=2, num_inference_steps=3),
    "/toy_step": dict(num_points=16),
    "/toy_sample": dict(num_points=16, num_samples=8, num_inference_steps=5),
    "/toy_train": dict(num_points=16, train_steps=100),
    "/transition_train": dict(num_points=4, train_steps=100, num_samples=8),
}
PYTHON_TYPES = {
    "int": "int",
    "float": "float",
    "str": "str",
    "bool": "bool",
    "file": "filepath",
}  # the page's type → view_api's


# ------------------------------------------------------------------------------------------------ the page
def api_section(text: str | None = None) -> str:
    """docs/api.md from its "# Calling it from Python" heading to its end (the page is that section)."""
    text = API_DOC.read_text(encoding="utf-8") if text is None else text
    match = re.search(r"^# Calling it from Python.*", text, re.S | re.M)
    assert match, f"{API_DOC} has no '# Calling it from Python' section"
    return match.group(0)


def split_row(line: str) -> list[str]:
    """The cells of one Markdown table row (`\\|` is a | inside a cell)."""
    cells = re.split(r"(?<!\\)\|", line.strip().strip("|"))
    return [cell.strip().replace("\\|", "|") for cell in cells]


def tables(body: str) -> list[tuple[list[str], list[list[str]]]]:
    """Every Markdown table in `body`: (header cells, rows of cells)."""
    found, block = [], []
    for line in [*body.splitlines(), ""]:
        if line.startswith("|"):
            block.append(split_row(line))
        elif block:
            found.append((block[0], block[2:]))
            block = []
    return found


def code(cell: str) -> str:
    """The text in a cell's first pair of backticks."""
    match = re.search(r"`([^`]+)`", cell)
    assert match, f"no `…` in {cell!r}"
    return match.group(1)


def documented_endpoints(text: str | None = None) -> dict[str, dict]:
    """Each `## \\`/name\\`` section: {"parameters": [{name, type, default, range}], "outputs": [{name, …}]}."""
    parts = re.split(r"^## `(/\w+)`[ \t]*$", api_section(text), flags=re.M)
    endpoints = {}
    for name, body in zip(parts[1::2], parts[2::2]):
        entry = {"parameters": None, "outputs": None}
        for header, rows in tables(body):
            columns = [code(h) if "`" in h else h.lower() for h in header]
            kind = {"parameter": "parameters", "output": "outputs"}.get(columns[0])
            assert kind and entry[kind] is None, f"{name}: unexpected table {header}"
            entry[kind] = [dict(zip(["name", *columns[1:]], [code(row[0]), *row[1:]])) for row in rows]
        assert entry["parameters"] is not None and entry["outputs"], f"{name}: a parameter and an output table"
        endpoints[name] = entry
    return endpoints


def snippets(text: str | None = None) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", api_section(text), re.S | re.M)


def test_the_parser_reads_an_endpoint_section():
    text = """# Calling it from Python (`gradio_client`)
```python
print(1)
```
## `/toy`

Words.

| parameter | type | default | range |
|---|---|---|---|
| `n` | `int` | `3` | 1 … 16: how many |
| `kind` | `str` | `"a"` | `a`, `b` |

| output | what | default client | `download_files=False` |
|---|---|---|---|
| `points` | x \\| y | `list[dict]`: `image` (a local path) | `dict`: `path`, `url`, … |

## Next
"""
    (endpoint,) = documented_endpoints(text).items()
    assert endpoint[0] == "/toy"
    assert endpoint[1]["parameters"][0] == {"name": "n", "type": "`int`", "default": "`3`", "range": "1 … 16: how many"}
    assert endpoint[1]["outputs"][0]["what"] == "x | y"
    assert endpoint[1]["outputs"][0]["download_files=False"].startswith("`dict`")
    assert snippets(text) == ["print(1)\n"]


# ------------------------------------------------------------------------------------------------ the server
@pytest.fixture(scope="module")
def app_url(app_model_dir, tmp_path_factory):
    # Every step streamed, so that /sample's streaming is seen with a few steps.
    log = tmp_path_factory.mktemp("api-log") / "app.log"
    with serve_app(app_model_dir, "--frame-interval-s", "0", "--frame-budget", "1", log_path=log) as url:
        yield url


@pytest.fixture(scope="module")
def api(app_url) -> dict:
    from gradio_client import Client

    return Client(app_url, verbose=False).view_api(print_info=False, return_format="dict")


def test_the_test_model_has_the_default_models_settings(app_model_dir):
    """docs/api.md documents the default model's defaults and ranges; the tiny model served here shares them."""
    keys = ("num_train_timesteps", "timestep_spacing", "variance_type")
    config = json.loads((REPO / "models/ddpm-mnist/scheduler/scheduler_config.json").read_text())
    tiny = json.loads((app_model_dir / "scheduler/scheduler_config.json").read_text())
    assert {k: tiny[k] for k in keys} == {k: config[k] for k in keys}


def test_every_endpoint_is_documented_and_every_documented_endpoint_is_served(api):
    served, documented = set(api["named_endpoints"]), set(documented_endpoints())
    assert served - documented == set(), "endpoints with no section in docs/api.md (## `/name` with two tables)"
    assert documented - served == set(), "sections of docs/api.md for endpoints the app does not serve"
    assert api["unnamed_endpoints"] == {}


@pytest.mark.parametrize("endpoint", sorted(documented_endpoints()))
def test_view_api_parameters_are_the_readmes(api, endpoint):
    served = api["named_endpoints"][endpoint]["parameters"]
    documented = documented_endpoints()[endpoint]["parameters"]
    assert [p["parameter_name"] for p in served] == [p["name"] for p in documented]
    for p, doc in zip(served, documented):
        name, schema, python_type = p["parameter_name"], p["type"], p["python_type"]["type"]
        readme_type = code(doc["type"])
        assert readme_type in PYTHON_TYPES, (name, readme_type)
        if readme_type == "str":
            assert python_type == "str" or python_type.startswith("Literal["), (name, python_type)
        else:
            assert python_type == PYTHON_TYPES[readme_type], (name, python_type, readme_type)
        assert p["parameter_has_default"], f"{name} has no default; docs/api.md gives {doc['default']}"
        assert p["parameter_default"] == ast.literal_eval(code(doc["default"])), name
        if readme_type in ("int", "float"):
            match = re.match(r"(-?[\d.]+) … (-?[\d.]+)", doc["range"])
            assert match, f"{name}: the range must start with 'LOW … HIGH', got {doc['range']!r}"
            low, high = (ast.literal_eval(x) for x in match.groups())
            assert (schema.get("minimum"), schema.get("maximum")) == (low, high), name
            # what view_api() prints after the type: the range, in the words of the app's error messages
            words = "integer" if readme_type == "int" else "number"
            assert p["python_type"]["description"] == f"{words} in [{schema['minimum']}, {schema['maximum']}]"
        elif readme_type == "str" and "enum" in schema:
            assert re.findall(r"`([^`]+)`", doc["range"]) == schema["enum"], name


@pytest.mark.parametrize("endpoint", sorted(documented_endpoints()))
def test_view_api_outputs_are_named_as_in_the_readme(api, endpoint):
    served = [r["label"] for r in api["named_endpoints"][endpoint]["returns"]]
    assert served == [o["name"] for o in documented_endpoints()[endpoint]["outputs"]]


# ------------------------------------------------------------------------------------------------ outputs
def check_value(value, cell: str, where: str) -> None:
    """`value` is what `cell` (a client column of docs/api.md) says: its type, and for files a local path or a dict."""
    kind = code(cell)
    assert kind in ("str", "dict", "list[dict]"), f"{where}: unknown type {kind!r}"
    if kind == "list[dict]":
        assert isinstance(value, list) and value and all(isinstance(v, dict) for v in value), (where, value)
        files = [v["image"] for v in value]
    else:
        assert isinstance(value, {"str": str, "dict": dict}[kind]), (where, type(value), value)
        files = [value]
    for file in files:
        if "local path" in cell:
            assert isinstance(file, str) and os.path.isfile(file), (where, file)
        elif "`url`" in cell or "(a dict)" in cell:
            assert isinstance(file, dict) and {"path", "url"} <= set(file), (where, file)
            assert file["url"].startswith("http"), (where, file)


@pytest.mark.parametrize("download_files", [True, False], ids=["default", "download_files=False"])
@pytest.mark.parametrize("endpoint", sorted(documented_endpoints()))
def test_outputs_have_the_readmes_types_in_both_client_modes(app_url, endpoint, download_files):
    from gradio_client import Client

    client = Client(app_url, verbose=False, download_files=download_files)
    column = "default client" if download_files else "download_files=False"
    outputs = documented_endpoints()[endpoint]["outputs"]
    values = client.submit(**FAST_ARGS.get(endpoint, {}), api_name=endpoint).result(timeout=TIMEOUT_S)
    values = values if isinstance(values, tuple) else (values,)
    assert len(values) == len(outputs)
    for value, output in zip(values, outputs):
        check_value(value, output[column], f"{endpoint} {output['name']} ({column})")


def test_streamed_sample_updates_are_complete_with_empty_results_until_the_last(app_url):
    """What docs/api.md says of /sample's updates: all seven outputs each time; images [] and the rest None while it
    runs; no {'__type__': 'update'} placeholders."""
    from gradio_client import Client

    client = Client(app_url, verbose=False)
    job = client.submit(seed=1, num_images=2, num_inference_steps=6, api_name="/sample")
    updates = list(job)
    final = job.result(timeout=TIMEOUT_S)
    assert len(updates) >= 3 and updates[-1] == final
    for x_t, x0_hat, step, images, animation, grid, summary in updates[:-1]:
        assert os.path.isfile(x_t) and os.path.isfile(x0_hat) and step.startswith("step ")
        assert (images, animation, grid, summary) == ([], None, None, None)
    assert len(final[3]) == 2 and final[6]["num_inference_steps"] == 6


# ------------------------------------------------------------------------------------------------ snippets
def test_the_snippets_use_both_client_modes():
    found = snippets()
    assert found and all(README_URL in s for s in found), "every snippet connects to the page's URL"
    assert any("download_files=False" in s for s in found) and any("download_files" not in s for s in found)
    assert "ssl_verify=ssl.create_default_context()" in found[0], "the first example shows the faster client"


@pytest.mark.parametrize("index", range(len(snippets())))
def test_readme_snippet_runs_as_written(app_url, index):
    snippet = snippets()[index]
    result = subprocess.run(
        [sys.executable, "-c", snippet.replace(README_URL, app_url)],
        cwd=REPO,  # the page says: from the repository root (examples/my_digit.png)
        env=app_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert result.returncode == 0, f"snippet {index}:\n{snippet}\n{result.stderr[-3000:]}"
    assert "Traceback" not in result.stderr


def test_the_example_digit_is_what_the_readme_command_makes(tmp_path):
    command = re.search(r"^    (python -c .*examples/my_digit\.png.*)$", api_section(), re.M).group(1)
    made = tmp_path / "digit.png"
    code_text = command.split('"', 1)[1].rsplit('"', 1)[0].replace("examples/my_digit.png", str(made))
    subprocess.run([sys.executable, "-c", code_text], cwd=REPO, check=True, timeout=TIMEOUT_S)
    with Image.open(REPO / "examples/my_digit.png") as shipped, Image.open(made) as fresh:
        assert shipped.size == (28, 28) and shipped.mode == "L"
        assert np.array_equal(np.asarray(shipped), np.asarray(fresh))
