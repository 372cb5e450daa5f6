"""``shouwang bench``: run the benchmark suite and hold it to the latency budgets."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bench import BenchError
from bench.budgets import DEFAULT_BUDGETS, load_budgets
from bench.check import Check, Verdict, check_budgets, verdict
from bench.plots import write_plots
from bench.report import print_report, results_document, write_json
from bench.results import ResultSet, load_results
from bench.runner import run_suite
from shouwang.cli.apps import app

QUICK_TIME_LIMIT_S = 300.0
FULL_TIME_LIMIT_S = 3600.0


def _console() -> Console:
    console = Console(highlight=False)
    if not console.is_terminal:  # CI logs: do not squeeze the table into 80 columns
        console.width = 200
    return console


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"shouwang bench: {message}", err=True)
    return typer.Exit(code)


@app.command("bench")
def bench(
    profile: Annotated[
        str, typer.Option("--profile", "-p", help="hardware profile in the budget file: cpu, gpu")
    ] = "cpu",
    quick: Annotated[
        bool,
        typer.Option(
            "--quick",
            help="few rounds and short clips (sets SHOUWANG_BENCH_QUICK=1); what CI runs",
        ),
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="output folder [default: out/bench/YYYYmmdd-HHMMSS, UTC]"),
    ] = None,
    check: Annotated[
        Path | None,
        typer.Option(
            "--check",
            help=(
                "compare an existing results file (pytest-benchmark JSON or a results.json "
                "written by this command) instead of running; writes files only with --out"
            ),
        ),
    ] = None,
    budgets: Annotated[
        Path, typer.Option("--budgets", help="budget file", show_default="bench/budgets.yaml")
    ] = DEFAULT_BUDGETS,
    require_all: Annotated[
        bool,
        typer.Option("--require-all", help="an enforced budget whose benchmark is missing fails"),
    ] = False,
    select: Annotated[
        str | None,
        typer.Option("--select", "-k", help="only benchmarks matching this pytest -k expression"),
    ] = None,
    suite: Annotated[
        Path, typer.Option("--suite", help="folder (or file) of pytest-benchmark tests")
    ] = Path("tests/bench"),
    time_limit: Annotated[
        float | None,
        typer.Option(
            "--time-limit",
            min=1,
            help=f"stop the run after this many seconds [default: {QUICK_TIME_LIMIT_S:.0f} "
            f"with --quick, {FULL_TIME_LIMIT_S:.0f} without]",
        ),
    ] = None,
) -> None:
    """Run the benchmark suite, compare it with the latency budgets, write JSON and plots.

    Runs `pytest tests/bench --benchmark-enable --benchmark-only` (pytest's own output goes
    to stderr), then checks every budget of the profile in `bench/budgets.yaml` and prints
    two tables: each benchmark's p50/p95/p99 latency (ms per call) and each budget's
    measured value, bound, headroom (% inside the bound; negative = broken), whether CI
    enforces it, and its status:

    * **pass** / **FAIL**: within / outside the bound;
    * **missing**: its benchmark did not run (fails only if enforced and `--require-all`);
    * **error**: its selector matches several benchmarks.

    Writes to `--out`: `results.json`, `pytest-benchmark.json` (raw samples),
    `latency_cdf.png` (per stage) and `scaling.png` (throughput and p95 against streams,
    when benchmarks report `extra_info["streams"]`).

    Exit code: 0 when no enforced budget is broken; 1 when one is, or a benchmark failed;
    2 when nothing could be compared (bad budget file, unreadable results, time limit).

    Examples:

        shouwang bench --quick                     # what CI runs (profile cpu)

        shouwang bench --profile cpu --out out/bench/full

        shouwang bench --check out/bench/ci/results.json

        shouwang bench --quick -k letterbox        # a subset
    """
    console = _console()
    try:
        budget_file = load_budgets(budgets)
        prof = budget_file.profile(profile)
    except BenchError as exc:
        raise _fail(str(exc)) from None

    run_failed = False
    try:
        if check is not None:
            out_dir = out
            results = load_results(check)
            command = ["shouwang", "bench", "--check", str(check), "--profile", profile]
        else:
            out_dir = out or Path("out/bench") / datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
            limit = time_limit or (QUICK_TIME_LIMIT_S if quick else FULL_TIME_LIMIT_S)
            results, command, run_failed = _run(suite, out_dir, quick, select, limit)
    except BenchError as exc:
        raise _fail(str(exc)) from None

    checks = check_budgets(prof, results)
    result = verdict(checks, require_all=require_all)
    title = f"budgets: profile {profile}{' (quick)' if quick else ''}, {_short(budgets)}"
    if out_dir is not None:  # files first: a closed stdout (`| head`) must not lose them
        _write_outputs(
            out_dir,
            results,
            checks,
            result,
            profile=profile,
            quick=quick,
            command=command,
            budgets=str(budgets),
        )
    print_report(console, results, checks, result, title)
    if run_failed:
        typer.echo("shouwang bench: some benchmarks failed (see pytest's output above)", err=True)
    if not result.ok or run_failed:
        raise typer.Exit(1)


def _run(
    suite: Path, out_dir: Path, quick: bool, select: str | None, limit: float
) -> tuple[ResultSet, list[str], bool]:
    """Run the suite; (results, command, whether some benchmark failed)."""
    outcome = run_suite(suite, out_dir, quick=quick, select=select, time_limit=limit)
    if outcome.timed_out:
        raise BenchError(f"the benchmark run passed its time limit ({limit:.0f} s) and was stopped")
    if not outcome.json_path.exists():
        raise BenchError(f"pytest exited with {outcome.returncode} and wrote no benchmark JSON")
    results = load_results(outcome.json_path)
    if not results.benchmarks:
        raise BenchError(f"no benchmark ran (pytest exit code {outcome.returncode})")
    typer.echo(f"benchmark run took {outcome.seconds:.1f} s", err=True)
    return results, outcome.command, outcome.returncode != 0


def _short(path: Path) -> Path:
    """The path relative to the working directory when it is inside it."""
    full = path.resolve()
    return full.relative_to(Path.cwd()) if full.is_relative_to(Path.cwd()) else full


def _write_outputs(
    out_dir: Path,
    results: ResultSet,
    checks: list[Check],
    result: Verdict,
    *,
    profile: str,
    quick: bool,
    command: list[str],
    budgets: str,
) -> None:
    doc = results_document(
        results,
        checks,
        result,
        profile=profile,
        quick=quick,
        command=command,
        budgets_file=budgets,
    )
    written = [write_json(out_dir / "results.json", doc), *write_plots(results, out_dir)]
    for path in written:
        typer.echo(f"wrote {path}", err=True)
