"""Every click as a user meets it: the latency of the default click of every named endpoint, through gradio_client
against `python app.py`, beside the same handler called in-process (the difference is the server's overhead).

For each endpoint (every named endpoint of the API; /toy_step also at N = 4,000): one warm-up, then --repeats
timed clicks (p50 and p95), alternating server and in-process. A streamed endpoint (/sample, /toy_train) is timed
to its last update, and its first update is timed too (how long until the page shows something). The live training
is the old `bench_toy_train.py`: the in-process row is the handler with nothing streamed to a browser.

    python bench/bench_latency.py                       # the shipped model, 5 repeats (the training: 3)
    python bench/bench_latency.py --only /toy_step,/toy_sample,/toy_train --name latency-2d   # the 2-D world only
    python bench/bench_latency.py --quick --output-dir /tmp/bench    # a tiny model, 1 repeat: a smoke test
"""

from __future__ import annotations

import copy
import inspect
import os
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

# As app.py does, before torch loads: OpenMP threads that spin while waiting starve the server's threads on 2 cores,
# so the in-process rows would time spinning, not the handler.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # helpers.app_server: how the app is started

from common import (  # noqa: E402
    apply_threads,
    base_parser,
    check_model,
    format_table,
    goal,
    goal_lines,
    header,
    new_result,
    positive,
    resolve_model,
    write_result,
)

# (row name, endpoint, parameters changed from the defaults); every other named endpoint gets a default row
CLICKS = [
    ("/toy_step, N = 256", "/toy_step", {}),
    ("/toy_step, N = 4000", "/toy_step", {"num_points": 4000}),
    ("/transition_pair, mnist N = 2250", "/transition_pair", {"dataset": "mnist", "num_points": 2250}),
    ("/local_posterior, P = 7", "/local_posterior", {"patch_size": 7, "calibrated": False}),
]
QUICK_SETTINGS = {  # --quick: tiny settings, so the smoke run takes seconds per click
    "/sample": {"num_images": 2, "num_inference_steps": 5},
    "/exact_sample": {"num_images": 2, "num_inference_steps": 5},
    "/toy_step": {"num_points": 16},
    "/toy_sample": {"num_points": 16, "num_samples": 8, "num_inference_steps": 5},
    "/toy_train": {"num_points": 16, "train_steps": 100},
    "/variance": {"num_inference_steps": 5},
    "/transition_train": {"num_points": 4, "train_steps": 100, "num_samples": 8},
}
# p50 through the server, s (issue 35); every other default click of a tab: OTHER_GOAL_S, except the live trainings
OTHER_GOAL_S = 1.0
GOALS = {
    "/toy_step, N = 256": OTHER_GOAL_S,
    "/toy_step, N = 4000": 0.5,
    "/local_posterior, P = 7": OTHER_GOAL_S,  # a patch-size move on a seed already drawn
    "/toy_sample": 0.8,
    "/toy_train": 12.0,
    "/transition_train": 12.0,
    "/sample": 0.6,
}
# goals on the first (cold) click through the server: a view kept after its first click
COLD_GOALS = {"/transition_pair, mnist N = 2250": 3.0, "/local_posterior, P = 7": 2.0}
SLOW = {"/toy_train", "/transition_train"}  # fewer repeats: a run is ~10 s or more


def percentile(times: list[float], q: float) -> float:
    ordered = sorted(times)
    k = (len(ordered) - 1) * q
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def stats(times: list[float]) -> dict:
    return {"n": len(times), "p50_s": statistics.median(times), "p95_s": percentile(times, 0.95), "times_s": times}


def endpoints(info: dict) -> dict[str, list[tuple[str, object]]]:
    """api name → [(parameter, default)] from the app's own API description."""
    return {
        name: [(p["parameter_name"], p.get("parameter_default")) for p in endpoint["parameters"]]
        for name, endpoint in info["named_endpoints"].items()
    }


def in_process_caller(demo, api_name: str, values: list):
    """The handler of `api_name` called directly with the API's values (State inputs: their initial value)."""
    fn = next(f for f in demo.fns.values() if f"/{f.api_name}" == api_name)
    quiet = {"progress": lambda *a, **k: None} if "progress" in inspect.signature(fn.fn).parameters else {}

    def call():
        given = iter(values)
        args = [copy.deepcopy(c.value) if type(c).__name__ == "State" else next(given) for c in fn.inputs]
        start = time.perf_counter()
        out = fn.fn(*args, **quiet)
        first = None
        if inspect.isgenerator(out):
            for _ in out:
                first = first or time.perf_counter() - start
        return time.perf_counter() - start, first

    return call


def server_caller(client, api_name: str, kwargs: dict):
    def call():
        start = time.perf_counter()
        first = None
        job = client.submit(api_name=api_name, **kwargs)
        for _ in job:
            first = first or time.perf_counter() - start
        job.result()
        return time.perf_counter() - start, first

    return call


