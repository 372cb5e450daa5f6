"""Plate-reading evaluation on a ``labels.csv`` folder (the format of ``shared/data/plates``).

Columns used: ``file`` (relative to the folder), ``plate_text``, ``subset`` (optional),
``bbox_x1y1x2y2`` (optional, space-separated pixels), ``plate_type`` (optional, free
text such as ``yellow double-layer``) and ``kind`` (optional, ``crop`` or ``scene``; when
absent the reader decides from the image's shape and what detection finds). Several
rows may name the same file (several plates in one photo).

Every image goes through :meth:`PlateReader.read`, the path a camera frame takes. A
labelled plate is *read* when a reading in its image equals the label and, where the
row gives a box, that reading's box overlaps it (IoU >= 0.3). Misses count as wrong.
"""

from __future__ import annotations

import csv
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from detectors.plates.errors import PlateError
from detectors.plates.reader import ImageKind, PlateReader, PlateReading

IOU_MIN = 0.3
_COLOURS = ("blue", "yellow", "green", "white", "black")


@dataclass
class LabelRow:
    """One labelled plate."""

    file: str
    text: str
    subset: str
    box: tuple[float, float, float, float] | None
    plate_type: str
    kind: ImageKind


@dataclass
class Outcome:
    """What happened to one labelled plate."""

    row: LabelRow
    read: str | None  # the closest reading's text, None if nothing was read
    exact: bool
    detected: bool
    type_ok: bool
    char_acc: float
    latency_ms: float
    reading: dict[str, object] | None = None
    error: str = ""


@dataclass
class Report:
    """Outcomes of a whole folder."""

    outcomes: list[Outcome] = field(default_factory=list)

    def summary(self, *, errors: bool = False) -> dict[str, object]:
        """The JSON the CLI prints (overall, then per subset)."""
        out = _figures(self.outcomes)
        subsets: dict[str, list[Outcome]] = defaultdict(list)
        for o in self.outcomes:
            subsets[o.row.subset].append(o)
        out["subsets"] = {name: _figures(items) for name, items in sorted(subsets.items())}
        if errors:
            out["errors"] = [
                {
                    "file": o.row.file,
                    "subset": o.row.subset,
                    "truth": o.row.text,
                    "read": o.read,
                    "truth_type": o.row.plate_type,
                    "read_type": (o.reading or {}).get("plate_type"),
                    "detected": o.detected,
                    **({"error": o.error} if o.error else {}),
                }
                for o in self.outcomes
                if not o.exact or not o.type_ok
            ]
        return out


def _figures(items: list[Outcome]) -> dict[str, object]:
    n = len(items)
    lat = np.array([o.latency_ms for o in items]) if items else np.zeros(1)
    return {
        "n": n,
        "accuracy": round(sum(o.exact for o in items) / n, 4) if n else 0.0,
        "accuracy_with_type": round(sum(o.exact and o.type_ok for o in items) / n, 4) if n else 0.0,
        "char_accuracy": round(float(np.mean([o.char_acc for o in items])), 4) if n else 0.0,
        "detection_recall": round(sum(o.detected for o in items) / n, 4) if n else 0.0,
        "latency_ms_p50": round(float(np.percentile(lat, 50)), 1),
        "latency_ms_p95": round(float(np.percentile(lat, 95)), 1),
    }


