"""Live incident events on Redis Pub/Sub (``keys.INCIDENT_CHANNEL``).

Nothing waits on them: a dashboard that is away catches up from the REST API, so a
failed publish is logged and dropped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import redis

from alerts import keys
from alerts.store.incidents import Incident

log = logging.getLogger(__name__)

Event = Literal["incident.created", "incident.updated", "incident.changed", "incident.escalated"]


FIELDS = (
    "id",
    "type",
    "severity",
    "state",
    "version",
    "camera",
    "compound",
    "summary",
    "place",
    "lat",
    "lon",
    "update_count",
)


def summary(inc: Incident | Mapping[str, Any]) -> dict[str, Any]:
    """The fields a live view needs to show or refresh an incident (no evidence bytes).

    Takes the row or its column values (an incident being inserted in bulk).
    """

    def get(k: str) -> Any:
        return inc[k] if isinstance(inc, Mapping) else getattr(inc, k)

    out = {k: get(k) for k in FIELDS}
    out["created_at"] = get("created_at").isoformat()
    out["last_seen_at"] = get("last_seen_at").isoformat()
    return out


def publish_many(client: redis.Redis | None, items: Sequence[tuple[Event, dict[str, Any]]]) -> bool:
    """Announce several events in one round trip; False (logged) when Redis is away."""
    if client is None or not items:
        return False
    pipe = client.pipeline(transaction=False)
    for event, payload in items:
        pipe.publish(
            keys.INCIDENT_CHANNEL,
            json.dumps({"event": event, "incident": payload}, ensure_ascii=False),
        )
    try:
        pipe.execute()
    except (redis.RedisError, OSError) as exc:
        log.warning("%d live incident events not sent: %s", len(items), exc)
        return False
    return True


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
