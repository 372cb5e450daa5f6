"""The site file's GA/T 1400 settings: 20-digit ids, no password, no unknown keys;
national codes and ids on the wire; the ``shouwang gat1400`` command."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from alerts.gat1400 import codes
from shouwang.cli.main import app
from shouwang.config import ConfigError, load_site, parse_site
from tests.alerts.factory import TEST_REDIS_URL
from tests.gat1400.conftest import GATE_DEVICE, PLATFORM_ID, gat_site


def _site(tmp_path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(gat_site(tmp_path, "http://10.1.2.3:8080").read_text())
    return doc


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["gat1400"].update(platform_id="6401040000200000001"), "exactly 20 digits"),
        (lambda d: d["gat1400"].update(platform_id="6401040000200000000A"), "exactly 20 digits"),
        (lambda d: d["cameras"][0]["gat1400"].update(device_id="123"), "device_id must be"),
        (lambda d: d["cameras"][0]["gat1400"].update(channel_id="1" * 21), "channel_id must be"),
        (lambda d: d["gat1400"].update(password="secret"), "password"),
        (lambda d: d["cameras"][0]["gat1400"].update(chanel_id="1" * 20), "chanel_id"),
        (lambda d: d["gat1400"].update(upper_url="http://u:p@10.1.2.3"), "without credentials"),
        (lambda d: d["gat1400"].update(place_code="6401"), "place_code"),
    ],
)
def test_bad_gat1400_settings_are_refused_naming_the_field(
    tmp_path: Path, change: Any, message: str
) -> None:
    doc = _site(tmp_path)
    change(doc)
    with pytest.raises(ConfigError) as exc:
        parse_site(doc)
    assert message in str(exc.value)


def test_a_good_site_loads(tmp_path: Path) -> None:
    site = load_site(gat_site(tmp_path, "http://10.1.2.3:8080/"))
    assert site.gat1400 is not None and site.gat1400.platform_id == PLATFORM_ID
    assert site.gat1400.upper_url == "http://10.1.2.3:8080"
    assert site.camera("gate-north").gat1400 is not None


@pytest.mark.parametrize(
    ("plate", "klass", "colour"),
    [
        ("宁A12345", "02", "5"),
        ("宁AD12345", "52", "9"),
        ("宁A12345D", "51", "9"),
        ("宁A1234警", "23", "2"),
        ("宁A1234学", "16", "6"),
        ("宁A1234挂", "15", "6"),
        ("粤Z1234港", "26", "1"),
        ("粤Z1234澳", "27", "1"),
        ("宁A123", "99", "99"),
    ],
)
def test_plate_class_and_colour_codes(plate: str, klass: str, colour: str) -> None:
    assert codes.plate_codes(plate) == (klass, colour)
    assert klass in codes.PLATE_CLASSES and colour in codes.PLATE_COLORS


def test_ids_and_times_on_the_wire() -> None:
    t = datetime(2026, 12, 1, 16, 30, 5, tzinfo=UTC)
    assert codes.wire_time(t, "Asia/Shanghai") == "20261202003005"
    src = codes.source_id(GATE_DEVICE, t, "Asia/Shanghai", "01JREAD")
    assert len(src) == 41 and src.startswith(GATE_DEVICE + "0220261202003005")
    assert src == codes.source_id(GATE_DEVICE, t, "Asia/Shanghai", "01JREAD"), "not stable"
    oid = codes.object_id(src, codes.OBJ_VEHICLE, "01JREAD")
    assert len(oid) == 48 and oid[41:43] == "02"


@pytest.mark.redis
def test_status_command_prints_the_backlog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", TEST_REDIS_URL)
    site = gat_site(tmp_path, "http://10.1.2.3:8080")
    res = CliRunner().invoke(app, ["gat1400", "status", "--site", str(site)])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["platform_id"] == PLATFORM_ID and doc["backlog"] >= 0
    assert doc["cameras"]["gate-north"]["device_id"] == GATE_DEVICE


def test_run_without_the_password_says_which_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHOUWANG_GAT1400_PASSWORD")
    site = gat_site(tmp_path, "http://10.1.2.3:8080")
    res = CliRunner().invoke(app, ["gat1400", "run", "--site", str(site)])
    assert res.exit_code == 2
    assert "SHOUWANG_GAT1400_PASSWORD" in res.output
