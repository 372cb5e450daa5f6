"""The plate reader: one verb, ``read``, from a frame (or vehicle crops) to plate readings.

Pipeline per image: detect plates with corners (whole frame, or inside each vehicle box)
-> rectify each plate from its corners -> recognise every plate crop of the frame in ONE
batched call per recogniser -> grammar-constrained CTC decoding -> fuse the recognisers
-> type and colour. A plate whose corners say it may be double-row is also read as two
rows (top row + bottom row decoded as one sequence); the better-scoring layout wins.

Example:
    >>> reader = PlateReader()
    >>> for r in reader.read(cv2.imread("gate.jpg")):            # doctest: +SKIP
    ...     print(r.text, r.plate_type, f"{r.confidence:.2f}")
    粤B6R678 blue 0.98
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from detectors.detections import Detections
from detectors.plates.config import PlateReaderConfig
from detectors.plates.detect import PlateBoxes, PlateDetector, SsdPlateDetector
from detectors.plates.errors import PlateError
from detectors.plates.fusion import Candidate, fuse
from detectors.plates.grammar import Decoded, constrained_decode
from detectors.plates.platetype import PlateType, classify
from detectors.plates.recognize import Recognizer
from detectors.plates.rectify import (
    DOUBLE_ROW_MAX_ASPECT,
    DOUBLE_SIZE,
    SINGLE_SIZE,
    Colour,
    background_colour,
    corner_aspect,
    pad_crop,
    split_rows,
    warp,
)

#: COCO class ids of vehicles that carry plates (car, motorcycle, bus, truck).
COCO_VEHICLES = frozenset({2, 3, 5, 7})
ImageKind = Literal["auto", "scene", "crop"]
MAX_PIXELS = 120_000_000  # about 11000 x 11000; larger frames are refused, not read


@dataclass(frozen=True, slots=True)
class PlateReading:
    """One plate read in one image.

    Attributes:
        text: the plate, no separators (``京A12345``).
        confidence: mean of ``char_confidences``.
        char_confidences: per character, in [0, 1]; halved where the recognisers disagree.
        plate_type: e.g. ``blue``, ``yellow_double``, ``black_embassy``.
        colour: background colour reported (fixed by the type where the law fixes it).
        xyxy: plate box in the image's pixels.
        corners: (4, 2) corners TL, TR, BR, BL in the image's pixels.
        is_valid: the text fits the plate grammar and ``confidence`` reaches the reader's
            ``valid_confidence``; a reading below it is a *low-confidence* reading, still
            reported.
        pattern: the grammar pattern name (``regular``, ``new_energy_small``, ...).
        double_row: read as a two-row plate.
    """

    text: str
    confidence: float
    char_confidences: tuple[float, ...]
    plate_type: PlateType
    colour: Colour
    xyxy: tuple[float, float, float, float]
    corners: tuple[tuple[float, float], ...]
    is_valid: bool
    pattern: str = ""
    double_row: bool = False
    detector_confidence: float = 1.0

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "text": self.text,
            "confidence": round(self.confidence, 4),
            "char_confidences": [round(c, 4) for c in self.char_confidences],
            "plate_type": self.plate_type,
            "colour": self.colour,
            "xyxy": [round(v, 1) for v in self.xyxy],
            "corners": [[round(x, 1), round(y, 1)] for x, y in self.corners],
            "is_valid": self.is_valid,
            "pattern": self.pattern,
            "double_row": self.double_row,
        }


def as_bgr(image: object) -> NDArray[np.uint8]:
    """A BGR uint8 image from what callers hand in (gray, BGR or BGRA).

    Raises:
        ValueError: not an image array (wrong type, dtype, shape, empty, too large).
    """
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image: expected a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"image: expected dtype uint8, got {image.dtype}")
    if image.size == 0 or min(image.shape[:2]) < 2:
        raise ValueError(f"image: empty or degenerate shape {image.shape}")
    if image.shape[0] * image.shape[1] > MAX_PIXELS:
        raise ValueError(f"image: {image.shape[1]}x{image.shape[0]} exceeds {MAX_PIXELS} pixels")
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        gray = image.reshape(image.shape[:2])
        return np.asarray(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
    if image.ndim == 3 and image.shape[2] == 3:
        return np.ascontiguousarray(image)
    if image.ndim == 3 and image.shape[2] == 4:
        return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGRA2BGR), dtype=np.uint8)
    raise ValueError(f"image: expected (h, w), (h, w, 3) or (h, w, 4), got {image.shape}")


@dataclass
class _Plate:
    xyxy: NDArray[np.float32]
    corners: NDArray[np.float32]
    det_conf: float
    tight: bool
    crops: dict[str, list[NDArray[np.uint8]]] = field(default_factory=dict)
    colour: Colour = "unknown"


class PlateReader:
    """Detects and reads Chinese plates.

    Not thread-safe (``cv2.dnn`` networks are not): use one reader per worker thread.

    Args:
        recognizers: registry names of the CTC recognisers to fuse (``clp-rec``,
            ``ppocr-rec``); one is faster, two are more accurate.
        detector_threshold: minimum plate-detector score.
        min_confidence: readings below this are not plates and are dropped.
        valid_confidence: readings below this are reported with ``is_valid=False``.
        vehicle_classes: ``Detections.class_id`` values treated as vehicles.
        max_side: longest side the detector works at (larger frames are shrunk).
        ssd_fallback: where ``clp-det`` finds nothing, try HyperLPR's SSD detector and
            look for the corners inside what it finds.
    """

    def __init__(
        self,
        *,
        recognizers: tuple[str, ...] = ("clp-rec", "ppocr-rec", "hyperlpr-rec"),
        detector_threshold: float = 0.5,
        min_confidence: float = 0.35,
        valid_confidence: float = 0.75,
        vehicle_classes: frozenset[int] = COCO_VEHICLES,
        max_side: int = 1280,
        ssd_fallback: bool = True,
    ) -> None:
        if not recognizers:
            raise PlateError("recognizers: name at least one recogniser")
        self.detector = PlateDetector(threshold=detector_threshold, max_side=max_side)
        self.fallback = SsdPlateDetector(max_side=max_side) if ssd_fallback else None
        self.recognizers = [Recognizer(name) for name in recognizers]
        self.min_confidence = min_confidence
        self.valid_confidence = valid_confidence
        self.vehicle_classes = vehicle_classes

    @classmethod
    def from_config(cls, cfg: PlateReaderConfig) -> PlateReader:
        """A reader with the settings of a :class:`PlateReaderConfig`."""
        return cls(
            recognizers=tuple(cfg.recognizers),
            detector_threshold=cfg.detector_threshold,
            min_confidence=cfg.min_confidence,
            valid_confidence=cfg.valid_confidence,
            vehicle_classes=frozenset(cfg.vehicle_classes),
            max_side=cfg.max_side,
            ssd_fallback=cfg.ssd_fallback,
        )

    # -- detection -----------------------------------------------------------------
    def find(self, image: NDArray[np.uint8], vehicles: Detections | None = None) -> PlateBoxes:
        """Plate boxes and corners: in each vehicle box if given, else in the whole frame."""
        image = as_bgr(image)
        if vehicles is None:
            return self._detect(image)
        h, w = image.shape[:2]
        parts = []
        for box, cls in zip(vehicles.xyxy, vehicles.class_id, strict=True):
            if int(cls) not in self.vehicle_classes:
                continue
            x1, y1, x2, y2 = box
            mx, my = 0.05 * (x2 - x1), 0.05 * (y2 - y1)
            ix1, iy1 = int(max(0, x1 - mx)), int(max(0, y1 - my))
            ix2, iy2 = int(min(w, x2 + mx + 1)), int(min(h, y2 + my + 1))
            if ix2 - ix1 < 8 or iy2 - iy1 < 8:
                continue
            found = self._detect(image[iy1:iy2, ix1:ix2])
            offset = np.array([ix1, iy1], dtype=np.float32)
            parts.append(
                PlateBoxes(
                    found.xyxy + np.tile(offset, 2), found.corners + offset, found.confidence
                )
            )
        merged = PlateBoxes.concat(parts)
        return _dedupe(merged)

    def _detect(self, image: NDArray[np.uint8]) -> PlateBoxes:
        found = self.detector.detect(image)
        if len(found) or self.fallback is None:
            return found
        boxes, scores = self.fallback.detect(image)
        h, w = image.shape[:2]
        parts = []
        for box, score in zip(boxes, scores, strict=True):
            x1, y1, x2, y2 = box
            bw, bh = x2 - x1, y2 - y1
            if bw < 4 or bh < 4:
                continue
            # a region around the SSD box, enlarged so the plate is ~200 px wide
            rx1, ry1 = int(max(0, x1 - bw / 2)), int(max(0, y1 - bh))
            rx2, ry2 = int(min(w, x2 + bw / 2)), int(min(h, y2 + bh))
            zoom = float(np.clip(200.0 / bw, 1.0, 4.0))
            region = np.asarray(
                cv2.resize(image[ry1:ry2, rx1:rx2], None, fx=zoom, fy=zoom), dtype=np.uint8
            )
            inner = self.detector.detect(region)
            offset = np.array([rx1, ry1], dtype=np.float32)
            if len(inner):
                k = int(inner.confidence.argmax())
                parts.append(
                    PlateBoxes(
                        inner.xyxy[k : k + 1] / zoom + np.tile(offset, 2),
                        inner.corners[k : k + 1] / zoom + offset,
                        np.array([score], np.float32),
                    )
                )
            else:
                quad = np.array([[[x1, y1], [x2, y1], [x2, y2], [x1, y2]]], dtype=np.float32)
                parts.append(PlateBoxes(box[None], quad, np.array([score], np.float32)))
        return _dedupe(PlateBoxes.concat(parts))

    def _plates(
        self, image: NDArray[np.uint8], vehicles: Detections | None, kind: ImageKind
    ) -> list[_Plate]:
        h, w = image.shape[:2]
        found = PlateBoxes.empty() if kind == "crop" else self.find(image, vehicles)
        plates = [
            _Plate(found.xyxy[i], found.corners[i], float(found.confidence[i]), tight=False)
            for i in range(len(found))
        ]
        as_crop = kind == "crop" or (
            kind == "auto" and vehicles is None and _looks_like_crop(w, h, found)
        )
        if as_crop:
            whole = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=np.float32)
            plates = [_Plate(np.array([0, 0, w - 1, h - 1], np.float32), whole, 1.0, tight=True)]
        return plates

    # -- reading -------------------------------------------------------------------
    def read(
        self,
        image: NDArray[np.uint8],
        vehicles: Detections | None = None,
        *,
        kind: ImageKind = "auto",
    ) -> list[PlateReading]:
        """Every plate read in ``image`` (BGR, gray or BGRA uint8).

        Args:
            image: the frame, or a tight plate crop (read whole when detection finds
                nothing smaller in it and its shape is plate-like).
            vehicles: vehicle detections in this frame; plates are then looked for only
                inside boxes whose class is in ``vehicle_classes``.
            kind: ``scene`` (always detect), ``crop`` (the image is one plate) or
                ``auto`` (decide from the shape and what detection finds).

        Raises:
            ValueError: ``image`` is not an image array.
        """
        image = as_bgr(image)
        plates = self._plates(image, vehicles, kind)
        if not plates:
            return []
        for plate in plates:
            self._crop(image, plate)
        return self._recognise(plates)

    def read_crops(self, crops: list[NDArray[np.uint8]]) -> list[PlateReading | None]:
        """Read tight plate crops (no detection), all in one batch; ``None`` = not a plate."""
        plates = []
        for crop in crops:
            c = as_bgr(crop)
            h, w = c.shape[:2]
            whole = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=np.float32)
            plate = _Plate(np.array([0, 0, w - 1, h - 1], np.float32), whole, 1.0, tight=True)
            self._crop(c, plate)
            plates.append(plate)
        by_plate: list[PlateReading | None] = [None] * len(plates)
        for i, reading in self._recognise_indexed(plates):
            by_plate[i] = reading
        return by_plate

    def _crop(self, image: NDArray[np.uint8], plate: _Plate) -> None:
        aspect = corner_aspect(plate.corners)
        if plate.tight:
            single = pad_crop(image)
            plate.colour = background_colour(image)[0]
        else:
            single = warp(image, plate.corners, SINGLE_SIZE)
            plate.colour = background_colour(warp(image, plate.corners, SINGLE_SIZE, margin=0))[0]
        plate.crops["single"] = [single]
        if aspect < DOUBLE_ROW_MAX_ASPECT:
            if plate.tight:
                double = np.asarray(cv2.resize(image, DOUBLE_SIZE), dtype=np.uint8)
            else:
                double = warp(image, plate.corners, DOUBLE_SIZE, margin=0.02)
            top, bottom = split_rows(double)
            plate.crops["double"] = [pad_crop(top, 0.04, 0.06), pad_crop(bottom, 0.03, 0.04)]

    def _recognise(self, plates: list[_Plate]) -> list[PlateReading]:
        return [r for _, r in self._recognise_indexed(plates)]

    def _recognise_indexed(self, plates: list[_Plate]) -> list[tuple[int, PlateReading]]:
        flat: list[NDArray[np.uint8]] = []
        where: list[tuple[int, str]] = []
        for i, plate in enumerate(plates):
            for layout, crops in plate.crops.items():
                flat.extend(crops)
                where.extend([(i, layout)] * len(crops))
        # one inference call per recogniser for every crop of the frame
        per_model = [rec.probabilities(flat) for rec in self.recognizers]
        out: list[tuple[int, PlateReading]] = []
        for i, plate in enumerate(plates):
            candidates: list[Candidate] = []
            for layout in plate.crops:
                idx = [j for j, key in enumerate(where) if key == (i, layout)]
                probs = [np.concatenate([pm[j] for j in idx]) for pm in per_model]
                decoded: list[Decoded | None] = [constrained_decode(p) for p in probs]
                candidates.append(
                    Candidate(layout, probs, decoded, [r.emittable for r in self.recognizers])
                )
            best = fuse(candidates)
            if best is None or best.confidence < self.min_confidence:
                continue
            double = best.layout == "double"
            ptype, colour = classify(best.pattern, plate.colour, double_row=double)
            out.append(
                (
                    i,
                    PlateReading(
                        text=best.text,
                        confidence=best.confidence,
                        char_confidences=best.char_confidences,
                        plate_type=ptype,
                        colour=colour,
                        xyxy=tuple(float(v) for v in plate.xyxy),  # type: ignore[arg-type]
                        corners=tuple((float(x), float(y)) for x, y in plate.corners),
                        is_valid=best.confidence >= self.valid_confidence,
                        pattern=best.pattern.name,
                        double_row=double,
                        detector_confidence=plate.det_conf,
                    ),
                )
            )
        return out


def _looks_like_crop(w: int, h: int, found: PlateBoxes) -> bool:
    """Whether the image is itself a tight plate crop.

    Plate-like shape (aspect 1.8 to 6: double-row plates are 2:1, single-row 3.1:1,
    while 16:9 and 4:3 frames stay scenes) and detection either finds nothing or a
    plate covering most of the image.
    """
    if not 1.8 <= w / h <= 6.0 or w > 1000:
        return False
    if len(found) == 0:
        return True
    areas = (found.xyxy[:, 2] - found.xyxy[:, 0]) * (found.xyxy[:, 3] - found.xyxy[:, 1])
    return bool(areas.max() >= 0.5 * w * h)


def _dedupe(boxes: PlateBoxes, iou: float = 0.5) -> PlateBoxes:
    """Drop plates found twice (overlapping vehicle boxes)."""
    if len(boxes) < 2:
        return boxes
    rects = [[float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])] for b in boxes.xyxy]
    keep = np.array(
        cv2.dnn.NMSBoxes(rects, boxes.confidence.astype(float).tolist(), 0.0, iou), dtype=np.int64
    ).reshape(-1)
    return PlateBoxes(boxes.xyxy[keep], boxes.corners[keep], boxes.confidence[keep])
