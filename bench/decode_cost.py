"""What decoding a camera costs, measured on real footage: conversion, skipping, threads.

``python -m bench.decode_cost [VIDEO]`` re-encodes the clip (PETS 2009 by default) into
H.264 the way cameras send it, then measures on one core, in this process:

- ``convert``: per decoded 768x576 frame, BGR for the detector: PyAV's ``bgr24``
  (swscale) against ``yuv420p`` + OpenCV ``cvtColor`` (I420), each followed by the
  letterbox to the network input, and ``none`` (decode only);
- ``skip_nonref``: decode time per frame with ``skip_frame=NONREF`` against ``DEFAULT``
  on the live stream (``zerolatency``: I and P pictures only, as most cameras stream)
  and on one with two non-reference B pictures after each P (GStreamer's x264enc
  ``bframes=2 b-pyramid=false``, as some cameras' "smart" codecs and NVR recordings);
- ``threads``: decode time per frame and the frames of delay (how many packets go in
  before the first frame comes out) with ``SLICE``, ``FRAME`` and ``AUTO`` threading.

Prints one JSON document. CPU time (``time.process_time``) is quoted beside wall time:
load from other jobs on a shared machine inflates it far less.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import av
import cv2
import numpy as np
from numpy.typing import NDArray

from bench.e2e_media import find_clip
from detectors.yolo import letterbox

FRAMES = int(os.environ.get("SHOUWANG_DECODE_FRAMES", "150"))
NET = (416, 416)


def encode(video: Path, frames: int, options: dict[str, str]) -> bytes:
    """The first ``frames`` of ``video`` as a raw H.264 elementary stream."""
    buf = io.BytesIO()
    with av.open(str(video)) as src, av.open(buf, "w", format="h264") as out:
        stream = out.add_stream("libx264", rate=10, options=options)
        first = True
        for i, frame in enumerate(src.decode(video=0)):
            if i >= frames:
                break
            if first:
                stream.width, stream.height = frame.width // 2 * 2, frame.height // 2 * 2
                stream.pix_fmt = "yuv420p"
                first = False
            img = frame.reformat(width=stream.width, height=stream.height, format="yuv420p")
            img.pts, img.time_base = i, Fraction(1, 10)
            for p in stream.encode(img):
                out.mux(p)
        for p in stream.encode():
            out.mux(p)
    return buf.getvalue()


def encode_bframes(video: Path, frames: int) -> bytes:
    """The clip as H.264 with two non-reference B pictures between P pictures.

    GStreamer's x264enc (``bframes=2 b-pyramid=false``), from the benchmark's raw I420
    copy: PyAV's libx264 wrapper here ignored every B-frame setting (0 B pictures).
    """
    import subprocess
    import tempfile

    from bench.e2e_media import ROOT, prepare_raw

    clip = prepare_raw(video, ROOT / "out" / "e2e")
    size = clip.width * clip.height * 3 // 2
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "b.h264"
        subprocess.run(
            [
                "gst-launch-1.0",
                "-q",
                "filesrc",
                f"location={clip.path}",
                f"num-buffers={frames}",
                f"blocksize={size}",
                "!",
                "rawvideoparse",
                f"width={clip.width}",
                f"height={clip.height}",
                "format=i420",
                "framerate=10/1",
                "!",
                "x264enc",
                "speed-preset=veryfast",
                "bframes=2",
                "b-pyramid=false",
                "key-int-max=20",
                "!",
                "video/x-h264,stream-format=byte-stream",
                "!",
                "filesink",
                f"location={out}",
            ],
            check=True,
            timeout=120,
        )
        return out.read_bytes()


def _decode(data: bytes, each: Callable[[av.VideoFrame], Any], **ctx: Any) -> dict[str, float]:
    """Decode ``data`` once, calling ``each`` on every frame; time and CPU per frame."""
    with av.open(io.BytesIO(data), mode="r", format="h264") as c:
        s = c.streams.video[0]
        s.thread_type = ctx.get("thread_type", "SLICE")
        s.thread_count = ctx.get("thread_count", 1)
        if "skip_frame" in ctx:
            s.codec_context.skip_frame = ctx["skip_frame"]
        n, packets, delay, b_pictures = 0, 0, -1, 0
        t0, c0 = time.perf_counter(), time.process_time()
        for packet in c.demux(s):
            packets += 1
            for frame in packet.decode():
                if delay < 0:
                    delay = packets - 1
                each(frame)
                n += 1
                b_pictures += frame.pict_type == av.video.frame.PictureType.B
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "frames": n,
        "ms_per_frame": round(1000 * wall / max(1, n), 3),
        "cpu_ms_per_frame": round(1000 * cpu / max(1, n), 3),
        "frames_of_delay": delay,
        "b_pictures": b_pictures,
        "cpu_ms_total": round(1000 * cpu, 2),
    }


def _rounds(data: bytes, modes: list[dict[str, Any]], rounds: int = 3) -> list[dict[str, Any]]:
    """Each decoding mode ``rounds`` times, interleaved; the round with the median CPU.

    Interleaving puts every mode under the same load from other jobs, as near as a shared
    machine allows.
    """
    runs: list[list[dict[str, float]]] = [[] for _ in modes]
    for _ in range(rounds):
        for i, mode in enumerate(modes):
            runs[i].append(_decode(data, lambda f: None, **mode))
    return [sorted(r, key=lambda x: x["cpu_ms_total"])[len(r) // 2] for r in runs]


def convert_pairs(data: bytes) -> dict[str, Any]:
    """Both BGR conversions (+ letterbox) of every decoded frame, one right after the other.

    Paired on the same frame at the same moment, so load drift cancels; medians per frame.
    """
    sws: list[float] = []
    ocv: list[float] = []
    with av.open(io.BytesIO(data), mode="r", format="h264") as c:
        for frame in c.decode(video=0):
            for fn, acc in ((bgr_swscale, sws), (bgr_opencv, ocv)):
                t = time.thread_time()
                fn(frame)
                acc.append(1000 * (time.thread_time() - t))
    a, b = float(np.median(sws)), float(np.median(ocv))
    return {
        "pyav_bgr24_cpu_ms": round(a, 3),
        "yuv420p_opencv_cpu_ms": round(b, 3),
        "opencv_saves": round(1 - b / a, 3),
        "frames": len(sws),
    }


def bgr_swscale(frame: av.VideoFrame) -> None:
    """PyAV's own conversion, then the letterbox."""
    letterbox([cast("NDArray[np.uint8]", frame.to_ndarray(format="bgr24"))], NET)


