"""Ingest delay before and after the marker-bit depacketiser, side by side in one run.

Each camera of the clock server is read twice at once, by two :class:`RtspSource`:
``depacketiser="ffmpeg"`` (FFmpeg's RTSP demuxer and H.264 parser: today's path before
issue 17) and ``"auto"`` (the RTP path closing each picture on the marker bit). Every
frame is read (nothing analysed), its burned-in send time recovered, and per path:

- ``glass_to_decoded``: send time → decoded (encoder, RTP, our ingest, decoder);
- ``arrival_to_decoded`` (RTP path): the picture's last packet read off the socket →
  decoded; for FFmpeg's path, which hides packet arrival, the same figure is estimated
  as its glass-to-decoded minus the RTP path's glass-to-arrival median (the two clients
  of one camera receive the same pictures at the same moments).

Example:
    >>> with ClockServer(clip, 4) as server:  # doctest: +SKIP
    ...     print(ingest_delay(server, seconds=10))
"""

from __future__ import annotations

import threading
import time
from typing import Any, Literal

import numpy as np

from bench.clock import read_time
from bench.e2e_media import ClockServer
from bench.e2e_parts import percentiles
from bench.errors import BenchError
from streams.errors import StreamError
from streams.options import SourceOptions
from streams.rtsp import RtspSource

Path_ = Literal["ffmpeg", "auto"]


def _drain(src: RtspSource, stop: threading.Event, rows: list[dict[str, float]]) -> None:
    while not stop.is_set():
        try:
            frame = src.read(0.5)
        except StreamError:
            return
        if frame is None:
            continue
        glass = read_time(frame.image)
        if glass is not None:
            rows.append({**frame.stamps, "glass": glass})


def ingest_delay(server: ClockServer, *, seconds: float, warmup_s: float = 1.5) -> dict[str, Any]:
    """Both paths on every camera of ``server`` for ``seconds``; percentiles in ms.

    Raises:
        BenchError: a path delivered no marked frame in the window.
    """
    stop = threading.Event()
    rows: dict[Path_, list[dict[str, float]]] = {"ffmpeg": [], "auto": []}
    sources: list[RtspSource] = []
    threads: list[threading.Thread] = []
    for i in range(server.cameras):
        for path in ("ffmpeg", "auto"):
            opts = SourceOptions(open_timeout_s=10, read_timeout_s=5, depacketiser=path)
            src = RtspSource(f"cam{i}-{path}", server.url(i), opts)
            src.start()
            sources.append(src)
            t = threading.Thread(target=_drain, args=(src, stop, rows[path]), daemon=True)
            t.start()
            threads.append(t)
    try:
        time.sleep(warmup_s)
        t0 = time.time()
        time.sleep(seconds)
        t1 = time.time()
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=5)
        for s in sources:
            s.stop(5.0)
    out: dict[str, Any] = {"cameras": server.cameras, "seconds": round(t1 - t0, 2)}
    window = {p: [r for r in rs if t0 <= r["glass"] < t1] for p, rs in rows.items()}
    for path, rs in window.items():
        if not rs:
            raise BenchError(f"ingest delay: no marked frame through the {path} path")
    rtp, ff = window["auto"], window["ffmpeg"]
    to_arrival = float(np.median([r["arrived"] - r["glass"] for r in rtp if "arrived" in r]))
    figures = {
        "rtp_glass_to_decoded": [1000 * (r["decoded"] - r["glass"]) for r in rtp],
        "rtp_arrival_to_decoded": [1000 * (r["decoded"] - r["arrived"]) for r in rtp],
        "ffmpeg_glass_to_decoded": [1000 * (r["decoded"] - r["glass"]) for r in ff],
        "ffmpeg_arrival_to_decoded_est": [
            1000 * (r["decoded"] - r["glass"] - to_arrival) for r in ff
        ],
    }
    for name, values in figures.items():
        for q, v in percentiles(values).items():
            out[f"{name}_{q}_ms"] = v
    out["rtp_frames"], out["ffmpeg_frames"] = len(rtp), len(ff)
    out["glass_to_arrival_p50_ms"] = round(1000 * to_arrival, 2)
    out["rtp_path_cameras"] = sum(
        1 for s in sources if s.options.depacketiser == "auto" and s.path == "rtp-marker"
    )
    return out