def load_labels(folder: Path) -> list[LabelRow]:
    """Rows of ``folder/labels.csv``.

    Raises:
        PlateError: no labels.csv, or a row without ``file``/``plate_text``, or a bad box.
    """
    path = folder / "labels.csv"
    if not path.is_file():
        raise PlateError(f"{path}: not found (expected a labels.csv in {folder})")
    rows = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        for n, rec in enumerate(csv.DictReader(fh), start=2):
            file, text = (rec.get("file") or "").strip(), (rec.get("plate_text") or "").strip()
            if not file or not text:
                raise PlateError(f"{path}:{n}: 'file' and 'plate_text' are required")
            box = None
            raw = (rec.get("bbox_x1y1x2y2") or "").strip()
            if raw:
                try:
                    x1, y1, x2, y2 = (float(v) for v in raw.replace(",", " ").split())
                except ValueError:
                    raise PlateError(
                        f"{path}:{n}: bbox_x1y1x2y2 {raw!r} is not 4 numbers"
                    ) from None
                box = (x1, y1, x2, y2)
            kind = (rec.get("kind") or "auto").strip() or "auto"
            if kind not in ("auto", "crop", "scene"):
                raise PlateError(f"{path}:{n}: kind must be crop or scene, got {kind!r}")
            rows.append(
                LabelRow(
                    file=file,
                    text=text,
                    subset=(rec.get("subset") or "").strip() or "all",
                    box=box,
                    plate_type=(rec.get("plate_type") or "").strip(),
                    kind=kind,  # type: ignore[arg-type]
                )
            )
    return rows


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two xyxy boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def levenshtein(a: str, b: str) -> int:
    """Plain edit distance."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, start=1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
        prev = cur
    return prev[-1]


def type_matches(label: str, reading: PlateReading) -> bool:
    """Whether a reading's type agrees with a free-text label type (empty label: yes).

    Checks the colour word (``armed police`` is white), ``double`` (two rows) and the
    special series named in the label (embassy, consulate, police, HK, Macau).
    """
    text = label.lower()
    if not text:
        return True
    colour = next((c for c in _COLOURS if c in text), None)
    if "armed police" in text:
        colour = "white"
    if colour is not None and reading.colour != colour:
        return False
    if "double" in text and not reading.double_row:
        return False
    keywords = {
        "embassy": "black_embassy",
        "consulate": "black_consulate",
        "hk cross": "black_hong_kong",
        "macau": "black_macau",
        "police (警)": "white_police",
    }
    return all(reading.plate_type == t for k, t in keywords.items() if k in text)


def _judge(row: LabelRow, readings: list[PlateReading], latency: float) -> Outcome:
    near = readings
    if row.box is not None:
        near = [r for r in readings if iou(r.xyxy, row.box) >= IOU_MIN]
    exact = [r for r in near if r.text == row.text]
    if exact:
        best = exact[0]
    elif near:
        best = min(near, key=lambda r: levenshtein(r.text, row.text))
    else:
        return Outcome(row, None, False, False, False, 0.0, latency)
    char_acc = max(0.0, 1 - levenshtein(best.text, row.text) / len(row.text))
    return Outcome(
        row,
        best.text,
        bool(exact),
        True,
        type_matches(row.plate_type, best),
        char_acc,
        latency,
        best.as_dict(),
    )


def load_image(path: Path) -> NDArray[np.uint8] | None:
    """A BGR image from a file (any file name, including Chinese), or ``None``."""
    if not path.is_file():
        return None
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    return None if image is None else np.asarray(image, dtype=np.uint8)


def evaluate(
    folder: Path,
    reader: PlateReader,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> Report:
    """Read every labelled image of ``folder`` and judge each labelled plate."""
    rows = load_labels(folder)
    by_file: dict[str, list[LabelRow]] = defaultdict(list)
    for row in rows:
        by_file[row.file].append(row)
    report = Report()
    for i, (file, labels) in enumerate(by_file.items()):
        image = load_image(folder / file)
        if image is None:
            for row in labels:
                report.outcomes.append(
                    Outcome(row, None, False, False, False, 0.0, 0.0, error="unreadable image")
                )
            continue
        kind = labels[0].kind
        start = time.perf_counter()
        readings = reader.read(image, kind=kind)
        latency = (time.perf_counter() - start) * 1000
        report.outcomes.extend(_judge(row, readings, latency) for row in labels)
        if progress is not None:
            progress(i + 1, len(by_file))
    return report
