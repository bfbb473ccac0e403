"""The live 2-D training's thread: the same updates of the 2-D p_θ, run three ways in one process.

- `main`: the loop on the main thread, torch's default thread count (the baseline);
- `worker_threads`: what gradio does with a streamed handler: every chunk of updates (one chunk per streamed
  picture) on a different worker thread, torch's default thread count;
- `training_thread`: `ui.training_thread.on_training_thread`, every update on one thread with one torch thread
  (what /toy_train and /transition_train do).

Each run trains a fresh model for --updates updates on --num-points two_moons points; runs alternate (rotated
order each round) and the medians are compared as ratios to `main`. Goal: training_thread / main ≤ 1.25 (the
thread costs the page little), and it beats worker_threads.

    python bench/bench_training_thread.py --threads 2           # the Space's 2 cores
    python bench/bench_training_thread.py --quick --output-dir /tmp/bench

Writes OUTPUT_DIR/training_thread.json.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import (  # noqa: E402
    apply_threads,
    base_parser,
    format_table,
    goal,
    goal_lines,
    header,
    interleave,
    new_result,
    positive,
    ratio,
    summarize,
    write_result,
)

GOAL = 1.25


def parse_args(argv=None):
    parser = base_parser("bench_training_thread.py", __doc__.split("\n\n")[0], model=False)
    parser.add_argument("--updates", type=int, default=3000, help="optimizer updates per run (/toy_train's default)")
    parser.add_argument("--chunk", type=int, default=150, help="updates per worker-thread chunk (~one picture)")
    parser.add_argument("--num-points", type=int, default=256, help="training points (two_moons)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each way (alternating)")
    args = parser.parse_args(argv)
    for name in ("updates", "chunk", "num_points", "rounds"):
        positive(parser, f"--{name.replace('_', '-')}", getattr(args, name))
    if args.quick:
        args.updates, args.chunk, args.rounds = 200, 20, 1
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    threads = apply_threads(args)
    from pipelines import toy2d
    from ui.training_thread import TRAINING_TORCH_THREADS, on_training_thread

    scheduler = toy2d.toy_scheduler()
    points = toy2d.load_points("two_moons", args.num_points)

    def training():
        model = toy2d.new_toy_model(0)
        for progress in toy2d.train_toy(model, points, args.updates, 0, scheduler):
            if progress.update % args.chunk == 0:
                yield progress.loss
        yield progress.loss

    def on_worker_threads(stream):
        """Each next() on a new thread, as gradio's free worker threads take a streamed handler's turns."""
        while True:
            box = {}
            worker = threading.Thread(target=lambda: box.setdefault("item", next(stream, None)))
            worker.start()
            worker.join()
            if box["item"] is None:
                return
            yield box["item"]

    ways = {
        "main": lambda: list(training()),
        "worker_threads": lambda: list(on_worker_threads(training())),
        "training_thread": lambda: list(on_training_thread(training)()),
    }
    losses = {name: way() for name, way in ways.items()}  # warm-up (first calls allocate, spawn the thread)
    times = interleave(ways, args.rounds)
    result = new_result(
        "training_thread",
        __doc__.splitlines()[0],
        args,
        {
            "updates": args.updates,
            "chunk": args.chunk,
            "num_points": args.num_points,
            "rounds": args.rounds,
            "torch_threads_default": threads,
            "torch_threads_training_thread": TRAINING_TORCH_THREADS,
        },
    )
    summary = {name: summarize(values) for name, values in times.items()}
    result["results"].append(
        {
            "seconds": summary,
            "final_loss": {name: values[-1] for name, values in losses.items()},
        }
    )
    base = summary["main"]["median_s"]
    result["ratios"] = {
        f"{name} / main": ratio(summary[name]["median_s"], base) for name in ("worker_threads", "training_thread")
    }
    result["goals"] = [
        goal("training_thread / main (median s)", result["ratios"]["training_thread / main"], GOAL),
        goal(
            "training_thread / worker_threads (median s)",
            ratio(summary["training_thread"]["median_s"], summary["worker_threads"]["median_s"]),
            1.0,
        ),
    ]
    print(header(result))
    rows = [[name, s["median_s"], s["min_s"], s["max_s"], ratio(s["median_s"], base)] for name, s in summary.items()]
    print(format_table(["way", "median s", "min s", "max s", "÷ main"], rows))
    print("\n".join(goal_lines(result["goals"])))
    print(write_result(result, args, "training_thread"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
