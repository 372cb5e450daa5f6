"""The worker's Prometheus metrics (``shouwang_worker_*``), labelled by camera."""

from __future__ import annotations

import threading
import weakref
from typing import ClassVar

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

# Glass-to-alert buckets in seconds: CPU runs sit around 0.2-2 s, GPU ones far below.
LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)


class WorkerMetrics:
    """Created once per registry (``for_registry``), so many workers and tests can share."""

    _by_registry: ClassVar[weakref.WeakKeyDictionary[CollectorRegistry, WorkerMetrics]] = (
        weakref.WeakKeyDictionary()
    )
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, registry: CollectorRegistry) -> None:
        p = "shouwang_worker_"
        labels = ["camera"]
        self.processed = Counter(
            f"{p}frames_processed", "Frames through detection, tracking and stages",
            labels, registry=registry,
        )  # fmt: skip
        self.stale = Counter(
            f"{p}frames_stale", "Frames dropped as older than stale_after_s when picked",
            labels, registry=registry,
        )  # fmt: skip
        self.faults = Counter(
            f"{p}faults", "Read errors, stage errors and resolution changes", labels,
            registry=registry,
        )  # fmt: skip
        self.findings = Counter(
            f"{p}findings", "Findings handed to the sink", labels, registry=registry
        )
        self.latency = Histogram(
            f"{p}frame_latency_seconds", "Frame captured → sink done (glass-to-alert path)",
            labels, registry=registry, buckets=LATENCY_BUCKETS,
        )  # fmt: skip
        self.batch = Histogram(
            f"{p}batch_size", "Frames per detector call", registry=registry,
            buckets=(1, 2, 3, 4, 6, 8, 12, 16, 32, 64),
        )  # fmt: skip

    @classmethod
    def for_registry(cls, registry: CollectorRegistry | None = None) -> WorkerMetrics:
        """The metrics registered in ``registry`` (default: the global one)."""
        reg = REGISTRY if registry is None else registry
        with cls._lock:
            metrics = cls._by_registry.get(reg)
            if metrics is None:
                metrics = cls._by_registry[reg] = cls(reg)
            return metrics
