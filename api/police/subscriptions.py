"""Push subscriptions: register a URL and filters, see deliveries, replay dead ones."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, status
from fastapi.exceptions import RequestValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from ulid import ULID

from alerts.police.models import PushDelivery, Subscription
from alerts.police.push import new_secret, replay
from alerts.police.targets import push_target_problem
from alerts.store import audit
from api.deps import Svc, errors
from api.police.auth import PREFIX, PoliceCall, PoliceRoute
from api.police.common import SubscriptionsWrite
from api.police.schemas import DeliveryOut, ReplayIn, ReplayOut, SubscriptionIn, SubscriptionOut

router = APIRouter(prefix=PREFIX, route_class=PoliceRoute, tags=["police: subscriptions"])
SubId = Annotated[str, Path(min_length=26, max_length=26, pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$")]
_ERR = errors(401, 403, 404, 413, 429)


def _out(sub: Subscription, *, secret: bool = False) -> SubscriptionOut:
    return SubscriptionOut(
        id=sub.id,
        url=sub.url,
        types=sub.types,
        compounds=sub.compounds,
        min_severity=sub.min_severity,
        active=sub.active,
        created_at=sub.created_at,
        secret=sub.secret if secret else None,
    )


def _own(s: Session, call: PoliceCall, sub_id: str) -> Subscription:
    call.target = sub_id
    sub = s.get(Subscription, sub_id)
    if sub is None or sub.client_id != call.client.id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"subscription {sub_id} was not found")
    return sub


@router.post("/subscriptions", response_model=SubscriptionOut, status_code=201, responses=_ERR)
def create(body: SubscriptionIn, call: SubscriptionsWrite, svc: Svc) -> SubscriptionOut:
    """Register a push endpoint; the answer holds the signing secret, shown this once.

    The URL may not point back into the platform's own host or its local network
    (loopback, link-local, ...), and must be one of the operator's push hosts when those
    are set: 422 naming ``url`` otherwise.
    """
    for c in body.compounds:
        call.inside(c, f"compound {c!r}")
    problem = push_target_problem(str(body.url), svc.settings.police.push_hosts)
    if problem:
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("body", "url"),
                    "msg": problem,
                    "input": str(body.url),
                }
            ]
        )
    now = datetime.now(UTC)
    sub = Subscription(
        id=str(ULID()),
        client_id=call.client.id,
        url=str(body.url),
        secret=new_secret(),
        types=list(body.types),
        compounds=sorted(set(body.compounds)),
        min_severity=body.min_severity,
        active=True,
        created_at=now,
    )
    with svc.tx() as s:
        s.add(sub)
        audit.append(
            s,
            actor=call.client.id,
            action="police.subscription_added",
            target=sub.id,
            detail={"url": sub.url, "types": sub.types, "compounds": sub.compounds},
            source=call.source,
            at=now,
        )
    call.target, call.records = sub.id, 1
    return _out(sub, secret=True)


@router.get("/subscriptions", response_model=list[SubscriptionOut], responses=_ERR)
def list_(call: SubscriptionsWrite, svc: Svc) -> list[SubscriptionOut]:
    """This client's subscriptions."""
    with svc.tx() as s:
        rows = s.execute(
            select(Subscription)
            .where(Subscription.client_id == call.client.id)
            .order_by(Subscription.id)
        ).scalars()
        out = [_out(r) for r in rows]
    call.records = len(out)
    return out


@router.get("/subscriptions/{sub_id}", response_model=SubscriptionOut, responses=_ERR)
def get(sub_id: SubId, call: SubscriptionsWrite, svc: Svc) -> SubscriptionOut:
    """One subscription of this client."""
    with svc.tx() as s:
        out = _out(_own(s, call, sub_id))
    call.records = 1
    return out


@router.delete("/subscriptions/{sub_id}", status_code=204, responses=_ERR)
def delete(sub_id: SubId, call: SubscriptionsWrite, svc: Svc) -> None:
    """Stop pushing to this subscription (its delivery records are kept)."""
    with svc.tx() as s:
        sub = _own(s, call, sub_id)
        sub.active = False
        audit.append(
            s,
            actor=call.client.id,
            action="police.subscription_removed",
            target=sub.id,
            source=call.source,
        )


@router.get("/subscriptions/{sub_id}/deliveries", response_model=list[DeliveryOut], responses=_ERR)
def deliveries(
    sub_id: SubId,
    call: SubscriptionsWrite,
    svc: Svc,
    status_: Annotated[Literal["pending", "sent", "dead"] | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeliveryOut]:
    """Deliveries of this subscription, newest first; ``status=dead`` is the dead letters."""
    with svc.tx() as s:
        _own(s, call, sub_id)
        q = select(PushDelivery).where(PushDelivery.subscription_id == sub_id)
        if status_ is not None:
            q = q.where(PushDelivery.status == status_)
        rows = s.execute(q.order_by(PushDelivery.created_at.desc()).limit(limit)).scalars()
        out = [
            DeliveryOut(
                id=d.id,
                alert_id=d.alert_id,
                event=d.event,
                status=d.status,
                attempts=d.attempts,
                next_at=d.next_at,
                created_at=d.created_at,
                sent_at=d.sent_at,
                last_error=d.last_error,
            )
            for d in rows
        ]
    call.records = len(out)
    return out


@router.post("/subscriptions/{sub_id}/replay", response_model=ReplayOut, responses=_ERR)
def replay_(sub_id: SubId, body: ReplayIn, call: SubscriptionsWrite, svc: Svc) -> ReplayOut:
    """Send dead deliveries again (or the named ones, sent or not), same ``webhook-id``."""
    now = datetime.now(UTC)
    with svc.tx() as s:
        _own(s, call, sub_id)
        n = replay(s, sub_id, ids=body.ids, now=now)
        audit.append(
            s,
            actor=call.client.id,
            action="police.replay",
            target=sub_id,
            detail={"queued": n, "ids": body.ids[:50]},
            source=call.source,
            at=now,
        )
    call.records = n
    return ReplayOut(queued=n)
