"""The local posterior's cost per call (Kamb & Ganguli's LS and ELS machines) against the UNet's step, in one process.

Per call of predict_x0, batch 1, over the model's training images (the 4,500 MNIST digits for the default model):
LS in float64 and float32 at P = 1, 5, 15 (t = 20, where most weights underflow, and t = 500) and along a 40-step
chain with the calibrated patch table; ELS in float32 on a seeded random subset of the training images (at the
table's P of t = 500 and t = 100); the exact posterior; one 40-step local sample; and what the page's click does
(a 40-step local sample plus the local x̂_0 at each of the UNet's 40 inputs: 80 calls). The UNet's step (batch 1) is
timed in the same process, interleaved, as the baseline of the ratios.

    python bench/bench_local.py --threads 2                 # full (minutes: ELS dominates)
    python bench/bench_local.py --quick --output-dir /tmp/bench

Writes OUTPUT_DIR/local_posterior.json. Goal: the click's 80 calls ≤ 1.2 s.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    apply_threads,
    base_parser,
    check_model,
    format_table,
    goal,
    goal_lines,
    header,
    interleave,
    load_pipeline,
    new_result,
    positive,
    ratio,
    resolve_model,
    summarize,
    write_result,
)

CLICK_GOAL_S = 1.2
PATCHES = (1, 5, 15)
STEPS = 40


def parse_args(argv=None):
    parser = base_parser("bench_local.py", __doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per LS / exact / UNet case (median)")
    parser.add_argument("--els-repeats", type=int, default=2, help="timed ELS calls per case")
    parser.add_argument("--els-subset", type=int, default=300, help="training images ELS holds (a seeded subset)")
    args = parser.parse_args(argv)
    positive(parser, "repeats", args.repeats)
    positive(parser, "els_repeats", args.els_repeats)
    positive(parser, "els_subset", args.els_subset, 2)
    check_model(parser, args)
    return args


def setup(args, scratch: Path):
    """(pipe, training images, patch table, the table's source) for the model (--quick: a tiny pipeline, 64
    digits and a table of P = 3)."""
    import torch

    from pipelines.data.record import read_record, resolve_model_data
    from pipelines.data.sources import load_mnist
    from pipelines.exact.calibration import load_patch_table

    model = resolve_model(args, scratch)
    pipe = load_pipeline(model)
    T = int(pipe.scheduler.config.num_train_timesteps)
    if args.quick and args.model is None:
        return pipe, load_mnist("train")[0][:64], [3] * T, "quick: P = 3 for every t"
    shape = tuple(pipe.image_shape)
    data = resolve_model_data(model, shape).train if read_record(model) else load_mnist("train")[0]
    table = load_patch_table(model, T)
    if table is None:
        raise SystemExit(
            f"error: --model {model}: no local_patch_sizes.json (run python -m pipelines.exact.calibration)"
        )
    return pipe, data.to(torch.float32), table, f"{model}/local_patch_sizes.json"


def noisy(pipe, data, t: int, seed: int = 0):
    import torch

    g = torch.Generator().manual_seed(seed + t)
    noise = torch.randn((1, *data.shape[1:]), generator=g)
    return pipe.scheduler.add_noise(data[:1], noise, torch.tensor([t]))


def per_call(pipe, data, table, args) -> tuple[list[dict], dict[str, float]]:
    """Interleaved medians (s) of the UNet's step and of one predict_x0 per LS / exact case."""
    import torch

    from pipelines import DatasetPosterior, LocalPosterior

    fns, rows = {}, {}
    x500 = noisy(pipe, data, 500)
    unet_t = torch.tensor([500])
    fns["unet step"] = lambda: pipe.unet(x500.to(pipe.unet.dtype), unet_t)
    for dtype in (torch.float64, torch.float32):
        name = str(dtype).removeprefix("torch.")
        for P in PATCHES:
            local = LocalPosterior(data, P, pipe.scheduler, dtype=dtype)
            for t in (20, 500):
                x = noisy(pipe, data, t)
                fns[f"LS {name} P={P} t={t}"] = lambda local=local, x=x, t=t: local.predict_x0(x, t)
                rows[f"LS {name} P={P} t={t}"] = {"machine": "LS", "dtype": name, "P": P, "t": t}
        exact = DatasetPosterior(data, pipe.scheduler, dtype=dtype)
        fns[f"exact {name} t=500"] = lambda exact=exact: exact.predict_x0(x500, 500)
        rows[f"exact {name} t=500"] = {"machine": "exact", "dtype": name, "P": None, "t": 500}
    with torch.inference_mode():
        times = interleave(fns, args.repeats, warmup=1)
    unet = summarize(times.pop("unet step"))
    results = [{"case": "unet step", "machine": "UNet", "N": None, **unet}]
    results += [{"case": k, **rows[k], "N": len(data), **summarize(v)} for k, v in times.items()]
    return results, {"unet_step_s": unet["median_s"]}


