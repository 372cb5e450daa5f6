"""Watch orders below the API: the live Redis list workers read, confusion-aware
matching, expiry and revocation everywhere (audited), restoring Redis from the store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from alerts import keys
from alerts.police.clients import add_client
from alerts.police.watch import PolicePlateLists, add_plate_order, end_order, expire_due, sync
from alerts.store.audit import AuditEntry
from alerts.store.db import transaction
from detectors.plates.lists import PlateLists

pytestmark = pytest.mark.redis


def order(factory: sessionmaker[Session], r: redis.Redis, plate: str, hours: float) -> str:
    with transaction(factory) as s:
        c, _ = add_client(s, f"c{plate[-3:]}", scopes=["dispositions:write"], compounds=["lijing"])
        now = datetime.now(UTC)
        o = add_plate_order(
            s,
            r,
            client_id=c.id,
            plate=plate,
            reason="test",
            case_number="2026-1",
            compounds=["lijing", "jinfeng"],
            expires_at=now + timedelta(hours=hours),
            now=now - timedelta(hours=2),
        )
        return o.id


@pytest.mark.parametrize(
    ("read", "hit"),
    [
        ("宁A12345", True),  # exact
        ("宁A1Z345", True),  # one confusion (2/Z)
        ("宁A1Z34S", True),  # two confusions (2/Z, 5/S)
        ("宁A19345", False),  # a real substitution: not the ordered plate
        ("宁B12345", False),
    ],
)
def test_workers_match_the_live_list_confusion_aware(
    factory: sessionmaker[Session], r: redis.Redis, read: str, hit: bool
) -> None:
    oid = order(factory, r, "宁A12345", hours=1)
    lists = PolicePlateLists(PlateLists([]), r, "lijing", refresh_s=0)
    got = lists.match(read)
    assert bool(got) is hit
    if hit:
        assert (got[0].list_id, got[0].kind, got[0].comment) == (
            keys.POLICE_PLATE_LIST,
            "blacklist",
            oid,
        )
    assert PolicePlateLists(PlateLists([]), r, "other", refresh_s=0).match(read) == []


def test_expiry_and_revocation_remove_the_order_everywhere_and_are_audited(
    factory: sessionmaker[Session], r: redis.Redis
) -> None:
    due = order(factory, r, "宁A11111", hours=-1)  # already past its expiry
    live = order(factory, r, "宁A22222", hours=1)
    lists = PolicePlateLists(PlateLists([]), r, "jinfeng", refresh_s=0)
    assert lists.match("宁A11111") == []  # workers ignore a passed expiry at once
    with transaction(factory) as s:
        assert expire_due(s, r) == [due]
    assert set(r.hkeys(keys.police_plates("lijing"))) == {live}
    assert r.ttl(keys.police_plates("lijing")) > 0
    from alerts.police.models import WatchOrder

    with transaction(factory) as s:
        o = s.get(WatchOrder, live)
        assert o is not None
        end_order(s, r, o, reason="revoked", actor="cli_x")
    assert r.hlen(keys.police_plates("lijing")) == r.hlen(keys.police_plates("jinfeng")) == 0
    assert lists.match("宁A22222") == []
    with factory() as s:
        actions = [
            e.action for e in s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars()
        ]
    assert actions.count("police.watch_added") == 2
    assert "police.watch_expired" in actions and "police.watch_revoked" in actions


def test_sync_puts_live_orders_back_after_redis_lost_them(
    factory: sessionmaker[Session], r: redis.Redis
) -> None:
    live = order(factory, r, "宁A33333", hours=1)
    r.flushdb()
    with transaction(factory) as s:
        assert sync(s, r) == 1
    entry = json.loads(r.hget(keys.police_plates("lijing"), live) or "{}")
    assert entry["plate"] == "宁A33333"