def parse_args():
    parser = base_parser("bench_latency.py", __doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed clicks per endpoint (after one warm-up)")
    parser.add_argument("--only", default="", help="comma-separated endpoints to time (default: every one)")
    parser.add_argument("--name", default="latency", help="the result file's name (NAME.json)")
    args = parser.parse_args()
    positive(parser, "--repeats", args.repeats)
    check_model(parser, args)
    return parser, args


def chosen_clicks(parser, args, api: dict) -> list:
    """CLICKS, then every other endpoint with its defaults; only those of --only (an unknown name is a usage error)."""
    clicks = CLICKS + [(name, name, {}) for name in api if name not in {c[1] for c in CLICKS}]
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    unknown = only - set(api)
    if unknown:
        parser.error(f"--only {args.only}: not endpoints of this app: {', '.join(sorted(unknown))}")
    return [click for click in clicks if not only or click[1] in only]


def time_click(args, client, demo, api: dict, click, repeats: int) -> dict:
    """One click through the server and in process, alternating after a warm-up of each; p50/p95 of both."""
    row, api_name, changes = click
    changes = {**(QUICK_SETTINGS.get(api_name, {}) if args.quick else {}), **changes}
    kwargs = {name: changes.get(name, default) for name, default in api[api_name]}
    callers = {
        "server": server_caller(client, api_name, kwargs),
        "in_process": in_process_caller(demo, api_name, list(kwargs.values())),
    }
    n = max(1, min(repeats, 3)) if api_name in SLOW else repeats
    times: dict[str, list] = {"server": [], "in_process": []}
    cold = {name: call()[0] for name, call in callers.items()}  # warm-up: caches, weights, the exact posterior
    for r in range(n):
        for name in list(callers)[r % 2 :] + list(callers)[: r % 2]:
            times[name].append(callers[name]())
    entry = {"name": row, "endpoint": api_name, "parameters": kwargs, "first_click_s": cold}
    for name, pairs in times.items():
        entry[name] = stats([total for total, _ in pairs])
        firsts = [first for _, first in pairs if first is not None]
        if firsts and api_name in {"/sample", "/toy_train"}:
            entry[name]["first_update_p50_s"] = statistics.median(firsts)
    entry["server_overhead_s"] = entry["server"]["p50_s"] - entry["in_process"]["p50_s"]
    return entry


def report(args, result: dict) -> None:
    """The goals and ratios into `result`; the table on stdout and the JSON under bench/results."""
    for entry in result["results"]:
        target = GOALS.get(entry["name"])
        if target is None and entry["name"] == entry["endpoint"]:  # a default click
            target = OTHER_GOAL_S
        if target is not None:
            result["goals"].append(goal(f"{entry['name']} p50 through the server, s", entry["server"]["p50_s"], target))
        if entry["name"] in COLD_GOALS:
            first = entry["first_click_s"]["server"]
            result["goals"].append(
                goal(f"{entry['name']} first click through the server, s", first, COLD_GOALS[entry["name"]])
            )
    result["ratios"] = {
        e["name"]: e["server"]["p50_s"] / e["in_process"]["p50_s"]
        for e in result["results"]
        if e["in_process"]["p50_s"]
    }
    print(header(result))
    rows = [
        [
            e["name"],
            e["server"]["p50_s"],
            e["server"]["p95_s"],
            e["in_process"]["p50_s"],
            e["server_overhead_s"],
            e["server"].get("first_update_p50_s", ""),
        ]
        for e in result["results"]
    ]
    columns = ["click", "server p50 s", "server p95 s", "in-process p50 s", "overhead s", "first update s"]
    print(format_table(columns, rows))
    print("\n".join(goal_lines(result["goals"])))
    print(write_result(result, args, args.name))


def main() -> None:
    parser, args = parse_args()
    threads = apply_threads(args)
    repeats = 1 if args.quick else args.repeats
    from gradio_client import Client

    import app
    from helpers.app_server import serve_app
    from ui.context import AppContext
    from ui.files import RunStore

    with tempfile.TemporaryDirectory() as scratch:
        model = resolve_model(args, Path(scratch))
        pipe = app.load_model(model)
        ctx = AppContext(pipe=pipe, model_id=model, store=RunStore(max_bytes=1 << 28, max_served_bytes=1 << 28))
        demo = app.build_demo(ctx)
        api = endpoints(demo.get_api_info())
        clicks = chosen_clicks(parser, args, api)
        result = new_result(
            "latency",
            __doc__.splitlines()[0],
            args,
            {"model": model, "repeats": repeats, "clicks": {row: changes for row, _, changes in clicks}},
        )
        env = {"OMP_NUM_THREADS": str(threads)}
        with serve_app(model, log_path=Path(scratch) / "app.log", env=env) as url:
            # The client docs/api.md recommends: one SSL context for every file it downloads (the default builds a
            # new one per file, ~60 ms each, and a /sample click returns ~20 files).
            client = Client(url, verbose=False, ssl_verify=ssl.create_default_context())
            result["settings"]["client"] = "gradio_client.Client(url, ssl_verify=ssl.create_default_context())"
            for click in clicks:
                entry = time_click(args, client, demo, api, click, repeats)
                result["results"].append(entry)
                print(f"{entry['name']}: server p50 {entry['server']['p50_s']:.3f} s", flush=True)
    report(args, result)


if __name__ == "__main__":
    main()
