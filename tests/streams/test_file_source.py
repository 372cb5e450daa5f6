"""FileSource: ordering, pacing, looping, decimation, latest-frame drops, clean failures."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import av
import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from streams import Frame, Source, SourceOptions, State, StreamEnded, StreamError, open_source
from streams.source import DecodingSource
from tests.streams.conftest import CLIP_FPS, make_clip

PERIOD = 1.0 / CLIP_FPS


def read_all(src: Source, limit: int = 100_000) -> list[Frame]:
    """Every frame until the file ends."""
    frames: list[Frame] = []
    with src:
        while len(frames) < limit:
            try:
                frame = src.read(timeout=5.0)
            except StreamEnded:
                break
            assert frame is not None, "a lossless file source must not time out"
            frames.append(frame)
    return frames


def metric(registry: CollectorRegistry, name: str, camera: str = "cam") -> float:
    value = registry.get_sample_value(name, {"camera": camera})
    return 0.0 if value is None else value


def test_lossless_file_delivers_every_frame_in_order(
    clips: dict[str, Path], registry: CollectorRegistry
) -> None:
    src = open_source("cam", str(clips["short"]), SourceOptions(realtime=False), registry=registry)
    assert isinstance(src, DecodingSource)
    before = time.time()
    frames = read_all(src)
    assert [f.seq for f in frames] == list(range(CLIP_FPS))
    pts = np.array([f.pts for f in frames], dtype=float)
    assert np.allclose(np.diff(pts), PERIOD, atol=1e-3)
    for f in frames:
        assert f.camera_id == "cam"
        assert f.image.shape == (180, 320, 3)
        assert before <= f.captured_at <= time.time()
        assert f.stamps["decoded"] == f.captured_at
    h = src.health()
    assert (h.state, h.frames_decoded, h.frames_dropped, h.width, h.height) == (
        State.STOPPED,
        CLIP_FPS,
        0,
        320,
        180,
    )
    assert metric(registry, "shouwang_stream_frames_decoded_total") == CLIP_FPS
    assert metric(registry, "shouwang_stream_frames_delivered_total") == CLIP_FPS


def test_realtime_file_is_paced_at_the_clip_rate(clips: dict[str, Path]) -> None:
    src = open_source("cam", str(clips["short"]), SourceOptions(realtime=True))
    start = time.monotonic()
    frames = read_all(src)
    elapsed = time.monotonic() - start
    # 25 frames at 25 fps: the last is due 0.96 s after the first
    assert elapsed >= 0.9, f"played {len(frames)} frames in {elapsed:.2f} s"
    assert frames[-1].captured_at - frames[0].captured_at >= 0.85


def test_loop_restarts_with_increasing_pts(clips: dict[str, Path]) -> None:
    src = open_source("cam", str(clips["short"]), SourceOptions(realtime=False, loop=True))
    frames = read_all(src, limit=3 * CLIP_FPS)
    assert [f.seq for f in frames] == list(range(3 * CLIP_FPS))
    steps = np.diff([f.pts or 0.0 for f in frames])
    assert np.all(steps > 0)
    assert np.allclose(steps, PERIOD, atol=1e-3)  # no jump back, no gap at the wrap


@pytest.mark.parametrize(("max_fps", "expected"), [(None, 25), (5.0, 5), (10.0, 10), (50.0, 25)])
def test_max_fps_decimates_on_stream_time(
    clips: dict[str, Path], registry: CollectorRegistry, max_fps: float | None, expected: int
) -> None:
    opts = SourceOptions(realtime=False, max_fps=max_fps)
    frames = read_all(open_source("cam", str(clips["short"]), opts, registry=registry))
    assert len(frames) == expected
    if max_fps is not None and max_fps < CLIP_FPS:
        steps = np.diff([f.pts or 0.0 for f in frames])
        # 25 fps cannot be split evenly into 10: steps alternate 0.12/0.08 around 0.1
        assert abs(steps.mean() - 1 / max_fps) < 0.01
        assert steps.max() <= 1 / max_fps + PERIOD + 1e-3
    assert metric(registry, "shouwang_stream_frames_skipped_total") == CLIP_FPS - expected
    assert metric(registry, "shouwang_stream_frames_dropped_total") == 0


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


@pytest.fixture(scope="module")
def hd_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("hd") / "hd.mp4", 4, 1280, 720)


@pytest.mark.slow
def test_slow_reader_gets_newest_frames_and_drops_are_counted(
    hd_clip: Path, registry: CollectorRegistry
) -> None:
    src = open_source("cam", str(hd_clip), SourceOptions(realtime=True), registry=registry)
    rss0 = _rss_bytes()
    got: list[Frame] = []
    with src:
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            frame = src.read(timeout=1.0)
            if frame is not None:
                got.append(frame)
                # the frame handed over is the newest decoded: nothing newer is waiting
                assert frame.seq >= src.health().frames_decoded - 5  # (slack: a busy CI host)
            time.sleep(0.25)  # a pipeline that manages 4 frames a second
        h = src.health()
    grown = _rss_bytes() - rss0
    assert len(got) >= 8
    assert all(b.seq > a.seq for a, b in itertools.pairwise(got))
    assert h.frames_dropped >= 40
    # every decoded frame was delivered, dropped, or is the one still in the slot
    assert h.frames_decoded - h.frames_delivered - h.frames_dropped in (0, 1)
    assert metric(registry, "shouwang_stream_frames_dropped_total") == h.frames_dropped
    # memory: a queue of the dropped frames would hold frames_dropped x 1.4 MB
    queued = h.frames_dropped * 1280 * 720 * 3 // 2
    assert grown < queued // 3, (
        f"RSS grew {grown / 1e6:.0f} MB (a queue would be {queued / 1e6:.0f})"
    )


def _truncated(src: Path, dst: Path) -> Path:
    dst.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    return dst


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate = 16000
        for i in range(20):
            frame.pts = i * 1024
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d, c: d / "missing.mp4", "video file not found: .*missing.mp4"),
        (
            lambda d, c: _write(d / "noise.mp4", np.random.default_rng(1).bytes(50_000)),
            "cannot read video file .*noise.mp4",
        ),
        (lambda d, c: _write(d / "empty.mp4", b""), "cannot read video file .*empty.mp4"),
        (
            lambda d, c: _write(d / "notes.mp4", b"not a video\n" * 100),
            "cannot read video file .*notes.mp4",
        ),
        (lambda d, c: _truncated(c, d / "truncated.mp4"), "cannot read video file .*truncated.mp4"),
        (lambda d, c: _audio_only(d / "audio.mp4"), "no video stream in .*audio.mp4"),
        (lambda d, c: d, "cannot read video file|video file not found"),
    ],
    ids=["missing", "noise", "empty", "text", "truncated", "audio-only", "directory"],
)
def test_bad_file_fails_cleanly_naming_the_file(
    tmp_path: Path, clips: dict[str, Path], make: object, message: str
) -> None:
    path = make(tmp_path, clips["short"])  # type: ignore[operator]
    src = open_source("cam", str(path), SourceOptions(realtime=False))
    with src:
        with pytest.raises(StreamError, match=message):
            src.read(timeout=10.0)
        h = src.health()
    assert h.state is State.FAILED
    assert h.last_error is not None and str(path.name) in h.last_error


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_read_after_stop_raises_ended_and_stop_is_prompt(clips: dict[str, Path]) -> None:
    src = open_source("cam", str(clips["long"]), SourceOptions(realtime=True))
    src.start()
    assert src.read(timeout=5.0) is not None
    t = time.monotonic()
    assert src.stop(timeout=5.0)
    assert time.monotonic() - t < 1.0
    with pytest.raises(StreamEnded):
        src.read(timeout=0.1)
    with pytest.raises(StreamError, match="cannot restart"):
        src.start()


def test_read_before_start_is_an_error(clips: dict[str, Path]) -> None:
    with pytest.raises(StreamError, match="before start"):
        open_source("cam", str(clips["short"])).read(timeout=0.1)


def test_read_times_out_with_none(clips: dict[str, Path]) -> None:
    with open_source("cam", str(clips["long"]), SourceOptions(realtime=True, max_fps=1)) as src:
        assert src.read(timeout=5.0) is not None
        assert src.read(timeout=0.2) is None  # the next frame is a second of clip away
