"""The evaluation command on small labelled folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from detectors.plates.errors import PlateError
from detectors.plates.evaluate import iou, levenshtein, load_labels
from shouwang.cli.main import app

HEADER = "file,plate_text,subset,bbox_x1y1x2y2,plate_type,kind\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("a.jpg,,s,,,\n", "'file' and 'plate_text' are required"),
        ("a.jpg,京A12345,s,1 2 3,,\n", "not 4 numbers"),
        ("a.jpg,京A12345,s,,,photo\n", "kind must be crop or scene"),
    ],
)
def test_bad_labels_name_the_row(tmp_path: Path, body: str, message: str) -> None:
    (tmp_path / "labels.csv").write_text(HEADER + body, encoding="utf-8")
    with pytest.raises(PlateError, match=rf"labels.csv:2: .*{message}"):
        load_labels(tmp_path)


def test_missing_labels_file(tmp_path: Path) -> None:
    with pytest.raises(PlateError, match="not found"):
        load_labels(tmp_path)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [((0, 0, 10, 10), (0, 0, 10, 10), 1.0), ((0, 0, 10, 10), (20, 20, 30, 30), 0.0)],
)
def test_iou(a: tuple[float, ...], b: tuple[float, ...], expected: float) -> None:
    assert iou(a, b) == pytest.approx(expected)


def test_levenshtein() -> None:
    assert levenshtein("京A12345", "京A1234") == 1
    assert levenshtein("京A12345", "京A12345") == 0


@pytest.mark.data
@pytest.mark.slow
def test_eval_cli_on_a_small_folder(tmp_path: Path, shared_data: Path) -> None:
    src = shared_data / "plates"
    shutil.copy(src / "misc_crops" / "宁A87J92_0.jpg", tmp_path / "crop.jpg")
    shutil.copy(src / "special_types" / "police.jpg", tmp_path / "police.jpg")
    (tmp_path / "broken.jpg").write_bytes(b"nope")
    (tmp_path / "labels.csv").write_text(
        HEADER
        + "crop.jpg,宁A87J92,crops,,blue,crop\n"
        + "police.jpg,鄂F8888警,scenes,,white police (警),\n"
        + "broken.jpg,京A12345,scenes,,,\n",
        encoding="utf-8",
    )
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        app, ["eval", "plates", str(tmp_path), "--json", str(out), "--errors"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["n"] == 3
    assert report["subsets"]["crops"]["accuracy"] == 1.0
    assert report["subsets"]["scenes"]["accuracy"] == 0.5
    assert report["subsets"]["scenes"]["accuracy_with_type"] == 0.5
    assert [e["truth"] for e in report["errors"]] == ["京A12345"]
    assert report["errors"][0]["error"] == "unreadable image"
    for key in (
        "accuracy",
        "char_accuracy",
        "detection_recall",
        "latency_ms_p50",
        "latency_ms_p95",
    ):
        assert key in report
