"""Shouwang's records as GA/T 1400 objects: a plate read → ``MotorVehicleObject``,
a watchlist face alert → ``FaceObject``, a police watch hit →
``DispositionNotificationObject``; images inline (base64) in ``SubImageList``.

Field names follow the published lists as the open implementations put them on the
wire (docs/gat1400.md lists where they disagree and what Shouwang chose).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from alerts.gat1400 import codes
from alerts.model import Alert, FaceSubject, PlateSubject
from alerts.plate_reads import PlateRead
from shouwang.config import Camera, Site

#: Reads an image by its SHA-256 (the evidence store); None when it is gone.
ImageLoader = Callable[[str], bytes | None]


class RecordError(ValueError):
    """A record cannot be made (the camera has no GA/T 1400 ids, say)."""


def evidence_loader(root: Path) -> ImageLoader:
    """Images from the evidence store folder (``<root>/<sha[:2]>/<sha>.jpg``)."""

    def load(sha: str) -> bytes | None:
        p = root / sha[:2] / f"{sha}.jpg"
        try:
            return p.read_bytes()
        except OSError:
            return None

    return load


def _camera(site: Site, camera_id: str) -> Camera:
    cam = site.camera(camera_id)
    if cam.gat1400 is None:
        raise RecordError(f"camera {camera_id!r} has no gat1400 device_id/channel_id in the site")
    return cam


def sub_image(
    site: Site,
    cam: Camera,
    *,
    kind: str,
    data: bytes,
    shot: datetime,
    key: str,
    width: int | None = None,
    height: int | None = None,
) -> dict[str, Any]:
    """One ``SubImageInfoObject``: JPEG bytes inline, where and when it was shot.

    ``SourceVideoID`` is the GB/T 28181 channel id + ``01`` + the shot time + a
    sequence, so the police side can open that channel's video at that moment.
    """
    if cam.gat1400 is None or site.gat1400 is None:
        raise RecordError(f"camera {cam.id!r}: no gat1400 ids, or the site has no gat1400")
    tz = site.timezone
    compound = site.compound(cam.compound)
    t = codes.wire_time(shot, tz)
    doc: dict[str, Any] = {
        "ImageID": codes.source_id(cam.gat1400.device_id, shot, tz, key + kind),
        "InfoKind": 1,
        "ImageSource": "02",
        "SourceVideoID": f"{cam.gat1400.channel_id}01{t}{codes._seq(key, 5)}",
        "EventSort": 99,
        "DeviceID": cam.gat1400.device_id,
        "StoragePath": "",
        "Type": kind,
        "FileFormat": "Jpeg",
        "ShotTime": t,
        "ShotPlaceCode": site.gat1400.place_code,
        "ShotPlaceFullAdress": f"{compound.name or compound.id} {cam.name or cam.id}".strip(),
        "ShotPlaceLongitude": round(cam.lon, 6),
        "ShotPlaceLatitude": round(cam.lat, 6),
        "HorizontalShotDirection": _direction(cam.heading_deg),
        "FileSize": len(data),
        "Data": base64.b64encode(data).decode(),
    }
    if not (width and height):
        width, height = _size(data)
    doc["Width"], doc["Height"] = width, height
    return doc


def _size(data: bytes) -> tuple[int, int]:
    import cv2
    import numpy as np

    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise RecordError("an evidence image does not decode")
    h, w = img.shape[:2]
    return int(w), int(h)


def _direction(deg: float) -> str:
    # GA/T 1400 HorizontalShotDirection: 1 E, 2 W, 3 S, 4 N, 5 SE, 6 NE, 7 SW, 8 NW.
    octant = round(deg / 45) % 8
    return ["4", "6", "1", "5", "3", "7", "2", "8"][octant]


def _vehicle(
    site: Site,
    cam: Camera,
    *,
    key: str,
    shot: datetime,
    plate: str,
    confidence: float,
    gate: str | None,
    images: list[dict[str, Any]],
) -> dict[str, Any]:
    ids = cam.gat1400
    if ids is None:
        raise RecordError(f"camera {cam.id!r} has no gat1400 device_id/channel_id in the site")
    src = codes.source_id(ids.device_id, shot, site.timezone, key)
    plate_class, plate_color = codes.plate_codes(plate)
    doc: dict[str, Any] = {
        "MotorVehicleID": codes.object_id(src, codes.OBJ_VEHICLE, key),
        "InfoKind": 1,
        "SourceID": src,
        "DeviceID": ids.device_id,
        "PassTime": codes.wire_time(shot, site.timezone),
        "HasPlate": "1",
        "PlateClass": plate_class,
        "PlateColor": plate_color,
        "PlateNo": plate,
        "PlateReliability": str(round(confidence * 100)),
        "VehicleColor": "99",
        "NameOfPassedRoad": gate or cam.placement.gate or "",
        "Longitude": round(cam.lon, 6),
        "Latitude": round(cam.lat, 6),
        "SubImageList": {"SubImageInfoObject": images},
    }
    if ids.tollgate_id:
        doc["TollgateID"] = ids.tollgate_id
    return doc


def motor_vehicle(site: Site, read: PlateRead, load: ImageLoader) -> dict[str, Any]:
    """The ``MotorVehicleObject`` of one plate read at a gate camera (plate crop inline;
    a read carries no scene image, a plate alert does)."""
    cam = _camera(site, read.camera)
    crop = load(read.crop_sha256) if read.crop_sha256 else None
    images = []
    if crop is not None:
        images.append(
            sub_image(site, cam, kind=codes.IMAGE_PLATE, data=crop, shot=read.read_at, key=read.id)
        )
    return _vehicle(
        site, cam, key=read.id, shot=read.read_at, plate=read.plate,
        confidence=read.confidence, gate=read.gate, images=images,
    )  # fmt: skip


def _alert_images(site: Site, cam: Camera, alert: Alert, crop_kind: str) -> list[dict[str, Any]]:
    out = []
    for ev in alert.evidence:
        if ev.kind not in ("snapshot", "crop"):
            continue
        path = Path(unquote(urlparse(ev.uri).path))
        try:
            data = path.read_bytes()
        except OSError:
            continue
        kind = codes.IMAGE_SCENE if ev.kind == "snapshot" else crop_kind
        out.append(
            sub_image(
                site,
                cam,
                kind=kind,
                data=data,
                shot=alert.times.captured,
                key=alert.id,
                width=ev.width,
                height=ev.height,
            )
        )
    return out


def face(site: Site, alert: Alert) -> dict[str, Any]:
    """The ``FaceObject`` of a watchlist face alert (scene and face crop inline)."""
    if not isinstance(alert.subject, FaceSubject):
        raise RecordError(f"alert {alert.id} is not a face alert")
    cam = _camera(site, alert.camera)
    ids = cam.gat1400
    if ids is None:
        raise RecordError(f"camera {cam.id!r} has no gat1400 ids")
    key = f"{alert.id}.{alert.update_count}"
    src = codes.source_id(ids.device_id, alert.times.captured, site.timezone, key)
    t = codes.wire_time(alert.times.captured, site.timezone)
    first = alert.times.first_seen or alert.times.captured
    return {
        "FaceID": codes.object_id(src, codes.OBJ_FACE, key),
        "InfoKind": 1,
        "SourceID": src,
        "DeviceID": ids.device_id,
        "LocationMarkTime": t,
        "FaceAppearTime": codes.wire_time(first, site.timezone),
        "FaceDisAppearTime": t,
        "Similaritydegree": round(alert.subject.similarity, 4),
        "SubImageList": {"SubImageInfoObject": _alert_images(site, cam, alert, codes.IMAGE_FACE)},
    }


def plate_alert_vehicle(site: Site, alert: Alert) -> dict[str, Any]:
    """The ``MotorVehicleObject`` of a plate alert (scene and plate crop inline)."""
    subj = alert.subject
    if not isinstance(subj, PlateSubject):
        raise RecordError(f"alert {alert.id} is not a plate alert")
    cam = _camera(site, alert.camera)
    return _vehicle(
        site, cam, key=f"{alert.id}.{alert.update_count}", shot=alert.times.captured,
        plate=subj.plate, confidence=subj.confidence, gate=None,
        images=_alert_images(site, cam, alert, codes.IMAGE_PLATE),
    )  # fmt: skip


def notification(site: Site, alert: Alert, disposition_id: str, title: str) -> dict[str, Any]:
    """The ``DispositionNotificationObject`` of a watch hit raised by a disposition."""
    vehicle = plate_alert_vehicle(site, alert)
    key = f"{alert.id}.{alert.update_count}"
    return {
        "NotificationID": f"{site.gat1400.platform_id if site.gat1400 else ''}"
        f"{codes.wire_time(alert.times.captured, site.timezone)}{codes._seq(key, 5)}",
        "DispositionID": disposition_id,
        "Title": title,
        "TriggerTime": codes.wire_time(alert.times.captured, site.timezone),
        "CntObjectID": vehicle["MotorVehicleID"],
        "MotorVehicleObject": vehicle,
    }
