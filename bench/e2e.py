"""End-to-end benchmark harness: N RTSP cameras → worker → Redis, glass-to-alert measured.

Parts, all real: the clock server (``bench/rtsp_clock_server.py``: gst-rtsp-server, live
x264 at the clip's native rate, send time burned into each frame), our RTSP sources
(``streams``), the batched worker (``pipeline.worker.Worker``) with the ONNX object
detector, a tracker, an intrusion rule through ``RuleEngine``, and ``AlertSink``
publishing to a real Redis. Alerts are read back from the Redis stream afterwards:
glass-to-alert = the alert's ``published`` stamp − the burned-in send time.

Until ``shouwang/runtime.py``'s ``build_worker`` lands, the worker is composed here
(:func:`run_e2e`). When ``pipeline.tracking`` is missing (its branch not merged yet), a
greedy IoU tracker stands in and the result says so (``tracker``).

Example:
    >>> clip = prepare_raw(find_clip(), Path("out/e2e"))  # doctest: +SKIP
    >>> with ClockServer(clip, cameras=4) as server:  # doctest: +SKIP
    ...     res = run_e2e(server, detector, seconds=20, warmup_s=3)
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import redis
from numpy.typing import NDArray
from prometheus_client import CollectorRegistry

from alerts import keys
from alerts.model import Alert, TrackSubject
from alerts.sink import AlertSink
from bench.clock import read_time
from bench.e2e_media import ROOT, ClockServer, find_clip, first_frame, prepare_raw
from bench.e2e_parts import IntrusionStage, IouTracker, percentiles
from bench.errors import BenchError
from detectors.detections import Detections
from detectors.objects import ObjectDetector
from pipeline.events import Finding
from pipeline.worker import FrameTracker, Worker, WorkerConfig
from shouwang.config.site import Site
from streams.contract import Source
from streams.factory import open_source
from streams.frame import Frame
from streams.options import SourceOptions

BENCH_REDIS_URL = os.environ.get("SHOUWANG_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")


class ClockedSource:
    """A source that reads each frame's burned-in send time into ``stamps["glass"]``.

    ``stamps["picked"]`` is when the worker took the frame (queue wait = picked −
    captured_at); frames without a mark pass through without ``glass``.
    """

    def __init__(self, inner: Source) -> None:
        self.inner = inner
        self.camera_id = inner.camera_id

    def read(self, timeout: float) -> Frame | None:
        """The newest frame, as the worker's ``FrameSource`` protocol wants."""
        frame = self.inner.read(timeout)
        if frame is not None:
            frame.stamps["picked"] = time.time()
            glass = read_time(frame.image)
            if glass is not None:
                frame.stamps["glass"] = glass
        return frame


GRID = (2, 4)  # rows, columns of intrusion zones over the picture


def bench_site(cameras: Sequence[str], urls: Sequence[str], width: int, height: int) -> Site:
    """A site whose cameras each watch a 2x4 grid of intrusion zones over the picture.

    One intrusion rule per zone (people only), as a site would configure lawns and
    doorways. People walking across the PETS scene enter a new zone every few seconds,
    so the rules fire on real tracks all through the clip (one alert per track entering
    a zone, as in production) and the run collects enough alerts for percentiles.
    """
    rows, cols = GRID
    zones: list[dict[str, Any]] = []
    rules: list[dict[str, Any]] = []
    for r in range(rows):
        for c in range(cols):
            x0, x1 = c * (width - 1) // cols, (c + 1) * (width - 1) // cols
            y0, y1 = r * (height - 1) // rows, (r + 1) * (height - 1) // rows
            zid = f"cell-{r}-{c}"
            poly = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
            zones.append({"id": zid, "kind": "intrusion", "polygon": poly, "classes": ["person"]})
            rules.append({"id": f"in-{zid}", "type": "intrusion", "zone": zid})
    compound = {"id": "bench", "name": "bench compound", "lat": 38.4872, "lon": 106.2309}
    return Site.model_validate(
        {
            "name": "e2e bench",
            "compounds": [compound],
            "cameras": [
                {
                    "id": cid,
                    "compound": "bench",
                    "url": url,
                    "lat": 38.4872,
                    "lon": 106.2309,
                    "zones": zones,
                    "rules": rules,
                }
                for cid, url in zip(cameras, urls, strict=True)
            ],
        }
    )


