"""The police liaison aggregates: API clients, subscriptions, push deliveries, watch orders.

Tables live in the store's database (same engine, same migrations folder, Alembic branch
``police``), so the audit chain, incidents and these rows commit together.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from alerts.store.db import Base, UTCDateTime


class PoliceClient(Base):
    """A police platform's OAuth2 client: what it may do and where.

    The secret is never kept: ``secret_hash`` is the SHA-256 of a 256-bit random secret
    (high entropy, so a slow password hash adds nothing but latency).
    """

    __tablename__ = "police_clients"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, comment="client_id")
    name: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    compounds: Mapped[list[str]] = mapped_column(JSON, default=list)
    division: Mapped[str | None] = mapped_column(
        String(12), default=None, comment="administrative-division code covering compounds"
    )
    organisation: Mapped[str] = mapped_column(String(200), default="")
    rate_per_minute: Mapped[int] = mapped_column(Integer, default=600)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class Subscription(Base):
    """Where a client wants alerts pushed, and which ones."""

    __tablename__ = "police_subscriptions"

    id: Mapped[str] = mapped_column(String(26), primary_key=True, comment="ULID")
    client_id: Mapped[str] = mapped_column(
        ForeignKey("police_clients.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(
        String(80), comment="whsec_... shared signing secret (needed to sign, so kept)"
    )
    types: Mapped[list[str]] = mapped_column(JSON, default=list, comment="empty = every type")
    compounds: Mapped[list[str]] = mapped_column(
        JSON, default=list, comment="empty = the whole jurisdiction"
    )
    min_severity: Mapped[str] = mapped_column(String(10), default="info")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PushDelivery(Base):
    """One message to one subscription: its state, tries and the next try.

    ``id`` is the Standard Webhooks ``webhook-id``: the same on every retry and replay,
    so a receiver drops what it already has.
    """

    __tablename__ = "police_deliveries"

    id: Mapped[str] = mapped_column(String(120), primary_key=True, comment="webhook-id")
    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("police_subscriptions.id", ondelete="CASCADE"), index=True
    )
    alert_id: Mapped[str] = mapped_column(String(26))
    event: Mapped[str] = mapped_column(String(40))
    payload: Mapped[str] = mapped_column(Text, comment="the exact JSON body signed")
    status: Mapped[str] = mapped_column(String(12), default="pending", comment="pending/sent/dead")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_error: Mapped[str] = mapped_column(String(300), default="")

    __table_args__ = (Index("ix_police_deliveries_status_next", "status", "next_at"),)


class WatchOrder(Base):
    """A watch order (布控) on a plate or a face, for some compounds, until it expires."""

    __tablename__ = "police_watch_orders"

    id: Mapped[str] = mapped_column(String(26), primary_key=True, comment="ULID")
    client_id: Mapped[str] = mapped_column(
        ForeignKey("police_clients.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(8), comment="plate or face")
    plate: Mapped[str | None] = mapped_column(String(16), default=None)
    face: Mapped[dict[str, Any] | None] = mapped_column(
        JSON,
        default=None,
        comment="embedding + model for a face order (never the photo); the embedding is "
        "dropped when the order ends",
    )
    reason: Mapped[str] = mapped_column(String(300))
    case_number: Mapped[str] = mapped_column(String(64))
    legal_basis: Mapped[str] = mapped_column(String(300), default="", server_default="")
    compounds: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    end_reason: Mapped[str | None] = mapped_column(String(16), default=None)
