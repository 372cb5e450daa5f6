"""The alert record: JSON contract, subjects, dedup keys, validation."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError
from ulid import ULID

from alerts.model import (
    ALERT_TYPES,
    DEFAULT_SEVERITY,
    Alert,
    FaceSubject,
    PlateSubject,
    SceneSubject,
    TrackSubject,
    default_dedup_key,
)
from tests.alerts.factory import make_alert


def test_json_has_the_fields_downstream_reads() -> None:
    alert = make_alert(type="zone.intrusion")
    doc = json.loads(alert.model_dump_json())
    assert doc["type"] == "zone.intrusion"
    assert isinstance(doc["location"]["lat"], float)
    assert isinstance(doc["location"]["lon"], float)
    assert doc["severity"] == "high"
    ULID.from_str(doc["id"])  # a valid ULID
    assert Alert.model_validate_json(alert.model_dump_json()) == alert


def test_every_type_has_a_default_severity() -> None:
    assert set(DEFAULT_SEVERITY) == set(ALERT_TYPES)


SUBJECTS: list[Any] = [
    (
        "plate.blacklist",
        PlateSubject(plate="宁A12345", confidence=0.93, list_id="bl", list_kind="blacklist"),
        "plate.blacklist:gate-north:plate:宁A12345",
        "plate 宁A12345 (blacklist bl)",
    ),
    (
        "face.watchlist",
        FaceSubject(watchlist_id="poi", person_id="p17", similarity=0.71, threshold=0.5),
        "face.watchlist:gate-north:face:poi:p17",
        "face p17 on poi sim=0.71",
    ),
    (
        "zone.loitering",
        TrackSubject(track_id=3, class_name="person", rule="dwell>120s", zone="lobby", value=131),
        "zone.loitering:gate-north:track:3:lobby",
        "person #3 dwell>120s zone lobby",
    ),
    (
        "camera.tamper",
        SceneSubject(rule="covered", score=0.98),
        "camera.tamper:gate-north:scene:covered",
        "scene covered score=0.98",
    ),
]


@pytest.mark.parametrize(("type_", "subject", "key", "summary"), SUBJECTS)
def test_subjects_round_trip(type_: Any, subject: Any, key: str, summary: str) -> None:
    base = make_alert()
    alert = Alert.new(
        type=type_,
        camera="gate-north",
        compound="lijing",
        subject=subject,
        location=base.location,
        captured=1_700_000_000.0,
    )
    assert alert.dedup_key == key == default_dedup_key(type_, "gate-north", subject)
    assert alert.summary() == summary
    back = Alert.model_validate_json(alert.model_dump_json())
    assert type(back.subject) is type(subject)
    assert back.times.stages["captured"] == 1_700_000_000.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"type": "zone.teleport"}, "type"),
        ({"severity": "apocalyptic"}, "severity"),
        ({"colour": "red"}, "colour"),
        ({"update_count": -1}, "update_count"),
        ({"subject": {"kind": "plate", "plate": "", "confidence": 0.5}}, "plate"),
    ],
)
def test_invalid_alerts_are_rejected(change: dict[str, Any], message: str) -> None:
    doc = json.loads(make_alert().model_dump_json())
    doc.update(change)
    with pytest.raises(ValidationError, match=message):
        Alert.model_validate(doc)
