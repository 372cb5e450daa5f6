"""Watch orders (布控): post a plate for some compounds, list, revoke."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status
from sqlalchemy import select

from alerts.police import watch
from alerts.police.models import WatchOrder
from api.deps import Svc, errors
from api.police.auth import PREFIX, PoliceRoute
from api.police.common import DispositionsWrite, invalid
from api.police.schemas import WatchOrderIn, WatchOrderOut

router = APIRouter(prefix=PREFIX, route_class=PoliceRoute, tags=["police: watch orders"])
OrderId = Annotated[str, Path(min_length=26, max_length=26, pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$")]
_ERR = errors(401, 403, 404, 413, 429)


def _out(o: WatchOrder, now: datetime) -> WatchOrderOut:
    return WatchOrderOut(
        id=o.id,
        kind=o.kind,
        plate=o.plate,
        reason=o.reason,
        case_number=o.case_number,
        compounds=o.compounds,
        created_at=o.created_at,
        expires_at=o.expires_at,
        ended_at=o.ended_at,
        end_reason=o.end_reason,
        active=o.ended_at is None and o.expires_at > now,
    )


@router.post("/watch-orders", response_model=WatchOrderOut, status_code=201, responses=_ERR)
def create(body: WatchOrderIn, call: DispositionsWrite, svc: Svc) -> WatchOrderOut:
    """Put a plate on the workers of the target compounds; a hit raises a high-severity
    ``plate.blacklist`` alert pushed to this client's subscriptions as ``watch.hit``."""
    for c in body.compounds:
        call.inside(c, f"compound {c!r}")
    call.case_number = body.case_number
    now = datetime.now(UTC)
    expires = body.expires_at if body.expires_at.tzinfo else body.expires_at.replace(tzinfo=UTC)
    try:
        with svc.tx() as s:
            o = watch.add_plate_order(
                s,
                svc.redis,
                client_id=call.client.id,
                plate=body.plate,
                reason=body.reason,
                case_number=body.case_number,
                compounds=body.compounds,
                expires_at=expires,
                source=call.source,
                now=now,
            )
            out = _out(o, now)
    except watch.WatchError as exc:
        invalid(("body",), str(exc))
    call.target, call.records = out.id, 1
    return out


@router.get("/watch-orders", response_model=list[WatchOrderOut], responses=_ERR)
def list_(call: DispositionsWrite, svc: Svc) -> list[WatchOrderOut]:
    """This client's watch orders, newest first."""
    now = datetime.now(UTC)
    with svc.tx() as s:
        rows = s.execute(
            select(WatchOrder)
            .where(WatchOrder.client_id == call.client.id)
            .order_by(WatchOrder.id.desc())
        ).scalars()
        out = [_out(o, now) for o in rows]
    call.records = len(out)
    return out


@router.delete("/watch-orders/{order_id}", response_model=WatchOrderOut, responses=_ERR)
def revoke(order_id: OrderId, call: DispositionsWrite, svc: Svc) -> WatchOrderOut:
    """Revoke an order: off every worker within seconds (audited)."""
    call.target = order_id
    now = datetime.now(UTC)
    with svc.tx() as s:
        o = s.get(WatchOrder, order_id)
        if o is None or o.client_id != call.client.id:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"watch order {order_id} was not found")
        call.case_number = o.case_number
        watch.end_order(
            s, svc.redis, o, reason="revoked", actor=call.client.id, source=call.source, now=now
        )
        out = _out(o, now)
    call.records = 1
    return out
