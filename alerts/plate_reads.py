"""Plate reads: every vehicle pass read at a gate camera, for the vehicle access log.

Alerts only exist for list hits; the question security centres ask most ("when did
宁A12345 last enter?") needs every read. The worker publishes one :class:`PlateRead`
per decided pass on the ``PLATE_READS`` stream; the store copies it into its
``vehicle_reads`` table.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Literal

import redis
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from alerts import keys
from alerts.errors import AlertError

log = logging.getLogger(__name__)


class PlateRead(BaseModel):
    """One plate read (a pass's voted reading) at a gate camera."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=26, max_length=26, description="ULID of the read")
    plate: str = Field(min_length=1, max_length=16, description="normalised plate, e.g. 宁A12345")
    confidence: float = Field(ge=0, le=1, description="voted reader confidence")
    low_confidence: bool = Field(default=False, description="the voter doubted the reading")
    camera: str = Field(min_length=1, max_length=64)
    compound: str = Field(min_length=1, max_length=64)
    gate: str | None = Field(default=None, max_length=64, description="gate name")
    direction: Literal["in", "out"] | None = Field(default=None, description="when known")
    read_at: datetime = Field(description="capture time of the frame that decided the pass")
    crop_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    list_id: str | None = Field(default=None, description="plate list hit, if any")
    list_kind: Literal["resident", "visitor", "blacklist"] | None = None
    track_id: int | None = None


def parse_read(fields: dict[str, str]) -> PlateRead:
    """The read in a ``PLATE_READS`` entry.

    Raises:
        AlertError: no ``read`` field, or it is not a valid read.
    """
    doc = fields.get("read")
    if doc is None:
        raise AlertError(f"plate read entry has no 'read' field (fields: {sorted(fields)})")
    try:
        return PlateRead.model_validate_json(doc)
    except ValidationError as exc:
        raise AlertError(f"plate read entry is not a valid read: {exc}") from exc


def publish_read(client: redis.Redis, read: PlateRead) -> str | None:
    """XADD the read; returns the entry id, or None (logged) when Redis is away.

    Reads are not kept in an outbox: a read lost in an outage is a gap in the access
    log, never a lost alert (list hits also go out as alerts through the outbox).
    """
    try:
        return str(
            client.xadd(
                keys.PLATE_READS,
                {"read": read.model_dump_json(), "camera": read.camera},
                maxlen=keys.PLATE_READS_MAXLEN,
                approximate=True,
            )
        )
    except (redis.RedisError, OSError) as exc:
        log.warning("plate read on camera %s not published: %s", read.camera, exc)
        return None
