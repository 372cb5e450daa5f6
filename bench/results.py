"""Benchmark results: read pytest-benchmark's JSON, compute percentiles, look up figures.

pytest-benchmark writes the raw timing of every round (``stats.data``, seconds per
iteration) into the file given to ``--benchmark-json``; p50/p95/p99 are computed here from
those samples, since pytest-benchmark itself reports only min/median/mean/max/IQR.

Example:
    >>> from bench.results import load_results
    >>> results = load_results(Path("out/bench/ci/pytest-benchmark.json"))
    >>> results[0].value("p95")               # milliseconds
    6.1
"""

from __future__ import annotations

import json
import math
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bench.budgets import EXTRA_PREFIX, LATENCY_STATS, Selector
from bench.errors import BenchError

#: Marks the results.json written by ``shouwang bench`` (vs. pytest-benchmark's own).
RESULTS_SCHEMA = "shouwang.bench/1"

#: Number of evenly spaced quantiles kept per benchmark (for CDF plots from results.json).
N_QUANTILES = 101


class _RawStats(BaseModel):
    # pytest-benchmark's format is not ours: unknown keys are ignored, not forbidden.
    model_config = ConfigDict(extra="ignore")

    min: float
    max: float
    mean: float
    stddev: float
    median: float
    rounds: int
    ops: float | None = None
    data: list[float] | None = None


class _RawBenchmark(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    fullname: str
    group: str | None = None
    extra_info: dict[str, Any] = Field(default_factory=dict)
    stats: _RawStats


class _RawFile(BaseModel):
    model_config = ConfigDict(extra="ignore")

    benchmarks: list[_RawBenchmark]
    machine_info: dict[str, Any] = Field(default_factory=dict)
    commit_info: dict[str, Any] = Field(default_factory=dict)
    datetime: str | None = None


class BenchStats(BaseModel):
    """Timing of one benchmark, latencies in milliseconds."""

    model_config = ConfigDict(extra="forbid")

    rounds: int = Field(ge=0, description="timed rounds (samples)")
    min: float
    max: float
    mean: float
    median: float
    stddev: float
    p50: float
    p95: float | None = Field(description="None when the raw samples were not saved")
    p99: float | None = None
    ops: float | None = Field(description="calls per second, 1 / mean")
    quantiles: list[float] | None = Field(
        default=None, description=f"{N_QUANTILES} evenly spaced quantiles (ms), for CDF plots"
    )


class BenchResult(BaseModel):
    """One benchmark's outcome in the form budgets and plots read."""

    model_config = ConfigDict(extra="forbid")

    name: str
    fullname: str
    group: str | None = None
    extra_info: dict[str, Any] = Field(default_factory=dict)
    stats: BenchStats

    def value(self, stat: str) -> float | None:
        """The named statistic (see :mod:`bench.budgets`), or None when not available."""
        if stat.startswith(EXTRA_PREFIX):
            return self.number(stat[len(EXTRA_PREFIX) :])
        if stat == "ops":
            return self.stats.ops
        if stat == "fps":
            return self.throughput()
        if stat in LATENCY_STATS:
            value = getattr(self.stats, stat)
            return None if value is None else float(value)
        raise BenchError(f"unknown statistic {stat!r}")

    def number(self, key: str) -> float | None:
        """A finite number from ``extra_info``, None when absent or not a number."""
        raw = self.extra_info.get(key)
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            return None
        return float(raw)

    def throughput(self) -> float | None:
        """Items per second: ``extra_info["throughput_fps"]``, else ``items_per_call / mean``."""
        fps = self.number("throughput_fps")
        if fps is not None:
            return fps
        items = self.number("items_per_call")
        if items is not None and self.stats.mean > 0:
            return items / (self.stats.mean / 1000.0)
        return None

    def matches(self, sel: Selector) -> bool:
        """True when every field of the selector matches this benchmark."""
        if sel.name is not None and not fnmatchcase(self.name, sel.name):
            return False
        if sel.group is not None and self.group != sel.group:
            return False
        return all(
            k in self.extra_info and _same(self.extra_info[k], v) for k, v in sel.extra.items()
        )


def _same(have: Any, want: Any) -> bool:
    # YAML `true` must not match extra_info 1, nor `1` match True.
    if isinstance(have, bool) or isinstance(want, bool):
        return isinstance(have, bool) and isinstance(want, bool) and have == want
    return bool(have == want)


def stats_from_samples(raw: _RawStats) -> BenchStats:
    """Convert seconds to ms and add percentiles computed from the raw samples."""
    ms = 1000.0
    p50: float = raw.median * ms
    p95 = p99 = None
    quantiles = None
    if raw.data:
        samples = np.asarray(raw.data, dtype=np.float64) * ms
        p50, p95, p99 = (float(x) for x in np.percentile(samples, [50, 95, 99]))
        quantiles = [float(x) for x in np.quantile(samples, np.linspace(0, 1, N_QUANTILES))]
    ops = raw.ops if raw.ops is not None else (1.0 / raw.mean if raw.mean > 0 else None)
    return BenchStats(
        rounds=len(raw.data) if raw.data else raw.rounds,
        min=raw.min * ms,
        max=raw.max * ms,
        mean=raw.mean * ms,
        median=raw.median * ms,
        stddev=raw.stddev * ms,
        p50=p50,
        p95=p95,
        p99=p99,
        ops=ops,
        quantiles=quantiles,
    )


class ResultSet(BaseModel):
    """Every benchmark of one run, plus where and when it ran."""

    model_config = ConfigDict(extra="forbid")

    benchmarks: list[BenchResult]
    machine: dict[str, Any] = Field(default_factory=dict)
    commit: dict[str, Any] = Field(default_factory=dict)
    datetime: str | None = None

    def select(self, sel: Selector) -> list[BenchResult]:
        """The benchmarks a selector matches."""
        return [b for b in self.benchmarks if b.matches(sel)]


def parse_results(data: Any, source: str = "<results>") -> ResultSet:
    """Read either pytest-benchmark's JSON or a ``results.json`` from ``shouwang bench``."""
    if not isinstance(data, dict):
        raise BenchError(f"{source}: expected a JSON object, got {type(data).__name__}")
    try:
        if data.get("schema") == RESULTS_SCHEMA:
            return ResultSet.model_validate(
                {k: data.get(k) for k in ("benchmarks", "machine", "commit", "datetime")}
            )
        raw = _RawFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise BenchError(
            f"{source}: not a pytest-benchmark JSON nor a shouwang results.json "
            f"({exc.error_count()} problem(s); first: {loc}: {first['msg']})"
        ) from None
    return ResultSet(
        benchmarks=[
            BenchResult(
                name=b.name,
                fullname=b.fullname,
                group=b.group,
                extra_info=b.extra_info,
                stats=stats_from_samples(b.stats),
            )
            for b in raw.benchmarks
        ],
        machine=raw.machine_info,
        commit=raw.commit_info,
        datetime=raw.datetime,
    )


def load_results(path: Path) -> ResultSet:
    """Read a results file from disk (see :func:`parse_results`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BenchError(f"{path}: cannot read results: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BenchError(f"{path}: not valid JSON: {exc}") from None
    return parse_results(data, str(path))
