"""Watch orders (布控): a police client's plate or face on the workers of chosen compounds.

An order is a database row (the record, audited) and an entry in each target
compound's Redis hash (:func:`alerts.keys.police_plates` for a plate,
:func:`alerts.keys.police_faces` for a face); workers consult that hash through
:class:`PolicePlateLists` or :class:`alerts.police.faces.PoliceFaceLists` (refreshed
about every second), so an order is live on running workers within seconds and gone as
fast when it is revoked or expires.
:func:`expire_due` ends orders whose time has come (audited); :func:`sync` rewrites
the Redis side from the database, e.g. after Redis lost its data.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Protocol

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session
from ulid import ULID

from alerts import keys
from alerts.police.faces import FaceTemplate, redis_entry
from alerts.police.models import WatchOrder
from alerts.store import audit
from detectors.plates.grammar import normalise
from detectors.plates.lists import ListMatch, weighted_distance

log = logging.getLogger(__name__)

#: How far a read may be from the ordered plate: confusions only (two 0/D-like swaps).
POLICE_MAX_DISTANCE = 0.6


class WatchError(ValueError):
    """A watch order cannot be made as asked (the message names the field)."""


def add_plate_order(
    session: Session,
    r: redis.Redis,
    *,
    client_id: str,
    plate: str,
    reason: str,
    case_number: str,
    compounds: Collection[str],
    expires_at: datetime,
    source: str = "",
    now: datetime | None = None,
) -> WatchOrder:
    """Create a plate order and put it on the compounds' live lists (audited).

    Raises:
        WatchError: no plate characters, expiry not in the future, or no compounds.
    """
    now = now or datetime.now(UTC)
    want = normalise(plate)
    if len(want) < 5:
        raise WatchError(f"plate {plate!r} is not a plate (e.g. 宁A12345)")
    _check_target(expires_at, compounds, now)
    o = WatchOrder(
        id=str(ULID()),
        client_id=client_id,
        kind="plate",
        plate=want[:16],
        reason=reason,
        case_number=case_number,
        compounds=sorted(set(compounds)),
        created_at=now,
        expires_at=expires_at,
    )
    session.add(o)
    audit.append(
        session,
        actor=client_id,
        action="police.watch_added",
        target=o.id,
        detail={
            "plate": o.plate,
            "case_number": case_number,
            "compounds": o.compounds,
            "expires_at": expires_at.isoformat(),
        },
        source=source,
        at=now,
    )
    session.flush()
    _publish(r, o)
    return o


def _check_target(expires_at: datetime, compounds: Collection[str], now: datetime) -> None:
    """What every order names: an expiry still ahead and at least one compound."""
    if expires_at <= now:
        raise WatchError("expires_at must be in the future")
    if not compounds:
        raise WatchError("compounds: name at least one target compound")


def add_face_order(
    session: Session,
    r: redis.Redis,
    *,
    client_id: str,
    face: FaceTemplate,
    reason: str,
    case_number: str,
    legal_basis: str,
    compounds: Collection[str],
    expires_at: datetime,
    source: str = "",
    now: datetime | None = None,
) -> WatchOrder:
    """Create a face order from a checked photo's template and put it on the compounds'
    live face lists (audited; the photo itself is not kept).

    Raises:
        WatchError: expiry not in the future, no compounds, or no legal basis.
    """
    now = now or datetime.now(UTC)
    _check_target(expires_at, compounds, now)
    if len(legal_basis.strip()) < 3:
        raise WatchError("legal_basis: say the law the order rests on")
    o = WatchOrder(
        id=str(ULID()),
        client_id=client_id,
        kind="face",
        face=face.record(),
        reason=reason,
        case_number=case_number,
        legal_basis=legal_basis.strip(),
        compounds=sorted(set(compounds)),
        created_at=now,
        expires_at=expires_at,
    )
    session.add(o)
    audit.append(
        session,
        actor=client_id,
        action="police.watch_added",
        target=o.id,
        detail={
            "kind": "face",
            "model": face.model,
            "photo_sha256": face.photo_sha256,
            "case_number": case_number,
            "legal_basis": o.legal_basis,
            "compounds": o.compounds,
            "expires_at": expires_at.isoformat(),
        },
        source=source,
        at=now,
    )
    session.flush()
    _publish(r, o)
    return o


def _live_key(o: WatchOrder, compound: str) -> str:
    return keys.police_faces(compound) if o.kind == "face" else keys.police_plates(compound)


def _publish(r: redis.Redis, o: WatchOrder) -> None:
    if o.kind == "face":
        if not o.face or "embedding" not in o.face:
            return  # ended: the template was dropped
        entry = redis_entry(o.face, o.expires_at.timestamp(), o.client_id)
    else:
        entry = json.dumps(
            {"plate": o.plate, "expires_at": o.expires_at.timestamp(), "client": o.client_id}
        )
    pipe = r.pipeline(transaction=True)
    for c in o.compounds:
        k = _live_key(o, c)
        pipe.hset(k, o.id, entry)
        pipe.expireat(k, int(o.expires_at.timestamp()) + 1, gt=True)
        pipe.expireat(k, int(o.expires_at.timestamp()) + 1, nx=True)
    pipe.execute()


def _withdraw(r: redis.Redis, o: WatchOrder) -> None:
    pipe = r.pipeline(transaction=True)
    for c in o.compounds:
        pipe.hdel(_live_key(o, c), o.id)
    pipe.execute()


def end_order(
    session: Session,
    r: redis.Redis,
    o: WatchOrder,
    *,
    reason: str,
    actor: str,
    source: str = "",
    now: datetime | None = None,
) -> WatchOrder:
    """Revoke or expire an order everywhere (audited); no-op when it ended already.

    A face order's embedding is dropped from its row too (the model, quality and
    photo hash stay for the record): nothing of the person outlives the order."""
    now = now or datetime.now(UTC)
    if o.ended_at is not None:
        return o
    o.ended_at, o.end_reason = now, reason
    if o.face is not None:
        o.face = {k: v for k, v in o.face.items() if k != "embedding"}
    audit.append(
        session,
        actor=actor,
        action=f"police.watch_{reason}",
        target=o.id,
        detail={"kind": o.kind, "case_number": o.case_number, "compounds": o.compounds},
        source=source,
        at=now,
    )
    session.flush()
    _withdraw(r, o)
    return o


def expire_due(session: Session, r: redis.Redis, now: datetime | None = None) -> list[str]:
    """End every order whose expiry has passed; returns their ids."""
    now = now or datetime.now(UTC)
    due = session.execute(
        select(WatchOrder).where(WatchOrder.ended_at.is_(None), WatchOrder.expires_at <= now)
    ).scalars()
    return [end_order(session, r, o, reason="expired", actor="system", now=now).id for o in due]


def active_orders(session: Session, now: datetime | None = None) -> list[WatchOrder]:
    """Orders in force now."""
    now = now or datetime.now(UTC)
    return list(
        session.execute(
            select(WatchOrder).where(WatchOrder.ended_at.is_(None), WatchOrder.expires_at > now)
        ).scalars()
    )


def sync(session: Session, r: redis.Redis, compounds: Collection[str] = ()) -> int:
    """Rewrite the live lists of ``compounds`` and of every active order's compounds from
    the database (after Redis lost its data, or an order outlived a failed commit);
    returns the orders put back."""
    live = active_orders(session)
    for c in set(compounds) | {c for o in live for c in o.compounds}:
        r.delete(keys.police_plates(c), keys.police_faces(c))
    for o in live:
        _publish(r, o)
    return len(live)


class PlateListsLike(Protocol):
    """What :class:`PolicePlateLists` wraps (``detectors.plates.lists.PlateLists``)."""

    def match(self, plate: str) -> Sequence[ListMatch]: ...


class PolicePlateLists:
    """The site's plate lists plus the compound's live police watchlist.

    A police hit comes first, as a ``blacklist`` match of list
    :data:`alerts.keys.POLICE_PLATE_LIST` whose ``comment`` is the order id, so the
    plate stage raises a high-severity ``plate.blacklist`` alert for it.

    Args:
        lists: the site's own lists (``match(plate)``).
        client: Redis of the site.
        compound: the camera's compound.
        refresh_s: how often the live list is re-read (a Redis error keeps the last one).
    """

    def __init__(
        self, lists: PlateListsLike, client: redis.Redis, compound: str, *, refresh_s: float = 1.0
    ) -> None:
        self.lists = lists
        self.redis = client
        self.key = keys.police_plates(compound)
        self.refresh_s = refresh_s
        self._orders: list[tuple[str, str, float]] = []
        self._read_at = -1e18
        self._lock = threading.Lock()

    def _refresh(self) -> list[tuple[str, str, float]]:
        now = time.monotonic()
        with self._lock:
            if now - self._read_at < self.refresh_s:
                return self._orders
            self._read_at = now
        try:
            raw = self.redis.hgetall(self.key)
        except (redis.RedisError, OSError) as exc:
            log.warning("police watchlist %s unreadable, keeping the last: %s", self.key, exc)
            return self._orders
        orders = []
        for oid, doc in dict(raw).items():
            try:
                e = json.loads(doc)
                orders.append((str(oid), str(e["plate"]), float(e["expires_at"])))
            except (ValueError, KeyError, TypeError):
                log.warning("police watchlist %s: unreadable entry %s", self.key, oid)
        with self._lock:
            self._orders = orders
        return orders

    def match(self, plate: str) -> list[ListMatch]:
        """Police hits first, then the site lists' matches."""
        read = normalise(plate)
        now = time.time()
        hits = []
        for oid, want, expires in self._refresh():
            if expires <= now:
                continue
            d = weighted_distance(read, want)
            if d <= POLICE_MAX_DISTANCE + 1e-9:
                hits.append(
                    ListMatch(keys.POLICE_PLATE_LIST, "blacklist", want, oid, read, round(d, 3))
                )
        hits.sort(key=lambda m: m.distance)
        return [*hits, *self.lists.match(plate)]
