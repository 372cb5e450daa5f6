"""A plate watch order (布控) posted through the API reaches a running worker, raises a
high-severity alert when that plate passes a gate camera, is pushed to the ordering
client, and stops after revocation: RTSP → worker → Redis → fan-out → signed push.

Real parts: gst-rtsp-server playing gate footage composed from a real plate photo of
``$SHOUWANG_SHARED_DATA/plates/special_types`` (skipped without it), the real object
detector and plate reader, Redis, the web service on a real port, a webhook receiver
that verifies with the ``standardwebhooks`` package.
"""

from __future__ import annotations

import csv
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest
import redis
import yaml

from alerts import keys
from alerts.consumer import parse_entry
from alerts.police.clients import SCOPES, add_client
from alerts.store.db import open_store, session_factory, transaction
from api.app import create_app
from shouwang.config import load_site
from shouwang.runtime import Runtime, RuntimeConfig
from streams import open_site_sources
from tests.alerts.factory import TEST_REDIS_URL, stream_entries
from tests.e2e.test_pipeline_e2e import wait_for
from tests.police.receiver import Receiver
from tests.store.conftest import LiveServer, settings_for, url_for
from tests.streams.conftest import RtspServer, _gi_missing

pytestmark = [pytest.mark.rtsp, pytest.mark.redis, pytest.mark.data, pytest.mark.slow]
P = "/api/police/v1"


