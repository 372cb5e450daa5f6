"""Site-file validation as tables: each row a broken file and the message it must give."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shouwang.cli.main import app
from shouwang.config import ConfigError, Schedule, load_site, parse_site
from shouwang.config.loader import resolve_url

DEMO = Path(__file__).resolve().parents[2] / "configs" / "demo-site.yaml"

GOOD_POINTS = [
    {"pixel": [100, 700], "lat": 38.488030, "lon": 106.230800},
    {"pixel": [1180, 700], "lat": 38.488030, "lon": 106.230910},
    {"pixel": [1000, 420], "lat": 38.488120, "lon": 106.230900},
    {"pixel": [280, 420], "lat": 38.488120, "lon": 106.230810},
]


def base() -> dict[str, Any]:
    return {
        "version": 1,
        "name": "test site",
        "compounds": [{"id": "a", "name": "A", "lat": 38.48, "lon": 106.23}],
        "cameras": [
            {"id": "c0", "compound": "a", "url": "x.mp4", "lat": 38.48, "lon": 106.23},
            {"id": "c1", "compound": "a", "url": "y.mp4", "lat": 38.48, "lon": 106.23},
            {
                "id": "c2",
                "compound": "a",
                "url": "rtsp://${U}:${P}@10.0.0.2/s",
                "lat": 38.48,
                "lon": 106.23,
                "calibration": {"points": copy.deepcopy(GOOD_POINTS)},
                "zones": [{"id": "z", "kind": "intrusion", "polygon": [[0, 0], [9, 0], [9, 9]]}],
            },
        ],
        "plate_lists": [{"id": "bl", "kind": "blacklist", "path": "bl.txt"}],
        "watchlists": [{"id": "poi", "kind": "persons_of_interest"}],
    }


def edit(path: str, value: Any) -> dict[str, Any]:
    """A copy of base() with the value at a dotted path (``cameras.2.fps``) replaced."""
    data = base()
    node: Any = data
    parts = path.split(".")
    for p in parts[:-1]:
        node = node[int(p)] if p.isdigit() else node[p]
    last = parts[-1]
    if value is DELETE:
        del node[int(last) if last.isdigit() else last]
    elif last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return data


DELETE = object()


def test_base_is_valid() -> None:
    site = parse_site(base())
    assert [c.id for c in site.cameras] == ["c0", "c1", "c2"]
    assert site.cameras[2].calibration is not None


@pytest.mark.parametrize(
    ("data", "loc", "message"),
    [
        (edit("cameras.2.calibration.points", GOOD_POINTS[:3]),
         "cameras[2].calibration.points", "need at least 4 pairs, got 3"),
        (edit("cameras.2.calibration.points.3", {"pixel": [640, 700], "lat": 38.48803, "lon": 106.230855}),
         "cameras[2].calibration", "collinear"),
        (edit("cameras.2.calibration.points.3", dict(GOOD_POINTS[0])),
         "cameras[2].calibration", "coincide"),
        (edit("cameras.1.fsp", 5), "cameras[1].fsp", "unknown key"),
        (edit("cameras.1.fps", 0), "cameras[1].fps", "greater than 0"),
        (edit("cameras.1.lat", 91), "cameras[1].lat", "less than or equal to 90"),
        (edit("cameras.1.compound", "nowhere"), "cameras[1].compound", "unknown compound 'nowhere'"),
        (edit("cameras.1.id", "c0"), "cameras[1].id", "already used by cameras[0]"),
        (edit("cameras.1.id", "Bad Id"), "cameras[1].id", "should match pattern"),
        (edit("cameras.1.url", "rtsp://admin:hunter2@10.0.0.1/s"), "cameras[1].url", "credentials"),
        (edit("cameras.1.url", "ftp://host/x"), "cameras[1].url", "unsupported scheme"),
        (edit("cameras.1.heading_deg", 360), "cameras[1].heading_deg", "less than 360"),
        (edit("cameras.1.url", DELETE), "cameras[1].url", "required but missing"),
        (edit("cameras.1.plate_lists", ["nope"]), "cameras[1].plate_lists[0]", "unknown plate list"),
        (edit("cameras.1.watchlists", ["nope"]), "cameras[1].watchlists[0]", "unknown watchlist"),
        (edit("cameras.2.zones.0.schedule", "25:00-06:00"),
         "cameras[2].zones[0].schedule", "out of range"),
        (edit("cameras.2.zones.0.schedule", "nights"), "cameras[2].zones[0].schedule", "HH:MM-HH:MM"),
        (edit("cameras.2.zones.0.polygon", [[0, 0], [1, 1], [2, 2]]),
         "cameras[2].zones[0]", "zero area"),
        (edit("cameras.2.zones.0.polygon", [[0, 0], [1, 1]]), "cameras[2].zones[0]", "at least 3"),
        (edit("cameras.1.zones", [{"id": "g", "kind": "watch",
                                   "polygon_latlon": [[38.1, 106.1], [38.2, 106.1], [38.2, 106.2]]}]),
         "cameras[1]", "no calibration"),
        (edit("compounds", []), "compounds", "at least 1 item"),
        (edit("watchlists.0.threshold", 2), "watchlists[0].threshold", "less than or equal to 1"),
    ],
)  # fmt: skip
def test_invalid_sites_name_the_location(data: dict[str, Any], loc: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_site(data)
    problems = info.value.problems
    assert any(p_loc == loc and message in msg for p_loc, msg in problems), problems


def test_every_problem_is_reported_at_once() -> None:
    data = edit("cameras.1.compound", "nowhere")
    data["cameras"][0]["fsp"] = 3
    data["cameras"][2]["calibration"]["points"] = GOOD_POINTS[:2]
    with pytest.raises(ConfigError) as info:
        parse_site(data)
    locs = {loc for loc, _ in info.value.problems}
    assert {"cameras[0].fsp", "cameras[1].compound", "cameras[2].calibration.points"} <= locs


@pytest.mark.parametrize(
    ("text", "inside", "outside"),
    [("22:00-06:00", ["23:30", "00:00", "05:59"], ["06:00", "12:00", "21:59"]),
     ("08:00-18:00", ["08:00", "17:59"], ["07:59", "18:00", "23:00"]),
     ("00:00-24:00", ["00:00", "12:00", "23:59"], [])],
)  # fmt: skip
def test_schedule_windows(text: str, inside: list[str], outside: list[str]) -> None:
    from datetime import time

    sched = Schedule.parse(text)
    for t in inside:
        assert sched.active(time.fromisoformat(t)), t
    for t in outside:
        assert not sched.active(time.fromisoformat(t)), t


@pytest.mark.parametrize(
    ("template", "env", "expected", "error"),
    [
        ("rtsp://${U}:${P}@h/s", {"U": "admin", "P": "pw"}, "rtsp://admin:pw@h/s", None),
        ("rtsp://${U}:${P}@h/s", {"U": "admin"}, None, "environment variable P is not set"),
        ("${D:-/media}/a.mp4", {}, "/media/a.mp4", None),
        ("${D:-/media}/a.mp4", {"D": "/srv"}, "/srv/a.mp4", None),
    ],
)
def test_resolve_url(
    template: str, env: dict[str, str], expected: str | None, error: str | None
) -> None:
    if error:
        with pytest.raises(KeyError, match=error):
            resolve_url(template, env)
    else:
        assert resolve_url(template, env) == expected


def test_secret_values_never_in_resolution_errors() -> None:
    with pytest.raises(KeyError) as info:
        resolve_url("rtsp://${U}:${P}@h/s", {"U": "topsecretuser"})
    assert "topsecretuser" not in str(info.value)


def test_relative_paths_resolve_against_the_site_folder(tmp_path: Path) -> None:
    assert resolve_url("media/a.mp4", {}, base=tmp_path) == str(tmp_path / "media" / "a.mp4")


def test_demo_site_is_valid() -> None:
    site = load_site(DEMO)
    assert site.cameras and all(c.calibration for c in site.cameras)


@pytest.mark.parametrize(
    ("content", "code", "expected"),
    [
        (None, 0, "OK"),
        ("version: 1\nname: x\ncompounds: []\n", 1, "compounds: List should have at least 1 item"),
        ("name: [unclosed\n", 1, "not valid YAML"),
        ("- just\n- a list\n", 1, "must hold a mapping"),
    ],
)
def test_config_check_command(
    tmp_path: Path, content: str | None, code: int, expected: str
) -> None:
    path = DEMO
    if content is not None:
        path = tmp_path / "site.yaml"
        path.write_text(content, encoding="utf-8")
    result = CliRunner().invoke(app, ["config", "check", str(path)])
    assert result.exit_code == code, result.output
    assert expected in result.output


def test_config_check_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["config", "check", str(tmp_path / "none.yaml")])
    assert result.exit_code == 1
    assert "file not found" in result.output


def test_configuration_reference_is_current() -> None:
    from shouwang.config.reference import render

    doc = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
    assert doc.read_text(encoding="utf-8") == render(), (
        "docs/configuration.md is stale: python -m shouwang.config.reference > docs/configuration.md"
    )
