"""Shouwang as a GA/T 1400 lower platform against the test view library: Digest
registration, valid motor-vehicle and face records, the outbox across an outage,
re-registration after the upper platform restarts without state.

Real parts: Redis (the outbox stream, the alert and plate-read streams), SQLite (the
audit log), the stdlib view library on loopback. Keepalive 0.5 s and retry 0.3 s
(see conftest) so "down for a minute" is a few seconds here.
"""

from __future__ import annotations

import copy
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from ulid import ULID

from alerts import keys
from alerts.evidence import EvidenceStore
from alerts.gat1400 import outbox
from alerts.model import Alert, FaceSubject
from alerts.plate_reads import PlateRead, publish_read
from alerts.store.audit import AuditEntry, verify
from tests.alerts.factory import make_alert, stream_entries
from tests.gat1400.conftest import (
    FACE_DEVICE,
    GATE_CHANNEL,
    GATE_DEVICE,
    PASSWORD,
    USER,
    gat_site,
    jpeg,
    load,
    lower_platform,
    wait_for,
)
from tests.gat1400.viid_server import ViewLibrary, check_face, check_vehicle
from tests.store.helpers import xadd

pytestmark = [pytest.mark.redis]
MV, FACES = "/VIID/MotorVehicles", "/VIID/Faces"


def read(ev: EvidenceStore, plate: str = "宁A12345", seed: int = 0) -> PlateRead:
    crop = ev.put(jpeg(ev, 120, 40, seed), kind="crop", width=120, height=40)
    return PlateRead(
        id=str(ULID()), plate=plate, confidence=0.93, camera="gate-north", compound="lijing",
        gate="north gate", direction="in", read_at=datetime.now(UTC), crop_sha256=crop.sha256,
    )  # fmt: skip


def face_alert(ev: EvidenceStore) -> Alert:
    a = make_alert(type="face.watchlist", camera_id="b3-entrance")
    scene = ev.put(jpeg(ev, 160, 90, 1), kind="snapshot", width=160, height=90)
    crop = ev.put(jpeg(ev, 40, 48, 2), kind="crop", width=40, height=48)
    subj = FaceSubject(
        watchlist_id="persons-of-interest", person_id="p1", similarity=0.71, threshold=0.5
    )
    return a.model_copy(update={"subject": subj, "evidence": [scene, crop]})


def pushed(factory: sessionmaker[Session]) -> list[str]:
    with factory() as s:
        rows = s.execute(
            select(AuditEntry).where(AuditEntry.action == "gat1400.pushed").order_by(AuditEntry.seq)
        ).scalars()
        return [e.target for e in rows]


def test_registers_with_digest_then_pushes_valid_vehicle_and_face_records(
    tmp_path: Path,
    r: redis.Redis,
    library: ViewLibrary,
    evidence: EvidenceStore,
    store: sessionmaker[Session],
) -> None:
    site = load(gat_site(tmp_path, library.url))
    publish_read(r, read(evidence))
    xadd(r, face_alert(evidence))
    with lower_platform(site, r, store, evidence.root) as lower:
        ok = wait_for(lambda: bool(library.received[MV] and library.received[FACES]), 20)
        assert ok, (library.calls, library.errors, lower.pushed)
        assert lower.clock_offset_s is not None and abs(lower.clock_offset_s) < 5
    assert library.challenges >= 1, "Register was not challenged"
    assert library.registrations == 1
    assert library.errors == []
    v = library.received[MV][0]
    assert v["DeviceID"] == GATE_DEVICE and v["PlateNo"] == "宁A12345"
    assert (v["PlateClass"], v["PlateColor"]) == ("02", "5")
    img = v["SubImageList"]["SubImageInfoObject"][0]
    assert img["SourceVideoID"].startswith(GATE_CHANNEL) and img["Type"] == "02"
    assert img["ShotPlaceCode"] == "640104" and img["ShotPlaceFullAdress"].startswith("丽景湾")
    f = library.received[FACES][0]
    assert f["DeviceID"] == FACE_DEVICE
    assert sorted(i["Type"] for i in f["SubImageList"]["SubImageInfoObject"]) == ["11", "14"]
    assert sorted(pushed(store)) == sorted([v["MotorVehicleID"], f["FaceID"]])
    with store() as s:
        assert verify(s).ok
    assert outbox.backlog(r) == 0


