"""Every benchmark script runs end to end on tiny settings (--quick) and writes the JSON the README describes, so
the benchmarks cannot rot. No timing is asserted: on a shared CI box the numbers mean nothing. What is asserted
is what a reader of the results relies on: provenance (machine, versions, threads, command), ratios and goals,
and that each comparison compares like with like (both sides produce the same output)."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
TIMEOUT_S = 600  # generous for busy CI machines; a quick run takes seconds to a minute

# script → (extra flags, the JSON it writes)
SCRIPTS = {
    "bench_scheduler.py": (["--threads", "1"], "scheduler-quick.json"),
    "bench_sampling.py": (["--threads", "1"], "sampling-quick.json"),
    "bench_streaming.py": (["--threads", "1"], "streaming-quick.json"),
    "bench_quality.py": (["--threads", "1"], "quality-quick.json"),
    "bench_samplers.py": (["--threads", "1"], "samplers-quick.json"),
    "bench_training.py": (["--threads", "1"], "training-quick.json"),
    "bench_exact_posterior.py": ([], "exact_posterior.json"),
    "bench_local.py": (["--threads", "1"], "local_posterior-quick.json"),
    "bench_latency.py": (["--threads", "1", "--only", "/toy_step,/sample,/toy_train"], "latency-quick.json"),
    "bench_concurrency.py": (["--threads", "1"], "concurrency-quick.json"),
    "bench_data_memory.py": (["--threads", "1"], "data_memory-quick.json"),
    "bench_training_thread.py": (["--threads", "1"], "training_thread-quick.json"),
    "bench_index.py": (["--threads", "1"], "index-quick.json"),
    "bench_app_scale.py": (["--threads", "1"], "app_scale-quick.json"),
}
COMMON_KEYS = {
    "benchmark",
    "description",
    "quick",
    "command",
    "started_at",
    "finished_at",
    "machine",
    "versions",
    "threads",
    "settings",
    "results",
    "ratios",
    "goals",
}


def run_bench(script: str, *args: str, timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_OFFLINE": "1",
    }
    return subprocess.run(
        [sys.executable, str(BENCH / script), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_every_bench_script_has_a_smoke_run():
    assert {p.name for p in BENCH.glob("bench_*.py")} == set(SCRIPTS)


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_quick_run_writes_its_json(script, tmp_path):
    flags, name = SCRIPTS[script]
    result = run_bench(script, "--quick", "--output-dir", str(tmp_path), *flags)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads((tmp_path / name).read_text())
    assert data["quick"] is True
    assert data["machine"]["cpu_count"] >= 1 and "cpu_model" in data["machine"]
    if script == "bench_exact_posterior.py":  # written before the shared format; its own keys
        assert data["series"] and all(row["median_ms"] > 0 for rows in data["series"].values() for row in rows)
        return

    assert COMMON_KEYS <= data.keys(), COMMON_KEYS - data.keys()
    assert {"torch", "diffusers", "gradio"} <= data["versions"].keys() and data["versions"]["torch"]
    assert data["threads"]["torch"] == 1 and data["threads"]["requested"] == 1
    assert script in data["command"] and "--quick" in data["command"]
    assert data["ratios"] and all(isinstance(v, float) and math.isfinite(v) and v > 0 for v in data["ratios"].values())
    assert data["goals"] and all(isinstance(g["met"], bool) and g["op"] in ("<=", ">=") for g in data["goals"])
    assert data["results"]
    assert "goal" in result.stdout  # the table and the goals are printed

    if script == "bench_scheduler.py":
        for case in data["results"]:
            assert case["max_abs_diff_prev_sample"] < 1e-4  # ours and diffusers take the same step
            assert case["seconds_per_step"]["ours"]["n"] == case["seconds_per_step"]["diffusers"]["n"] >= 1
    elif script == "bench_sampling.py":
        case = data["results"][0]
        assert case["max_abs_diff_vs_diffusers"]["value"] < 1e-4  # the same images from the same seed
        assert {"floor", "ours", "diffusers", "floor_channels_last"} == case["seconds"].keys()
    elif script == "bench_streaming.py":
        assert data["startup"]["server_ready_s"] > 0  # recorded apart from the ratio
        case = data["results"][0]
        assert case["max_abs_pixel_diff_app_vs_pipeline"] <= 1  # the app draws the pipeline's images
        assert case["seconds"]["app_server_loop"]["n"] == case["seconds"]["app"]["n"]
    elif script == "bench_quality.py":
        assert (tmp_path / "quality-quick.png").stat().st_size > 0
        # the tiny pipeline has no analytic_variance.json: its σ*² rows are skipped, naming the command
        skipped = [r for r in data["results"] if r["sampler"] in ("analytic", "analytic_ddim")]
        assert skipped and all("python -m pipelines.ddpm.gamma" in r["status"] for r in skipped)
        rows = [r for r in data["results"] if r not in skipped]
        assert {r["sampler"] for r in rows} == {"ddpm_small", "ddpm_large", "ddim", "eta_mid"}
        assert all(r["status"] == "measured" and r["fid"] >= 0 and 0 <= r["confident_rate"] <= 1 for r in rows)
        assert data["reference"]["fallback"] is False  # the reference-steps DDPM row was measured
    elif script == "bench_samplers.py":
        assert (tmp_path / "samplers-quick.png").stat().st_size > 0
        # every sampler at both step counts, diffusers' and ours side by side, compared per step count
        assert {(r["sampler"], r["num_inference_steps"]) for r in data["results"]} == {
            (key, k) for key in data["settings"]["samplers"] for k in (2, 3)
        }
        assert all(
            r["status"] == "measured" and r["fid"] >= 0 and r["seconds_16_images"]["n"] == 1 for r in data["results"]
        )
        assert set(data["comparison"]) == {"2", "3"}
    elif script == "bench_training_thread.py":
        case = data["results"][0]
        assert case["seconds"].keys() == {"main", "worker_threads", "training_thread"}
        assert all(loss > 0 for loss in case["final_loss"].values())
    elif script == "bench_index.py":
        case = data["results"][0]
        assert case["flat_equals_brute_force"] is True  # the exact index finds brute force's neighbours
        assert case["kinds"]["flat"]["recall_at_2"] == 1.0 and case["kinds"].keys() == {"flat", "ivf"}
        assert all(k["planted_found"] == k["planted"] == 50 for k in case["kinds"].values())
        assert all(0 <= k["planted_flagged"] <= k["planted_found"] for k in case["kinds"].values())
        assert case["peak_rss_mb"] > 0  # one byte per value on disk, plus each .npy file's header
        assert case["N"] * 3 * 32 * 32 < case["disk_bytes"] <= case["N"] * 3 * 32 * 32 + 256 * case["shards"]
    elif script == "bench_app_scale.py":
        app, report = data["results"]
        assert app["notice"] == "" and app["shards"] >= 1  # beyond the bound: shards, not a refusal
        assert report["status"] == 0 and report["neighbour_search"]
    elif script == "bench_training.py":
        case = data["results"][0]
        assert case["images_per_second"]["train_py"] > 0 and case["images_per_second"]["bare"] > 0


@pytest.mark.parametrize(
    "script, args, words",
    [
        ("bench_sampling.py", ["--repeats", "0"], ["--repeats", ">= 1", "0"]),
        ("bench_quality.py", ["--eta-mid", "1.5"], ["--eta-mid", "(0, 1)", "1.5"]),
        ("bench_training.py", ["--steps", "5", "--warmup", "5"], ["--warmup", "smaller than --steps"]),
        (
            "bench_sampling.py",
            ["--model", "/nonexistent/model"],
            ["--model", "/nonexistent/model", "not a model folder"],
        ),
        ("bench_streaming.py", ["--server-cpus", "999"], ["--server-cpus", "CPU numbers in", "999"]),
        ("bench_streaming.py", ["--server-cpus", "-1"], ["--server-cpus", "-1"]),
        ("bench_quality.py", ["--layout", "nhwc"], ["--layout", "nhwc", "channels_last", "contiguous"]),
        ("bench_samplers.py", ["--steps", "1"], ["--steps", ">= 2", "1"]),
        ("bench_samplers.py", ["--merge", "/nonexistent.json"], ["--merge", "/nonexistent.json", "not a file"]),
        ("bench_app_scale.py", ["--num-images", "0"], ["--num-images", ">= 1", "0"]),
        ("bench_app_scale.py", ["--num-heldout", "-1"], ["--num-heldout", ">= 0", "-1"]),
    ],
)
def test_bad_flags_fail_in_one_line(script, args, words, tmp_path):
    result = run_bench(script, "--output-dir", str(tmp_path), *args)
    assert result.returncode != 0
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert all(w in message for w in words), message
    assert not list(tmp_path.iterdir())  # nothing written


# ---- the quality table's verdict, on made-up rows (the real ones take hours)
def _row(sampler, steps, fid, seconds, status="measured"):
    return {
        "sampler": sampler,
        "label": sampler,
        "num_inference_steps": steps,
        "fid": fid,
        "status": status,
        "seconds_16_images": {"median_s": seconds},
    }


@pytest.fixture(scope="module")
def quality():
    sys.path.insert(0, str(BENCH))
    import bench_quality

    return bench_quality


def test_quality_goal_is_judged_against_the_1000_step_ddpm(quality):
    rows = [
        _row("ddpm_small", 1000, 10.0, 80.0),
        _row("ddpm_large", 1000, 12.0, 80.0),
        _row("ddim", 50, 9.0, 4.0),
        _row("ddim", 20, 11.0, 1.5),
        _row("ddpm_small", 100, 9.5, 8.0),
    ]
    reference = quality.choose_reference(rows, 1000)
    assert reference["fid"] == 10.0 and reference["fallback"] is False and reference["row"] == ["ddpm_small", 1000]
    winners, best = quality.rows_meeting_goal(rows, reference)
    assert [(r["sampler"], r["num_inference_steps"]) for r in winners] == [("ddim", 50)]  # ≤ 5 s and FID ≤ 10
    assert best is winners[0]


def test_quality_without_the_1000_step_row_falls_back_and_flags_it(quality):
    rows = [
        _row("ddpm_small", 1000, 0.0, 0.0, status="skipped: predicted 9000 s > --max-seconds 1800"),
        _row("ddpm_small", 100, 12.0, 8.0),
        _row("ddpm_large", 50, 11.0, 4.0),
        _row("ddim", 20, 11.5, 1.5),
    ]
    reference = quality.choose_reference(rows, 1000)
    assert reference["fallback"] is True and reference["fid"] == 11.0 and reference["row"] == ["ddpm_large", 50]
    assert "best measured DDPM row" in reference["source"]
    winners, best = quality.rows_meeting_goal(rows, reference)
    assert best["sampler"] == "ddpm_large"  # the only row ≤ 5 s with FID ≤ 11
    assert quality.choose_reference([_row("ddim", 20, 11.5, 1.5)], 1000) is None  # no DDPM row: no verdict
