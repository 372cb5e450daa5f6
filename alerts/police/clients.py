"""Police API clients: create, revoke, authenticate, and what each one may see.

``add_client`` returns the secret once; only its SHA-256 is stored. A client's
jurisdiction is a set of compounds and/or an administrative-division code (GB/T 2260,
e.g. ``640104`` a district, ``640100`` a whole city) that covers every compound of the
site whose ``division`` starts with the code's significant digits.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Collection, Iterable
from datetime import UTC, datetime
from typing import Literal, get_args

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.police.models import PoliceClient
from alerts.store import audit
from alerts.store.db import StoreError

Scope = Literal[
    "alerts:read",
    "vehicles:read",
    "faces:read",
    "evidence:export",
    "dispositions:write",
    "subscriptions:write",
    "audit:read",
]
SCOPES: tuple[str, ...] = get_args(Scope)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_DIVISION = re.compile(r"^\d{6}$")


class ClientError(StoreError):
    """A client cannot be created or changed (the message names the field)."""


def secret_hash(secret: str) -> str:
    """SHA-256 of a client secret, hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def add_client(
    session: Session,
    name: str,
    *,
    scopes: Collection[str],
    compounds: Collection[str] = (),
    division: str | None = None,
    organisation: str = "",
    rate_per_minute: int = 600,
    actor: str = "cli",
    now: datetime | None = None,
) -> tuple[PoliceClient, str]:
    """Create a client; returns it and its secret (shown once, never stored).

    Raises:
        ClientError: bad name, unknown scope, no jurisdiction, or the name is taken.
    """
    now = now or datetime.now(UTC)
    if not _NAME.match(name):
        raise ClientError(f"client name {name!r}: letters, digits, '_', '.', '-' (max 64)")
    bad = sorted(set(scopes) - set(SCOPES))
    if bad:
        raise ClientError(f"unknown scope(s) {', '.join(bad)}; known: {', '.join(SCOPES)}")
    if not scopes:
        raise ClientError("--scopes: give at least one scope")
    if division is not None and not _DIVISION.match(division):
        raise ClientError(f"--division {division!r}: a 6-digit GB/T 2260 code, e.g. 640104")
    if not compounds and division is None:
        raise ClientError("a client needs a jurisdiction: --compounds c1,c2 or --division CODE")
    if not 1 <= rate_per_minute <= 100_000:
        raise ClientError("--rate: requests per minute within 1..100000")
    if session.execute(select(PoliceClient).where(PoliceClient.name == name)).scalar():
        raise ClientError(f"a client named {name!r} exists already")
    secret = "sws_" + secrets.token_urlsafe(32)
    c = PoliceClient(
        id="cli_" + secrets.token_hex(12),
        name=name,
        secret_hash=secret_hash(secret),
        scopes=sorted(set(scopes)),
        compounds=sorted(set(compounds)),
        division=division,
        organisation=organisation[:200],
        rate_per_minute=rate_per_minute,
        created_at=now,
    )
    session.add(c)
    audit.append(
        session,
        actor=actor,
        action="police.client_added",
        target=c.id,
        detail={
            "name": name,
            "scopes": c.scopes,
            "compounds": c.compounds,
            "division": division,
            "organisation": c.organisation,
        },
        at=now,
    )
    return c, secret


def revoke_client(
    session: Session, name: str, *, actor: str = "cli", now: datetime | None = None
) -> PoliceClient:
    """Revoke a client: its tokens stop working at once (checked on every call).

    Once the transaction has committed, call
    :func:`alerts.police.client_cache.announce_revocation` so that running API processes
    drop their cached copy now rather than within their cache lifetime.

    Raises:
        ClientError: no client of that name.
    """
    now = now or datetime.now(UTC)
    c = session.execute(select(PoliceClient).where(PoliceClient.name == name)).scalar()
    if c is None:
        raise ClientError(f"no client named {name!r} (see `shouwang clients list`)")
    if c.revoked_at is None:
        c.revoked_at = now
        audit.append(session, actor=actor, action="police.client_revoked", target=c.id, at=now)
    return c


def authenticate(session: Session, client_id: str, secret: str) -> PoliceClient | None:
    """The live client with this id and secret, else None (constant-time compare)."""
    return check_secret(session.get(PoliceClient, client_id) if client_id else None, secret)


def check_secret(c: PoliceClient | None, secret: str) -> PoliceClient | None:
    """``c`` when it is live and ``secret`` is its secret, else None.

    The comparison takes the same time whether or not the client exists.
    """
    want = c.secret_hash if c is not None else secret_hash("no such client")
    ok = hmac.compare_digest(want, secret_hash(secret))
    if c is None or not ok or c.revoked_at is not None:
        return None
    return c


def list_clients(session: Session) -> list[PoliceClient]:
    """Every client, by name."""
    return list(session.execute(select(PoliceClient).order_by(PoliceClient.name)).scalars())


def division_covers(code: str, compound_division: str | None) -> bool:
    """Whether a division code covers a compound's: ``640100`` covers ``640104``."""
    if not compound_division:
        return False
    sig = code.rstrip("0") or code
    # keep whole two-digit levels: province 64, city 6401, district 640104
    sig = sig + "0" * (len(sig) % 2)
    return compound_division.startswith(sig)


def jurisdiction(
    compounds: Iterable[str], division: str | None, site_divisions: dict[str, str | None]
) -> frozenset[str]:
    """The compounds a client may see: its own list plus those its division covers."""
    out = set(compounds)
    if division:
        out |= {c for c, d in site_divisions.items() if division_covers(division, d)}
    return frozenset(out)
