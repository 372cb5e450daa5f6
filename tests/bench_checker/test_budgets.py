"""The budget file: the packaged one is valid; bad ones fail naming the field at fault."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import BenchError
from bench.budgets import DEFAULT_BUDGETS, load_budgets, parse_budgets


def _file(**budget: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "x.median",
        "description": "a budget",
        "benchmark": "test_x",
        "stat": "median",
        "max": 10,
    }
    base.update(budget)
    return {"version": 1, "profiles": {"cpu": {"description": "2 cores", "budgets": [base]}}}


def test_packaged_budget_file_is_valid() -> None:
    budgets = load_budgets(DEFAULT_BUDGETS)
    assert set(budgets.profiles) == {"cpu", "gpu"}
    cpu = budgets.profile("cpu")
    enforced = [b for b in cpu.budgets if b.enforce]
    assert enforced, "CI must enforce something"
    # An enforced budget is either a side-by-side ratio (between two benchmarks, or one
    # measured inside a benchmark: extra.ratio) or an absolute median/p50 bound:
    # tails (p95/p99) of a shared machine are too noisy to gate on.
    for b in enforced:
        assert b.is_ratio or b.stat in ("median", "p50", "extra.ratio"), b.id


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (_file(stat="p42"), r"budgets\.0\.stat: unknown statistic 'p42'"),
        (_file(stat="extra.not a key"), r"unknown statistic 'extra\.not a key'"),
        (_file(stat="throughput"), r"expected one of p50, p95, p99"),
        (_file(maxx=3), r"budgets\.0\.maxx: Extra inputs are not permitted"),
        (_file(min=1), r"give exactly one of `max` or `min`"),
        (_file(max=None), r"give exactly one of `max` or `min`"),
        (_file(max=-1), r"budgets\.0\.max: Input should be greater than 0"),
        (_file(benchmark={}), r"needs at least one of name, group, extra"),
        (_file(benchmark={"extra": {"stage": "detect"}, "nme": "x"}), r"nme: Extra inputs"),
        (_file(unit="ms"), r"`unit` is only for extra\.\* statistics"),
        (_file(id="Bad Id"), r"budgets\.0\.id: String should match pattern"),
        ({"version": 2, "profiles": {}}, r"version: Input should be 1"),
        ({"version": 1, "profiles": {}}, r"profiles: Dictionary should have at least 1 item"),
        ({"version": 1}, r"profiles: Field required"),
    ],
)
def test_bad_budget_file_is_refused(data: dict[str, Any], expected: str) -> None:
    with pytest.raises(BenchError, match=expected):
        parse_budgets(data, "budgets.yaml")


def test_duplicate_ids_are_refused() -> None:
    data = _file()
    budgets = data["profiles"]["cpu"]["budgets"]
    budgets.append(dict(budgets[0]))
    with pytest.raises(BenchError, match=r"budget id 'x\.median' appears twice"):
        parse_budgets(data)


@pytest.mark.parametrize(
    ("stat", "unit"),
    [("p99", "ms"), ("mean", "ms"), ("ops", "1/s"), ("fps", "items/s"), ("extra.p95_ms", "")],
)
def test_known_statistics_are_accepted(stat: str, unit: str) -> None:
    budget = parse_budgets(_file(stat=stat)).profile("cpu").budgets[0]
    assert budget.unit_label == unit


def test_ratio_budget_has_unit_x_and_shorthand_selector() -> None:
    f = parse_budgets(_file(baseline={"extra": {"impl": "raw"}}, stat="median", max=1.5))
    b = f.profile("cpu").budgets[0]
    assert b.is_ratio and b.unit_label == "x"
    assert b.benchmark.name == "test_x"
    assert b.baseline is not None and b.baseline.describe() == "{impl=raw}"


def test_unknown_profile_lists_known_ones() -> None:
    with pytest.raises(BenchError, match=r"unknown profile 'tpu'; the budget file has: cpu"):
        parse_budgets(_file()).profile("tpu")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, r"cannot read budget file"),
        ("version: [1\n", r"not valid YAML"),
        ("- just a list\n", r"invalid budget file"),
    ],
)
def test_unreadable_budget_file(tmp_path: Path, content: str | None, expected: str) -> None:
    path = tmp_path / "budgets.yaml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(BenchError, match=expected) as info:
        load_budgets(path)
    assert str(path) in str(info.value)
