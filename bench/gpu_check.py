"""What one GPU serves: the detector per provider and batch, hardware decode, streams.

``scripts/gpu-check`` installs ``onnxruntime-gpu`` and TensorRT's libraries into the
venv and runs ``python -m bench.gpu_check --out out/gpu-check.json``, which measures,
each for ``--seconds`` after a warm-up, within ``--budget-s`` in all:

- ``detector``: yolov4-tiny (416, the default ``ObjectDetectorConfig``) frames/s and ms
  per call at batch 1, 8, 32 and 64, bare ``infer`` (I/O binding on the device) and
  ``detect()`` (letterbox + model + NMS), for each of ``tensorrt`` (FP16, engine and
  timing caches in the cache dir, profile 1..64) and ``cuda``; the provider that really
  ran is recorded (a fallback says why in the log and here);
- ``decode``: H.264 768x576 (the PETS clip re-encoded as cameras send it) decoded by
  16 and 64 threads at once through PyAV's CUDA hwaccel, total frames/s (and the CPU
  decoder at the same counts, for scale);
- ``streams_per_gpu``: cameras at ``--camera-fps`` one GPU serves within the latency
  budget, from those parts: the largest N whose batch min(N, 64) the detector runs at
  N x analysis fps with 2 x its batch latency + 100 ms within ``--budget-ms``, capped
  by what hardware decode sustains. An estimate from measured parts, not an
  end-to-end run, and named so in the JSON.

Without a GPU every provider falls back to the CPU and decode to software; the JSON
then says so (``gpu: null``) and the figures are CPU figures, useful only to test the
script (``--providers cpu --batches 1,8 --streams 2 --seconds 1``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, cast

import av
import numpy as np
import onnxruntime as ort

from bench.decode_cost import encode
from bench.e2e_media import find_clip
from detectors.objects import ObjectDetectorConfig, load_object_detector
from detectors.runtime import PROVIDERS, Provider
from streams import hwaccel


def _gpu_name() -> str | None:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _timed(call: Any, seconds: float) -> tuple[float, int]:
    """Median seconds per call of ``call`` for ``seconds`` (at least 3 calls)."""
    times: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 3:
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), len(times)


def detector_figures(
    provider: Provider, batches: list[int], seconds: float, image: np.ndarray[Any, Any]
) -> dict[str, Any]:
    """Frames/s per batch size on ``provider`` (first call: engine build, timed apart)."""
    t0 = time.perf_counter()
    det = load_object_detector(ObjectDetectorConfig(provider=provider, max_batch=max(batches)))
    out: dict[str, Any] = {"asked": provider, "ran_on": det.session.get_providers()[0]}
    out["session_s"] = round(time.perf_counter() - t0, 2)
    out["fell_back"] = out["ran_on"] != PROVIDERS[provider]
    for b in batches:
        frames = [image] * b
        blob, _ = det.preprocess(frames)
        t = time.perf_counter()
        det.infer(blob)  # first call at this shape: TensorRT builds or loads its engine
        first = time.perf_counter() - t
        infer_s, n = _timed(lambda blob=blob: det.infer(blob), seconds)
        detect_s, _ = _timed(lambda frames=frames: det.detect(frames), seconds / 2)
        out[f"batch_{b}"] = {
            "first_call_s": round(first, 3),
            "infer_ms": round(1000 * infer_s, 3),
            "infer_fps": round(b / infer_s, 1),
            "detect_ms": round(1000 * detect_s, 3),
            "detect_fps": round(b / detect_s, 1),
            "calls": n,
        }
    return out


def decode_figures(data: bytes, streams: int, seconds: float, hw: bool) -> dict[str, Any]:
    """Total decoded frames/s with ``streams`` decoders at once, looping the clip."""
    import io

    stop = threading.Event()
    counts = [0] * streams
    errors: list[str] = []
    accel = hwaccel.cuda_hwaccel() if hw else None

    def run(i: int) -> None:
        try:
            while not stop.is_set():
                with av.open(io.BytesIO(data), mode="r", format="h264", hwaccel=accel) as c:
                    for _frame in c.decode(video=0):
                        counts[i] += 1
                        if stop.is_set():
                            return
        except Exception as exc:  # report, do not hide: a decoder that cannot start
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(streams)]
    for t in threads:
        t.start()
    time.sleep(min(1.0, seconds / 2))
    c0, t0 = sum(counts), time.perf_counter()
    time.sleep(seconds)
    c1, t1 = sum(counts), time.perf_counter()
    stop.set()
    for t in threads:
        t.join(timeout=10)
    fps = (c1 - c0) / (t1 - t0)
    return {
        "streams": streams,
        "hwaccel": accel is not None,
        "fps": round(fps, 1),
        "fps_per_stream": round(fps / streams, 2),
        "errors": errors[:3],
    }


def streams_per_gpu(
    det: dict[str, Any], decode_fps: float | None, analysis_fps: float, budget_ms: float
) -> dict[str, Any]:
    """The largest camera count the measured parts sustain within the latency budget."""
    best = 0
    limit = "detector"
    for key, fig in det.items():
        if not key.startswith("batch_"):
            continue
        b = int(key.split("_")[1])
        if 2 * fig["infer_ms"] + 100 > budget_ms:
            continue
        # at batch b the detector sustains fps_b / analysis_fps cameras, if that many
        # cameras fill batches of b (fewer cameras make smaller, slower-per-frame batches)
        n = int(min(fig["infer_fps"], fig["detect_fps"]) / analysis_fps)
        if n >= b:
            best = max(best, n)
    if decode_fps is not None:
        cap = int(decode_fps / analysis_fps)
        if cap < best:
            best, limit = cap, "decode"
    return {"streams": best, "limited_by": limit, "estimate": "from measured parts"}


def main(argv: list[str] | None = None) -> int:
    """Measure, print and write the JSON; 0 unless nothing could be measured."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("out/gpu-check.json"))
    ap.add_argument("--providers", default="tensorrt,cuda")
    ap.add_argument("--batches", default="1,8,32,64")
    ap.add_argument("--streams", default="16,64", help="concurrent decoders")
    ap.add_argument("--seconds", type=float, default=4.0, help="per measurement")
    ap.add_argument("--budget-s", type=float, default=420.0, help="stop measuring after this")
    ap.add_argument("--camera-fps", type=float, default=10.0, help="analysis fps per camera")
    ap.add_argument("--budget-ms", type=float, default=500.0, help="p95 glass-to-alert goal")
    args = ap.parse_args(argv)
    deadline = time.monotonic() + args.budget_s
    doc: dict[str, Any] = {
        "gpu": _gpu_name(),
        "onnxruntime": ort.__version__,
        "providers_available": ort.get_available_providers(),
        "pyav_hwdevices": av.codec.hwaccel.hwdevices_available(),
        "load_average": os.getloadavg(),
        "detector": {},
        "decode": [],
        "skipped": [],
    }
    clip = find_clip()
    data = encode(clip, 100, {"preset": "veryfast", "tune": "zerolatency", "g": "20"})
    with av.open(str(clip)) as c:
        first = next(c.decode(video=0)).to_ndarray(format="bgr24")
    image = np.ascontiguousarray(first)
    for p in args.providers.split(","):
        if time.monotonic() > deadline:
            doc["skipped"].append(f"detector {p}: time budget spent")
            continue
        batches = [int(b) for b in args.batches.split(",")]
        doc["detector"][p] = detector_figures(cast(Provider, p), batches, args.seconds, image)
    decode_64: float | None = None
    for n in (int(s) for s in args.streams.split(",")):
        for hw in (True, False):
            if time.monotonic() > deadline:
                doc["skipped"].append(f"decode {n} streams hw={hw}: time budget spent")
                continue
            fig = decode_figures(data, n, args.seconds, hw)
            doc["decode"].append(fig)
            if hw:
                decode_64 = fig["fps"] if fig["hwaccel"] else None
    doc["hw_decode_off_reason"] = hwaccel.reason
    doc["streams_per_gpu"] = {
        p: streams_per_gpu(d, decode_64, args.camera_fps, args.budget_ms)
        for p, d in doc["detector"].items()
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1))
    print(json.dumps(doc, indent=1))
    return 0 if doc["detector"] or doc["decode"] else 2


if __name__ == "__main__":
    sys.exit(main())
