"""The 2-D world through gradio_client against a live app: a model trained in one session drives that session's
views only; the shipped weights answer on first use."""

import pytest

from helpers.app_server import serve_app


@pytest.fixture(scope="module")
def app_url(app_model_dir, tmp_path_factory):
    with serve_app(app_model_dir, log_path=tmp_path_factory.mktemp("toy-log") / "app.log") as url:
        yield url


def test_training_in_one_session_leaves_the_other_on_the_shipped_model(app_url):
    from gradio_client import Client

    mine, theirs = Client(app_url, verbose=False), Client(app_url, verbose=False)
    before = mine.predict("spiral", 16, 60, 50, 0.0, 0.0, 0, api_name="/toy_step")[3]
    assert before["model"]["source"] == "shipped" and before["stride_table"][0]["stride"] == 1
    updates = list(mine.submit("spiral", 16, 200, 3, api_name="/toy_train"))
    final = updates[-1][2]
    assert final["done"] and len(final["losses"]) == 200 and all(not u[2]["done"] for u in updates[:-1])
    steps = [u[2]["step"] for u in updates]
    assert steps[0] == 0 and steps == sorted(steps) and steps[-1] == 200  # a picture at once, then in order
    assert f"update {steps[1]:,} of 200" in updates[1][1] if len(updates) > 2 else "200 updates" in updates[-1][1]
    after = mine.predict("spiral", 16, 60, 50, 0.0, 0.0, 0, api_name="/toy_step")[3]
    assert after["model"]["source"] == "trained in this session" and after["model"]["train_steps"] == 200
    assert after["model_mean"] != before["model_mean"]
    other = theirs.predict("spiral", 16, 60, 50, 0.0, 0.0, 0, api_name="/toy_step")[3]
    assert other["model"]["source"] == "shipped" and other["model_mean"] == before["model_mean"]
    sampled = mine.predict("spiral", 16, 50, 20, 0, api_name="/toy_sample")[2]
    assert sampled["exact_copy_fraction"] == 1.0 and sampled["model"]["source"] == "trained in this session"
