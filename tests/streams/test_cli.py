"""The commands: `shouwang streams probe`, `shouwang run`, `shouwang demo prepare`."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest
import yaml
from typer.testing import CliRunner

from shouwang.cli.main import app
from shouwang.demo import SHOTS, compose, prepare
from tests.streams.conftest import RtspServer, free_port

runner = CliRunner()
SECRET = "Pa55-w0rd-xyz"


@pytest.mark.rtsp
@pytest.mark.parametrize(
    ("path", "port", "code", "expected"),
    [
        ("cam", None, 0, "320x180"),
        ("nope", None, 1, "404 Not Found"),
        ("cam", "free", 1, "Connection refused"),
    ],
)
def test_probe_prints_health_and_exit_code(
    rtsp_server: RtspServer, path: str, port: str | None, code: int, expected: str
) -> None:
    p = free_port() if port == "free" else rtsp_server.port
    env = {"PROBE_USER": "admin", "PROBE_PASS": SECRET}
    url = f"rtsp://${{PROBE_USER}}:${{PROBE_PASS}}@127.0.0.1:{p}/{path}"
    result = runner.invoke(app, ["streams", "probe", url, "--seconds", "1.5"], env=env)
    assert result.exit_code == code, result.output
    assert expected in result.output
    assert SECRET not in result.output and "admin" not in result.output
    assert "rtsp://***@127.0.0.1" in result.output


def test_probe_names_a_missing_variable() -> None:
    result = runner.invoke(app, ["streams", "probe", "rtsp://${NO_SUCH_VAR_X}@h/x"], env={})
    assert result.exit_code == 2
    assert "NO_SUCH_VAR_X" in result.output


def _site_file(tmp_path: Path, clip: Path, cameras: int = 2) -> Path:
    demo = yaml.safe_load(Path("configs/demo-site.yaml").read_text(encoding="utf-8"))
    demo["cameras"] = demo["cameras"][:cameras]
    for cam in demo["cameras"]:
        cam["url"] = "${TEST_CLIP}"
    demo["plate_lists"], demo["watchlists"] = [], []
    for cam in demo["cameras"]:
        cam["plate_lists"], cam["watchlists"] = [], []
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(demo, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.slow
def test_run_opens_every_camera_and_stops_after_for(
    tmp_path: Path, clips: dict[str, Path], repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo_root)
    site = _site_file(tmp_path, clips["long"])
    env = {"TEST_CLIP": str(clips["long"])}
    t = time.monotonic()
    result = runner.invoke(
        app, ["run", str(site), "--streams-only", "--for", "2", "--metrics-port", "0"], env=env
    )
    assert result.exit_code == 0, result.output
    assert time.monotonic() - t < 8
    for cam in ("north-gate", "b3-entrance"):
        assert f"{cam}: streaming" in result.output


def test_run_reports_an_unset_camera_variable(
    tmp_path: Path, clips: dict[str, Path], repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo_root)
    monkeypatch.delenv("TEST_CLIP", raising=False)
    result = runner.invoke(
        app, ["run", str(_site_file(tmp_path, clips["long"])), "--streams-only", "--for", "1"]
    )
    assert result.exit_code == 1
    assert "camera north-gate: environment variable TEST_CLIP is not set" in result.output


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_run_shuts_down_cleanly_on_signals(
    tmp_path: Path, clips: dict[str, Path], repo_root: Path, sig: signal.Signals
) -> None:
    site = _site_file(tmp_path, clips["long"])
    env = {**os.environ, "TEST_CLIP": str(clips["long"])}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "shouwang.cli.main",
            "run",
            str(site),
            "--streams-only",
            "--metrics-port",
            "0",
        ],
        cwd=repo_root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: list[str] = []
    try:
        # Signal only once it runs: a fresh clone compiles its bytecode first, which can
        # take longer than any fixed sleep on a loaded machine.
        deadline = time.monotonic() + 60
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if "north-gate" in line and "streaming" in line:
                break
        proc.send_signal(sig)
        rest, _ = proc.communicate(timeout=15)
    finally:
        proc.kill()
    out = "".join(seen) + rest
    assert proc.returncode == 0, out
    assert "north-gate: streaming" in out  # the summary shows how it ran


def test_demo_clip_is_720p_h264_at_25fps(tmp_path: Path) -> None:
    path = compose(SHOTS["north-gate"], tmp_path / "ng.mp4", seconds=0.4)
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames = list(c.decode(video=0))
        assert (s.codec_context.name, s.width, s.height) == ("h264", 1280, 720)
        assert s.average_rate is not None and float(s.average_rate) == 25.0
    assert len(frames) == 10
    a, b = frames[0].to_ndarray(format="gray"), frames[-1].to_ndarray(format="gray")
    assert abs(a.astype(int) - b.astype(int)).mean() > 0.5  # the camera moves


def test_demo_prepare_skips_existing_clips(tmp_path: Path) -> None:
    for cam in SHOTS:
        (tmp_path / f"{cam}.mp4").write_bytes(b"already here")
    paths = prepare(tmp_path, show_progress=False)
    assert sorted(p.name for p in paths) == ["b3-entrance.mp4", "north-gate.mp4"]
    assert all(p.read_bytes() == b"already here" for p in paths)


def test_run_ends_early_when_every_camera_failed(
    tmp_path: Path, clips: dict[str, Path], repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo_root)
    site = _site_file(tmp_path, clips["long"])
    env = {"TEST_CLIP": str(tmp_path / "gone.mp4")}
    t = time.monotonic()
    result = runner.invoke(
        app, ["run", str(site), "--streams-only", "--for", "30", "--metrics-port", "0"], env=env
    )
    assert result.exit_code == 1
    assert time.monotonic() - t < 10
    assert "camera north-gate: video file not found" in result.output
    assert "gone.mp4" in result.output


@pytest.mark.slow
def test_config_check_probe_names_a_camera_sending_surplus_frames(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    # the clip plays at its 25 fps; "lobby" is analysed at 5 (20 frames/s for nothing),
    # "yard" at 25 (nothing to say)
    cams = [
        {
            "id": cid,
            "compound": "a",
            "url": str(clips["long"]),
            "lat": 38.48,
            "lon": 106.23,
            "fps": fps,
        }
        for cid, fps in (("lobby", 5), ("yard", 25))
    ]
    site = {
        "version": 1,
        "name": "probe",
        "compounds": [{"id": "a", "name": "A", "lat": 38.48, "lon": 106.23}],
        "cameras": cams,
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(site), encoding="utf-8")
    result = runner.invoke(app, ["config", "check", str(path), "--probe", "7"])
    assert result.exit_code == 0, result.output
    # the measured rate of a 25 fps clip reads 24-26 over a short probe on a busy machine
    assert re.search(r"note: camera lobby sends 2[4-6] fps but is analysed at 5 fps", result.output)
    assert "sub-stream" in result.output
    assert "camera yard:" in result.output and "note: camera yard" not in result.output
