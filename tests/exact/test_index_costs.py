"""The index line of the exact tab's cost plot is the benchmark's measurement, copied without change."""

from pathlib import Path

import pytest

from pipelines.exact.index import MEASURED_INDEX_COSTS, index_costs_from_bench

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"


def test_the_copied_index_costs_are_the_benchmarks():
    rows = index_costs_from_bench([RESULTS / "index.json", RESULTS / "index-1e6.json"])
    expected = sorted(MEASURED_INDEX_COSTS, key=lambda r: (r["N"], r["kind"]))
    assert [(r["N"], r["D"], r["kind"]) for r in rows] == [(r["N"], r["D"], r["kind"]) for r in expected]
    assert [r["ms_per_query"] for r in rows] == pytest.approx([r["ms_per_query"] for r in expected])
