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
@pytest.mark.timeout(600)
def test_eval_on_shared_faces_meets_the_goal(shared_data: Path, tmp_path: Path) -> None:
    out_json = tmp_path / "faces.json"
    code, out = _run("eval", "faces", str(shared_data / "faces"), "--json", str(out_json))
    assert code == 0, out
    res = json.loads(out_json.read_text())
    # The goal: FNIR <= 5% at FPIR <= 1% on the shared set.
    assert res["n_probes"] > 100
    assert res["fpir"] <= 0.01
    assert res["fnir_at_fpir_0.01"] <= 0.05
    assert res["verification_accuracy"] > 0.95
    assert res["embedder"] == "arcface-w600k-mbf"  # the default; Western figures no worse
    assert res["rank1_accuracy"] == 1.0 and res["tar_at_far_1e-3"] >= 0.8667
    assert res["rejected_photos"] == [
        "face_recognition/obama_07.jpg",  # faces cut by the photo's top border
        "face_recognition/obama_08.jpg",
    ]
    for key in ("tar_at_far_1e-2", "tar_at_far_1e-3"):
        assert 0 <= res[key] <= 1
    assert set(res["latency_ms"]) >= {"detection_per_frame_median", "embedding_per_face_median"}


@pytest.mark.data
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_eval_on_east_asian_faces_meets_the_goal(shared_data: Path, tmp_path: Path) -> None:
    """The issue's goal for the default on the East-Asian development set, with the
    rejected photos counted as errors and the per-track and s-norm figures reported."""
    root = shared_data / "faces_asian"
    out_json = tmp_path / "asian.json"
    code, out = _run(
        "eval", "faces", str(root), "--pairs", str(root / "pairs.csv"), "--json", str(out_json)
    )
    assert code == 0, out
    res = json.loads(out_json.read_text())
    assert res["embedder"] == "arcface-w600k-mbf"
    assert res["n_mated_probes"] > 5000 and res["fpir"] <= 0.01
    assert res["fnir_at_fpir_0.01"] <= 0.05
    assert res["verification_accuracy_loio"] >= 0.95
    assert res["rejected_photos"] == ["asian/jiang_zemin_02.jpg", "asian/yao_ming_01.jpg"]
    tracks = res["track_aggregation"]
    assert (
        tracks["tracks_of_3/mean"]["fnir_at_fpir_0.01"]
        <= tracks["tracks_of_3/first"]["fnir_at_fpir_0.01"]
    )
    assert set(res["score_normalisation"]) == {"raw", "k=10", "k=20", "k=40"}


def _subset(shared: Path, dest: Path, people: int = 3, photos: int = 2) -> Path:
    """A small labels.csv folder: the first photos of the first people (links, no copies)."""
    src = shared / "faces"
    lines = (src / "labels.csv").read_text(encoding="utf-8").splitlines()
    taken: dict[str, int] = {}
    keep = [lines[0]]
    for line in lines[1:]:
        file, person = line.split(",")[:2]
        if "|" in person or not file.startswith("face_recognition/"):
            continue
        if person not in taken and len(taken) == people:
            continue
        if taken.get(person, 0) < photos:
            taken[person] = taken.get(person, 0) + 1
            keep.append(line)
            (dest / file).parent.mkdir(parents=True, exist_ok=True)
            (dest / file).symlink_to(src / file)
    (dest / "labels.csv").write_text("\n".join(keep) + "\n", encoding="utf-8")
    return dest


@pytest.mark.data
@pytest.mark.slow
def test_calibrate_applies_a_threshold(shared_data: Path, tmp_path: Path) -> None:
    folder = _subset(shared_data, tmp_path / "subset")
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
        "faces", "calibrate", str(folder), "--fpir", "0.01", "--apply", "poi", "--data-dir", data
    )
    assert code == 0, out
    thr = float(out.strip().splitlines()[-1])
    assert 0 < thr < 1
    code, out = _run("faces", "list", "--data-dir", data)
    assert f"threshold={thr:.4f}" in out
    code, out = _run("faces", "calibrate", str(tmp_path / "nowhere"))
    assert code == 1 and "labels.csv" in out


def test_enroll_with_own_onnx_embedder(tmp_path: Path, one_face: NDArray[np.uint8]) -> None:
    from tests.faces.test_embedder import _channel_mean_model

    model = tmp_path / "mine.onnx"
    _channel_mean_model(model)
    photo = tmp_path / "p.jpg"
    cv2.imwrite(str(photo), one_face)
    data = str(tmp_path / "data")
    code, out = _run(
        "faces", "enroll", "poi", "A", str(photo), "--onnx-model", str(model), "--data-dir", data
    )
    assert code == 0, out
    code, out = _run("faces", "list", "poi", "--data-dir", data)
    assert out.startswith("A\t1 embedding(s)")
    code, out = _run(
        "faces",
        "enroll",
        "poi",
        "B",
        str(photo),
        "--onnx-model",
        str(tmp_path / "no.onnx"),
        "--data-dir",
        data,
    )
    assert code == 1 and "no.onnx" in out


def test_changing_the_embedder_refuses_then_reembeds(
    tmp_path: Path, one_face: NDArray[np.uint8]
) -> None:
    data = str(tmp_path / "data")
    photo = tmp_path / "p.jpg"
    cv2.imwrite(str(photo), one_face)
    args = ("--data-dir", data)
    code, out = _run(
        "faces",
        "enroll",
        "poi",
        "A",
        str(photo),
        "--store-photos",
        "--embedder",
        "human-mobileface",
        *args,
    )
    assert code == 0, out
    code, out = _run(
        "faces", "enroll", "poi", "B", str(photo), "--embedder", "dlib-resnet-128", *args
    )
    assert code == 1
    assert "enrolled with embedder human-mobileface, not 'dlib-resnet-128'" in out
    assert "shouwang faces reembed poi" in out
    code, out = _run("faces", "reembed", "poi", "--embedder", "dlib-resnet-128", *args)
    assert code == 0 and "re-embedded 1 entries of 'poi' with 'dlib-resnet-128'" in out, out
    code, out = _run(
        "faces", "enroll", "poi", "B", str(photo), "--embedder", "dlib-resnet-128", *args
    )
    assert code == 0, out


def test_unknown_embedder_is_named(tmp_path: Path) -> None:
    code, out = _run("faces", "calibrate", str(tmp_path), "--embedder", "arcface-r100")
    assert (
        code == 1 and "unknown face embedder 'arcface-r100'" in out and "arcface-w600k-mbf" in out
    )