def along_chain(pipe, data, table, args) -> list[dict]:
    """LS float32 with the table along a 40-step chain (mean s per call), ELS float32 on a subset, the 40-step
    local sample, and the click (the sample plus 40 x̂_0 calls)."""
    import torch

    from pipelines import LocalPosterior

    local = LocalPosterior(data, table, pipe.scheduler, dtype=torch.float32)
    plan = pipe.scheduler.timestep_plan(STEPS).tolist()
    inputs = [noisy(pipe, data, t) for t in plan]

    def chain():
        for t, x in zip(plan, inputs):
            local.predict_x0(x, t)

    def sample():
        return local.sample(1, torch.Generator().manual_seed(0), STEPS)

    with torch.inference_mode():
        chain()  # warm-up: the candidates-last copy of the data, the allocator
        times = interleave({"chain": chain, "sample": sample}, max(1, args.repeats // 2))
    chain_s = summarize(times["chain"])
    sample_s = summarize(times["sample"])
    click = [a + b for a, b in zip(times["chain"], times["sample"])]
    results = [
        {
            "case": "LS float32 table, per call along 40 steps",
            "machine": "LS",
            "dtype": "float32",
            "P": "table",
            "N": len(data),
            **{k: v / STEPS if k.endswith("_s") else v for k, v in chain_s.items() if k != "times_s"},
        },
        {
            "case": "local sample, 40 steps (float32, table)",
            "machine": "LS",
            "dtype": "float32",
            "P": "table",
            "N": len(data),
            **sample_s,
        },
        {
            "case": "click: 40-step local sample + 40 x̂0 calls",
            "machine": "LS",
            "dtype": "float32",
            "P": "table",
            "N": len(data),
            **summarize(click),
        },
    ]
    return results + els_calls(pipe, data, table, args)


def els_calls(pipe, data, table, args) -> list[dict]:
    import torch

    from pipelines import LocalPosterior
    from pipelines.exact.denoiser_record import els_subset

    subset = data[torch.from_numpy(els_subset(len(data), args.els_subset, 0))]
    els = LocalPosterior(subset, table, pipe.scheduler, equivariant=True, dtype=torch.float32)
    rows = []
    for t in (500, 100):
        x = noisy(pipe, data, t)
        times = []
        with torch.inference_mode():
            for _ in range(args.els_repeats):
                start = time.perf_counter()
                els.predict_x0(x, t)
                times.append(time.perf_counter() - start)
        rows.append(
            {
                "case": f"ELS float32 P={table[t]} t={t}",
                "machine": "ELS",
                "dtype": "float32",
                "P": table[t],
                "t": t,
                "N": len(subset),
                **summarize(times),
            }
        )
    return rows


def main(argv=None) -> int:
    args = parse_args(argv)
    threads = apply_threads(args)
    settings = {
        "repeats": args.repeats,
        "els_repeats": args.els_repeats,
        "els_subset": args.els_subset,
        "batch": 1,
        "steps": STEPS,
        "threads": threads,
    }
    result = new_result(
        "local_posterior",
        "seconds per predict_x0 call of the local posterior (LS, ELS) and the "
        "exact posterior, batch 1, against the UNet's step in the same process",
        args,
        settings,
    )
    with tempfile.TemporaryDirectory() as scratch:
        pipe, data, table, source = setup(args, Path(scratch))
        result["settings"].update({"N": len(data), "patch_table": source})
        results, base = per_call(pipe, data, table, args)
        results += along_chain(pipe, data, table, args)
    unet = base["unet_step_s"]
    for row in results:
        row["ratio_to_unet_step"] = ratio(row["median_s"], unet)
    result["results"] = results
    result["ratios"] = {row["case"] + " / unet step": row["ratio_to_unet_step"] for row in results[1:]}
    click = next(r for r in results if r["case"].startswith("click"))
    result["goals"] = [goal("click: 80 local calls (s)", click["median_s"], CLICK_GOAL_S)]
    path = write_result(result, args, "local_posterior")
    print(header(result))
    print(
        format_table(
            ["case", "N", "median s", "× UNet step"],
            [[r["case"], r["N"], r["median_s"], r["ratio_to_unet_step"]] for r in results],
        )
    )
    print("\n".join(goal_lines(result["goals"])))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
