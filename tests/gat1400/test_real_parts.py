"""Real parts end to end: RTSP → worker → Redis → GA/T 1400 push.

Two cameras on gst-rtsp-server: a gate camera playing footage composed from a real
plate photo of ``$SHOUWANG_SHARED_DATA/plates`` (skipped without it) and the b3
entrance demo clip with the demo person on the persons-of-interest watchlist. The real
object detector, plate reader and face matcher run in the worker; the web service
receives a vehicle disposition from the upper platform at ``/VIID/Dispositions``
(Digest); the lower platform registers with the test view library and pushes the
gate's plate reads as MotorVehicleObject, the face hit as FaceObject and the
disposition's hit as DispositionNotificationObject, every field name, id and code
checked by the view library; revocation stops the hits.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import select

from alerts import keys
from alerts.store.audit import AuditEntry
from api.app import create_app
from detectors.objects import ObjectDetector
from shouwang.runtime import Runtime, RuntimeConfig
from streams import open_site_sources
from tests.alerts.factory import TEST_REDIS_URL
from tests.e2e.conftest import b3_camera, b3_clip, detector, poi_state, rtsp
from tests.e2e.test_pipeline_e2e import wait_for
from tests.gat1400.conftest import GATE_DEVICE, PASSWORD, USER, gat_site, load, lower_platform
from tests.gat1400.test_dispositions import body, codes_of, disposition
from tests.gat1400.viid_server import ViewLibrary
from tests.police.test_watch_e2e import gate_rtsp, plate_photo, police_hits
from tests.store.conftest import LiveServer, settings_for, url_for
from tests.streams.conftest import RtspServer

pytestmark = [pytest.mark.rtsp, pytest.mark.redis, pytest.mark.data, pytest.mark.slow]
__all__ = ["b3_clip", "detector", "gate_rtsp", "plate_photo", "poi_state", "rtsp"]
MV, FACES, NOTIFY = "/VIID/MotorVehicles", "/VIID/Faces", "/VIID/DispositionNotifications"


@pytest.mark.timeout(300)
def test_real_alerts_reach_the_view_library_as_valid_gat1400_records(
    tmp_path: Path,
    r: redis.Redis,
    library: ViewLibrary,
    gate_rtsp: RtspServer,
    rtsp: RtspServer,
    plate_photo: tuple[Path, str],
    poi_state: Path,
    detector: ObjectDetector,
) -> None:
    _, plate = plate_photo
    (tmp_path / "residents.txt").write_text("宁A00001\n", encoding="utf-8")
    gate = {
        "id": "gate-north", "url": gate_rtsp.url("cam"), "fps": 5,
        "placement": {"gate": "north vehicle gate"}, "plate_lists": ["residents"],
    }  # fmt: skip
    face_cam = b3_camera("b3-entrance", rtsp.url("cam"), faces=True)
    site_file = gat_site(
        tmp_path, library.url, [gate, face_cam],
        plate_lists=[{"id": "residents", "kind": "resident", "path": "residents.txt"}],
        watchlists=[{"id": "persons-of-interest", "kind": "persons_of_interest"}],
    )  # fmt: skip
    db = url_for("sqlite", tmp_path)
    settings = settings_for(db, tmp_path, site=site_file)
    site = load(site_file)
    runtime = Runtime(
        site, tmp_path,
        RuntimeConfig(redis_url=TEST_REDIS_URL, state_dir=poi_state, leases=False),
        detector=detector,
    )  # fmt: skip
    stop = threading.Event()
    with LiveServer(create_app(settings)) as live, open_site_sources(site, tmp_path) as sources:
        http = live.client()
        http.auth = httpx.DigestAuth(USER, PASSWORD)
        resp = http.post("/VIID/Dispositions", json=body(disposition(TargetFeature=plate)))
        assert resp.status_code == 200 and codes_of(resp) == ["0"], resp.text
        factory = live.app.state.services.factory
        worker = threading.Thread(target=runtime.run, args=(sources, stop), daemon=True)
        worker.start()
        try:
            with lower_platform(site, r, factory, poi_state / "evidence"):

                def arrived() -> bool:
                    return all(library.received[p] for p in (MV, FACES, NOTIFY))

                ok = wait_for(arrived, 150)
                got = {p: len(v) for p, v in library.received.items()}
                assert ok, f"received {got}, errors {library.errors[:5]}"
                revoke = http.put(
                    "/VIID/Dispositions", json=body(disposition(TargetFeature=plate, OperateType=1))
                )
                assert revoke.status_code == 200 and codes_of(revoke) == ["0"]
                revoked = time.time()
                reads = r.xlen(keys.PLATE_READS)
                assert wait_for(lambda: r.xlen(keys.PLATE_READS) >= reads + 2, 60)
                late = [t for _, t in police_hits(r, plate) if t > revoked + 2.0]
                assert late == [], f"hits {late} after revocation at {revoked}"
        finally:
            stop.set()
            worker.join(timeout=20)
            runtime.close()
    assert library.challenges >= 1 and library.registrations >= 1
    assert library.errors == [], library.errors[:5]
    v = library.received[MV][0]
    assert v["DeviceID"] == GATE_DEVICE and len(v["MotorVehicleID"]) == 48
    assert v["SubImageList"]["SubImageInfoObject"][0]["Type"] == "02"
    f = library.received[FACES][0]
    assert {i["Type"] for i in f["SubImageList"]["SubImageInfoObject"]} == {"11", "14"}
    n = library.received[NOTIFY][0]
    assert n["DispositionID"] == disposition()["DispositionID"]
    with factory() as s:
        targets = set(
            s.execute(
                select(AuditEntry.target).where(AuditEntry.action == "gat1400.pushed")
            ).scalars()
        )
    assert v["MotorVehicleID"] in targets and f["FaceID"] in targets
    assert n["NotificationID"] in targets
