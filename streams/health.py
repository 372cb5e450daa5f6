"""Per-camera health: a snapshot for people and Prometheus metrics for machines."""

from __future__ import annotations

import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, TypedDict

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Enum, Gauge


class State(StrEnum):
    """Where a source is in its life."""

    CONNECTING = "connecting"  # first attempt to open
    STREAMING = "streaming"  # frames are being decoded
    RECONNECTING = "reconnecting"  # lost or never reached; waiting to try again
    STOPPED = "stopped"  # stopped by its owner, or a file ended
    FAILED = "failed"  # gave up (connect_retries exhausted, or a file that cannot be read)


@dataclass(frozen=True, slots=True)
class Health:
    """A point-in-time view of one source; safe to print, log or serve (no secrets).

    Attributes:
        camera_id: the site's camera id.
        url: the stream URL with credentials masked.
        state: see :class:`State`.
        fps_received: video packets per second off the wire (or file), last few seconds.
        fps_decoded: frames per second out of the decoder, last few seconds.
        frames_decoded: frames decoded since the source started.
        frames_delivered: frames handed to the reader by ``read()``.
        frames_dropped: decoded frames the reader never got because a newer one replaced
            them (latest-frame semantics); frames skipped by ``max_fps`` are not drops.
        reconnects: times the source lost its stream (error, stall or end of a live
            stream) and set out to reopen it.
        last_error: the latest error, redacted; None until one happens.
        last_frame_at: wall-clock time of the latest decoded frame, or None.
        width: picture width in pixels, 0 until known.
        height: picture height in pixels, 0 until known.
        decode_errors: packets the decoder rejected plus frames it could only conceal
            (damaged data); such frames are still delivered, but the fault is counted.
    """

    camera_id: str
    url: str
    state: State
    fps_received: float
    fps_decoded: float
    frames_decoded: int
    frames_delivered: int
    frames_dropped: int
    reconnects: int
    last_error: str | None
    last_frame_at: float | None
    width: int
    height: int
    decode_errors: int = 0

    @property
    def age_s(self) -> float | None:
        """Seconds since the latest decoded frame, or None before the first."""
        return None if self.last_frame_at is None else max(0.0, time.time() - self.last_frame_at)

    def line(self) -> str:
        """One human-readable line, as ``shouwang streams probe`` prints it."""
        res = f"{self.width}x{self.height}" if self.width else "?x?"
        err = f"  last error: {self.last_error}" if self.last_error else ""
        return (
            f"{self.camera_id}: {self.state.value:<12} {res:>9}  "
            f"fps rx {self.fps_received:5.1f} dec {self.fps_decoded:5.1f}  "
            f"drops {self.frames_dropped}  reconnects {self.reconnects}"
            f"{f'  decode errors {self.decode_errors}' if self.decode_errors else ''}{err}"
        )


class RateMeter:
    """Events per second over a sliding window; cheap enough to call per packet."""

    def __init__(self, window_s: float = 2.0) -> None:
        self._window = window_s
        self._times: deque[float] = deque(maxlen=4096)
        self._since = time.monotonic()
        self._lock = threading.Lock()

    def tick(self, now: float | None = None) -> None:
        """Count one event."""
        self._times.append(time.monotonic() if now is None else now)

    def reset(self) -> None:
        """Forget past events (after a reconnect, say)."""
        with self._lock:
            self._times.clear()
            self._since = time.monotonic()

    def rate(self, now: float | None = None) -> float:
        """Events per second over the window (or since the last reset, if shorter)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            cutoff = now - self._window
            while self._times and self._times[0] < cutoff:
                self._times.popleft()
            span = min(self._window, now - self._since)
            return len(self._times) / span if span > 0.05 else 0.0


class _MetricArgs(TypedDict):
    labelnames: list[str]
    registry: CollectorRegistry


class StreamMetrics:
    """The ``shouwang_stream_*`` Prometheus metrics of one registry, labelled by camera.

    Metric objects are created once per registry (``for_registry``), so any number of
    sources can share one registry and tests can use their own.
    """

    _by_registry: ClassVar[weakref.WeakKeyDictionary[CollectorRegistry, StreamMetrics]] = (
        weakref.WeakKeyDictionary()
    )
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, registry: CollectorRegistry) -> None:
        p = "shouwang_stream_"
        kw: _MetricArgs = {"labelnames": ["camera"], "registry": registry}
        self.packets = Counter(f"{p}packets_received", "Video packets received", **kw)
        self.decoded = Counter(f"{p}frames_decoded", "Frames decoded", **kw)
        self.delivered = Counter(f"{p}frames_delivered", "Frames handed to the reader", **kw)
        self.dropped = Counter(
            f"{p}frames_dropped", "Decoded frames replaced before the reader took them", **kw
        )
        self.skipped = Counter(f"{p}frames_skipped", "Frames skipped by max_fps decimation", **kw)
        self.reconnects = Counter(f"{p}reconnects", "Times the stream was lost and reopened", **kw)
        self.errors = Counter(f"{p}errors", "Open, read and decode errors", **kw)
        self.up = Gauge(f"{p}up", "1 while frames are being decoded, else 0", **kw)
        self.fps = Gauge(f"{p}fps_decoded", "Decoded frames per second (recent)", **kw)
        self.last_frame = Gauge(
            f"{p}last_frame_timestamp_seconds", "Wall-clock time of the latest frame", **kw
        )
        self.width = Gauge(f"{p}width_pixels", "Picture width", **kw)
        self.height = Gauge(f"{p}height_pixels", "Picture height", **kw)
        self.state = Enum(
            f"{p}state",
            "Source state",
            states=[s.value for s in State],
            **kw,
        )

    @classmethod
    def for_registry(cls, registry: CollectorRegistry | None = None) -> StreamMetrics:
        """The metrics registered in ``registry`` (default: the global one)."""
        reg = REGISTRY if registry is None else registry
        with cls._lock:
            metrics = cls._by_registry.get(reg)
            if metrics is None:
                metrics = cls._by_registry[reg] = cls(reg)
            return metrics


class SurplusFrames:
    """Says, once per camera, when it sends more frames than its analysis rate needs.

    Every frame a camera sends is decoded (H.264 pictures depend on the earlier ones),
    but only ``fps`` of them per second are analysed; the rest cost decode CPU for
    nothing. The cheapest fix is on the camera: a sub-stream at the analysis rate.

    Example:
        >>> advice = SurplusFrames({"gate": 5.0})
        >>> advice.check({"gate": health})  # doctest: +SKIP
        ['camera gate sends 25 fps but is analysed at 5 fps: ...']
    """

    #: Sending more than this times the analysis rate earns a note.
    FACTOR = 1.5

    def __init__(self, analysis_fps: dict[str, float]) -> None:
        self.analysis_fps = analysis_fps
        self._told: set[str] = set()

    def check(self, health: dict[str, Health]) -> list[str]:
        """New notes for cameras streaming above ``FACTOR`` x their analysis fps."""
        out: list[str] = []
        for cid, h in health.items():
            want = self.analysis_fps.get(cid)
            sent = h.fps_decoded
            if cid in self._told or want is None or h.state is not State.STREAMING:
                continue
            if h.frames_decoded < 4 * sent:  # a rate over the first seconds is not one yet
                continue
            if sent > self.FACTOR * want:
                self._told.add(cid)
                out.append(
                    f"camera {cid} sends {sent:.0f} fps but is analysed at {want:g} fps: "
                    f"{sent - want:.0f} decoded frames/s are never looked at; set the "
                    f"camera's stream (its sub-stream) to {want:g} fps, the cheapest fix"
                )
        return out
