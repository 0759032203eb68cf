"""The token benchmark runs in quick mode and reports the rows the bench runner prints."""

from __future__ import annotations

from bench.bench_tokens import run


def test_quick_run_reports_every_row() -> None:
    rows = run(quick=True)
    names = [r["name"] for r in rows]
    assert names[0] == "token verify offline"
    for row in rows:
        assert {"name", "ours_median_s", "baseline_median_s", "ratio", "unit", "notes"} <= set(row)
        assert float(row["ratio"]) > 0  # type: ignore[arg-type]
    size = next(r for r in rows if r["name"] == "token size")
    assert size["ours_median_s"] == 289
