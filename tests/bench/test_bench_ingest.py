"""Ingest throughput: frames/s through our sources next to PyAV's raw decode, same run.

Run for figures (docs/streams.md quotes them)::

    .venv/bin/python -m pytest tests/bench/test_bench_ingest.py --benchmark-enable

The clip is 720p H.264 real footage (the demo composition, 8 s at 25 fps). "raw" is
PyAV decoding the clip and converting every frame to a BGR array in one thread per
stream — the least any ingest must do — with the same decoder threading the file source
uses. "source" is :class:`streams.FileSource` read as fast as possible (lossless mode):
decode thread, one-frame slot, ``read()``, BGR conversion, health and metrics. The
summary printed at the end gives frames/s from the medians and the source/raw ratio.
The 8-stream cases are CPU-bound on small machines; both sides share the same cores.
A last case plays 8 live 720p cameras from the real RTSP server at 25 fps and reports
whether each keeps up and the CPU it costs.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import av
import pytest
from prometheus_client import CollectorRegistry
from pytest_benchmark.fixture import BenchmarkFixture

from shouwang.demo import SHOTS, compose
from streams import SourceOptions, StreamEnded, open_source
from tests.streams.conftest import RtspServer, _gi_missing

pytestmark = [
    pytest.mark.bench,
    pytest.mark.slow,
]  # each case runs for seconds even as a smoke test

CLIP_SECONDS = 8.0
STREAMS = 8
Results = dict[str, float]


@pytest.fixture(scope="module")
def clip_720p(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    path = compose(
        SHOTS["north-gate"], tmp_path_factory.mktemp("bench") / "720p.mp4", seconds=CLIP_SECONDS
    )
    with av.open(str(path)) as c:
        frames = sum(1 for _ in c.decode(video=0))
    return path, frames


@pytest.fixture(scope="module")
def results(request: pytest.FixtureRequest) -> Iterator[Results]:
    """Collects frames/s per case and prints the ratios when the module is done."""
    fps: Results = {}
    yield fps
    if not fps:
        return
    lines = ["", f"ingest, 720p H.264, {os.cpu_count()} CPU(s), load {os.getloadavg()[0]:.1f}:"]
    lines += [f"  {name:<28} {value:8.1f}" for name, value in fps.items()]
    for n in (1, STREAMS):
        raw, ours = fps.get(f"raw x{n} frames/s"), fps.get(f"source x{n} frames/s")
        if raw and ours:
            lines.append(f"  source/raw x{n}: {ours / raw:.1%}")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print("\n".join(lines))


def raw_decode(path: Path) -> int:
    """PyAV alone: decode and convert every frame to BGR, as the source does."""
    n = 0
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in c.decode(stream):
            frame.to_ndarray(format="bgr24")
            n += 1
    return n


def source_read(path: Path) -> int:
    """Our FileSource, read as fast as it goes; every frame is delivered."""
    n = 0
    opts = SourceOptions(realtime=False)
    with open_source("bench", str(path), opts, registry=CollectorRegistry()) as src:
        while True:
            try:
                if src.read(timeout=10.0) is not None:
                    n += 1
            except StreamEnded:
                return n


def concurrently(fn: Callable[[Path], int], path: Path, n: int) -> int:
    counts = [0] * n

    def work(i: int) -> None:
        counts[i] = fn(path)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts)


def _pedantic(benchmark: BenchmarkFixture) -> Callable[..., Any]:
    """``benchmark.pedantic``, typed (pytest-benchmark ships no annotations)."""
    return cast("Callable[..., Any]", benchmark.pedantic)


@pytest.mark.parametrize("n", [1, STREAMS])
def test_ingest_vs_raw_decode(
    benchmark: BenchmarkFixture, clip_720p: tuple[Path, int], results: Results, n: int
) -> None:
    """Source throughput (the benchmark) with PyAV's raw decode timed in between rounds.

    Each round first decodes the clip raw (in ``setup``, timed here, not by the
    benchmark), then through the sources (timed by the benchmark), so both see the same
    machine load even on a busy host; the ratio is of the two medians.
    """
    path, frames = clip_720p
    expected = n * frames
    raw_times: list[float] = []
    counts: list[int] = []

    def raw_round() -> None:
        t = time.perf_counter()
        counts.append(concurrently(raw_decode, path, n))
        raw_times.append(time.perf_counter() - t)

    rounds = 7 if benchmark.enabled else 1
    got = _pedantic(benchmark)(
        lambda: concurrently(source_read, path, n), setup=raw_round, rounds=rounds
    )
    assert got == expected  # every frame decoded and delivered, none lost
    assert counts and set(counts) == {expected}
    if benchmark.enabled and benchmark.stats is not None:
        ours = expected / benchmark.stats.stats.median
        raw = expected / statistics.median(raw_times)
        results[f"raw x{n} frames/s"] = raw
        results[f"source x{n} frames/s"] = ours
        st = benchmark.stats.stats
        benchmark.extra_info.update(
            stage="decode",
            impl="shouwang",
            streams=n,
            raw_fps_median=round(raw, 1),
            raw_fps_range=[
                round(expected / max(raw_times), 1),
                round(expected / min(raw_times), 1),
            ],
            source_fps_median=round(ours, 1),
            source_fps_range=[round(expected / st.max, 1), round(expected / st.min, 1)],
            ratio=round(ours / raw, 3),
        )


@pytest.mark.rtsp
@pytest.mark.slow
def test_eight_live_rtsp_cameras_keep_up(
    benchmark: BenchmarkFixture,
    clip_720p: tuple[Path, int],
    results: Results,
) -> None:
    problem = _gi_missing()
    if problem:
        pytest.fail(f"{problem}: run `bash scripts/setup` as root")
    path, _ = clip_720p
    server = RtspServer({"long": path, "short": path})
    server.start()
    seconds = 5.0 if benchmark.enabled else 2.0
    try:

        def run() -> tuple[float, float]:
            reg = CollectorRegistry()
            sources = [open_source(f"cam{i}", server.url(), registry=reg) for i in range(STREAMS)]
            for s in sources:
                s.start()
            deadline = time.monotonic() + 20
            while any(s.health().frames_decoded == 0 for s in sources):
                assert time.monotonic() < deadline, "cameras did not start"
                time.sleep(0.05)
            cpu0, t0 = time.process_time(), time.monotonic()
            d0 = sum(s.health().frames_decoded for s in sources)
            time.sleep(seconds)
            d1 = sum(s.health().frames_decoded for s in sources)
            cpu, wall = time.process_time() - cpu0, time.monotonic() - t0
            for s in sources:
                s.stop(timeout=0)
            for s in sources:
                s.stop()
            return (d1 - d0) / wall / STREAMS, cpu / wall

        per_camera_fps, cpu_cores = _pedantic(benchmark)(run, rounds=1, iterations=1)
    finally:
        server.kill()
    benchmark.extra_info["fps_per_camera"] = round(per_camera_fps, 1)
    benchmark.extra_info["cpu_cores_used"] = round(cpu_cores, 2)
    results[f"rtsp x{STREAMS} fps per camera"] = per_camera_fps
    results[f"rtsp x{STREAMS} CPU cores used"] = cpu_cores
    assert per_camera_fps > 0
