"""``to_bgr``: OpenCV for yuv420p and nv12, swscale for the rest, the same picture either way."""

from __future__ import annotations

import av
import numpy as np
import pytest

from streams.source import to_bgr


@pytest.mark.parametrize("fmt", ["yuv420p", "nv12", "yuvj420p", "yuv422p"])
def test_every_layout_gives_the_same_bgr_picture(fmt: str) -> None:
    yy, xx = np.mgrid[0:96, 0:128]
    img = np.stack([(xx * 2) % 256, (yy * 2) % 256, (xx + yy) % 256], axis=2).astype(np.uint8)
    frame = av.VideoFrame.from_ndarray(img, format="bgr24").reformat(format=fmt)
    out = to_bgr(frame)
    assert out.shape == (96, 128, 3) and out.dtype == np.uint8
    reference = frame.to_ndarray(format="bgr24").astype(int)  # swscale
    diff = np.abs(out.astype(int) - reference)
    assert diff.mean() < 2.5  # rounding and chroma interpolation only
