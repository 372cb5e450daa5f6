"""Watch orders (布控) received from the upper platform at ``/VIID/Dispositions``.

A vehicle disposition (``DispositionCategory`` 2, the plate in ``TargetFeature`` or
in a nested ``MotorVehicleObject.PlateNo``) becomes the same kind of watch order as
one posted through the police REST API (:func:`alerts.police.watch.add_plate_order`:
expiry, revocation, audit), owned by the police client ``gat1400-upper`` and aimed at
every compound of the site that has GA/T 1400 cameras. ``OperateType`` 1 (撤控) or a
DELETE revokes it. Its hits go back as ``DispositionNotificationObject`` through the
outbox. A person disposition is checked (its image must hold a face) and then refused
with StatusCode 4: face watch orders are taken through the police REST API
(``POST /api/police/v1/watch-orders/faces``), not over GA/T 1400 yet.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import redis
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.police.clients import add_client
from alerts.police.models import PoliceClient, WatchOrder
from alerts.police.watch import WatchError, add_plate_order, end_order
from alerts.store import audit
from shouwang.config import Site

UPPER_CLIENT = "gat1400-upper"

#: Whether JPEG/PNG bytes hold a face (the face detector, loaded by the caller).
FaceCheck = Callable[[bytes], bool]


class DispositionError(ValueError):
    """Refused input: ``code`` is the ResponseStatusObject StatusCode to answer."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class _Obj(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ImageIn(_Obj):
    """A ``SubImageInfoObject`` as a disposition carries it (the fields read)."""

    ImageID: str = ""
    Type: str = ""
    FileFormat: str = ""
    ShotTime: str = ""
    DeviceID: str = ""
    StoragePath: str = ""
    EventSort: int | None = None
    Width: int | None = None
    Height: int | None = None
    Data: str = Field(default="", description="base64 image")


class ImageListIn(_Obj):
    SubImageInfoObject: list[ImageIn] = Field(default_factory=list)


class VehicleIn(_Obj):
    PlateNo: str = Field(min_length=1)
    PlateColor: str | None = None
    PlateClass: str | None = None


class DispositionIn(_Obj):
    """One ``DispositionObject`` (GA/T 1400.4)."""

    DispositionID: str = Field(min_length=1, max_length=64)
    Title: str = Field(default="", max_length=200)
    DispositionCategory: Literal["1", "2", "3", "4"] = Field(
        description="1 person, 2 motor vehicle, 3 non-motor vehicle, 4 item"
    )
    TargetFeature: str = Field(default="", max_length=200)
    TargetImageURI: str = ""
    PriorityLevel: int | None = Field(default=None, ge=1, le=3)
    ApplicantName: str = ""
    ApplicantInfo: str = ""
    ApplicantOrg: str = ""
    BeginTime: str = Field(default="", pattern=r"^(\d{14})?$")
    EndTime: str = Field(pattern=r"^\d{14}$")
    OperateType: Literal[0, 1] = Field(default=0, description="0 布控, 1 撤控")
    DispositionStatus: int | None = None
    DispositionRange: str = ""
    TollgateList: str = ""
    DispositionArea: str = ""
    ReceiveAlarmIDList: str = ""
    ReceiveMobile: str = ""
    Reason: str = Field(default="", max_length=300)
    DispositionRemoveOrg: str = ""
    DispositionRemoveTime: str = ""
    DispositionRemoveReason: str = ""
    MotorVehicleObject: VehicleIn | None = None
    SubImageList: ImageListIn | None = None


class DispositionListIn(_Obj):
    DispositionObject: list[DispositionIn] = Field(min_length=1, max_length=100)


class DispositionBody(_Obj):
    DispositionListObject: DispositionListIn


def parse(body: Any) -> list[DispositionIn]:
    """The dispositions of a request body; DispositionError 8 naming the bad field."""
    try:
        return DispositionBody.model_validate(body).DispositionListObject.DispositionObject
    except ValidationError as exc:
        e = exc.errors()[0]
        where = ".".join(str(p) for p in e["loc"])
        raise DispositionError("8", f"{where}: {e['msg']}") from exc


def _time(v: str, tz: str) -> datetime:
    try:
        return datetime.strptime(v, "%Y%m%d%H%M%S").replace(tzinfo=ZoneInfo(tz))
    except ValueError as exc:
        raise DispositionError("8", f"time {v!r} is not yyyyMMddHHmmss") from exc