def bgr_opencv(frame: av.VideoFrame) -> None:
    """The decoder's yuv420p planes converted by OpenCV, then the letterbox."""
    yuv = frame.to_ndarray()
    letterbox([cast("NDArray[np.uint8]", cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR_I420))], NET)


def measure(video: Path) -> dict[str, Any]:
    """Every figure of the module docstring, for ``video``."""
    cv2.setNumThreads(1)
    live = encode(video, FRAMES, {"preset": "veryfast", "tune": "zerolatency", "g": "20"})
    nvr = encode_bframes(video, FRAMES)
    out: dict[str, Any] = {"clip": video.name, "frames": FRAMES, "cv2_threads": 1}
    out["convert"] = convert_pairs(live)
    out["decode_only"] = _decode(live, lambda f: None)
    skip = ("DEFAULT", "NONREF")
    out["skip_nonref"] = {}
    for stream, data in (("bframes2", nvr), ("zerolatency", live)):
        runs = _rounds(data, [{"skip_frame": m} for m in skip])
        out["skip_nonref"][stream] = dict(zip(skip, runs, strict=True))
        out["skip_nonref"][stream]["saves"] = round(
            1 - runs[1]["cpu_ms_total"] / max(1e-9, runs[0]["cpu_ms_total"]), 3
        )
    out["threads"] = {
        f"{t}x{n}": _decode(live, lambda f: None, thread_type=t, thread_count=n)
        for t, n in (("SLICE", 1), ("SLICE", 2), ("FRAME", 2), ("AUTO", 0))
    }
    out["load_average"] = os.getloadavg()
    return out


if __name__ == "__main__":
    clip = Path(sys.argv[1]) if len(sys.argv) > 1 else find_clip()
    print(json.dumps(measure(clip), indent=1))
