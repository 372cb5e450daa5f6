"""Read queries of the store: the incident list (filters, cursor pages) and plate lookup.

Pages are keyset pages: incidents come newest first by id (a ULID, so creation order)
and the cursor is the last id of the page, so page N costs what page 1 costs.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import Select, TextClause, select, text
from sqlalchemy.orm import Session, defer

from alerts.store.access_log import VehicleRead, confusion_key
from alerts.store.incidents import Incident
from detectors.plates.grammar import normalise
from detectors.plates.lists import weighted_distance

#: Largest fuzzy distance the lookup supports: one real edit (1.0) or up to three
#: confusions (0.9) — two real edits (2.0) or one plus a confusion (1.3) are beyond it.
MAX_PLATE_DISTANCE = 1.2


@dataclass(frozen=True, slots=True)
class IncidentFilter:
    """What to list; every field optional (None = no filter)."""

    since: datetime | None = None
    until: datetime | None = None
    compounds: Collection[str] | None = None
    camera: str | None = None
    type: str | None = None
    severity: str | None = None
    state: str | None = None
    plate: str | None = None


def list_incidents(
    session: Session,
    f: IncidentFilter,
    *,
    cursor: str | None = None,
    limit: int = 50,
    with_alert: bool = False,
) -> tuple[list[Incident], str | None]:
    """One page of incidents, newest first; returns the page and the next cursor.

    The alert JSON (``Incident.alert``) is left out unless ``with_alert``: a caller that
    shows it must ask, or each row's ``.alert`` costs one more query.
    """
    q = select(Incident)
    if not with_alert:
        q = q.options(defer(Incident.alert))
    if f.compounds is not None:
        q = q.where(Incident.compound.in_(sorted(f.compounds)))
    if f.since is not None:
        q = q.where(Incident.created_at >= f.since)
    if f.until is not None:
        q = q.where(Incident.created_at < f.until)
    for col, val in (
        (Incident.camera, f.camera),
        (Incident.type, f.type),
        (Incident.severity, f.severity),
        (Incident.state, f.state),
    ):
        if val is not None:
            q = q.where(col == val)
    if f.plate is not None:
        q = q.where(Incident.plate == (normalise(f.plate) or f.plate))
    if cursor is not None:
        q = q.where(Incident.id < cursor)
    rows = list(session.execute(q.order_by(Incident.id.desc()).limit(limit + 1)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)


@dataclass(frozen=True, slots=True)
class PlateHit:
    """An access-log row and how far its plate is from the one asked for."""

    read: VehicleRead
    distance: float


def _shapes(key: str) -> list[tuple[bool, str, int, str]]:
    """Index lookups for the keys within one edit of ``key``.

    For an edit at position i the part before it (``key[:i]``) and the part after it
    are unchanged; the longer part is looked up through an index prefix range (on the
    key, or on the reversed key for a suffix), the rest checked with LIKE. Returns
    ``(on reversed key, range prefix, length of the read, LIKE pattern)`` per lookup.
    """
    n = len(key)
    out: list[tuple[bool, str, int, str]] = []
    seen: set[tuple[str, str, int]] = set()
    for i in range(n + 1):
        # substitution of key[i], deletion of key[i], insertion before key[i]
        for pre, suf, length in (
            (key[:i], key[i + 1 :], n),
            (key[:i], key[i + 1 :], n - 1),
            (key[:i], key[i:], n + 1),
        ):
            if (i >= n and length != n + 1) or length < 1 or (pre, suf, length) in seen:
                continue
            seen.add((pre, suf, length))
            gap = "_" if length == len(pre) + len(suf) + 1 else ""
            rev = len(pre) <= len(suf)  # on a tie the suffix: plate tails are more varied
            out.append((rev, suf[::-1] if rev else pre, length, pre + gap + suf))
    return out


@lru_cache(maxsize=64)
def _candidate_sql(flags: tuple[bool, ...]) -> TextClause:
    """One UNION statement for a sequence of lookups (cached per shape: one compile).

    Only bound parameters carry the plate; the text depends on the key's length alone.
    """
    parts = ["SELECT key FROM vehicle_reads WHERE key = :k"]
    for j, rev in enumerate(flags):
        col = "key_rev" if rev else "key"
        parts.append(
            f"SELECT key FROM vehicle_reads WHERE {col} >= :lo{j} AND {col} < :hi{j} "
            f"AND length = :n{j} AND key LIKE :p{j}"
        )
    return text(" UNION ".join(parts))


def candidate_keys(session: Session, key: str) -> set[str]:
    """Distinct stored keys equal to ``key`` or one edit away from it."""
    shapes = _shapes(key)
    params: dict[str, object] = {"k": key}
    for j, (_, lo, length, pattern) in enumerate(shapes):
        params |= {f"lo{j}": lo, f"hi{j}": lo + "\U0010ffff", f"n{j}": length, f"p{j}": pattern}
    sql = _candidate_sql(tuple(rev for rev, _, _, _ in shapes))
    return {str(k) for k in session.execute(sql, params).scalars()}


def lookup_plate(
    session: Session,
    plate: str,
    *,
    max_distance: float = 1.0,
    compounds: Collection[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[PlateHit], str | None]:
    """Access-log reads of ``plate`` or plates within ``max_distance`` of it, newest first.

    Newest by read id: a ULID made when the worker publishes the read, a moment after the
    frame's capture, so the cursor (the last id of a page) is any id and never invalid.

    The distance is the plate lists' (:func:`detectors.plates.lists.weighted_distance`).

    Raises:
        ValueError: ``max_distance`` beyond :data:`MAX_PLATE_DISTANCE`, or an empty plate.
    """
    if not 0 <= max_distance <= MAX_PLATE_DISTANCE:
        raise ValueError(f"max_distance must be within 0..{MAX_PLATE_DISTANCE}")
    want = normalise(plate)
    if not want:
        raise ValueError(f"{plate!r} holds no plate characters")
    key = confusion_key(want)
    if max_distance >= 1.0:
        keys = candidate_keys(session, key)
    else:  # below one real edit only confusions match: the same confusion key
        keys = set(session.execute(select(VehicleRead.key).where(VehicleRead.key == key)).scalars())
    if not keys:
        return [], None
    q2 = _read_filter(
        select(VehicleRead).where(VehicleRead.key.in_(sorted(keys))), compounds, since, until
    )
    plates = set(session.execute(q2.with_only_columns(VehicleRead.plate).distinct()).scalars())
    dist = {p: weighted_distance(want, p) for p in plates}
    ok = sorted(p for p, d in dist.items() if d <= max_distance + 1e-9)
    if not ok:
        return [], None
    rows, nxt = _read_page(session, q2.where(VehicleRead.plate.in_(ok)), cursor, limit)
    return [PlateHit(r, round(dist[r.plate], 3)) for r in rows], nxt


def list_reads(
    session: Session,
    *,
    compounds: Collection[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[VehicleRead], str | None]:
    """Access-log reads newest first (no plate asked), one keyset page."""
    return _read_page(
        session, _read_filter(select(VehicleRead), compounds, since, until), cursor, limit
    )


def _read_filter(
    q: Select[VehicleRead],
    compounds: Collection[str] | None,
    since: datetime | None,
    until: datetime | None,
) -> Select[VehicleRead]:
    if compounds is not None:
        q = q.where(VehicleRead.compound.in_(sorted(compounds)))
    if since is not None:
        q = q.where(VehicleRead.read_at >= since)
    if until is not None:
        q = q.where(VehicleRead.read_at < until)
    return q


def _read_page(
    session: Session, q: Select[VehicleRead], cursor: str | None, limit: int
) -> tuple[list[VehicleRead], str | None]:
    if cursor is not None:
        q = q.where(VehicleRead.id < cursor)
    rows = list(session.execute(q.order_by(VehicleRead.id.desc()).limit(limit + 1)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)
