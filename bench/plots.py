"""PNG plots of a run (matplotlib, Agg backend: no display needed).

* ``latency_cdf.png``: one panel per stage (``extra_info["stage"]``, else the group), the
  cumulative distribution of per-call latency of each benchmark in it.
* ``scaling.png``: for benchmarks that report ``extra_info["streams"]``, throughput and p95
  latency against the number of streams, one curve per series.

See docs/bench.md for the ``extra_info`` convention these read.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter, ScalarFormatter

from bench.results import BenchResult, ResultSet


def stage_of(b: BenchResult) -> str:
    """The stage a benchmark belongs to: ``extra_info["stage"]``, else its group."""
    return str(b.extra_info.get("stage") or b.group or "other")


def p95_latency(b: BenchResult) -> float | None:
    """p95 latency in ms: ``extra_info["p95_ms"]`` (per item), else the call's own p95.

    A row that reports ``p95_ms`` as null (no sample in its window) has none: the call's
    own time would be the length of the whole run, not a latency.
    """
    if "p95_ms" in b.extra_info and b.extra_info["p95_ms"] is None:
        return None
    own = b.number("p95_ms")
    return own if own is not None else b.stats.p95


def plot_cdf(results: ResultSet, path: Path) -> Path | None:
    """Latency CDF per stage; None when no benchmark kept its raw samples."""
    by_stage: dict[str, list[BenchResult]] = defaultdict(list)
    for b in results.benchmarks:
        if b.stats.quantiles:
            by_stage[stage_of(b)].append(b)
    if not by_stage:
        return None
    stages = sorted(by_stage)
    cols = min(3, len(stages))
    rows = math.ceil(len(stages) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 3.8 * rows), squeeze=False)
    for ax, stage in zip(axes.flat, stages, strict=False):
        lo, hi = math.inf, 0.0
        for b in by_stage[stage]:
            q = np.asarray(b.stats.quantiles)
            ax.plot(q, np.linspace(0, 1, len(q)), label=b.name, drawstyle="steps-post")
            lo, hi = min(lo, float(q[0])), max(hi, float(q[-1]))
        if lo > 0 and hi / lo > 20:
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(f"stage: {stage}")
        ax.set_xlabel("latency per call (ms)")
        ax.set_ylabel("fraction of calls ≤ x")
        ax.set_ylim(0, 1.01)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    for ax in list(axes.flat)[len(stages) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return _save(fig, path)


_EXTRA_CURVES = [
    ("bare model, same cameras on", "raw_fps_loaded", "_none"),
    ("peer", "peer_fps", "peer_p95_ms"),
    ("fresh", "fresh_fps", "_none"),
    ("peer fresh", "peer_fresh_fps", "_none"),
]


def plot_scaling(results: ResultSet, path: Path) -> Path | None:
    """Throughput and p95 latency against streams; None when no benchmark reports streams."""
    series: dict[str, list[tuple[float, float | None, float | None]]] = defaultdict(list)
    for b in results.benchmarks:
        streams = b.number("streams")
        if streams is None:
            continue
        name = str(b.extra_info.get("series") or b.group or stage_of(b))
        series[name].append((streams, b.throughput(), p95_latency(b)))
        # rows that carry a peer measured beside them (e2e: the OpenCV + ByteTrack loop)
        # and fresh frames/s (within the p95 goal) get curves of their own
        for label, fps_key, p95_key in _EXTRA_CURVES:
            fps = b.number(fps_key)
            if fps is not None:
                series[f"{name} {label}"].append((streams, fps, b.number(p95_key)))
    if not series:
        return None
    fig, (ax_t, ax_l) = plt.subplots(1, 2, figsize=(11, 4))
    ticks: set[float] = set()
    for name, points in sorted(series.items()):
        points.sort()
        xs = [p[0] for p in points]
        ticks.update(xs)
        tput = [np.nan if p[1] is None else p[1] for p in points]
        lat = [np.nan if p[2] is None else p[2] for p in points]
        ax_t.plot(xs, tput, marker="o", label=name)
        ax_l.plot(xs, lat, marker="o", label=name)
    for ax, ylabel in ((ax_t, "throughput (items/s)"), (ax_l, "p95 latency (ms)")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(ticks), [f"{t:g}" for t in sorted(ticks)])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("streams")
        ax.set_ylabel(ylabel)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    ax_t.set_title("throughput vs streams")
    ax_l.set_title("p95 latency vs streams")
    fig.tight_layout()
    return _save(fig, path)


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_plots(results: ResultSet, out_dir: Path) -> list[Path]:
    """Write every plot the results allow; returns the files written."""
    written = [
        plot_cdf(results, out_dir / "latency_cdf.png"),
        plot_scaling(results, out_dir / "scaling.png"),
    ]
    return [p for p in written if p is not None]
