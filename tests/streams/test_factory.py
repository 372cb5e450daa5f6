"""open_source picks by scheme; open_site_sources opens a site's enabled cameras."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from shouwang.config import load_site
from streams import (
    FileSource,
    RtspSource,
    Source,
    SourceOptions,
    StreamError,
    open_site_sources,
    open_source,
)


@pytest.mark.parametrize(
    ("url", "kind", "error"),
    [
        ("rtsp://10.0.0.5/101", RtspSource, None),
        ("RTSP://10.0.0.5/101", RtspSource, None),
        ("rtsps://u:p@cam.local/live", RtspSource, None),
        ("file:///srv/gate.mp4", FileSource, None),
        ("/srv/gate.mp4", FileSource, None),
        ("clips/gate.mp4", FileSource, None),
        ("http://u:secretpw@10.0.0.5/video", None, r"unsupported scheme 'http' in http://\*\*\*@"),
        ("rtsp://${CAM_USER}:${CAM_PASS}@h/1", None, r"unresolved \$\{VAR\}"),
    ],
)
def test_open_source_by_scheme(url: str, kind: type | None, error: str | None) -> None:
    if error is not None:
        with pytest.raises(StreamError, match=error) as info:
            open_source("cam", url)
        assert "secretpw" not in str(info.value)
        return
    src = open_source("cam", url)
    assert isinstance(src, kind)  # type: ignore[arg-type]
    assert isinstance(src, Source)  # the Protocol the pipeline relies on
    assert src.camera_id == "cam"


def _site(
    tmp_path: Path, repo_root: Path, edit: Mapping[int, Mapping[str, Any]] | None = None
) -> Path:
    data = yaml.safe_load((repo_root / "configs/demo-site.yaml").read_text(encoding="utf-8"))
    for i, cam_edit in (edit or {}).items():
        data["cameras"][i].update(cam_edit)
    for pl in data.get("plate_lists", []):
        pl["path"] = str(repo_root / "configs" / pl["path"])
    path = tmp_path / "configs" / "site.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_site_sources_resolve_paths_and_take_camera_settings(
    tmp_path: Path, repo_root: Path
) -> None:
    site_file = _site(tmp_path, repo_root, {0: {"fps": 2.0}})
    site = load_site(site_file)
    group = open_site_sources(site, site_file.parent, env={})
    assert list(group) == ["north-gate", "b3-entrance"]
    src = group["north-gate"]
    assert isinstance(src, FileSource)
    # ${SHOUWANG_DEMO_MEDIA:-../.cache/demo} relative to the site file's folder
    assert src.path == (tmp_path / ".cache/demo/north-gate.mp4").resolve()
    assert src.options == SourceOptions(realtime=True, loop=True, max_fps=2.0)


def test_site_sources_skip_disabled_and_use_rtsp_transport(tmp_path: Path, repo_root: Path) -> None:
    edit: dict[int, dict[str, Any]] = {
        0: {"enabled": False},
        1: {"url": "rtsp://${B3_USER}:${B3_PASS}@10.0.0.9/101", "transport": "udp"},
    }
    site_file = _site(tmp_path, repo_root, edit)
    env = {"B3_USER": "admin", "B3_PASS": "secretpw"}
    group = open_site_sources(load_site(site_file), site_file.parent, env=env)
    assert list(group) == ["b3-entrance"]
    src = group["b3-entrance"]
    assert isinstance(src, RtspSource)
    assert src.options.transport == "udp"
    assert src.url == "rtsp://***@10.0.0.9/101"
    assert "secretpw" not in repr(src) and "secretpw" not in repr(src.health())


def test_site_sources_report_every_missing_variable(tmp_path: Path, repo_root: Path) -> None:
    edit = {
        0: {"url": "rtsp://${NG_USER}:${NG_PASS}@10.0.0.8/101"},
        1: {"url": "rtsp://${B3_USER}:${B3_PASS}@10.0.0.9/101"},
    }
    site_file = _site(tmp_path, repo_root, edit)
    with pytest.raises(StreamError) as info:
        open_site_sources(load_site(site_file), site_file.parent, env={"NG_USER": "x"})
    text = str(info.value)
    assert "camera north-gate: environment variable NG_PASS is not set" in text
    assert "camera b3-entrance: environment variable B3_USER is not set" in text


@pytest.mark.parametrize(
    ("value", "expected"), [(None, "none"), ("cuda", "cuda"), ("NONE", "none"), ("vaapi", None)]
)
def test_hwaccel_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str | None, expected: str | None
) -> None:
    from streams.factory import configured_hwaccel

    if value is None:
        monkeypatch.delenv("SHOUWANG_HWACCEL", raising=False)
    else:
        monkeypatch.setenv("SHOUWANG_HWACCEL", value)
    if expected is None:
        with pytest.raises(StreamError, match="SHOUWANG_HWACCEL: expected none or cuda"):
            configured_hwaccel()
    else:
        assert configured_hwaccel() == expected
