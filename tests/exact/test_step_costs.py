"""The one cost protocol: an exact step over N images against the model's step, the c·N·D fit and its
extrapolation, and the benchmark that writes it."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from helpers import exact_data
from pipelines.exact.costs import EXTRAPOLATION_SETS, STORAGE_BYTES_PER_VALUE, StepCosts, measure_step_costs

# the shared fixtures (tests/helpers/exact_data.py)
data, pipe = exact_data.data, exact_data.pipe


def test_bench_quick_writes_json_and_png(tmp_path):
    path = Path(__file__).resolve().parents[2] / "bench" / "bench_exact_posterior.py"
    spec = importlib.util.spec_from_file_location("bench_exact_posterior", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--quick", "--output-dir", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "exact_posterior.json").read_text())
    assert [r["n"] for r in result["series"]["float64"]] == [100, 250]
    assert result["machine"]["torch_threads"] >= 1
    assert (tmp_path / "exact_posterior.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------------------------------ one cost protocol
def test_measure_step_costs_one_protocol_and_a_linear_extrapolation(pipe, data):
    targets = [("a", 1000, 64), ("twice a", 2000, 64), *EXTRAPOLATION_SETS]
    costs = measure_step_costs(pipe, data, sizes=(5, 10, 20), repeats=2, batch_size=2, min_seconds=0, targets=targets)
    assert isinstance(costs, StepCosts)
    assert [r["N"] for r in costs.rows] == [5, 10, 20] and all(r["D"] == 64 for r in costs.rows)
    assert all(0 < r["min_ms"] <= r["ms"] <= r["max_ms"] and r["repeats"] >= 2 for r in costs.rows)
    assert costs.rows[2]["data_bytes"] == 20 * 64 * 8
    assert costs.model_ms > 0 and costs.model_min_ms <= costs.model_ms <= costs.model_max_ms
    assert costs.model_repeats >= 2 and costs.batch_size == 2 and costs.t == 500 and costs.dtype == "float64"
    assert costs.torch_threads == torch.get_num_threads() and costs.model_device == "cpu"
    # c: least squares through the origin on the larger half of the sizes
    assert costs.fit_sizes == [10, 20]
    fit = [r for r in costs.rows if r["N"] in (10, 20)]
    c = sum(r["ms"] * r["N"] * 64 for r in fit) / sum((r["N"] * 64) ** 2 for r in fit)
    assert costs.ms_per_element == pytest.approx(c, rel=1e-12) and c > 0
    rows = {r["name"]: r for r in costs.extrapolated}
    assert list(rows) == [name for name, _, _ in targets]
    for name, n, d in targets:
        assert rows[name]["N"] == n and rows[name]["D"] == d
        assert rows[name]["ms"] / (n * d) == pytest.approx(c, rel=1e-12)
        assert rows[name]["bytes"] == n * d * 4 == n * d * STORAGE_BYTES_PER_VALUE
    assert rows["twice a"]["ms"] == pytest.approx(2 * rows["a"]["ms"], rel=1e-12)
    assert rows["CIFAR-10"]["N"] == 50_000 and rows["CIFAR-10"]["D"] == 3_072
    assert rows["ImageNet 64×64"]["N"] == 1_281_167 and rows["ImageNet 64×64"]["D"] == 12_288
    assert rows["LAION-400M at 64×64×3"]["N"] == 400_000_000 and rows["LAION-400M at 64×64×3"]["D"] == 12_288
    summary = json.loads(json.dumps(costs.as_dict()))
    assert summary["extrapolated"] == costs.extrapolated and summary["storage_bytes_per_value"] == 4


def test_measure_step_costs_takes_more_repeats_where_the_step_is_fast(pipe, data):
    costs = measure_step_costs(pipe, data, sizes=(20,), repeats=1, min_seconds=0.05, targets=())
    assert costs.rows[0]["repeats"] > 1 and costs.extrapolated == [] and costs.fit_sizes == [20]
    assert costs.ms_per_element == pytest.approx(costs.rows[0]["ms"] / (20 * 64), rel=1e-12)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(sizes=(0,)), r"sizes must be integers in \[1, 20\]"),
        (dict(sizes=(5, 21)), r"sizes must be integers in \[1, 20\]"),
        (dict(sizes=()), r"sizes must be integers"),
        (dict(sizes="5"), r"sizes must be integers"),
        (dict(repeats=0), r"repeats must be an integer >= 1, got 0"),
        (dict(batch_size=0), r"batch_size must be an integer >= 1, got 0"),
        (dict(t=1000), r"t must be an integer in \[1, 999\], got 1000"),
        (dict(t=0), r"t must be an integer in \[1, 999\], got 0"),
        (dict(dtype=torch.float16), r"dtype must be torch.float32 or torch.float64"),
        (dict(seed=-1), r"seed must be an integer in \[0, 4294967295\], got -1"),
        (dict(min_seconds=-1), r"min_seconds must be a number in \[0, 600\]"),
        (dict(targets=[("x", 0, 64)]), r"targets must be \(name, N, D\) triples"),
        (dict(targets="CIFAR"), r"targets must be \(name, N, D\) triples"),
        (dict(data=torch.zeros(8, 8)), r"data must have shape \(B, C, H, W\)"),
    ],
)
def test_measure_step_costs_refuses_bad_arguments(pipe, data, kwargs, match):
    with pytest.raises(ValueError, match=match):
        measure_step_costs(pipe, **{"data": data, "sizes": (5,), "repeats": 1, "min_seconds": 0, **kwargs})
