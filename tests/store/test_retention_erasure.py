"""Retention removes exactly what is due and nothing on hold; erasure leaves no byte of
the person's embeddings or crops (the tests read the files)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from alerts.evidence import EvidenceStore
from alerts.model import FaceSubject
from alerts.store import audit, retention
from alerts.store.access_log import VehicleRead
from alerts.store.audit import AuditEntry
from alerts.store.consumer import read_row
from alerts.store.db import transaction
from alerts.store.erasure import erase_person
from alerts.store.incidents import Incident
from api.settings import RetentionPolicy
from shouwang.config.site import WatchlistRef
from tests.alerts.factory import make_alert
from tests.store.helpers import plate_read, store

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)


def with_evidence(ev: EvidenceStore, payload: bytes, **kw: object):  # type: ignore[no-untyped-def]
    refs = [ev.put(payload + b"-snap", kind="snapshot"), ev.put(payload + b"-crop", kind="crop")]
    return make_alert(**kw).model_copy(update={"evidence": refs})  # type: ignore[arg-type]


def close(
    factory: sessionmaker[Session], inc_id: str, reason: str, days_ago: float, hold: bool = False
) -> None:
    with transaction(factory) as s:
        s.execute(
            update(Incident)
            .where(Incident.id == inc_id)
            .values(
                state="closed", close_reason=reason, closed_at=NOW - days_ago * DAY, legal_hold=hold
            )
        )


@pytest.mark.parametrize(
    ("reason", "days_ago", "hold", "purged"),
    [
        ("false_alarm", 31, False, True),
        ("false_alarm", 29, False, False),
        ("false_alarm", 400, True, False),
        ("confirmed", 179, False, False),
        ("confirmed", 181, False, True),
        ("confirmed", 181, True, False),
        ("test", 8, False, True),
        ("other", 91, False, True),
        ("other", 89, False, False),
        (None, 999, False, False),  # never closed: kept
    ],
)
def test_retention_removes_exactly_what_is_due(
    factory: sessionmaker[Session],
    tmp_path: Path,
    reason: str | None,
    days_ago: float,
    hold: bool,
    purged: bool,
) -> None:
    ev = EvidenceStore(tmp_path / "evidence")
    a = with_evidence(ev, b"a")
    keep = with_evidence(ev, b"b")  # another open incident, shares nothing
    store(factory, a, keep)
    if reason is not None:
        close(factory, a.id, reason, days_ago, hold)
    with transaction(factory) as s:
        res = retention.purge(s, RetentionPolicy(), ev.root, now=NOW)
    with factory() as s:
        left = {i for i in s.execute(select(Incident.id)).scalars()}
    assert (a.id not in left) == purged
    assert keep.id in left
    for ref in a.evidence:
        assert ev.path(ref.sha256).exists() != purged
    for ref in keep.evidence:
        assert ev.path(ref.sha256).exists()
    assert res.incidents == ([a.id] if purged else [])
    with factory() as s:
        entries = (
            s.execute(select(AuditEntry).where(AuditEntry.action == "retention.purge"))
            .scalars()
            .all()
        )
        assert len(entries) == (1 if purged else 0)
        if purged:
            assert a.id in entries[0].detail
        assert audit.verify(s).ok


def test_retention_keeps_a_file_another_incident_still_uses_and_trims_the_access_log(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    ev = EvidenceStore(tmp_path / "evidence")
    shared = with_evidence(ev, b"same")
    other = make_alert().model_copy(update={"evidence": shared.evidence})
    store(factory, shared, other)
    close(factory, shared.id, "false_alarm", 60)
    old_crop = ev.put(b"old plate", kind="crop").sha256
    with transaction(factory) as s:
        s.add(read_row(plate_read("宁A12345", at=NOW - 100 * DAY, crop=old_crop)))
        s.add(read_row(plate_read("宁A12345", at=NOW - DAY)))
    with transaction(factory) as s:
        res = retention.purge(s, RetentionPolicy(), ev.root, now=NOW)
    assert res.incidents == [shared.id] and res.reads == 1
    assert all(ev.path(r.sha256).exists() for r in shared.evidence)  # still used by `other`
    assert not ev.path(old_crop).exists()
    with factory() as s:
        assert len(s.execute(select(VehicleRead)).scalars().all()) == 1


def _all_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def test_erasure_leaves_no_embedding_or_crop_of_the_person(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    from detectors.faces.watchlist import WatchlistStore

    data = tmp_path / "data"
    wl = WatchlistStore(data)
    for lst in ("poi", "vip"):
        wl.ensure_list(WatchlistRef(id=lst, kind="persons_of_interest", store_photos=True))
    rng = np.random.default_rng(7)
    target = rng.standard_normal((2, 128)).astype(np.float32)
    bystander = rng.standard_normal((1, 128)).astype(np.float32)
    photo = b"\xff\xd8 photo of the target \xff\xd9"
    entry = wl.add_entry(
        "poi", "Zhang San", target, model="dlib-resnet-128", photos=[("a.jpg", photo)]
    )
    wl.add_entry("vip", "Zhang San", target[:1], model="dlib-resnet-128")
    wl.add_entry("poi", "Li Si", bystander, model="dlib-resnet-128")
    wl.index("poi", "dlib-resnet-128")  # a cached search index holding the vectors
    ev = EvidenceStore(data / "evidence")
    crop = b"\xff\xd8 face crop of the target \xff\xd9"
    refs = [ev.put(crop, kind="crop"), ev.put(crop + b" snapshot", kind="snapshot")]
    subj = FaceSubject(
        watchlist_id="poi",
        person_id=str(entry),
        person_label="Zhang San",
        similarity=0.95,
        threshold=0.9,
    )
    face = make_alert(type="face.watchlist").model_copy(update={"subject": subj, "evidence": refs})
    held = make_alert(type="face.watchlist").model_copy(
        update={"subject": subj, "evidence": [ev.put(b"held crop", kind="crop")]}
    )
    store(factory, face, held)
    with transaction(factory) as s:
        s.execute(update(Incident).where(Incident.id == held.id).values(legal_hold=True))

    with transaction(factory) as s:
        res = erase_person(s, "Zhang San", data_dir=data, evidence_root=ev.root, actor="dpo")

    assert sorted(lst for lst, _ in res.entries) == ["poi", "vip"]
    assert res.incidents == [face.id] and res.held == [held.id]
    everything = _all_bytes(tmp_path)  # watchlists, evidence and (SQLite) the store itself
    for vec in target:
        assert vec.tobytes() not in everything
        assert vec[:8].tobytes() not in everything  # not even a fragment
    assert photo not in everything and crop not in everything
    assert bystander[0].tobytes() in everything  # others are untouched
    assert [e.name for e in wl.entries("poi")] == ["Li Si"] and wl.entries("vip") == []
    with factory() as s:
        inc = s.get(Incident, face.id)
        assert inc is not None and inc.evidence == [] and inc.alert["evidence"] == []
        assert "Zhang San" not in str(inc.alert) and all(
            "Zhang San" not in str(u.alert) for u in inc.updates
        )
        entry_doc = s.execute(
            select(AuditEntry).where(AuditEntry.action == "privacy.erase")
        ).scalar_one()
        assert entry_doc.target == "Zhang San" and face.id in entry_doc.detail
        assert "dlib" not in entry_doc.detail and "[" in entry_doc.detail
        assert audit.verify(s).ok
    assert ev.path(held.evidence[0].sha256).exists()