def _rename(doc: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    doc[new] = doc.pop(old)
    return doc


@pytest.mark.parametrize(
    ("break_it", "complaint"),
    [
        (lambda v: _rename(v, "PlateColor", "PlateColour"), "unknown field 'PlateColour'"),
        (lambda v: _rename(v, "SubImageList", "SubImageInfoList"), "unknown field"),
        (lambda v: v | {"DeviceID": v["DeviceID"][:19]}, "DeviceID must be 20 digits"),
        (lambda v: v | {"PlateColor": "0"}, "PlateColor '0' not a colour code"),
        (lambda v: v | {"PlateClass": "2"}, "PlateClass '2' not a GA 24.7 class"),
        (lambda v: v | {"PassTime": "2026-01-01T08:00:00"}, "is not yyyyMMddHHmmss"),
        (lambda v: v | {"MotorVehicleID": v["MotorVehicleID"][:47]}, "48 characters"),
    ],
)
def test_the_view_library_refuses_a_wrong_field_name_id_or_code(
    tmp_path: Path, evidence: EvidenceStore, break_it: Any, complaint: str
) -> None:
    from alerts.gat1400.records import evidence_loader, motor_vehicle

    site = load(gat_site(tmp_path, "http://127.0.0.1:9"))
    good = motor_vehicle(site, read(evidence), evidence_loader(evidence.root))
    assert check_vehicle(copy.deepcopy(good)) == []
    errs = check_vehicle(break_it(copy.deepcopy(good)))
    assert any(complaint in e for e in errs), errs


def test_the_view_library_refuses_a_face_record_with_a_misspelt_field(
    tmp_path: Path, evidence: EvidenceStore
) -> None:
    from alerts.gat1400.records import face

    site = load(gat_site(tmp_path, "http://127.0.0.1:9"))
    good = face(site, face_alert(evidence))
    assert check_face(copy.deepcopy(good)) == []
    bad = _rename(copy.deepcopy(good), "Similaritydegree", "SimilarityDegree")
    assert "FaceObject: unknown field 'SimilarityDegree'" in check_face(bad)


def test_upper_platform_down_then_back_gets_every_record_in_order_once(
    tmp_path: Path,
    r: redis.Redis,
    library: ViewLibrary,
    evidence: EvidenceStore,
    store: sessionmaker[Session],
) -> None:
    site = load(gat_site(tmp_path, library.url))
    sent: list[str] = []
    with lower_platform(site, r, store, evidence.root) as lower:
        publish_read(r, read(evidence, "宁A10001"))
        assert wait_for(lambda: len(library.received[MV]) == 1, 20)
        library.stop()  # the upper platform goes away (connection refused)
        for i in range(2, 7):
            publish_read(r, read(evidence, f"宁A1000{i}", seed=i))
        xadd(r, face_alert(evidence))
        # Down for ~10 keepalive periods: every try fails, nothing is lost.
        assert wait_for(lambda: outbox.backlog(r) == 6, 10)
        time.sleep(3)
        assert outbox.backlog(r) == 6 and not lower.registered
        back = ViewLibrary(USER, PASSWORD, port=library.port).start()  # no state
        try:
            assert wait_for(lambda: outbox.backlog(r) == 0, 20)
            sent = back.ids(MV, "PlateNo")
            assert back.registrations == 1 and back.challenges >= 1
            assert len(back.received[FACES]) == 1
            assert back.errors == []
        finally:
            back.stop()
    assert sent == [f"宁A1000{i}" for i in range(2, 7)], "out of order or repeated"
    assert library.ids(MV, "PlateNo") == ["宁A10001"]
    assert len(pushed(store)) == len(set(pushed(store))) == 7


def test_keepalive_refused_after_a_restart_without_state_registers_again(
    tmp_path: Path,
    r: redis.Redis,
    library: ViewLibrary,
    evidence: EvidenceStore,
    store: sessionmaker[Session],
) -> None:
    site = load(gat_site(tmp_path, library.url))
    with lower_platform(site, r, store, evidence.root) as lower:
        assert wait_for(lambda: library.keepalives >= 2, 10), "no keepalive"
        library.stop()
        back = ViewLibrary(USER, PASSWORD, port=library.port).start()
        try:
            # The first keepalive is refused (401: unknown platform) → Register again.
            assert wait_for(lambda: back.registrations == 1 and back.keepalives >= 1, 10)
            assert "POST /VIID/System/Keepalive" in back.calls[0]
            assert lower.registrations == 2
            publish_read(r, read(evidence))
            assert wait_for(lambda: len(back.received[MV]) == 1, 10)
        finally:
            back.stop()


def test_a_record_the_upper_platform_refuses_goes_to_the_dead_letters_and_the_rest_on(
    tmp_path: Path,
    r: redis.Redis,
    library: ViewLibrary,
    evidence: EvidenceStore,
    store: sessionmaker[Session],
) -> None:
    site = load(gat_site(tmp_path, library.url))
    outbox.queue(r, "bad-1", "vehicle", "X" * 48, {"MotorVehicleID": "X" * 48, "Bogus": 1})
    publish_read(r, read(evidence))
    with lower_platform(site, r, store, evidence.root):
        assert wait_for(lambda: len(library.received[MV]) == 1, 20)
    dead = stream_entries(r, keys.GAT1400_DEAD)
    assert [f["id"] for _, f in dead] == ["X" * 48] and dead[0][1]["code"] == "8"
    with store() as s:
        refused = s.execute(
            select(AuditEntry).where(AuditEntry.action == "gat1400.refused")
        ).scalars()
        assert [e.target for e in refused] == ["X" * 48]
