"""The 2-D world's live training, as the page runs it: is the default run (3,000 steps) done in ≤ 20 s on 2 cores?

Times the tab's own handler (`ui.tab_toy.ToyTab.toy_train`: training, plus a loss curve and a 300-point sample
scatter streamed every ~0.5 s) and, as the baseline in the same process, the bare training loop
(`pipelines.toy2d.train_toy`, nothing streamed). The ratio is the price of watching it live.

    python bench/bench_toy_train.py                   # full: the default run, N = 256, two_moons
    python bench/bench_toy_train.py --quick --output-dir /tmp/bench
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import apply_threads, base_parser, format_table, goal, goal_lines, header, new_result, ratio, write_result  # noqa: E402

from pipelines import toy2d  # noqa: E402

BUDGET_S = 20.0


def main() -> None:
    parser = base_parser("bench_toy_train.py", __doc__.splitlines()[0], model=False)
    args = parser.parse_args()
    threads = apply_threads(args)
    from ui.tab_toy import ToyTab

    steps = 100 if args.quick else toy2d.DEFAULT_TRAIN_STEPS
    dataset, num_points = toy2d.DEFAULT_DATASET, toy2d.DEFAULT_NUM_POINTS
    result = new_result(
        "toy_train",
        __doc__.splitlines()[0],
        args,
        {"dataset": dataset, "num_points": num_points, "train_steps": steps, "seed": 0},
    )
    start = time.perf_counter()
    for _ in toy2d.train_toy(toy2d.new_toy_model(0), toy2d.load_points(dataset, num_points), steps, 0):
        pass
    bare = time.perf_counter() - start
    tab = ToyTab(None)
    start = time.perf_counter()
    updates = 0
    for update in tab.toy_train(dataset, num_points, steps, 0, {}, progress=lambda *a, **k: None):
        updates += 1
    live = time.perf_counter() - start
    assert update[2]["done"] and len(update[2]["losses"]) == steps
    result["results"] = [
        {"name": "bare training loop (train_toy)", "seconds": bare, "updates": 0},
        {"name": "the page's live training (toy_train)", "seconds": live, "updates": updates},
    ]
    result["ratios"] = {"live_over_bare": ratio(live, bare)}
    result["goals"] = [goal(f"default live training seconds ({steps} steps, {threads} threads)", live, BUDGET_S)]
    print(header(result))
    print(
        format_table(
            ["run", "seconds", "streamed updates"], [[r["name"], r["seconds"], r["updates"]] for r in result["results"]]
        )
    )
    print(f"live / bare = {result['ratios']['live_over_bare']:.2f}")
    print("\n".join(goal_lines(result["goals"])))
    print(write_result(result, args, "toy_train"))


if __name__ == "__main__":
    main()
