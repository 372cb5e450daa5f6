"""Run the pytest-benchmark suite in a child process, time-boxed.

The child is a plain ``python -m pytest tests/bench --benchmark-enable --benchmark-only
--benchmark-json=...``; quick mode adds few-rounds options and ``SHOUWANG_BENCH_QUICK=1``
(read by benchmark files through :func:`bench.pick`). Its output goes to our stderr, so
stdout carries only the report.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from bench.errors import BenchError
from bench.quick import QUICK_ENV

#: Few rounds, short time per benchmark: the whole quick suite must fit CI's time box.
QUICK_ARGS = ("--benchmark-min-rounds=5", "--benchmark-max-time=0.25")
#: Enough rounds for a meaningful p99 on fast stages, bounded time on slow ones.
FULL_ARGS = ("--benchmark-min-rounds=30", "--benchmark-max-time=3")


@dataclass(frozen=True)
class RunOutcome:
    """How the child pytest run ended.

    Attributes:
        returncode: pytest's exit code (0 all passed, 1 some failed, 5 none collected), or
            None when it was killed at the time limit.
        json_path: where pytest-benchmark wrote its JSON (may not exist on a crash).
        seconds: wall time of the run.
        command: the command line run.
    """

    returncode: int | None
    json_path: Path
    seconds: float
    command: list[str]

    @property
    def timed_out(self) -> bool:
        """True when the run was killed at the time limit."""
        return self.returncode is None


def pytest_command(
    suite: Path, json_path: Path, *, quick: bool, select: str | None = None
) -> list[str]:
    """The pytest command line for a benchmark run."""
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        str(suite),
        "--benchmark-enable",
        "--benchmark-only",  # skip plain tests that live beside the benchmarks
        f"--benchmark-json={json_path}",
        "--benchmark-columns=min,median,mean,max,rounds",
        "-p",
        "no:cacheprovider",
        "-q",
        "--durations=10",  # the slowest benchmarks, to keep the quick suite in its time box
        *(QUICK_ARGS if quick else FULL_ARGS),
    ]
    if select:
        cmd += ["-k", select]
    return cmd


def _stderr_or_inherit() -> TextIO | None:
    """Our stderr when it is a real file (stdout stays for the report), else inherit."""
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        return None
    return sys.stderr


def run_suite(
    suite: Path,
    out_dir: Path,
    *,
    quick: bool,
    select: str | None = None,
    time_limit: float | None = None,
) -> RunOutcome:
    """Run the benchmarks under ``suite`` and return where their JSON is.

    Raises:
        BenchError: the suite folder does not exist.
    """
    if not suite.exists():
        raise BenchError(
            f"{suite}: benchmark suite not found (run from the repository root, or pass --suite)"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "pytest-benchmark.json"
    json_path.unlink(missing_ok=True)
    cmd = pytest_command(suite, json_path, quick=quick, select=select)
    env = {**os.environ, QUICK_ENV: "1" if quick else "0"}
    start = time.monotonic()
    # Own process group: at the time limit we stop the run and anything it started.
    proc = subprocess.Popen(cmd, env=env, stdout=_stderr_or_inherit(), start_new_session=True)
    try:
        rc: int | None = proc.wait(timeout=time_limit)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        rc = None
    except KeyboardInterrupt:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    return RunOutcome(rc, json_path, time.monotonic() - start, cmd)
