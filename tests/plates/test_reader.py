"""The reader end to end: bad input, real plates from the labelled set, batching."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from detectors.detections import Detections
from detectors.plates.evaluate import load_image
from detectors.plates.grammar import is_valid_plate
from detectors.plates.reader import PlateReader, as_bgr
from shouwang.cli.main import app


@pytest.fixture(scope="module")
def reader() -> PlateReader:
    return PlateReader()


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ([[0, 1], [2, 3]], "numpy array"),
        (np.zeros((20, 60, 3), dtype=np.float32), "uint8"),
        (np.zeros((0, 0, 3), dtype=np.uint8), "empty"),
        (np.zeros((1, 50), dtype=np.uint8), "degenerate"),
        (np.zeros((20, 60, 2), dtype=np.uint8), r"\(h, w, 4\)"),
        (np.zeros((4, 4, 4, 4), dtype=np.uint8), "expected"),
    ],
)
def test_bad_arrays_are_value_errors(image: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        as_bgr(image)


@pytest.mark.parametrize(
    "image",
    [
        np.full((480, 640, 3), 127, dtype=np.uint8),  # a grey frame: no plate
        np.zeros((480, 640), dtype=np.uint8),  # grayscale
        np.zeros((480, 640, 4), dtype=np.uint8),  # BGRA
        np.zeros((480, 640, 1), dtype=np.uint8),
        np.random.default_rng(0).integers(0, 255, (360, 480, 3), dtype=np.uint8),
    ],
)
def test_frames_without_plates_read_nothing_plate_like(
    reader: PlateReader, image: np.ndarray
) -> None:
    readings = reader.read(image)
    assert isinstance(readings, list)
    assert all(is_valid_plate(r.text) for r in readings)


@pytest.mark.slow
def test_huge_frame_is_read_at_bounded_size(reader: PlateReader) -> None:
    frame = np.zeros((10000, 10000, 3), dtype=np.uint8)
    assert reader.read(frame) == []


def test_vehicles_outside_the_frame_or_not_vehicles_are_skipped(reader: PlateReader) -> None:
    frame = np.full((200, 300, 3), 90, dtype=np.uint8)
    vehicles = Detections(
        xyxy=np.array([[0, 0, 100, 100], [50, 50, 52, 52]], dtype=np.float32),
        confidence=np.array([0.9, 0.9], dtype=np.float32),
        class_id=np.array([0, 2]),  # a person (skipped) and a 2 px "car" (too small)
    )
    assert reader.read(frame, vehicles) == []


def test_cli_unreadable_image_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    assert load_image(bad) is None
    result = CliRunner().invoke(app, ["plates", "read", str(bad)])
    assert result.exit_code == 2
    assert "not a readable image" in result.output


# --- real plates (the labelled set) -----------------------------------------------


def _rows(shared: Path, subset: str) -> list[dict[str, str]]:
    with (shared / "plates" / "labels.csv").open(encoding="utf-8") as fh:
        return [r for r in csv.DictReader(fh) if r["subset"] == subset]


@pytest.mark.data
@pytest.mark.parametrize(
    ("file", "text", "plate_type", "double_row"),
    [
        ("special_types/police.jpg", "鄂F8888警", "white_police", False),
        ("special_types/17.jpg", "使198476", "black_embassy", False),
        ("special_types/double_yellow.jpg", "京EA5331", "yellow_double", True),
        ("special_types/single_green.jpg", "沪AF71017", "green_new_energy_small", False),
        ("misc_crops/宁A87J92_0.jpg", "宁A87J92", "blue", False),
    ],
)
def test_reads_real_plates_with_type(
    reader: PlateReader,
    shared_data: Path,
    file: str,
    text: str,
    plate_type: str,
    double_row: bool,
) -> None:
    image = load_image(shared_data / "plates" / file)
    assert image is not None
    readings = reader.read(image)
    match = [r for r in readings if r.text == text]
    assert match, f"read {[r.text for r in readings]}"
    assert match[0].plate_type == plate_type and match[0].double_row is double_row
    assert len(match[0].char_confidences) == len(text) and match[0].is_valid


@pytest.mark.data
def test_plate_found_inside_a_vehicle_box_is_in_frame_coordinates(
    reader: PlateReader, shared_data: Path
) -> None:
    image = load_image(shared_data / "plates" / "special_types" / "police.jpg")
    assert image is not None
    whole = reader.read(image)
    h, w = image.shape[:2]
    car = Detections(
        xyxy=np.array([[w * 0.2, h * 0.2, w - 1, h - 1]], dtype=np.float32),
        confidence=np.array([0.9], dtype=np.float32),
        class_id=np.array([2]),
    )
    in_car = reader.read(image, car)
    assert [r.text for r in in_car] == [r.text for r in whole] == ["鄂F8888警"]
    np.testing.assert_allclose(in_car[0].xyxy, whole[0].xyxy, atol=4.0)


@pytest.mark.data
def test_grayscale_and_bgra_versions_of_a_plate_read_the_same(
    reader: PlateReader, shared_data: Path
) -> None:
    image = load_image(shared_data / "plates" / "misc_crops" / "川A3X7J1_0.jpg")
    assert image is not None
    bgra = np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2BGRA), dtype=np.uint8)
    assert [r.text for r in reader.read(bgra)] == ["川A3X7J1"]
    gray = np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
    assert all(is_valid_plate(r.text) for r in reader.read(gray))


@pytest.mark.data
@pytest.mark.slow
def test_batched_crops_read_like_single_crops(reader: PlateReader, shared_data: Path) -> None:
    rows = _rows(shared_data, "lprnet_crops")[:8]
    crops = [load_image(shared_data / "plates" / r["file"]) for r in rows]
    assert all(c is not None for c in crops)
    batched = reader.read_crops([c for c in crops if c is not None])
    single = [reader.read_crops([c])[0] for c in crops if c is not None]
    assert [b.text if b else None for b in batched] == [s.text if s else None for s in single]


@pytest.mark.data
@pytest.mark.slow
def test_fifty_lprnet_crops(reader: PlateReader, shared_data: Path) -> None:
    rows = _rows(shared_data, "lprnet_crops")[::20][:50]
    crops = [load_image(shared_data / "plates" / r["file"]) for r in rows]
    assert all(c is not None for c in crops)
    readings = reader.read_crops([c for c in crops if c is not None])
    exact = sum(
        r is not None and r.text == row["plate_text"] for r, row in zip(readings, rows, strict=True)
    )
    assert exact / len(rows) >= 0.9


@pytest.mark.data
def test_ssd_fallback_boxes_do_not_depend_on_earlier_frame_sizes(shared_data: Path) -> None:
    from detectors.plates.detect import SsdPlateDetector

    image = load_image(shared_data / "plates" / "special_types" / "hongkang1.jpg")
    assert image is not None
    reference = SsdPlateDetector().detect(image)[0]
    used = SsdPlateDetector()
    used.detect(np.zeros((30, 100, 3), dtype=np.uint8))
    assert len(reference) == 1
    np.testing.assert_allclose(used.detect(image)[0], reference, atol=1.0)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"recognizers": []}, "at least 1"),
        ({"recognizers": ["tesseract"]}, "clp-rec"),
        ({"recognizers": ["clp-rec", "clp-rec"]}, "each name once"),
        ({"min_confidence": 0.9, "valid_confidence": 0.5}, "must not exceed"),
        ({"max_side": 10}, "greater than or equal"),
        ({"colour": "blue"}, "Extra inputs"),
    ],
)
def test_config_rejects_bad_settings(fields: dict[str, object], message: str) -> None:
    from pydantic import ValidationError

    from detectors.plates.config import PlateReaderConfig

    with pytest.raises(ValidationError, match=message):
        PlateReaderConfig.model_validate(fields)


def test_reader_from_config() -> None:
    from detectors.plates.config import PlateReaderConfig

    reader = PlateReader.from_config(PlateReaderConfig(recognizers=["clp-rec"], max_side=640))
    assert [r.name for r in reader.recognizers] == ["clp-rec"]
    assert reader.detector.max_side == 640