@dataclass
class E2EResult:
    """One run: throughput, glass-to-alert and where the time went."""

    streams: int
    seconds: float
    frames: int
    throughput_fps: float
    offered_fps: float
    glass_to_alert_ms: list[float]
    glass_to_done_ms: list[float]
    glass_to_decoded_ms: list[float]
    arrival_to_decoded_ms: list[float]
    stage_ms: dict[str, float]
    dropped_stale: int
    faults: int
    mean_batch: float
    max_batch: int
    tracker: str
    server_cpu_cores: float
    cpu_ms_per_frame: float
    unmarked: int
    alerts_total: int
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Flat numbers for ``benchmark.extra_info`` and the docs table."""
        a = percentiles(self.glass_to_alert_ms)
        d = percentiles(self.glass_to_done_ms)
        g = percentiles(self.glass_to_decoded_ms)
        r = percentiles(self.arrival_to_decoded_ms)
        out: dict[str, Any] = {
            "streams": self.streams,
            "throughput_fps": round(self.throughput_fps, 2),
            "offered_fps": round(self.offered_fps, 2),
            "p50_ms": a["p50"],
            "p95_ms": a["p95"],
            "p99_ms": a["p99"],
            "alerts": len(self.glass_to_alert_ms),
            "frame_p50_ms": d["p50"],
            "frame_p95_ms": d["p95"],
            "frame_p99_ms": d["p99"],
            "decoded_p50_ms": g["p50"],
            "decoded_p95_ms": g["p95"],
            "arrival_to_decoded_p50_ms": r["p50"],
            "arrival_to_decoded_p95_ms": r["p95"],
            "arrival_to_decoded_p99_ms": r["p99"],
            "frames": self.frames,
            "seconds": round(self.seconds, 2),
            "dropped_stale": self.dropped_stale,
            "faults": self.faults,
            "mean_batch": round(self.mean_batch, 2),
            "max_batch": self.max_batch,
            "tracker": self.tracker,
            "server_cpu_cores": round(self.server_cpu_cores, 2),
            "cpu_ms_per_frame": round(self.cpu_ms_per_frame, 2),
            "unmarked_frames": self.unmarked,
        }
        out.update({f"stage_{k}_ms": round(v, 2) for k, v in self.stage_ms.items()})
        out.update(self.extra)
        return out


class _Recorder:
    """The worker's sink: emits alerts for findings and keeps per-frame stamps."""

    def __init__(self, sink: AlertSink, class_names: Mapping[int, str]) -> None:
        self.sink = sink
        self.names = class_names
        self.rows: list[dict[str, float]] = []
        self._lock = threading.Lock()

    def __call__(self, frame: Frame, dets: Detections, findings: list[Finding]) -> None:
        for f in findings:
            subject = TrackSubject(
                track_id=f.track_id if f.track_id is not None else -1,
                class_name=str(f.subject.get("class_name", "person")),
                rule=str(f.subject.get("rule", "intrusion")),
                zone=f.zone,
                value=f.measured.get("seconds"),
            )
            self.sink.emit(
                frame, type="zone.intrusion", subject=subject, box=f.box, dedup_key=f.key()
            )
        row = {**frame.stamps, "captured": frame.captured_at, "done": time.time()}
        with self._lock:
            self.rows.append(row)


def _make_tracker_factory(fps: float) -> tuple[Any, str]:
    try:
        from pipeline.tracking import Tracker, TrackerConfig  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return (lambda _cid: IouTracker()), "iou-fallback"

    def make(_cid: str) -> FrameTracker:
        return Tracker(TrackerConfig(frame_rate=fps))  # type: ignore[no-any-return,unused-ignore]

    return make, "bytetrack"


