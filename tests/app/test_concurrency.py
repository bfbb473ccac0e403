"""Every endpoint under concurrent users, as a public Space meets them: N gradio_client sessions click at the same
moment — mixed endpoints, each with its own seed, while one live training streams — and each gets exactly the
summary and the pictures the same call gives alone, with no error.

Figures are drawn with TeX labels by matplotlib, whose mathtext parser is shared and not thread-safe: without the
render lock (`pipelines.pictures.render.RENDER_LOCK`) concurrent 2-D clicks fail with pyparsing errors."""

from __future__ import annotations

import numpy as np
from PIL import Image

from helpers.app_server import serve_app
from helpers.concurrent_clicks import CALLS, TRAIN

TIMEOUT_S = 600  # per request; generous for a busy CI box, never reached when things work
TIMING_KEYS = ("seconds", "ms", "took", "cost", "step_ms", "model_ms", "elapsed")


def without_timings(value):
    """A summary with its wall-clock fields dropped (they differ between runs); everything else kept."""
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if not any(key in k for key in TIMING_KEYS)}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


def pictures(value) -> list[np.ndarray]:
    """Every picture an output holds (a file path, or a gallery's items), as arrays, in order."""
    if isinstance(value, str) and value.lower().endswith((".png", ".webp", ".jpg", ".jpeg", ".gif")):
        with Image.open(value) as image:
            return [np.asarray(image.convert("RGB")).copy()]
    if isinstance(value, dict) and "image" in value:
        return pictures(value["image"])
    if isinstance(value, (list, tuple)):
        return [array for item in value for array in pictures(item)]
    return []


def comparable(result) -> tuple[list, list[np.ndarray]]:
    """(the summaries and texts of a result, without timings; its pictures). A one-output endpoint's result is that
    output itself, not a tuple."""
    result = result if isinstance(result, tuple) else (result,)
    data = [without_timings(v) for v in result if isinstance(v, dict) and "image" not in v]
    return data, pictures(list(result))


def test_every_endpoint_at_once_gives_what_it_gives_alone(app_model_dir, tmp_path):
    from gradio_client import Client

    with serve_app(app_model_dir, log_path=tmp_path / "app.log") as url:
        trainer = Client(url, verbose=False)
        training = trainer.submit(**TRAIN, api_name="/toy_train")
        clients = [Client(url, verbose=False) for _ in CALLS]
        jobs = [client.submit(**args, api_name=name) for client, (name, args) in zip(clients, CALLS)]
        together = [job.result(timeout=TIMEOUT_S) for job in jobs]
        trained = training.result(timeout=TIMEOUT_S)
        alone = [Client(url, verbose=False).predict(**args, api_name=name) for name, args in CALLS]
        trained_alone = Client(url, verbose=False).predict(**TRAIN, api_name="/toy_train")

    assert len(CALLS) >= 8
    for (name, args), crowded, single in zip(CALLS, together, alone):
        (data_a, pictures_a), (data_b, pictures_b) = comparable(crowded), comparable(single)
        assert data_a == data_b, f"{name} {args}: the summary differs under load"
        assert pictures_a and len(pictures_a) == len(pictures_b), f"{name} {args}: pictures missing"
        for a, b in zip(pictures_a, pictures_b):
            assert a.shape == b.shape and np.array_equal(a, b), f"{name} {args}: a picture differs under load"
    assert trained[-1]["done"] and trained_alone[-1]["done"]
    assert trained[-1]["losses"] == trained_alone[-1]["losses"]  # the live training was not disturbed either
    # distinct inputs gave distinct answers: the comparison above is not trivially true
    assert comparable(together[0])[0] != comparable(together[1])[0]
