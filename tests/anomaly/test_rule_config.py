"""Rule configuration in the site file: accepted rules and plain-English rejections."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from shouwang.config import Camera, load_site
from tests.anomaly.tracks import ZONES, calibration


def cam(rules: list[dict[str, Any]], *, calibrated: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "gate-cam", "compound": "c", "url": "x.mp4", "lat": 38.5, "lon": 106.2,
        "zones": [*ZONES, {"id": "lawn", "kind": "intrusion", "classes": ["person"],
                           "polygon": [[0, 0], [50, 0], [50, 50]]},
                  {"id": "walk", "kind": "pedestrian", "polygon": [[0, 0], [9, 0], [9, 9]]}],
        "rules": rules,
    }  # fmt: skip
    if calibrated:
        data["calibration"] = calibration()
    return data


@pytest.mark.parametrize(
    ("rules", "calibrated", "error"),
    [
        ([{"id": "a", "type": "intrusion", "zone": "yard", "schedule": "22:00-06:00"}], False, None),
        ([{"id": "a", "type": "line_crossing", "zone": "gate", "direction": "to_left"}], False, None),
        ([{"id": "a", "type": "running", "zone": "yard", "speed_mps": 4}], True, None),
        ([{"id": "a", "type": "crowding", "zone": "yard", "count": 5, "seconds": 3}], False, None),
        ([{"id": "a", "type": "no_parking", "zone": "yard"}], False, None),
        ([{"id": "a", "type": "abandoned_object", "zone": "yard", "seconds": 20}], False, None),
        ([{"id": "a", "type": "fall", "zone": "yard"}], False, None),
        ([{"id": "a", "type": "loitering", "zone": "yard", "seconds": 60}], False, None),
        ([{"id": "a", "type": "intrusion", "zone": "roof"}], False,
         "camera 'gate-cam', rule 'a': unknown zone 'roof'; this camera's zones: yard, gate, lawn"),
        ([{"id": "a", "type": "running", "zone": "yard", "speed_mps": 4}], False,
         "camera 'gate-cam', rule 'a': a running rule measures ground speed in m/s and needs "
         "the camera's calibration"),
        ([{"id": "a", "type": "line_crossing", "zone": "yard"}], False, "needs a line zone"),
        ([{"id": "a", "type": "loitering", "zone": "gate", "seconds": 5}], False,
         "a loitering rule needs a polygon zone, but 'gate' is a line"),
        ([{"id": "a", "type": "intrusion", "zone": "yard"}, {"id": "a", "type": "fall", "zone": "yard"}],
         False, "rule id 'a' is used twice"),
        ([{"id": "a", "type": "intrusion", "zone": "lawn", "classes": ["car"]}], False,
         "could never fire"),
        ([{"id": "a", "type": "intrusion", "zone": "yard", "classes": ["persn"]}], False,
         "unknown class 'persn'"),
        ([{"id": "a", "type": "loitering", "zone": "yard"}], False, "required"),
        ([{"id": "a", "type": "loitering", "zone": "yard", "seconds": -1}], False, "greater than 0"),
        ([{"id": "a", "type": "crowding", "zone": "yard", "count": 1}], False, "greater than or equal to 2"),
        ([{"id": "a", "type": "intrusion", "zone": "yard", "seconds": 3}], False, "Extra inputs"),
        ([{"id": "a", "type": "teleport", "zone": "yard"}], False, "does not match any of the expected tags"),
        ([{"id": "a", "type": "intrusion", "zone": "yard", "schedule": "night"}], False, "HH:MM-HH:MM"),
        ([{"id": "a", "type": "abandoned_object", "zone": "yard", "classes": ["person"]}], False,
         "'person' cannot be one"),
        ([{"id": "a", "type": "vehicle_in_zone", "zone": "yard"}], False,
         "needs a zone of kind pedestrian"),
        ([{"id": "a", "type": "vehicle_in_zone", "zone": "walk"}], False, None),
        ([{"id": "a", "type": "vehicle_in_zone", "zone": "walk", "classes": ["person"]}], False,
         "'person' cannot be one"),
        ([{"id": "a", "type": "fall", "zone": "yard", "lying_max_m": 1.3}], True,
         "must be below upright_min_m"),
        ([{"id": "a", "type": "fall", "zone": "yard", "upright_min_m": 1.4}], True, None),
    ],
)  # fmt: skip
def test_rule_validation(rules: list[dict[str, Any]], calibrated: bool, error: str | None) -> None:
    if error is None:
        camera = Camera.model_validate(cam(rules, calibrated=calibrated))
        assert [r.type for r in camera.rules] == [r["type"] for r in rules]
    else:
        with pytest.raises(ValidationError, match=None) as info:
            Camera.model_validate(cam(rules, calibrated=calibrated))
        assert error in str(info.value)


def test_rule_defaults_are_sensible() -> None:
    camera = Camera.model_validate(
        cam([{"id": "a", "type": "no_parking", "zone": "yard"},
             {"id": "b", "type": "abandoned_object", "zone": "yard"}])
    )  # fmt: skip
    parking, left = camera.rules
    assert "car" in parking.classes and "person" not in parking.classes
    assert "suitcase" in left.classes and parking.cooldown_s == 30


def test_demo_site_has_rules(repo_root: Path) -> None:
    site = load_site(repo_root / "configs" / "demo-site.yaml")
    types = {r.type for c in site.cameras for r in c.rules}
    assert {"intrusion", "loitering", "line_crossing", "no_parking", "running"} <= types


def test_site_file_problems_name_the_rule_location() -> None:
    from shouwang.config import ConfigError, parse_site

    site = {
        "version": 1,
        "name": "t",
        "compounds": [{"id": "c", "name": "C", "lat": 38.5, "lon": 106.2}],
        "cameras": [
            cam(
                [
                    {"id": "a", "type": "intrusion", "zone": "roof"},
                    {"id": "b", "type": "running", "zone": "yard", "speed_mps": 3},
                ]
            )
        ],
    }
    with pytest.raises(ConfigError) as info:
        parse_site(site)
    where = dict(info.value.problems)
    assert "unknown zone 'roof'" in where["cameras[0].rules[0].zone"]
    assert "needs the camera's calibration" in where["cameras[0].rules[1]"]


@pytest.mark.parametrize(
    ("rule", "calibrated", "note"),
    [
        ({"type": "fall"}, True, "fall measures in metres: standing >= 1.2 m"),
        ({"type": "fall"}, False, "no calibration: fall falls back to the box aspect"),
        ({"type": "abandoned_object"}, True, "owner within 3.0 m"),
        ({"type": "abandoned_object"}, False, "falls back to pixels (owner within 150 px"),
        ({"type": "intrusion"}, False, None),
    ],
)
def test_config_check_says_metres_or_pixels(
    rule: dict[str, Any], calibrated: bool, note: str | None
) -> None:
    camera = Camera.model_validate(
        cam([{"id": "a", "zone": "yard", **rule}], calibrated=calibrated)
    )
    notes = camera.rule_notes()
    if note is None:
        assert notes == []
    else:
        assert len(notes) == 1 and note in notes[0] and "rule 'a'" in notes[0], notes
