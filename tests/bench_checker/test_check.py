"""The checker against result files in pytest-benchmark's format, one row per case."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bench import BenchError
from bench.budgets import parse_budgets
from bench.check import check_budgets, verdict
from bench.results import parse_results
from tests.bench_checker.factory import bench_entry, flat, result_file


def _profile(*budgets: dict[str, Any]) -> Any:
    doc = {"version": 1, "profiles": {"cpu": {"description": "test", "budgets": list(budgets)}}}
    return parse_budgets(doc).profile("cpu")


def _budget(**kw: Any) -> dict[str, Any]:
    return {"id": "b", "description": "d", "benchmark": "test_x", "stat": "median", **kw}


X = bench_entry("test_x", flat(10.0), extra={"stage": "detect", "impl": "shouwang", "batch": 1})
RAW = bench_entry("test_raw", flat(8.0), extra={"stage": "detect", "impl": "raw", "batch": 1})
SLOW = bench_entry("test_x", flat(30.0))
FPS = bench_entry("test_fps", flat(100.0), extra={"items_per_call": 8, "p95_ms": 40})
SHOUWANG_1 = {"extra": {"impl": "shouwang", "batch": 1}}
RAW_1 = {"extra": {"impl": "raw", "batch": 1}}

CASES = [
    # id, budget, benchmarks in the file, require_all, (status, measured), run ok?
    ("abs-pass", _budget(max=25, enforce=True), [X], False, ("pass", 10.0), True),
    ("abs-fail-enforced", _budget(max=25, enforce=True), [SLOW], False, ("fail", 30.0), False),
    ("abs-fail-reported", _budget(max=25), [SLOW], False, ("fail", 30.0), True),
    ("missing", _budget(max=25, enforce=True), [RAW], False, ("missing", None), True),
    ("missing-required", _budget(max=25, enforce=True), [RAW], True, ("missing", None), False),
    ("missing-reported", _budget(max=25), [RAW], True, ("missing", None), True),
    (
        "ratio-pass",
        _budget(benchmark=SHOUWANG_1, baseline=RAW_1, max=1.5, enforce=True),
        [X, RAW],
        False,
        ("pass", 1.25),
        True,
    ),
    (
        "ratio-fail",
        _budget(benchmark=SHOUWANG_1, baseline=RAW_1, max=1.2, enforce=True),
        [X, RAW],
        False,
        ("fail", 1.25),
        False,
    ),
    (
        "ratio-baseline-missing",
        _budget(benchmark=SHOUWANG_1, baseline=RAW_1, max=1.5, enforce=True),
        [X],
        False,
        ("missing", None),
        True,
    ),
    (
        "ambiguous-enforced",
        _budget(benchmark={"extra": {"batch": 1}}, max=50, enforce=True),
        [X, RAW],
        False,
        ("error", None),
        False,
    ),
    (
        "glob-name",
        _budget(benchmark="test_r*", max=9, enforce=True),
        [X, RAW],
        False,
        ("pass", 8.0),
        True,
    ),
    (
        "fps-min-pass",
        _budget(benchmark="test_fps", stat="fps", min=60),
        [FPS],
        False,
        ("pass", 80.0),
        True,
    ),
    (
        "fps-min-fail",
        _budget(benchmark="test_fps", stat="fps", min=100, enforce=True),
        [FPS],
        False,
        ("fail", 80.0),
        False,
    ),
    (
        "fps-needs-items",
        _budget(stat="fps", min=1, enforce=True),
        [X],
        True,
        ("missing", None),
        False,
    ),
    (
        "extra-stat",
        _budget(benchmark="test_fps", stat="extra.p95_ms", max=50, enforce=True),
        [FPS],
        False,
        ("pass", 40.0),
        True,
    ),
    (
        "group-selector",
        _budget(benchmark={"group": "g"}, max=25, enforce=True),
        [bench_entry("test_g", flat(5.0), group="g"), X],
        False,
        ("pass", 5.0),
        True,
    ),
    (
        "bool-extra-is-not-int",
        _budget(benchmark={"extra": {"batch": True}}, max=25),
        [X],
        False,
        ("missing", None),
        True,
    ),
]


@pytest.mark.parametrize(
    ("budget", "benchmarks", "require_all", "expected", "run_ok"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_checker(
    budget: dict[str, Any],
    benchmarks: list[dict[str, Any]],
    require_all: bool,
    expected: tuple[str, float | None],
    run_ok: bool,
) -> None:
    results = parse_results(result_file(*benchmarks))
    (check,) = check_budgets(_profile(budget), results)
    status, measured = expected
    assert check.status == status, check.note
    if measured is None:
        assert check.measured is None and check.note
    else:
        assert check.measured == pytest.approx(measured, rel=1e-6)
        bound = float(budget["max"] if "max" in budget else budget["min"])
        sign = 1 if "max" in budget else -1
        assert check.headroom_pct == pytest.approx(sign * (bound - measured) / bound * 100)
    result = verdict([check], require_all=require_all)
    assert result.ok is run_ok
    assert result.blocking == ([] if run_ok else ["b"])


def test_a_file_breaking_one_enforced_budget_fails_and_the_fixed_file_passes() -> None:
    profile = _profile(
        _budget(id="ratio", benchmark=SHOUWANG_1, baseline=RAW_1, max=1.5, enforce=True),
        _budget(id="abs", max=25, enforce=True),
        _budget(id="tail", stat="p99", max=1, enforce=False),  # broken but only reported
        _budget(id="e2e", benchmark={"extra": {"stage": "e2e"}}, max=1, enforce=True),
    )
    slow_x = bench_entry("test_x", flat(20.0), extra=X["extra_info"])  # ratio 2.5
    broken = verdict(check_budgets(profile, parse_results(result_file(slow_x, RAW))))
    assert not broken.ok and broken.blocking == ["ratio"]
    assert broken.counts == {"pass": 1, "fail": 2, "missing": 1, "error": 0}
    fine = verdict(check_budgets(profile, parse_results(result_file(X, RAW))))
    assert fine.ok and fine.blocking == []


def test_percentiles_come_from_the_raw_samples() -> None:
    samples = [float(x) for x in range(1, 101)]  # 1..100 ms
    results = parse_results(result_file(bench_entry("test_x", samples)))
    b = results.benchmarks[0]
    for stat, q in (("p50", 50), ("p95", 95), ("p99", 99)):
        assert b.value(stat) == pytest.approx(float(np.percentile(samples, q)))
    assert b.value("median") == pytest.approx(50.5)
    assert b.value("ops") == pytest.approx(1000 / 50.5)
    assert b.stats.quantiles is not None and len(b.stats.quantiles) == 101
    assert b.stats.quantiles[0] == pytest.approx(1.0) and b.stats.quantiles[-1] == 100.0


def test_without_raw_samples_p95_is_missing_and_p50_is_the_median() -> None:
    entry = bench_entry("test_x", flat(10.0), keep_data=False)
    results = parse_results(result_file(entry))
    assert results.benchmarks[0].value("p50") == pytest.approx(10.0)
    (check,) = check_budgets(_profile(_budget(stat="p95", max=20)), results)
    assert check.status == "missing" and "raw samples not saved" in check.note


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ([], r"expected a JSON object, got list"),
        ({"benchmarks": [{"name": "x"}]}, r"not a pytest-benchmark JSON.*benchmarks\.0\.fullname"),
        ({"machine_info": {}}, r"first: benchmarks: Field required"),
    ],
)
def test_unreadable_results_are_refused(data: Any, expected: str) -> None:
    with pytest.raises(BenchError, match=expected):
        parse_results(data, "r.json")