def run_e2e(
    server: ClockServer,
    detector: ObjectDetector,
    *,
    seconds: float,
    warmup_s: float,
    redis_url: str = BENCH_REDIS_URL,
    max_batch: int = 8,
    max_wait_ms: float = 15.0,
    depacketiser: Literal["auto", "ffmpeg"] = "auto",
) -> E2EResult:
    """Run the worker on every camera of ``server`` for ``warmup_s + seconds``.

    Only frames whose burned-in send time falls inside the measurement window (after
    the warm-up) count, and only alerts raised on those frames. Redis ``redis_url`` is
    flushed before the run.

    Raises:
        BenchError: Redis is unreachable or no camera delivered a frame.
    """
    client = redis.Redis.from_url(redis_url, decode_responses=True, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise BenchError(f"no Redis at {redis_url}: {exc}") from exc
    client.flushdb()
    n = server.cameras
    cams = [f"cam{i}" for i in range(n)]
    clip = server.clip
    site = bench_site(cams, [server.url(i) for i in range(n)], clip.width, clip.height)
    options = SourceOptions(
        open_timeout_s=10, read_timeout_s=5, backoff_initial_s=0.2, depacketiser=depacketiser
    )
    registry = CollectorRegistry()
    raw_sources = [
        open_source(c, server.url(i), options, registry=registry) for i, c in enumerate(cams)
    ]
    make_tracker, tracker_name = _make_tracker_factory(clip.fps)
    batch = max(1, min(max_batch, n))
    with tempfile.TemporaryDirectory(prefix="e2e-state-") as state, contextlib.ExitStack() as stack:
        alert_sink = AlertSink(site, state_dir=state, redis_url=redis_url)
        stack.callback(alert_sink.close)
        for s in raw_sources:
            s.start()
            stack.callback(s.stop, 5.0)
        _wait_for_frames(raw_sources, timeout_s=30.0)
        recorder = _Recorder(alert_sink, detector.names)
        worker = Worker(
            {c: ClockedSource(s) for c, s in zip(cams, raw_sources, strict=True)},
            detector,
            make_tracker,
            lambda cid: [IntrusionStage(site.camera(cid))],
            recorder,
            fps={c: clip.fps for c in cams},
            config=WorkerConfig(max_batch=batch, max_wait_ms=max_wait_ms),
        )
        stop = threading.Event()
        thread = threading.Thread(target=worker.run, args=(stop,), name="e2e-worker", daemon=True)
        thread.start()
        time.sleep(warmup_s)
        t0, cpu0, stats0 = time.time(), server.cpu_seconds(), worker.stats()
        own0 = time.process_time()
        time.sleep(seconds)
        t1, cpu1, stats1 = time.time(), server.cpu_seconds(), worker.stats()
        own1 = time.process_time()
        stop.set()
        thread.join(timeout=30)
    alerts = _stream_alerts(client)
    client.flushdb()
    client.close()
    rows = [r for r in recorder.rows if "glass" in r and t0 <= r["glass"] < t1]
    unmarked = sum(1 for r in recorder.rows if "glass" not in r)
    if not rows:
        raise BenchError(f"no marked frame was processed in {seconds:.0f} s from {n} cameras")
    g2a = [
        1000 * (a.times.stages["published"] - a.times.stages["glass"])
        for a in alerts
        if "glass" in a.times.stages
        and "published" in a.times.stages
        and t0 <= a.times.stages["glass"] < t1
    ]
    return E2EResult(
        streams=n,
        seconds=t1 - t0,
        frames=len(rows),
        throughput_fps=len(rows) / (t1 - t0),
        offered_fps=n * clip.fps,
        glass_to_alert_ms=g2a,
        glass_to_done_ms=[1000 * (r["done"] - r["glass"]) for r in rows],
        glass_to_decoded_ms=[1000 * (r["captured"] - r["glass"]) for r in rows],
        arrival_to_decoded_ms=[
            1000 * (r["captured"] - r["arrived"]) for r in rows if "arrived" in r
        ],
        stage_ms=_stage_medians(rows),
        dropped_stale=stats1.dropped_stale - stats0.dropped_stale,
        faults=stats1.faults,
        mean_batch=((stats1.frames - stats0.frames) / max(1, stats1.batches - stats0.batches)),
        max_batch=batch,
        tracker=tracker_name,
        server_cpu_cores=(cpu1 - cpu0) / (t1 - t0),
        cpu_ms_per_frame=1000 * (own1 - own0) / len(rows),
        unmarked=unmarked,
        alerts_total=len(alerts),
    )


def _wait_for_frames(sources: Sequence[Source], timeout_s: float) -> None:
    """Block until every camera has delivered a frame: the warm-up starts streaming.

    RTSP set-up of many clients on a loaded machine can take seconds; without this a
    short run could end before the last camera's first frame.
    """
    deadline = time.monotonic() + timeout_s
    waiting = list(sources)
    while waiting:
        left = deadline - time.monotonic()
        if left <= 0:
            names = ", ".join(s.camera_id for s in waiting)
            raise BenchError(f"no frame within {timeout_s:.0f} s from camera(s) {names}")
        waiting = [s for s in waiting if s.read(min(0.5, left)) is None]


def _stage_medians(rows: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Median ms per frame of each step, and the mean of the alert step.

    The worker stamps ``inferred`` once per batch, then tracks, runs the rules and calls
    the sink frame after frame; so a frame's own tracking starts when the previous frame
    of its batch is done (``batch_wait`` is that wait). The alert step is mostly 0 (most
    frames raise nothing) and a JPEG + XADD when one fires, hence its mean too.
    """
    rule = IntrusionStage.name
    need = ("glass", "captured", "picked", "inferred", "tracked", rule, "done")
    full = sorted((r for r in rows if all(k in r for k in need)), key=lambda r: r["tracked"])
    parts: dict[str, list[float]] = {}
    prev_done: dict[float, float] = {}
    for r in full:
        start = prev_done.get(r["inferred"], r["inferred"])
        prev_done[r["inferred"]] = r["done"]
        steps = {
            "encode_to_decoded": r["captured"] - r["glass"],
            "queue": r["picked"] - r["captured"],
            "batch_and_detect": r["inferred"] - r["picked"],
            "batch_wait": start - r["inferred"],
            "track": r["tracked"] - start,
            "rules": r[rule] - r["tracked"],
            "alert_sink": r["done"] - r[rule],
        }
        for k, v in steps.items():
            parts.setdefault(k, []).append(1000 * v)
    out = {k: float(np.median(v)) for k, v in parts.items()}
    if "alert_sink" in parts:
        out["alert_sink_mean"] = float(np.mean(parts["alert_sink"]))
    return out


def _stream_alerts(client: redis.Redis) -> list[Alert]:
    out: list[Alert] = []
    entries = cast(list[tuple[str, dict[str, str]]], client.xrange(keys.ALERT_STREAM))
    for _id, fields in entries:
        doc = fields.get("alert")
        if doc:
            out.append(Alert.model_validate_json(doc))
    return out


def raw_detector_fps(
    detector: ObjectDetector, image: NDArray[np.uint8], batch: int, seconds: float
) -> dict[str, float]:
    """The detector alone at ``batch``, for ``seconds`` each: the baseline of a run.

    ``raw``: bare ``session.run`` on a letterboxed blob prepared once (the model alone);
    ``detect``: ``detector.detect`` on BGR frames (letterbox + model + NMS), which is
    what the worker calls. Same model, session and batch size as the worker's.
    """
    blob, _ = detector.preprocess([image] * batch)
    feed = {detector.input_name: blob}
    frames = [image] * batch
    out: dict[str, float] = {"raw_batch": batch}
    for name, call in (
        ("raw", lambda: detector.session.run([detector.output_name], feed)),
        ("detect", lambda: detector.detect(frames)),
    ):
        call()  # warm-up
        times: list[float] = []
        cpu0 = time.process_time()
        end = time.perf_counter() + seconds
        while time.perf_counter() < end or len(times) < 3:
            t = time.perf_counter()
            call()
            times.append(time.perf_counter() - t)
        cpu = time.process_time() - cpu0
        med = float(np.median(times))
        out[f"{name}_ms_per_call"] = round(1000 * med, 2)
        out[f"{name}_fps"] = round(batch / med, 2)
        out[f"{name}_cpu_ms_per_frame"] = round(1000 * cpu / (len(times) * batch), 2)
    return out


TABLE_COLUMNS = [
    ("streams", "streams", "{:d}"),
    ("throughput_fps", "processed fps", "{:.1f}"),
    ("raw_fps", "bare model fps, cameras on", "{:.1f}"),
    ("vs_raw_fps", "ratio", "{:.2f}"),
    ("efficiency", "of min(offered, model)", "{:.2f}"),
    ("p50_ms", "g2a p50 ms", "{:.0f}"),
    ("p95_ms", "p95", "{:.0f}"),
    ("p99_ms", "p99", "{:.0f}"),
    ("p95_goal_ms", "p95 goal", "{:.0f}"),
    ("camera_cores", "cameras' CPU (cores)", "{:.2f}"),
    ("fresh_fps", "fresh fps", "{:.1f}"),
    ("peer_fps", "peer fps", "{:.1f}"),
    ("peer_fresh_fps", "peer fresh fps", "{:.1f}"),
    ("peer_p50_ms", "peer g2a p50", "{:.0f}"),
    ("peer_p95_ms", "peer p95", "{:.0f}"),
    ("cpu_ms_per_frame", "CPU ms/frame", "{:.0f}"),
    ("peer_cpu_ms_per_frame", "peer CPU ms/frame", "{:.0f}"),
    ("decoded_p50_ms", "glass-to-decoded p50", "{:.0f}"),
]


def scaling_table(results: Path) -> str:
    """The e2e rows of a ``results.json`` / ``pytest-benchmark.json`` as a Markdown table."""
    doc = json.loads(results.read_text())
    rows = [
        b.get("extra_info", {})
        for b in doc.get("benchmarks", [])
        if b.get("extra_info", {}).get("stage") == "e2e"
        and b.get("extra_info", {}).get("impl") == "shouwang"
    ]
    rows.sort(key=lambda e: int(e["streams"]))
    head = "| " + " | ".join(t for _, t, _ in TABLE_COLUMNS) + " |"
    lines = [head, "|" + "---:|" * len(TABLE_COLUMNS)]
    for e in rows:
        cells = []
        for key, _, fmt in TABLE_COLUMNS:
            v = e.get(key)
            cells.append("-" if v is None else fmt.format(int(v) if "d" in fmt else float(v)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _main(argv: list[str]) -> None:  # pragma: no cover - manual use
    """``table RESULTS_JSON`` prints the scaling table; ``probe N SECONDS`` runs one point."""
    if argv[:1] == ["table"] and len(argv) == 2:
        print(scaling_table(Path(argv[1])))
        return
    from detectors.objects import ObjectDetectorConfig, load_object_detector

    n = int(argv[1]) if len(argv) > 1 else 1
    secs = float(argv[2]) if len(argv) > 2 else 10
    clip = prepare_raw(find_clip(), ROOT / "out" / "e2e")
    det = load_object_detector(ObjectDetectorConfig())
    with ClockServer(clip, n) as server:
        res = run_e2e(server, det, seconds=secs, warmup_s=3, max_batch=min(8, n))
    print(json.dumps(res.summary(), indent=1))
    print(json.dumps(raw_detector_fps(det, first_frame(clip), res.max_batch, 3)))


if __name__ == "__main__":
    _main(sys.argv[1:])