def upper_client(session: Session, site: Site) -> PoliceClient:
    """The police client that owns the upper platform's orders (made on first use)."""
    c = session.execute(
        select(PoliceClient).where(PoliceClient.name == UPPER_CLIENT)
    ).scalar_one_or_none()
    if c is not None:
        return c
    c, _secret = add_client(
        session,
        UPPER_CLIENT,
        scopes=["dispositions:write"],
        compounds=target_compounds(site),
        actor="gat1400",
        organisation="GA/T 1400 upper platform",
    )
    return c


def target_compounds(site: Site) -> list[str]:
    """Compounds with at least one GA/T 1400 camera."""
    return sorted({c.compound for c in site.cameras if c.gat1400 is not None})


def check_face_image(d: DispositionIn, is_face: FaceCheck) -> None:
    """A person disposition's image must decode and hold a face (else StatusCode 8)."""
    imgs = d.SubImageList.SubImageInfoObject if d.SubImageList else []
    if not imgs:
        raise DispositionError("8", f"{d.DispositionID}: a person disposition needs SubImageList")
    for i, im in enumerate(imgs):
        try:
            data = base64.b64decode(im.Data, validate=True)
        except ValueError as exc:
            raise DispositionError("8", f"SubImageInfoObject[{i}].Data is not base64") from exc
        if not is_face(data):
            raise DispositionError("8", f"SubImageInfoObject[{i}] holds no face")


def find(session: Session, client_id: str, disposition_id: str) -> WatchOrder | None:
    """The live order made from a disposition."""
    return session.execute(
        select(WatchOrder).where(
            WatchOrder.client_id == client_id,
            WatchOrder.case_number == disposition_id,
            WatchOrder.ended_at.is_(None),
        )
    ).scalar_one_or_none()


def apply(
    session: Session,
    r: redis.Redis,
    site: Site,
    d: DispositionIn,
    *,
    is_face: FaceCheck,
    source: str = "",
    now: datetime | None = None,
) -> WatchOrder | None:
    """Create or revoke the watch order of one disposition (audited); raises
    DispositionError (nothing changed) when it cannot."""
    now = now or datetime.now(UTC)
    client = upper_client(session, site)
    audit.append(
        session, actor=UPPER_CLIENT, action="gat1400.disposition_received",
        target=d.DispositionID,
        detail={"category": d.DispositionCategory, "operate": d.OperateType, "title": d.Title},
        source=source, at=now,
    )  # fmt: skip
    if d.OperateType == 1:
        o = find(session, client.id, d.DispositionID)
        if o is None:
            raise DispositionError("4", f"no disposition {d.DispositionID} in force")
        return end_order(session, r, o, reason="revoked", actor=UPPER_CLIENT, source=source)
    if find(session, client.id, d.DispositionID) is not None:
        raise DispositionError("4", f"disposition {d.DispositionID} exists already")
    if d.DispositionCategory == "1":
        check_face_image(d, is_face)
        raise DispositionError("4", "person (face) dispositions are not supported yet")
    if d.DispositionCategory != "2":
        raise DispositionError("4", f"DispositionCategory {d.DispositionCategory} not supported")
    plate = d.MotorVehicleObject.PlateNo if d.MotorVehicleObject else d.TargetFeature
    if not plate:
        raise DispositionError("8", "a vehicle disposition needs TargetFeature (the plate)")
    try:
        return add_plate_order(
            session, r, client_id=client.id, plate=plate,
            reason=(d.Reason or d.Title or "GA/T 1400 disposition")[:300],
            case_number=d.DispositionID, compounds=target_compounds(site),
            expires_at=_time(d.EndTime, site.timezone).astimezone(UTC), source=source, now=now,
        )  # fmt: skip
    except WatchError as exc:
        raise DispositionError("8", str(exc)) from exc


def disposition_of(session: Session, compound: str, plate: str) -> tuple[str, str] | None:
    """(DispositionID, Title) of the upper platform's order on ``plate`` in ``compound``."""
    rows = session.execute(
        select(WatchOrder, PoliceClient)
        .join(PoliceClient, PoliceClient.id == WatchOrder.client_id)
        .where(PoliceClient.name == UPPER_CLIENT, WatchOrder.plate == plate)
        .order_by(WatchOrder.created_at.desc())
    ).all()
    for o, _c in rows:
        if compound in o.compounds:
            return o.case_number, o.reason
    return None
