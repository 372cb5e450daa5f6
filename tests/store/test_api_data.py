"""REST over real data: evidence checked on every read, the fuzzy plate lookup, pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from alerts.evidence import EvidenceStore
from alerts.store.audit import AuditEntry
from alerts.store.consumer import read_row
from alerts.store.db import transaction
from alerts.store.queries import lookup_plate
from tests.alerts.factory import make_alert
from tests.store.conftest import LiveServer, login, make_user
from tests.store.helpers import plate_read, store

pytestmark = pytest.mark.redis


def test_evidence_is_served_after_its_hash_check_and_a_tampered_file_is_refused_and_audited(
    live: LiveServer, app_client: httpx.Client, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    ev = EvidenceStore(tmp_path / "data" / "evidence")
    good, bad = ev.put(b"\xff\xd8 good", kind="crop"), ev.put(b"\xff\xd8 bad", kind="crop")
    store(factory, make_alert().model_copy(update={"evidence": [good, bad]}))
    far = ev.put(b"\xff\xd8 other compound", kind="crop")
    store(factory, make_alert().model_copy(update={"evidence": [far], "compound": "other"}))
    ev.path(bad.sha256).write_bytes(b"\xff\xd8 edited")
    make_user(factory, "wang", "operator", ["lijing"])
    c = login(app_client, "wang")
    ok = c.get(f"/api/evidence/{good.sha256}")
    assert ok.status_code == 200 and ok.content == b"\xff\xd8 good"
    assert ok.headers["content-type"] == "image/jpeg"
    refused = c.get(f"/api/evidence/{bad.sha256}")
    assert refused.status_code == 502 and "SHA-256" in refused.json()["detail"]
    assert c.get(f"/api/evidence/{far.sha256}").status_code == 404
    with factory() as s:
        acts = [
            (e.action, e.target)
            for e in s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars()
        ]
    assert ("evidence.view", good.sha256) in acts and ("evidence.mismatch", bad.sha256) in acts


READS = ["宁A12345", "宁A1Z345", "宁A12346", "宁A1234", "豫A12345", "宁B99999", "宁A19395"]


@pytest.mark.parametrize(
    ("query", "max_distance", "found"),
    [
        ("宁A12345", 1.0, {"宁A12345", "宁A1Z345", "宁A12346", "宁A1234", "豫A12345"}),
        ("宁A12345", 0.3, {"宁A12345", "宁A1Z345"}),
        ("宁A12345", 0.0, {"宁A12345"}),
        ("京A12345", 1.0, {"宁A12345", "豫A12345"}),  # 宁/京 a real edit, 京/豫 a confusion
        ("宁A1Z345", 0.3, {"宁A12345", "宁A1Z345"}),
        ("宁a12345", 0.0, {"宁A12345"}),  # normalised like the lists
        ("宁B99999", 1.0, {"宁B99999"}),
    ],
)
def test_plate_lookup_matches_like_the_plate_lists(
    factory: sessionmaker[Session], query: str, max_distance: float, found: set[str]
) -> None:
    t0 = datetime(2026, 12, 1, tzinfo=UTC)
    with transaction(factory) as s:
        for i, p in enumerate(READS):
            s.add(read_row(plate_read(p, at=t0 + timedelta(minutes=i))))
    with factory() as s:
        hits, _ = lookup_plate(s, query, max_distance=max_distance)
    assert {h.read.plate for h in hits} == found
    assert [h.read.read_at for h in hits] == sorted((h.read.read_at for h in hits), reverse=True)


def test_vehicle_reads_and_incident_lists_page_with_cursors(
    live: LiveServer, app_client: httpx.Client, factory: sessionmaker[Session]
) -> None:
    t0 = datetime(2026, 12, 1, tzinfo=UTC)
    with transaction(factory) as s:
        for i in range(7):
            s.add(read_row(plate_read("宁A12345", at=t0 + timedelta(minutes=i))))
    store(factory, *[make_alert(track_id=i) for i in range(5)])
    make_user(factory, "wang", "operator", ["lijing"])
    c = login(app_client, "wang")
    seen, cursor = [], None
    while True:
        page = c.get(
            "/api/vehicles",
            params={"plate": "宁A1Z345", "limit": 3, **({"cursor": cursor} if cursor else {})},
        ).json()
        seen += [r["read_at"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 7 and seen == sorted(seen, reverse=True)
    ids, cursor = [], None
    while True:
        page = c.get(
            "/api/incidents",
            params={"limit": 2, "state": "new", **({"cursor": cursor} if cursor else {})},
        ).json()
        ids += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(ids) == 5 == len(set(ids)) and ids == sorted(ids, reverse=True)
    assert c.get("/api/incidents", params={"since": "2026-01-01T00:00:00"}).status_code == 422
    with factory() as s:
        assert (
            s.execute(select(AuditEntry).where(AuditEntry.action == "vehicles.lookup"))
            .scalars()
            .first()
        )


def test_plate_lookup_finds_exactly_what_a_scan_with_the_list_distance_finds(
    factory: sessionmaker[Session],
) -> None:
    import random

    from detectors.plates.lists import CONFUSIONS, weighted_distance

    rng = random.Random(3)
    alphabet = "0123456789ABDGQSTUZ"
    base = [
        f"{rng.choice('宁京豫苏')}{rng.choice('AB')}{''.join(rng.choices(alphabet, k=5))}"
        for _ in range(40)
    ]
    swaps = {a: b for a, b in CONFUSIONS} | {b: a for a, b in CONFUSIONS}
    plates = set(base)
    for p in base:  # near misses: a confusion, a real substitution, a deletion, an insertion
        i = rng.randrange(1, len(p))
        plates |= {
            p[:i] + swaps.get(p[i], "X") + p[i + 1 :],
            p[:i] + "W" + p[i + 1 :],
            p[:i] + p[i + 1 :],
            p[:i] + "7" + p[i:],
        }
    with transaction(factory) as s:
        for p in sorted(plates):
            s.add(read_row(plate_read(p)))
    with factory() as s:
        for q in base[:15]:
            for max_d in (0.3, 1.0):
                hits, _ = lookup_plate(s, q, max_distance=max_d, limit=500)
                want = {p for p in plates if weighted_distance(q, p) <= max_d + 1e-9}
                assert {h.read.plate for h in hits} == want, (q, max_d)
