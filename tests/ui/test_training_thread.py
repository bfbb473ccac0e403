"""The live trainings' own thread (ui/training_thread.py): a streamed training runs every step on one thread with one
torch thread, while the rest of the app keeps torch's default; what the handler yields, raises and cleans up reaches
the page unchanged."""

from __future__ import annotations

import threading

import pytest
import torch

from ui.training_thread import TRAINING_TORCH_THREADS, on_click_threads, on_training_thread


def in_new_thread(function):
    box = {}
    worker = threading.Thread(target=lambda: box.setdefault("value", function()))
    worker.start()
    worker.join()
    return box["value"]


@pytest.fixture
def two_torch_threads():
    """The Space's setting (2 vCPUs) rather than the suite's OMP_NUM_THREADS=1, so "the default" differs from one."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield 2
    torch.set_num_threads(before)


def test_every_step_of_a_stream_runs_on_one_thread_with_one_torch_thread_and_the_rest_keep_the_default(
    two_torch_threads,
):
    default = in_new_thread(torch.get_num_threads)
    assert default == two_torch_threads != TRAINING_TORCH_THREADS
    seen = []

    @on_training_thread
    def training(steps):
        """docstring kept"""
        for step in range(steps):
            seen.append((threading.current_thread().name, torch.get_num_threads()))
            yield step

    # each next() from a different caller thread, as gradio's worker threads call a streaming handler
    stream = training(4)
    assert [in_new_thread(lambda: next(stream)) for _ in range(4)] == [0, 1, 2, 3]
    assert len({name for name, _ in seen}) == 1 and seen[0][0].startswith("live-training")
    assert {threads for _, threads in seen} == {TRAINING_TORCH_THREADS}
    # the page's other work (gradio's worker threads, new or old) keeps torch's default thread count
    assert in_new_thread(torch.get_num_threads) == default
    assert training.__doc__ == "docstring kept" and training.__name__ == "training"


def test_errors_reach_the_caller_and_a_stopped_stream_cleans_up_on_its_thread():
    cleaned = []

    @on_training_thread
    def training(fail_at):
        try:
            for step in range(10):
                if step == fail_at:
                    raise ValueError("train_steps must be in [100, 20000]")
                yield step
        finally:
            cleaned.append(threading.current_thread().name)

    with pytest.raises(ValueError, match=r"^train_steps must be in \[100, 20000\]$"):
        list(training(2))
    stream = training(None)
    assert next(stream) == 0
    stream.close()  # the user left the page: gradio stops asking
    assert len(cleaned) == 2 and all(name.startswith("live-training") for name in cleaned)


@pytest.mark.parametrize("endpoint", ["toy_train", "transition_train"])
def test_the_page_trains_every_update_on_the_training_thread(ctx, monkeypatch, two_torch_threads, endpoint):
    """/toy_train and /transition_train, each next() asked from a different thread as gradio does: every optimizer
    update runs on the one training thread with one torch thread."""
    from pipelines import toy2d
    from ui.tabs.toy import ToyTab
    from ui.tabs.transition import TransitionTab

    seen = []
    train_toy = toy2d.train_toy

    def recorded(*args, **kwargs):
        for progress in train_toy(*args, **kwargs):
            seen.append((threading.current_thread().name, torch.get_num_threads()))
            yield progress

    monkeypatch.setattr(toy2d, "train_toy", recorded)
    if endpoint == "toy_train":
        stream = ToyTab(ctx).toy_train("two_moons", 8, 100, 0)
    else:
        stream = TransitionTab(ctx).transition_train("two_moons", 4, 100, 8, 0)
    outputs = []
    while (output := in_new_thread(lambda: next(stream, None))) is not None:
        outputs.append(output)
    assert outputs and len(seen) >= 100
    assert {name.rsplit("_", 1)[0] for name, _ in seen} == {"live-training"}
    assert {threads for _, threads in seen} == {TRAINING_TORCH_THREADS}


def test_the_2d_clicks_run_on_one_torch_thread_each_and_errors_reach_the_caller(two_torch_threads):
    default = in_new_thread(torch.get_num_threads)

    @on_click_threads
    def click(fail: bool):
        """docstring kept"""
        if fail:
            raise ValueError("fail must be False")
        return threading.current_thread().name, torch.get_num_threads()

    name, threads = in_new_thread(lambda: click(False))
    assert name.startswith("toy-click") and threads == TRAINING_TORCH_THREADS
    with pytest.raises(ValueError, match="fail must be False"):
        click(True)
    assert in_new_thread(torch.get_num_threads) == default
    assert click.__doc__ == "docstring kept" and click.__name__ == "click"
