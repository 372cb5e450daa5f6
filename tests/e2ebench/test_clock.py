"""The burned-in capture clock: bits, I420 writer, and the round trip through H.264."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from bench.clock import (
    HEIGHT,
    NBITS,
    WIDTH,
    ClockError,
    burn_bgr,
    burn_i420,
    decode_bits,
    encode_bits,
    read_ms,
    read_time,
)

MS = 1_795_000_123_456  # a time in 2026


@pytest.mark.parametrize("ms", [0, 1, MS, (1 << 44) - 1])
def test_bits_round_trip(ms: int) -> None:
    bits = encode_bits(ms)
    assert len(bits) == NBITS
    assert decode_bits(bits) == ms


@pytest.mark.parametrize(
    ("ms", "error"),
    [(-1, "0 <= ms"), (1 << 44, "2\\*\\*44")],
)
def test_bits_refuse_out_of_range(ms: int, error: str) -> None:
    with pytest.raises(ClockError, match=error):
        encode_bits(ms)


@pytest.mark.parametrize("flip", [0, 3, 10, 47, 55])
def test_any_flipped_bit_is_rejected(flip: int) -> None:
    bits = encode_bits(MS)
    bits[flip] ^= 1
    assert decode_bits(bits) is None


def _scene(seed: int, w: int = 768, h: int = 576) -> NDArray[np.uint8]:
    """Textured noise: the hardest background for the corner blocks to survive."""
    rng = np.random.default_rng(seed)
    return np.asarray(rng.integers(0, 256, (h, w, 3)), dtype=np.uint8)


def test_bgr_round_trip_and_unmarked() -> None:
    img = _scene(1)
    assert read_ms(img) is None  # noise carries no valid mark
    burn_bgr(img, MS)
    assert read_ms(img) == MS
    assert read_time(img) == pytest.approx(MS / 1000)
    assert read_ms(img[:20, :100]) is None  # too small to carry one


@pytest.mark.parametrize(
    ("w", "h", "error"),
    [
        (WIDTH - 2, 576, "expected even sides"),
        (768, HEIGHT - 2, "expected even"),
        (769, 576, "even"),
    ],
)
def test_i420_refuses_small_or_odd(w: int, h: int, error: str) -> None:
    with pytest.raises(ClockError, match=error):
        burn_i420(bytearray(w * h * 2), w, h, MS)


def _to_i420(img: NDArray[np.uint8]) -> bytearray:
    return bytearray(cv2.cvtColor(img, cv2.COLOR_BGR2YUV_I420).tobytes())


def test_i420_mark_reads_back_after_colour_conversion() -> None:
    h, w = 576, 768
    buf = _to_i420(_scene(2, w, h))
    burn_i420(buf, w, h, MS)
    yuv = np.frombuffer(bytes(buf), np.uint8).reshape(h * 3 // 2, w)
    assert read_ms(np.asarray(cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR_I420), np.uint8)) == MS


@pytest.mark.parametrize(("crf", "preset"), [(23, "ultrafast"), (35, "ultrafast"), (40, "medium")])
def test_round_trip_through_h264(tmp_path: Path, crf: int, preset: str) -> None:
    """Marks written into I420 (as the server does) survive libx264 and decoding.

    Every frame gets a different time over a noisy, changing background; CRF 40 is far
    worse quality than any camera ships.
    """
    h, w, n = 576, 768, 30
    path = tmp_path / f"clock-{crf}.mp4"
    times = [MS + 40 * i + (i * 7919) % 1000 for i in range(n)]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10, options={"crf": str(crf), "preset": preset})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i, t in enumerate(times):
            buf = _to_i420(_scene(100 + i, w, h))
            burn_i420(buf, w, h, t)
            yuv = np.frombuffer(bytes(buf), np.uint8).reshape(h * 3 // 2, w)
            frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with av.open(str(path)) as inp:
        got = [
            read_ms(np.asarray(f.to_ndarray(format="bgr24"), np.uint8)) for f in inp.decode(video=0)
        ]
    assert got == times
