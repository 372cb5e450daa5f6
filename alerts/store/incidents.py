"""The incident aggregate: one incident per alert id, with its updates, activity,
comments and evidence.

An incident row is the alert as operators work on it (state, assignee, version);
``incident_updates`` holds every publication of the alert exactly once, keyed by
``(incident_id, update_count)``, which is what makes the store consumer idempotent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from alerts.store.db import Base, UTCDateTime

State = Literal["new", "acknowledged", "in_progress", "on_hold", "closed"]
STATES: tuple[str, ...] = get_args(State)
CloseReason = Literal["confirmed", "false_alarm", "duplicate", "test", "other"]
CLOSE_REASONS: tuple[str, ...] = get_args(CloseReason)


class Incident(Base):
    """One incident (= one alert id) and where operators are with it."""

    __tablename__ = "incidents"

    id: Mapped[str] = mapped_column(String(26), primary_key=True, comment="alert ULID")
    type: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(10), comment="current (after escalation)")
    original_severity: Mapped[str] = mapped_column(String(10))
    camera: Mapped[str] = mapped_column(String(64))
    compound: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="new")
    version: Mapped[int] = mapped_column(Integer, default=1, comment="optimistic concurrency")
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    close_reason: Mapped[str | None] = mapped_column(String(16), default=None)
    close_note: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), comment="first detection")
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    state_since: Mapped[datetime] = mapped_column(UTCDateTime())
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    update_count: Mapped[int] = mapped_column(Integer, default=0)
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    plate: Mapped[str | None] = mapped_column(String(16), default=None)
    person_id: Mapped[str | None] = mapped_column(String(64), default=None)
    summary: Mapped[str] = mapped_column(String(300), default="")
    place: Mapped[str] = mapped_column(String(300), default="")
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    snoozed: Mapped[bool] = mapped_column(
        Boolean, default=False, comment="camera was snoozed: stored, not pushed"
    )
    alert: Mapped[dict[str, Any]] = mapped_column(JSON, comment="latest Alert JSON")

    updates: Mapped[list[IncidentUpdate]] = relationship(
        back_populates="incident",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="IncidentUpdate.update_count",
    )
    activity: Mapped[list[Activity]] = relationship(
        back_populates="incident",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Activity.id",
    )
    comments: Mapped[list[Comment]] = relationship(
        back_populates="incident",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Comment.id",
    )
    evidence: Mapped[list[EvidenceLink]] = relationship(
        back_populates="incident",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="EvidenceLink.id",
    )

    __table_args__ = (
        Index("ix_incidents_compound_id", "compound", "id"),
        Index("ix_incidents_camera_id", "camera", "id"),
        Index("ix_incidents_state_id", "state", "id"),
        Index("ix_incidents_created_at", "created_at"),
        Index("ix_incidents_plate", "plate"),
        Index("ix_incidents_person_id", "person_id"),
    )


class IncidentUpdate(Base):
    """One publication of the alert (first time = update_count 0), stored exactly once."""

    __tablename__ = "incident_updates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    update_count: Mapped[int] = mapped_column(Integer)
    severity: Mapped[str] = mapped_column(String(10))
    occurrences: Mapped[int] = mapped_column(Integer)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime())
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime())
    stream_id: Mapped[str] = mapped_column(String(32), comment="Redis stream entry id")
    alert: Mapped[dict[str, Any]] = mapped_column(JSON)

    incident: Mapped[Incident] = relationship(back_populates="updates")

    __table_args__ = (UniqueConstraint("incident_id", "update_count", name="uq_update_once"),)


class Activity(Base):
    """What happened to an incident, by whom: the per-incident activity log."""

    __tablename__ = "incident_activity"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(64), comment="user name or 'system'")
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(16), default=None)
    to_state: Mapped[str | None] = mapped_column(String(16), default=None)
    version: Mapped[int] = mapped_column(Integer, comment="incident version after it")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    incident: Mapped[Incident] = relationship(back_populates="activity")


class Comment(Base):
    """An operator's note on an incident."""

    __tablename__ = "incident_comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    author: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)

    incident: Mapped[Incident] = relationship(back_populates="comments")


class EvidenceLink(Base):
    """An evidence file (by SHA-256) an incident refers to."""

    __tablename__ = "incident_evidence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    size: Mapped[int] = mapped_column(Integer)
    media_type: Mapped[str] = mapped_column(String(64), default="image/jpeg")

    incident: Mapped[Incident] = relationship(back_populates="evidence")

    __table_args__ = (UniqueConstraint("incident_id", "sha256", name="uq_evidence_once"),)
