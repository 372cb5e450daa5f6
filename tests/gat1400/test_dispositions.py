"""Watch orders from the upper platform at ``/VIID/Dispositions``: a vehicle
disposition becomes a police watch order (the workers' live list), its hit goes back
as a DispositionNotificationObject, revocation ends it; bad input is answered with a
ResponseStatusObject and changes nothing.

Real parts: the web service on a real port (SQLite), Redis, HTTP Digest both ways,
the test view library, the face detector (to tell a face from no face).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from alerts import keys
from alerts.evidence import EvidenceStore
from alerts.model import Alert, PlateSubject
from alerts.police.models import WatchOrder
from alerts.police.watch import PolicePlateLists
from alerts.store.audit import AuditEntry
from api.app import create_app
from tests.alerts.factory import make_alert
from tests.gat1400.conftest import (
    PASSWORD,
    USER,
    gat_site,
    jpeg,
    load,
    lower_platform,
    wait_for,
)
from tests.gat1400.viid_server import ViewLibrary
from tests.store.conftest import LiveServer, db_url, settings_for
from tests.store.helpers import xadd

pytestmark = [pytest.mark.redis]
__all__ = ["db_url"]
PLATE = "宁A7K2Q9"
NOTIFY = "/VIID/DispositionNotifications"


@dataclass
class Lower:
    http: httpx.Client
    factory: sessionmaker[Session]
    site_file: Path


@pytest.fixture
def lower(tmp_path: Path, library: ViewLibrary, db_url: str) -> Iterator[Lower]:
    """The web service on SQLite and on PostgreSQL, the upper platform's HTTP client."""
    site_file = gat_site(tmp_path, library.url)
    settings = settings_for(db_url, tmp_path, site=site_file)
    with LiveServer(create_app(settings)) as live:
        http = live.client()
        http.auth = httpx.DigestAuth(USER, PASSWORD)
        yield Lower(http, live.app.state.services.factory, site_file)


def disposition(**over: Any) -> dict[str, Any]:
    end = datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(hours=2)
    d = {
        "DispositionID": "640104000020261202000001",
        "Title": "涉嫌肇事逃逸车辆",
        "DispositionCategory": "2",
        "TargetFeature": PLATE,
        "PriorityLevel": 1,
        "ApplicantName": "李警官",
        "ApplicantOrg": "银川市公安局金凤分局",
        "BeginTime": datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y%m%d%H%M%S"),
        "EndTime": end.strftime("%Y%m%d%H%M%S"),
        "OperateType": 0,
        "Reason": "2026-YC-0099",
    }
    return d | over


def body(*ds: dict[str, Any]) -> dict[str, Any]:
    return {"DispositionListObject": {"DispositionObject": list(ds)}}


def codes_of(resp: httpx.Response) -> list[str]:
    objs = resp.json()["ResponseStatusListObject"]["ResponseStatusObject"]
    return [o["StatusCode"] for o in objs]


def plate_hit(ev: EvidenceStore) -> Alert:
    a = make_alert(type="plate.blacklist", camera_id="gate-north")
    scene = ev.put(jpeg(ev, 160, 90, 3), kind="snapshot", width=160, height=90)
    crop = ev.put(jpeg(ev, 120, 40, 4), kind="crop", width=120, height=40)
    subj = PlateSubject(
        plate=PLATE, confidence=0.9, list_id=keys.POLICE_PLATE_LIST, list_kind="blacklist",
        list_entry=PLATE,
    )  # fmt: skip
    return a.model_copy(update={"subject": subj, "evidence": [scene, crop]})


class NoLists:
    def match(self, plate: str) -> list[Any]:
        return []


def test_a_vehicle_disposition_is_a_watch_order_its_hit_is_reported_and_revocation_ends_it(
    lower: Lower, r: redis.Redis, library: ViewLibrary, evidence: EvidenceStore
) -> None:
    resp = lower.http.post("/VIID/Dispositions", json=body(disposition()))
    assert resp.status_code == 200, resp.text
    assert codes_of(resp) == ["0"]
    worker_view = PolicePlateLists(NoLists(), r, "lijing", refresh_s=0)
    assert [m.list_id for m in worker_view.match(PLATE)] == [keys.POLICE_PLATE_LIST]
    with lower.factory() as s:
        o = s.execute(select(WatchOrder)).scalar_one()
        assert (o.plate, o.case_number, o.compounds) == (
            PLATE,
            disposition()["DispositionID"],
            ["lijing"],
        )
    # The plate passes the gate: the worker raises the alert, the hit goes back up.
    xadd(r, plate_hit(evidence))
    site = load(lower.site_file)
    with lower_platform(site, r, lower.factory, evidence.root):
        assert wait_for(lambda: bool(library.received[NOTIFY]), 20), library.errors
    n = library.received[NOTIFY][0]
    assert n["DispositionID"] == disposition()["DispositionID"]
    assert n["MotorVehicleObject"]["PlateNo"] == PLATE
    assert n["CntObjectID"] == n["MotorVehicleObject"]["MotorVehicleID"]
    assert library.errors == []
    # Revocation (OperateType 1, 撤控): off the workers' list at once.
    off = disposition(OperateType=1)
    resp = lower.http.put("/VIID/Dispositions", json=body(off))
    assert resp.status_code == 200 and codes_of(resp) == ["0"]
    assert worker_view.match(PLATE) == []
    with lower.factory() as s:
        o = s.execute(select(WatchOrder)).scalar_one()
        assert o.end_reason == "revoked"
        actions = s.execute(select(AuditEntry.action).order_by(AuditEntry.seq)).scalars().all()
    assert actions.count("gat1400.disposition_received") == 2
    assert "police.watch_added" in actions and "police.watch_revoked" in actions
    assert "gat1400.pushed" in actions


