"""The live trainings' own thread: every step of a streamed training runs on one long-lived thread, with one torch
thread.

Gradio runs each `next()` of a streaming handler on whichever of its worker threads is free, and with torch's
OpenMP backend each thread that runs torch ops has its own count and team of OpenMP threads. The 2-D p_θ's
training (batches of 256 through a 128-wide MLP, ~3 ms an update) then runs far slower than on the main thread:
bench/bench_training_thread.py --threads 2, 3,000 updates: main thread 8.7 s, each chunk on another thread 25.5 s,
here (one thread, one torch thread) 10.5 s. Through the server (bench/bench_latency.py, p50): /toy_train 28.4 s →
13.4 s.
The live trainings (/toy_train, /transition_train) already run one at a time (their shared queue, concurrency_id
"toy_train"), so one thread serves them all.

The 2-D tab's sampling clicks (/toy_sample, the training's first picture) are many small torch ops too (100 steps
of a few hundred 2-D points), and with torch's two OpenMP threads on a busy 2-core machine each op can wait for a
descheduled partner thread. They run on CLICK_THREADS threads of one torch thread each (`on_click_threads`): two
such clicks at once still use both cores. Measured in one process (paired, alternating; noisy): /toy_sample 1.1–1.3×
faster in two runs under heavy load, 5.9× in a third, 1.0× with the load lower. /toy_step keeps torch's default: its
big products over 4,000 components gain from two threads (one thread was 0.3–0.6× as fast in two of three paired
runs). The page's other clicks keep torch's default thread count.
"""

from __future__ import annotations

import functools
import threading
from concurrent.futures import ThreadPoolExecutor

import torch

TRAINING_TORCH_THREADS = 1  # a 128-wide MLP on batches of 256: one thread is as fast as two, and never contends
CLICK_THREADS = 2  # the 2-D tab's clicks: this many at once, each on one torch thread
_SETUP_LOCK = threading.Lock()  # one thread at a time changes torch's process-wide default (below)


def _one_torch_thread() -> None:
    """Make this thread run torch ops on TRAINING_TORCH_THREADS threads, and only this thread.

    torch.set_num_threads sets the calling thread's OpenMP thread count and a process-wide default that every
    thread adopts on its first parallel op. So: adopt the default here first (get_num_threads), set this thread's
    count, then put the default back from a throwaway thread, so that gradio's worker threads (the UNet's sampling)
    keep all the cores."""
    with _SETUP_LOCK:
        default = torch.get_num_threads()
        torch.set_num_threads(TRAINING_TORCH_THREADS)
        restore = threading.Thread(target=torch.set_num_threads, args=(default,))
        restore.start()
        restore.join()


TRAINING_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-training", initializer=_one_torch_thread)
CLICK_POOL = ThreadPoolExecutor(
    max_workers=CLICK_THREADS, thread_name_prefix="toy-click", initializer=_one_torch_thread
)
_DONE = object()


def on_training_thread(handler):
    """Decorate a generator handler so that all its work (each `next()`, and its clean-up) runs on TRAINING_THREAD.
    What it yields and raises reaches the caller unchanged; the signature and docstring stay the handler's."""

    @functools.wraps(handler)
    def stream(*args, **kwargs):
        steps = handler(*args, **kwargs)
        try:
            while True:
                item = TRAINING_THREAD.submit(next, steps, _DONE).result()
                if item is _DONE:
                    return
                yield item
        finally:
            TRAINING_THREAD.submit(steps.close).result()  # a stopped stream's `finally` blocks run there too

    return stream


def on_click_threads(handler):
    """Decorate a plain handler so that it runs on CLICK_POOL (one torch thread each); what it returns and raises
    reaches the caller unchanged; the signature and docstring stay the handler's."""

    @functools.wraps(handler)
    def call(*args, **kwargs):
        return CLICK_POOL.submit(handler, *args, **kwargs).result()

    return call
