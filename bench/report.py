"""Print the budget table and write ``results.json``.

``results.json`` (schema ``shouwang.bench/1``) holds the run's context, every benchmark's
statistics (milliseconds; 101 quantiles for CDF plots) and every budget's outcome. It can
be read back by ``shouwang bench --check``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.check import Check, Verdict
from bench.results import RESULTS_SCHEMA, ResultSet

_STYLE = {"pass": "green", "fail": "bold red", "missing": "yellow", "error": "bold magenta"}


def fmt(value: float | None) -> str:
    """A number with 3 significant figures (``-`` for None), e.g. ``0.0123``, ``12.3``."""
    if value is None:
        return "-"
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def budget_table(checks: list[Check], title: str) -> Table:
    """The budget table: measured, budget, headroom, enforced, status."""
    table = Table(title=title, title_justify="left", show_lines=False)
    for col, justify in (
        ("budget", "left"),
        ("stat", "left"),
        ("measured", "right"),
        ("budget", "right"),
        ("headroom", "right"),
        ("CI", "center"),
        ("status", "left"),
        ("benchmark(s) / note", "left"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for c in checks:
        b = c.budget
        op = "≤" if b.bound_kind == "max" else "≥"
        unit = b.unit_label
        stat = f"{b.stat} ratio" if b.is_ratio else b.stat
        head = "-" if c.headroom_pct is None else f"{c.headroom_pct:+.0f}%"
        table.add_row(
            b.id,
            stat,
            f"{fmt(c.measured)} {unit}".strip() if c.measured is not None else "-",
            f"{op} {fmt(b.bound)} {unit}".strip(),
            head,
            "enforced" if b.enforce else "report",
            f"[{_STYLE[c.status]}]{c.status.upper() if c.status == 'fail' else c.status}[/]",
            c.note,
        )
    return table


def benchmark_table(results: ResultSet) -> Table:
    """Every benchmark's latency percentiles (ms) and rate."""
    table = Table(title="benchmarks (ms per call)", title_justify="left")
    for col in ("benchmark", "stage", "rounds", "p50", "p95", "p99", "mean", "ops/s", "items/s"):
        table.add_column(col, justify="left" if col in ("benchmark", "stage") else "right")
    for b in results.benchmarks:
        s = b.stats
        stage = str(b.extra_info.get("stage", b.group or ""))
        table.add_row(
            b.name,
            stage,
            str(s.rounds),
            fmt(s.p50),
            fmt(s.p95),
            fmt(s.p99),
            fmt(s.mean),
            fmt(s.ops),
            fmt(b.throughput()),
        )
    return table


def print_report(
    console: Console, results: ResultSet, checks: list[Check], verdict: Verdict, title: str
) -> None:
    """Print the benchmark table, the budget table and a one-line verdict."""
    console.print(benchmark_table(results))
    console.print(budget_table(checks, title))
    counts = ", ".join(f"{n} {k}" for k, n in verdict.counts.items() if n)
    if verdict.ok:
        console.print(f"[green]OK[/]: no enforced budget broken ({counts or 'no budgets'})")
    else:
        console.print(f"[bold red]FAILED[/]: enforced budget(s) {', '.join(verdict.blocking)}")


def results_document(
    results: ResultSet,
    checks: list[Check],
    verdict: Verdict,
    *,
    profile: str,
    quick: bool,
    command: list[str],
    budgets_file: str,
) -> dict[str, Any]:
    """The content of ``results.json``."""
    return {
        "schema": RESULTS_SCHEMA,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "profile": profile,
        "quick": quick,
        "command": command,
        "budgets_file": budgets_file,
        "ok": verdict.ok,
        "counts": verdict.counts,
        "blocking": verdict.blocking,
        "machine": results.machine,
        "commit": results.commit,
        "datetime": results.datetime,
        "checks": [
            {
                "id": c.budget.id,
                "description": c.budget.description,
                "benchmark": c.budget.benchmark.model_dump(exclude_defaults=True),
                "baseline": (
                    c.budget.baseline.model_dump(exclude_defaults=True)
                    if c.budget.baseline
                    else None
                ),
                "stat": c.budget.stat,
                "unit": c.budget.unit_label,
                "bound_kind": c.budget.bound_kind,
                "bound": c.budget.bound,
                "enforced": c.budget.enforce,
                "status": c.status,
                "measured": c.measured,
                "headroom_pct": c.headroom_pct,
                "note": c.note,
            }
            for c in checks
        ],
        "benchmarks": [b.model_dump() for b in results.benchmarks],
    }


def write_json(path: Path, doc: dict[str, Any]) -> Path:
    """Write a JSON document (UTF-8, indented) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