def test_delete_revokes_by_id_list(lower: Lower, r: redis.Redis) -> None:
    assert lower.http.post("/VIID/Dispositions", json=body(disposition())).status_code == 200
    resp = lower.http.delete(
        "/VIID/Dispositions", params={"IDList": disposition()["DispositionID"]}
    )
    assert resp.status_code == 200 and codes_of(resp) == ["0"]
    assert r.hlen(keys.police_plates("lijing")) == 0


def _not_a_face(tmp_path: Path) -> str:
    ev = EvidenceStore(tmp_path / "img")
    return base64.b64encode(jpeg(ev, 200, 200, 9)).decode()


BAD: list[tuple[str, Any, int, str]] = [
    ("malformed JSON", b'{"DispositionListObject": {', 400, "7"),
    ("unknown field", body(disposition(Colour="red")), 400, "8"),
    ("misspelt list", {"DispositionList": {"DispositionObject": [disposition()]}}, 400, "8"),
    ("bad EndTime", body(disposition(EndTime="2026-12-02 08:00")), 400, "8"),
    ("not a plate", body(disposition(TargetFeature="12")), 400, "8"),
    ("revoke unknown", body(disposition(OperateType=1)), 409, "4"),
    ("image not a face", "FACE", 400, "8"),
    ("one bad of two", body(disposition(), disposition(DispositionID="x2", TargetFeature="?")),
     400, "8"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "payload", "http", "code"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_gets_a_status_object_and_changes_nothing(
    lower: Lower, r: redis.Redis, tmp_path: Path, case: str, payload: Any, http: int, code: str
) -> None:
    if payload == "FACE":
        img = {"ImageID": "1" * 41, "Type": "11", "FileFormat": "Jpeg",
               "Data": _not_a_face(tmp_path)}  # fmt: skip
        payload = body(disposition(DispositionCategory="1", TargetFeature="",
                                   SubImageList={"SubImageInfoObject": [img]}))  # fmt: skip
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    resp = lower.http.post(
        "/VIID/Dispositions", content=raw, headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == http, resp.text
    assert codes_of(resp) == [code]
    if case == "image not a face":
        text = resp.json()["ResponseStatusListObject"]["ResponseStatusObject"][0]["StatusString"]
        assert "holds no face" in text
    with lower.factory() as s:
        assert s.execute(select(func.count()).select_from(WatchOrder)).scalar() == 0
        refused = (
            s.execute(select(AuditEntry).where(AuditEntry.action == "gat1400.disposition_refused"))
            .scalars()
            .all()
        )
    assert len(refused) == 1
    assert r.exists(keys.police_plates("lijing")) == 0


def test_a_person_disposition_with_a_real_face_is_an_invalid_operation_for_now(
    lower: Lower, r: redis.Redis
) -> None:
    import cv2

    from shouwang.demo import DEMO_POI_CROP_X, samples_dir

    photo = cv2.imread(str(samples_dir() / "zidane.jpg"))
    if photo is None:
        pytest.fail(f"{samples_dir() / 'zidane.jpg'} does not read")
    ok, buf = cv2.imencode(".jpg", photo[:, DEMO_POI_CROP_X:])
    assert ok
    img = {"ImageID": "1" * 41, "Type": "11", "FileFormat": "Jpeg",
           "Data": base64.b64encode(buf.tobytes()).decode()}  # fmt: skip
    d = disposition(DispositionCategory="1", TargetFeature="",
                    SubImageList={"SubImageInfoObject": [img]})  # fmt: skip
    resp = lower.http.post("/VIID/Dispositions", json=body(d))
    assert resp.status_code == 409 and codes_of(resp) == ["4"]
    assert r.exists(keys.police_plates("lijing")) == 0


def test_a_caller_without_digest_is_challenged(lower: Lower) -> None:
    resp = httpx.post(str(lower.http.base_url) + "/VIID/Dispositions", json=body(disposition()))
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"].startswith("Digest ")
    wrong = httpx.post(
        str(lower.http.base_url) + "/VIID/Dispositions",
        json=body(disposition()),
        auth=httpx.DigestAuth(USER, "wrong"),
    )
    assert wrong.status_code == 401


def test_user_identify_must_name_the_upper_platform_when_configured(
    tmp_path: Path, library: ViewLibrary
) -> None:
    import yaml

    site_file = gat_site(tmp_path, library.url)
    doc = yaml.safe_load(site_file.read_text(encoding="utf-8"))
    doc["gat1400"]["upper_id"] = "64000000002000000001"
    site_file.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    settings = settings_for(f"sqlite:///{tmp_path / 'store.sqlite'}", tmp_path, site=site_file)
    with LiveServer(create_app(settings)) as live:
        http = live.client()
        http.auth = httpx.DigestAuth(USER, PASSWORD)
        other = http.post(
            "/VIID/Dispositions", json=body(disposition()),
            headers={"User-Identify": "64000000002000000002"},
        )  # fmt: skip
        assert other.status_code == 403
        upper = http.post(
            "/VIID/Dispositions", json=body(disposition()),
            headers={"User-Identify": "64000000002000000001"},
        )  # fmt: skip
        assert upper.status_code == 200 and codes_of(upper) == ["0"]
