"""The `shouwang faces` and `shouwang eval faces` commands, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray
from typer.testing import CliRunner

from shouwang.cli.main import app

runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, res.output


def test_enroll_list_remove(
    tmp_path: Path, one_face: NDArray[np.uint8], zidane: NDArray[np.uint8]
) -> None:
    data = str(tmp_path / "data")
    photo = tmp_path / "p.jpg"
    cv2.imwrite(str(photo), one_face)
    group = tmp_path / "group.jpg"
    cv2.imwrite(str(group), zidane)

    code, out = _run(
        "faces",
        "enroll",
        "residents",
        "Wang Fang",
        str(photo),
        "--kind",
        "residents",
        "--store-photos",
        "--data-dir",
        data,
    )
    assert code == 0, out
    assert "enrolled 'Wang Fang' into 'residents'" in out

    code, out = _run("faces", "enroll", "residents", "Li", str(group), "--data-dir", data)
    assert code == 1 and str(group) in out and "2 faces found" in out

    code, out = _run("faces", "list", "--data-dir", data)
    assert code == 0 and "residents\tresidents\tthreshold=default\tphotos=yes\t1 entries" in out
    code, out = _run("faces", "list", "residents", "--data-dir", data)
    assert code == 0 and out.startswith("Wang Fang\t1 embedding(s)\t1 photo(s)")

    code, out = _run("faces", "remove", "residents", "Wang Fang", "--data-dir", data)
    assert code == 0
    code, out = _run("faces", "list", "residents", "--data-dir", data)
    assert code == 0 and out == ""
    code, out = _run("faces", "remove", "residents", "Wang Fang", "--data-dir", data)
    assert code == 1 and "no entry named 'Wang Fang'" in out


def test_enroll_with_site_file(
    tmp_path: Path, repo_root: Path, one_face: NDArray[np.uint8]
) -> None:
    site = repo_root / "configs" / "demo-site.yaml"
    photo = tmp_path / "p.jpg"
    cv2.imwrite(str(photo), one_face)
    code, out = _run(
        "faces",
        "enroll",
        "no-such-list",
        "A",
        str(photo),
        "--site",
        str(site),
        "--data-dir",
        str(tmp_path),
    )
    assert code == 1 and "no watchlist 'no-such-list'" in out
    code, out = _run(
        "faces",
        "enroll",
        "residents-faces",
        "A",
        str(photo),
        "--site",
        str(site),
        "--data-dir",
        str(tmp_path),
    )
    assert code == 0, out
    code, out = _run("faces", "list", "--data-dir", str(tmp_path))
    assert "residents-faces\tresidents\tthreshold=default\tphotos=no\t1 entries" in out


@pytest.mark.data
@pytest.mark.slow
def test_eval_and_calibrate_on_shared_faces(shared_data: Path, tmp_path: Path) -> None:
    out_json = tmp_path / "faces.json"
    code, out = _run("eval", "faces", str(shared_data / "faces"), "--json", str(out_json))
    assert code == 0, out
    res = json.loads(out_json.read_text())
    for key in (
        "verification_accuracy",
        "tar_at_far_1e-2",
        "tar_at_far_1e-3",
        "fnir_at_fpir_0.01",
        "fpir",
        "n_probes",
        "latency_ms",
    ):
        assert key in res
    data = str(tmp_path / "data")
    code, out = _run(
        "faces",
        "enroll",
        "poi",
        "A",
        str(shared_data / "faces/face_recognition/biden_02.jpg"),
        "--data-dir",
        data,
    )
    assert code == 0, out
    code, out = _run(
        "faces",
        "calibrate",
        str(shared_data / "faces"),
        "--fpir",
        "0.01",
        "--apply",
        "poi",
        "--data-dir",
        data,
    )
    assert code == 0, out
    thr = float(out.strip().splitlines()[-1])
    assert thr == pytest.approx(res["identification_threshold"], abs=1e-4)
    code, out = _run("faces", "list", "--data-dir", data)
    assert f"threshold={thr:.4f}" in out