def gate_clip(photo: Path, out: Path, seconds: float = 240, fps: int = 5) -> Path:
    """Vehicles passing a 960x540 gate view, as H.264: the plate photo for 8 s, then the
    empty lane for 8 s (the track ends, the next pass is a new vehicle), again and again."""
    img = cv2.imread(str(photo))
    assert img is not None, photo
    h, w = img.shape[:2]
    with av.open(str(out), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = 960, 540, "yuv420p"
        for i in range(round(seconds * fps)):
            canvas = np.full((540, 960, 3), 70, np.uint8)
            if (i // fps) % 16 < 8:
                dx = int(6 * np.sin(i / 7))
                x0, y0 = (960 - w) // 2 + dx, (540 - h) // 2
                canvas[y0 : y0 + h, x0 : x0 + w] = img
            for p in stream.encode(av.VideoFrame.from_ndarray(canvas, format="bgr24")):
                container.mux(p)
        for p in stream.encode():
            container.mux(p)
    return out


@pytest.fixture
def plate_photo(shared_data: Path) -> tuple[Path, str]:
    labels = shared_data / "plates" / "labels.csv"
    if not labels.is_file():
        pytest.skip(f"{labels} not found (SHOUWANG_SHARED_DATA)")
    with labels.open(encoding="utf-8") as fh:
        row = next(r for r in csv.DictReader(fh) if r["subset"] == "special_types")
    return shared_data / "plates" / row["file"], row["plate_text"]


@pytest.fixture
def gate_rtsp(tmp_path: Path, plate_photo: tuple[Path, str]) -> Iterator[RtspServer]:
    problem = _gi_missing()
    if problem:
        pytest.fail(f"{problem}: run `bash scripts/setup` as root")
    clip = gate_clip(plate_photo[0], tmp_path / "gate.mp4")
    server = RtspServer({"long": clip, "short": clip})
    server.start()
    yield server
    server.kill()


def police_hits(r: redis.Redis, plate: str) -> list[tuple[str, float]]:
    """(alert id, capture time) of every police watch hit on the alert stream."""
    out = []
    for _id, fields in stream_entries(r):
        a = parse_entry(fields)
        s = a.subject
        if getattr(s, "list_id", None) == keys.POLICE_PLATE_LIST and s.list_entry == plate:  # type: ignore[union-attr]
            out.append((a.id, a.times.captured.timestamp()))
    return out


def test_plate_watch_order_raises_a_pushed_alert_and_stops_after_revocation(
    tmp_path: Path, r: redis.Redis, gate_rtsp: RtspServer, plate_photo: tuple[Path, str]
) -> None:
    _, plate = plate_photo
    # The site: one gate camera whose own list does not hold the plate.
    (tmp_path / "residents.txt").write_text("宁A00001\n", encoding="utf-8")
    site = {
        "version": 1,
        "name": "police e2e",
        "compounds": [{"id": "lijing", "name": "丽景湾小区", "lat": 38.4872, "lon": 106.2309}],
        "plate_lists": [{"id": "residents", "kind": "resident", "path": "residents.txt"}],
        "cameras": [
            {
                "id": "gate-north",
                "compound": "lijing",
                "url": gate_rtsp.url("cam"),
                "lat": 38.4871,
                "lon": 106.2310,
                "fps": 5,
                "placement": {"gate": "north vehicle gate"},
                "plate_lists": ["residents"],
            }
        ],
    }
    site_file = tmp_path / "site.yaml"
    site_file.write_text(yaml.safe_dump(site, allow_unicode=True), encoding="utf-8")
    db = url_for("sqlite", tmp_path)
    engine = open_store(db)
    factory = session_factory(engine)
    with transaction(factory) as s:
        c, secret = add_client(s, "psb", scopes=SCOPES, compounds=["lijing"])
    settings = settings_for(db, tmp_path, site=site_file, run_scheduler=True)
    receiver = Receiver().start()
    runtime = Runtime(
        load_site(site_file),
        tmp_path,
        RuntimeConfig(redis_url=TEST_REDIS_URL, state_dir=tmp_path / "state", leases=False),
    )
    stop = threading.Event()
    try:
        with (
            LiveServer(create_app(settings)) as live,
            open_site_sources(load_site(site_file), tmp_path) as sources,
        ):
            http = live.client()
            tok = http.post(
                P + "/oauth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": c.id,
                    "client_secret": secret,
                },
            ).json()["access_token"]
            h = {"Authorization": f"Bearer {tok}"}
            sub = http.post(P + "/subscriptions", json={"url": receiver.url}, headers=h)
            receiver.secret = sub.json()["secret"]
            worker = threading.Thread(target=runtime.run, args=(sources, stop), daemon=True)
            worker.start()
            # The plate passes, no order yet: the site lists raise nothing for it.
            assert wait_for(lambda: r.xlen(keys.PLATE_READS) > 0, 60), "no plate read at all"
            assert police_hits(r, plate) == []
            order = http.post(
                P + "/watch-orders",
                json={
                    "plate": plate,
                    "reason": "涉嫌肇事逃逸",
                    "case_number": "2026-YC-0099",
                    "expires_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
                    "compounds": ["lijing"],
                },
                headers=h,
            )
            assert order.status_code == 201, order.text
            posted = time.time()
            assert wait_for(lambda: bool(police_hits(r, plate)), 45), "the order raised nothing"
            hit_id = police_hits(r, plate)[0][0]

            def hits_pushed() -> list[dict[str, Any]]:
                return [m["body"] for m in receiver.received if m["body"]["type"] == "watch.hit"]

            assert wait_for(lambda: bool(hits_pushed()), 20), "no watch.hit was pushed"
            push = hits_pushed()[0]
            assert push["data"]["watch_order_id"] == order.json()["id"]
            assert push["data"]["id"] == hit_id and push["data"]["severity"] == "high"
            assert push["data"]["subject"]["plate"] == plate
            revoke = http.delete(f"{P}/watch-orders/{order.json()['id']}", headers=h)
            assert revoke.status_code == 200 and revoke.json()["active"] is False
            revoked = time.time()
            assert r.hlen(keys.police_plates("lijing")) == 0
            reads_then = r.xlen(keys.PLATE_READS)
            # Two more passes of the plate at the gate, but no police hit from 2 s after it.
            assert wait_for(lambda: r.xlen(keys.PLATE_READS) >= reads_then + 2, 60), (
                f"plate reads stopped at {reads_then} (the clip ran out?)"
            )
            late = [t for _, t in police_hits(r, plate) if t > revoked + 2.0]
            assert late == [], f"hits {late} after revocation at {revoked}"
            assert posted < revoked
            stop.set()
            worker.join(timeout=20)
            assert not worker.is_alive()
    finally:
        stop.set()
        runtime.close()
        receiver.stop()
        engine.dispose()
