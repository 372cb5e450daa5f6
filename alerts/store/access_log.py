"""The vehicle access log: every plate read at a gate camera, list hit or not.

Plate lookup uses the plate lists' confusion-aware distance
(:func:`detectors.plates.lists.weighted_distance`). To answer in milliseconds over
millions of rows, each read also stores its *confusion key* (every character replaced
by the first of its confusion class, so ``京A1Z345`` and ``豫A12345`` share one key)
and the key reversed. Candidates are rows whose key equals the query's (confusions
only) or differs by one edit, found through prefix ranges on the key or on the reversed
key (whichever side of the edit is longer), then ranked by the real distance.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from alerts.store.db import Base, UTCDateTime
from detectors.plates.lists import CONFUSIONS


def _classes() -> dict[str, str]:
    parent: dict[str, str] = {}

    def find(c: str) -> str:
        while parent.setdefault(c, c) != c:
            c = parent[c]
        return c

    for a, b in CONFUSIONS:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {c: find(c) for c in parent}


_CLASS = _classes()


def confusion_key(plate: str) -> str:
    """``plate`` with each character replaced by its confusion class's representative."""
    return "".join(_CLASS.get(c, c) for c in plate)


# Byte-order comparison on PostgreSQL too, so prefix ranges are contiguous in the index.
_KEY = String(16).with_variant(String(16, collation="C"), "postgresql")


class VehicleRead(Base):
    """One plate read (a vehicle pass's voted reading) at a gate camera."""

    __tablename__ = "vehicle_reads"

    id: Mapped[str] = mapped_column(String(26), primary_key=True, comment="read ULID")
    plate: Mapped[str] = mapped_column(String(16), comment="normalised plate as read")
    key: Mapped[str] = mapped_column(_KEY, comment="confusion key of the plate")
    key_rev: Mapped[str] = mapped_column(_KEY, comment="the confusion key reversed")
    length: Mapped[int] = mapped_column(Integer)
    confidence: Mapped[float] = mapped_column(Float)
    low_confidence: Mapped[bool] = mapped_column(Boolean, default=False)
    camera: Mapped[str] = mapped_column(String(64))
    compound: Mapped[str] = mapped_column(String(64))
    gate: Mapped[str | None] = mapped_column(String(64), default=None)
    direction: Mapped[str | None] = mapped_column(String(8), default=None, comment="in/out")
    read_at: Mapped[datetime] = mapped_column(UTCDateTime())
    crop_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    list_id: Mapped[str | None] = mapped_column(String(64), default=None)
    list_kind: Mapped[str | None] = mapped_column(String(16), default=None)

    __table_args__ = (
        Index("ix_vehicle_reads_key", "key"),
        Index("ix_vehicle_reads_key_rev", "key_rev"),
        Index("ix_vehicle_reads_read_at", "read_at"),
        Index("ix_vehicle_reads_crop", "crop_sha256"),
    )
