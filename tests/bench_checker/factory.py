"""Build result files in pytest-benchmark's own JSON format, for checker tests."""

from __future__ import annotations

import statistics
from typing import Any


def bench_entry(
    name: str,
    samples_ms: list[float],
    *,
    group: str | None = None,
    extra: dict[str, Any] | None = None,
    keep_data: bool = True,
) -> dict[str, Any]:
    """One ``benchmarks[]`` entry as pytest-benchmark 5 writes it (times in seconds)."""
    s = [x / 1000.0 for x in samples_ms]
    mean = statistics.fmean(s)
    stats: dict[str, Any] = {
        "min": min(s),
        "max": max(s),
        "mean": mean,
        "stddev": statistics.stdev(s) if len(s) > 1 else 0.0,
        "rounds": len(s),
        "median": statistics.median(s),
        "iqr": 0.0,
        "q1": 0.0,
        "q3": 0.0,
        "iqr_outliers": 0,
        "stddev_outliers": 0,
        "outliers": "0;0",
        "ld15iqr": min(s),
        "hd15iqr": max(s),
        "ops": 1.0 / mean,
        "total": sum(s),
        "iterations": 1,
    }
    if keep_data:
        stats["data"] = s
    return {
        "group": group,
        "name": name,
        "fullname": f"tests/bench/test_x.py::{name}",
        "params": None,
        "param": None,
        "extra_info": extra or {},
        "options": {"min_rounds": 5, "max_time": 0.25, "timer": "perf_counter"},
        "stats": stats,
    }


def result_file(*entries: dict[str, Any]) -> dict[str, Any]:
    """A whole pytest-benchmark JSON document."""
    return {
        "machine_info": {"node": "test", "cpu": {"count": 2}},
        "commit_info": {"id": "0" * 40, "dirty": False},
        "benchmarks": list(entries),
        "datetime": "2026-11-24T20:00:00+00:00",
        "version": "5.3.1",
    }


def flat(ms: float, n: int = 21) -> list[float]:
    """``n`` samples around ``ms`` (±1%, balanced), so median == mean == ms."""
    return [ms * (1 + 0.01 * ((i % 3) - 1)) for i in range(n)]
