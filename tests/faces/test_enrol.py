"""Enrolment refuses bad photos with an error naming the file, and writes nothing."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from detectors.faces.analyzer import FaceAnalyzer
from detectors.faces.enrol import enrol, template
from detectors.faces.errors import PhotoError
from detectors.faces.photos import read_photo
from detectors.faces.watchlist import WatchlistStore
from shouwang.config.site import WatchlistRef


def _huge_png(path: Path, w: int, h: int) -> None:
    """A valid PNG header claiming w x h pixels (no need to hold them in memory)."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    data = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
    data += struct.pack(">I", zlib.crc32(chunk))
    idat = zlib.compress(b"\x00" * 64)
    data += (
        struct.pack(">I", len(idat))
        + b"IDAT"
        + idat
        + struct.pack(">I", zlib.crc32(b"IDAT" + idat))
    )
    path.write_bytes(data)


def _make(kind: str, tmp: Path, zidane: NDArray[np.uint8], one_face: NDArray[np.uint8]) -> Path:
    p = tmp / f"{kind}.jpg"
    if kind == "no-face":
        cv2.imwrite(str(p), np.full((480, 640, 3), 127, np.uint8))
    elif kind == "two-faces":
        cv2.imwrite(str(p), zidane)
    elif kind == "huge-pixels":
        p = tmp / "huge.png"
        _huge_png(p, 20000, 20000)
    elif kind == "huge-file":
        with p.open("wb") as fh:  # sparse: 60 MB on paper, nothing on disk
            fh.truncate(60 * 1024 * 1024)
    elif kind == "corrupt":
        p.write_bytes(b"\x00\x01garbage" * 100)
    elif kind == "truncated":
        _, buf = cv2.imencode(".jpg", one_face)
        p.write_bytes(buf.tobytes()[: len(buf) // 3])
    elif kind == "missing":
        pass
    elif kind == "profile-cut":
        cv2.imwrite(str(p), np.ascontiguousarray(one_face[:, :250]))
    return p


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("no-face", "no face found"),
        ("two-faces", "2 faces found"),
        ("huge-pixels", "20000x20000 pixels|too many pixels"),
        ("huge-file", "MB, over the 50 MB limit"),
        ("corrupt", "not an image file"),
        ("truncated", "corrupt or truncated"),
        ("missing", "no such file"),
        ("profile-cut", "cut off by the photo's border"),
    ],
)
def test_bad_photos_name_the_file(
    tmp_path: Path,
    analyzer: FaceAnalyzer,
    zidane: NDArray[np.uint8],
    one_face: NDArray[np.uint8],
    kind: str,
    message: str,
) -> None:
    store = WatchlistStore(tmp_path / "data")
    store.ensure_list(WatchlistRef(id="poi", kind="persons_of_interest"))
    good = tmp_path / "good.jpg"
    cv2.imwrite(str(good), one_face)
    bad = _make(kind, tmp_path, zidane, one_face)
    with pytest.raises(PhotoError, match=message) as err:
        enrol(store, analyzer, "poi", "X", [good, bad])
    assert str(bad) in str(err.value)
    assert store.entries("poi") == []  # the good photo was not enrolled alone


def test_read_photo_limits_are_parameters(tmp_path: Path, one_face: NDArray[np.uint8]) -> None:
    p = tmp_path / "a.png"
    cv2.imwrite(str(p), one_face)
    img, data = read_photo(p)
    assert img.shape == one_face.shape and data == p.read_bytes()
    with pytest.raises(PhotoError, match="megapixel limit"):
        read_photo(p, max_pixels=1000)
    with pytest.raises(PhotoError, match="MB limit"):
        read_photo(p, max_bytes=10)


def test_enrol_several_photos(
    tmp_path: Path,
    analyzer: FaceAnalyzer,
    one_face: NDArray[np.uint8],
    write_image: Callable[[str, NDArray[np.uint8]], Path],
) -> None:
    store = WatchlistStore(tmp_path / "data")
    store.ensure_list(WatchlistRef(id="poi", kind="persons_of_interest"))
    a = write_image("a.jpg", one_face)
    b = write_image("b.jpg", np.ascontiguousarray(one_face[:, ::-1]))
    enrol(store, analyzer, "poi", "Z", [a, b])
    (e,) = store.entries("poi")
    # one quality-weighted template for the two photos, no photo kept
    assert (e.n_embeddings, e.n_photos) == (1, 0)
    fa, fb = (analyzer.analyze_photo(read_photo(p)[0]) for p in (a, b))
    want = template(
        [fa.data["embedding"][0], fb.data["embedding"][0]],
        [float(fa.data["quality"][0]), float(fb.data["quality"][0])],
    )
    idx, _ = store.index("poi", analyzer.embedder.name)
    (hit,) = idx.search(want, k=1)
    assert hit.similarity == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize(
    ("qualities", "expected"),
    [
        ([1.0, 1.0], [0.7071, 0.7071]),  # equal weights: the bisector
        ([3.0, 1.0], [0.9487, 0.3162]),  # the better photo pulls the template
        ([1.0, 0.0], [1.0, 0.0]),  # a zero-quality photo counts (almost) nothing
    ],
)
def test_template_is_the_quality_weighted_mean(
    qualities: list[float], expected: list[float]
) -> None:
    vecs = [np.array([1, 0], np.float32), np.array([0, 1], np.float32)]
    got = template(vecs, qualities)
    np.testing.assert_allclose(got, expected, atol=1e-3)
