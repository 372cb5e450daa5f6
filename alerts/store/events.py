"""Live incident events on Redis Pub/Sub (``keys.INCIDENT_CHANNEL``).

Nothing waits on them: a dashboard that is away catches up from the REST API, so a
failed publish is logged and dropped.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Literal

import redis

from alerts import keys
from alerts.store.incidents import Incident

log = logging.getLogger(__name__)

Event = Literal["incident.created", "incident.updated", "incident.changed", "incident.escalated"]


def summary(inc: Incident) -> dict[str, Any]:
    """The fields a live view needs to show or refresh an incident (no evidence bytes)."""
    return {
        "id": inc.id,
        "type": inc.type,
        "severity": inc.severity,
        "state": inc.state,
        "version": inc.version,
        "camera": inc.camera,
        "compound": inc.compound,
        "summary": inc.summary,
        "place": inc.place,
        "lat": inc.lat,
        "lon": inc.lon,
        "update_count": inc.update_count,
        "created_at": inc.created_at.isoformat(),
        "last_seen_at": inc.last_seen_at.isoformat(),
    }


def publish(client: redis.Redis | None, event: Event, payload: dict[str, Any]) -> bool:
    """Announce one event; False (logged) when Redis is away or there is no client."""
    if client is None:
        return False
    try:
        client.publish(
            keys.INCIDENT_CHANNEL,
            json.dumps({"event": event, "incident": payload}, ensure_ascii=False),
        )
    except (redis.RedisError, OSError) as exc:
        log.warning("live event %s for incident %s not sent: %s", event, payload.get("id"), exc)
        return False
    return True
