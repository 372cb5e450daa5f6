"""Plate reading latency: detect+read per plate, and what batching several plates buys.

Run for figures (compare the groups' medians side by side, same run)::

    .venv/bin/python -m pytest tests/bench/test_bench_plates.py --benchmark-enable \\
        --benchmark-min-rounds=10 --benchmark-columns=median,iqr,min,max,rounds \\
        --benchmark-group-by=group
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from detectors.plates.evaluate import load_image
from detectors.plates.reader import PlateReader
from detectors.plates.recognize import Recognizer

pytestmark = [pytest.mark.bench, pytest.mark.data]


@pytest.fixture(scope="module")
def reader() -> PlateReader:
    return PlateReader()


@pytest.fixture(scope="module")
def crops(shared_data: Path) -> list[np.ndarray]:
    with (shared_data / "plates" / "labels.csv").open(encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["subset"] == "lprnet_crops"][:8]
    images = [load_image(shared_data / "plates" / r["file"]) for r in rows]
    return [i for i in images if i is not None]


@pytest.mark.parametrize("file", ["special_types/police.jpg", "special_types/single_green.jpg"])
def test_detect_and_read_one_plate_frame(
    benchmark: Any, reader: PlateReader, shared_data: Path, file: str
) -> None:
    """A whole frame with one plate: detection, rectification, three recognisers, decode."""
    benchmark.group = "detect+read per plate (scene)"
    if file.endswith("police.jpg"):
        benchmark.extra_info.update(stage="plate", impl="shouwang")
    image = load_image(shared_data / "plates" / file)
    assert image is not None
    readings = benchmark(reader.read, image)
    assert len(readings) >= 1


def test_read_8_crops_batched(benchmark: Any, reader: PlateReader, crops: list[np.ndarray]) -> None:
    """Eight plate crops in one call per recogniser (divide the median by 8 per plate)."""
    benchmark.group = "8 plates: batched vs one by one"
    benchmark.extra_info.update(pair="plates8", impl="batched", items_per_call=len(crops))
    out = benchmark(reader.read_crops, crops)
    assert len(out) == len(crops)


def test_read_8_crops_one_by_one(
    benchmark: Any, reader: PlateReader, crops: list[np.ndarray]
) -> None:
    """The same eight crops, one inference call each."""
    benchmark.group = "8 plates: batched vs one by one"
    benchmark.extra_info.update(pair="plates8", impl="single", items_per_call=len(crops))
    out = benchmark(lambda: [reader.read_crops([c]) for c in crops])
    assert len(out) == len(crops)


@pytest.mark.parametrize("name", ["clp-rec", "ppocr-rec", "hyperlpr-rec"])
@pytest.mark.parametrize("batch", [1, 8])
def test_recogniser_only(benchmark: Any, crops: list[np.ndarray], name: str, batch: int) -> None:
    """Recogniser inference alone: 8 crops as 8 calls of 1, or 1 call of 8."""
    benchmark.group = f"recogniser {name}: 8 crops, batch 1 vs 8"
    rec = Recognizer(name)
    chunks = [crops[i : i + batch] for i in range(0, len(crops), batch)]
    out = benchmark(lambda: [rec.probabilities(c) for c in chunks])
    assert sum(len(o) for o in out) == len(crops)
