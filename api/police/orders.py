"""Watch orders (布控): post a plate or a face photo for some compounds, list, read, revoke."""

from __future__ import annotations

import base64
import binascii
import threading
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.police import watch
from alerts.police.faces import template_from_photo
from alerts.police.models import WatchOrder
from api.deps import Svc, errors, face_analyzer
from api.police.auth import PREFIX, PhotoRoute, PoliceRoute
from api.police.common import DispositionsWrite, invalid
from api.police.schemas import FaceOrderOut, FaceWatchOrderIn, WatchOrderIn, WatchOrderOut
from detectors.errors import ModelError

router = APIRouter(prefix=PREFIX, route_class=PoliceRoute, tags=["police: watch orders"])
# The face route carries a photo: its own body limit (PoliceSettings.max_photo_bytes).
photo_router = APIRouter(prefix=PREFIX, route_class=PhotoRoute, tags=["police: watch orders"])
OrderId = Annotated[str, Path(min_length=26, max_length=26, pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$")]
_ERR = errors(401, 403, 404, 413, 429)
# One photo analysed at a time: face orders are rare, and a burst of them must not take
# every core of the web service (nor rely on dlib being safe across threads).
_ANALYSE = threading.Lock()


def _out(o: WatchOrder, now: datetime) -> WatchOrderOut:
    face = None
    if o.kind == "face" and o.face:
        face = FaceOrderOut(
            model=str(o.face.get("model", "")),
            quality=float(o.face.get("quality", 0.0)),
            threshold=float(o.face.get("threshold", 0.0)),
            photo_sha256=str(o.face.get("photo_sha256", "")),
        )
    return WatchOrderOut(
        id=o.id,
        kind="face" if o.kind == "face" else "plate",
        plate=o.plate,
        face=face,
        reason=o.reason,
        case_number=o.case_number,
        legal_basis=o.legal_basis,
        compounds=o.compounds,
        created_at=o.created_at,
        expires_at=o.expires_at,
        ended_at=o.ended_at,
        end_reason=o.end_reason,
        active=o.ended_at is None and o.expires_at > now,
    )


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


@router.post("/watch-orders", response_model=WatchOrderOut, status_code=201, responses=_ERR)
def create(body: WatchOrderIn, call: DispositionsWrite, svc: Svc) -> WatchOrderOut:
    """Put a plate on the workers of the target compounds; a hit raises a high-severity
    ``plate.blacklist`` alert pushed to this client's subscriptions as ``watch.hit``."""
    for c in body.compounds:
        call.inside(c, f"compound {c!r}")
    call.case_number = body.case_number
    now = datetime.now(UTC)
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
                expires_at=_aware(body.expires_at),
                source=call.source,
                now=now,
            )
            out = _out(o, now)
    except watch.WatchError as exc:
        invalid(("body",), str(exc))
    call.target, call.records = out.id, 1
    return out


def _photo_bytes(text: str, limit: int) -> bytes:
    """The photo of a face order from its base64 (a ``data:`` URL prefix allowed)."""
    if text.startswith("data:"):
        head, _, text = text.partition(",")
        if ";base64" not in head:
            invalid(("body", "photo"), "photo: a data: URL must be data:<type>;base64,...")
    try:
        data = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        invalid(("body", "photo"), "photo: not base64 (RFC 4648, standard alphabet)")
    if len(data) > limit:
        invalid(
            ("body", "photo"),
            f"photo: {len(data):,} bytes, over the limit of {limit:,} bytes; resize it",
        )
    return data


@photo_router.post(
    "/watch-orders/faces",
    response_model=WatchOrderOut,
    status_code=201,
    responses=errors(401, 403, 404, 413, 429, 503),
)
def create_face(
    body: FaceWatchOrderIn, call: DispositionsWrite, svc: Svc, request: Request
) -> WatchOrderOut:
    """Put a face on the workers of the target compounds.

    The photo passes the same quality check as enrolment; an unusable one answers 422
    saying why (no face, several faces, blurred, turned away, too small, cut off, not an
    image). Only the face's embedding (of the platform's embedder) and the photo's
    SHA-256 are kept, never the photo. A hit raises a high-severity ``face.watchlist``
    alert (watchlist ``police-watch``, ``person_id`` = the order id) pushed to this
    client's subscriptions as ``watch.hit``."""
    for c in body.compounds:
        call.inside(c, f"compound {c!r}")
    call.case_number, call.legal_basis = body.case_number, body.legal_basis
    now = datetime.now(UTC)
    expires = _aware(body.expires_at)
    if expires <= now:
        invalid(("body", "expires_at"), "expires_at must be in the future", body.expires_at)
    data = _photo_bytes(body.photo, svc.settings.police.max_photo_bytes)
    from detectors.faces.errors import PhotoError  # loads the face package: only here

    try:
        analyzer = face_analyzer(request)
        with _ANALYSE:
            face = template_from_photo(analyzer, data, "photo")
    except PhotoError as exc:
        invalid(("body", "photo"), str(exc))
    except ModelError as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"face models unavailable: {exc}"
        ) from None
    call.params = {"photo_sha256": face.photo_sha256, "photo_bytes": len(data)}
    try:
        with svc.tx() as s:
            o = watch.add_face_order(
                s,
                svc.redis,
                client_id=call.client.id,
                face=face,
                reason=body.reason,
                case_number=body.case_number,
                legal_basis=body.legal_basis,
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
    """This client's watch orders (plates and faces), newest first."""
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


def _own(s: Session, call: DispositionsWrite, order_id: str) -> WatchOrder:
    o = s.get(WatchOrder, order_id)
    if o is None or o.client_id != call.client.id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"watch order {order_id} was not found")
    call.case_number = o.case_number
    return o


@router.get("/watch-orders/{order_id}", response_model=WatchOrderOut, responses=_ERR)
def get(order_id: OrderId, call: DispositionsWrite, svc: Svc) -> WatchOrderOut:
    """One of this client's watch orders."""
    call.target = order_id
    now = datetime.now(UTC)
    with svc.tx() as s:
        out = _out(_own(s, call, order_id), now)
    call.records = 1
    return out


@router.delete("/watch-orders/{order_id}", response_model=WatchOrderOut, responses=_ERR)
def revoke(order_id: OrderId, call: DispositionsWrite, svc: Svc) -> WatchOrderOut:
    """Revoke an order: off every worker within seconds (audited); a face order's
    embedding is deleted with it."""
    call.target = order_id
    now = datetime.now(UTC)
    with svc.tx() as s:
        o = _own(s, call, order_id)
        watch.end_order(
            s, svc.redis, o, reason="revoked", actor=call.client.id, source=call.source, now=now
        )
        out = _out(o, now)
    call.records = 1
    return out
