"""A GA/T 1400 view library (upper platform) written for the tests: stdlib http.server
on loopback.

It challenges ``/VIID/System/Register`` with HTTP Digest, wants ``User-Identify`` of a
registered platform on every other call (401 otherwise, as after a restart), and
validates every object it receives against the published field lists (GA/T 1400.3 as
the open implementations put them on the wire): an unknown field name, an id of the
wrong length, a code outside its table or a time not ``yyyyMMddHHmmss`` is refused
with StatusCode 8 and kept in :attr:`ViewLibrary.errors`.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

from alerts.gat1400.digest import DigestVerifier

MOTOR_VEHICLE_FIELDS = {
    "MotorVehicleID", "InfoKind", "SourceID", "TollgateID", "DeviceID", "StorageUrl1",
    "StorageUrl2", "StorageUrl3", "StorageUrl4", "StorageUrl5", "LeftTopX", "LeftTopY",
    "RightBtmX", "RightBtmY", "MarkTime", "AppearTime", "DisappearTime", "LaneNo",
    "HasPlate", "PlateClass", "PlateColor", "PlateNo", "PlateNoAttach", "PlateDescribe",
    "IsDecked", "IsAltered", "IsCovered", "Speed", "Direction", "DrivingStatusCode",
    "UsingPropertiesCode", "VehicleClass", "VehicleBrand", "VehicleModel", "VehicleStyles",
    "VehicleLength", "VehicleWidth", "VehicleHeight", "VehicleColor", "VehicleColorDepth",
    "VehicleHood", "VehicleTrunk", "VehicleWheel", "WheelPrintedPattern", "VehicleWindow",
    "VehicleRoof", "VehicleDoor", "SideOfVehicle", "CarOfVehicle", "RearviewMirror",
    "VehicleChassis", "VehicleShielding", "FilmColor", "IsModified", "HitMarkInfo",
    "VehicleBodyDesc", "VehicleFrontItem", "DescOfFrontItem", "VehicleRearItem",
    "DescOfRearItem", "NumOfPassenger", "PassTime", "NameOfPassedRoad", "IsSuspicious",
    "Sunvisor", "SafetyBelt", "Calling", "PlateReliability", "PlateCharReliability",
    "BrandReliability", "Longitude", "Latitude", "SubImageList", "FeatureList",
}  # fmt: skip
FACE_FIELDS = {
    "FaceID", "InfoKind", "SourceID", "DeviceID", "LeftTopX", "LeftTopY", "RightBtmX",
    "RightBtmY", "LocationMarkTime", "FaceAppearTime", "FaceDisAppearTime", "IDType",
    "IDNumber", "Name", "UsedName", "Alias", "GenderCode", "AgeUpLimit", "AgeLowerLimit",
    "EthicCode", "NationalityCode", "NativeCityCode", "ResidenceAdminDivision",
    "ChineseAccentCode", "JobCategory", "AccompanyNumber", "SkinColor", "HairStyle",
    "HairColor", "FaceStyle", "FacialFeature", "PhysicalFeature", "RespiratorColor",
    "CapStyle", "CapColor", "GlassStyle", "GlassColor", "IsDriver", "IsForeigner",
    "PassportType", "ImmigrantTypeCode", "IsSuspectedTerrorist", "SuspectedTerroristNumber",
    "IsCriminalInvolved", "CriminalInvolvedSpecilisationCode", "BodySpeciallMark",
    "CrimeMethod", "CrimeCharacterCode", "EscapedCriminalNumber", "IsDetainees",
    "DetentionHouseCode", "DetaineesIdentity", "DetaineesSpecialIdentity", "MemberTypeCode",
    "IsVictim", "VictimType", "InjuredDegree", "CorpseConditionCode", "IsSuspiciousPerson",
    "Attitude", "Similaritydegree", "EyebrowStyle", "NoseStyle", "MustacheStyle", "LipStyle",
    "WrinklePouch", "AcneStain", "FreckleBirthmark", "ScarDimple", "OtherFeature",
    "SubImageList", "FeatureList",
}  # fmt: skip
SUB_IMAGE_FIELDS = {
    "ImageID", "InfoKind", "ImageSource", "SourceVideoID", "OriginImageID", "EventSort",
    "DeviceID", "StoragePath", "FileHash", "FileFormat", "ShotTime", "Title", "TitleNote",
    "SpecialIName", "Keyword", "ContentDescription", "SubjectCharacter", "ShotPlaceCode",
    "ShotPlaceFullAdress", "ShotPlaceLongitude", "ShotPlaceLatitude",
    "HorizontalShotDirection", "VerticalShotDirection", "SecurityLevel", "Width", "Height",
    "CameraManufacturer", "CameraVersion", "ApertureValue", "ISOSensitivity", "FocalLength",
    "QualityGrade", "CollectorName", "CollectorOrg", "CollectorIDType", "CollectorID",
    "EntryClerk", "EntryClerkOrg", "EntryClerkIDType", "EntryClerkID", "EntryTime",
    "ImageProcFlag", "FileSize", "Data", "Type",
}  # fmt: skip
NOTIFICATION_FIELDS = {
    "NotificationID", "DispositionID", "Title", "TriggerTime", "CntObjectID",
    "PersonObject", "MotorVehicleObject", "FaceObject",
}  # fmt: skip
#: Required fields (R in GA/T 1400.3 for automatic collection, images inline).
MOTOR_REQUIRED = {"MotorVehicleID", "InfoKind", "SourceID", "DeviceID", "PlateNo", "PlateColor",
                  "PlateClass", "HasPlate", "VehicleColor", "PassTime", "SubImageList"}  # fmt: skip
FACE_REQUIRED = {"FaceID", "InfoKind", "SourceID", "DeviceID", "LocationMarkTime", "SubImageList"}
IMAGE_REQUIRED = {"ImageID", "EventSort", "DeviceID", "StoragePath", "Type", "FileFormat",
                  "ShotTime", "Width", "Height", "Data"}  # fmt: skip
PLATE_COLORS = {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "99"}
PLATE_CLASSES = {f"{i:02d}" for i in range(1, 44)} | {"51", "52", "99"}
IMAGE_TYPES = {"01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12",
               "13", "14", "100"}  # fmt: skip
TIME = re.compile(r"^\d{14}$")
D20 = re.compile(r"^\d{20}$")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _time(v: Any, where: str, errs: list[str]) -> None:
    if not (isinstance(v, str) and TIME.match(v)):
        errs.append(f"{where}: {v!r} is not yyyyMMddHHmmss")
        return
    try:
        datetime.strptime(v, "%Y%m%d%H%M%S")
    except ValueError:
        errs.append(f"{where}: {v!r} is not a date")


def _fields(obj: dict[str, Any], allowed: set[str], required: set[str], where: str) -> list[str]:
    errs = [f"{where}: unknown field {k!r}" for k in obj if k not in allowed]
    errs += [f"{where}: missing {k!r}" for k in sorted(required - set(obj))]
    return errs


def check_images(obj: dict[str, Any], where: str) -> list[str]:
    errs: list[str] = []
    lst = obj.get("SubImageList")
    if not isinstance(lst, dict) or set(lst) != {"SubImageInfoObject"}:
        return [f"{where}.SubImageList: want {{'SubImageInfoObject': [...]}}"]
    imgs = lst["SubImageInfoObject"]
    if not imgs:
        errs.append(f"{where}: no image")
    for i, im in enumerate(imgs):
        w = f"{where}.SubImageInfoObject[{i}]"
        errs += _fields(im, SUB_IMAGE_FIELDS, IMAGE_REQUIRED, w)
        if len(str(im.get("ImageID", ""))) != 41:
            errs.append(f"{w}: ImageID must be 41 characters")
        if not D20.match(str(im.get("DeviceID", ""))):
            errs.append(f"{w}: DeviceID must be 20 digits")
        svid = str(im.get("SourceVideoID", ""))
        if svid and len(svid) != 41:
            errs.append(f"{w}: SourceVideoID must be 41 characters")
        if im.get("Type") not in IMAGE_TYPES:
            errs.append(f"{w}: Type {im.get('Type')!r} not an image type")
        _time(im.get("ShotTime"), f"{w}.ShotTime", errs)
        try:
            data = base64.b64decode(str(im.get("Data", "")), validate=True)
        except ValueError:
            data = b""
        if not data.startswith(b"\xff\xd8"):
            errs.append(f"{w}: Data is not a base64 JPEG")
    return errs


def check_vehicle(v: dict[str, Any], where: str = "MotorVehicleObject") -> list[str]:
    errs = _fields(v, MOTOR_VEHICLE_FIELDS, MOTOR_REQUIRED, where)
    if len(str(v.get("MotorVehicleID", ""))) != 48:
        errs.append(f"{where}: MotorVehicleID must be 48 characters")
    if len(str(v.get("SourceID", ""))) != 41:
        errs.append(f"{where}: SourceID must be 41 characters")
    if not D20.match(str(v.get("DeviceID", ""))):
        errs.append(f"{where}: DeviceID must be 20 digits")
    if v.get("PlateColor") not in PLATE_COLORS:
        errs.append(f"{where}: PlateColor {v.get('PlateColor')!r} not a colour code")
    if v.get("PlateClass") not in PLATE_CLASSES:
        errs.append(f"{where}: PlateClass {v.get('PlateClass')!r} not a GA 24.7 class")
    _time(v.get("PassTime"), f"{where}.PassTime", errs)
    return errs + check_images(v, where)


def check_face(f: dict[str, Any], where: str = "FaceObject") -> list[str]:
    errs = _fields(f, FACE_FIELDS, FACE_REQUIRED, where)
    if len(str(f.get("FaceID", ""))) != 48:
        errs.append(f"{where}: FaceID must be 48 characters")
    if not D20.match(str(f.get("DeviceID", ""))):
        errs.append(f"{where}: DeviceID must be 20 digits")
    for k in ("LocationMarkTime", "FaceAppearTime", "FaceDisAppearTime"):
        if k in f:
            _time(f[k], f"{where}.{k}", errs)
    return errs + check_images(f, where)


def check_notification(n: dict[str, Any]) -> list[str]:
    errs = _fields(n, NOTIFICATION_FIELDS, {"NotificationID", "DispositionID", "TriggerTime"},
                   "DispositionNotificationObject")  # fmt: skip
    _time(n.get("TriggerTime"), "TriggerTime", errs)
    if "MotorVehicleObject" in n:
        errs += check_vehicle(n["MotorVehicleObject"], "Notification.MotorVehicleObject")
    return errs


ROUTES: dict[str, tuple[str, str, str, Callable[[dict[str, Any]], list[str]]]] = {
    "/VIID/MotorVehicles": ("MotorVehicleListObject", "MotorVehicleObject", "MotorVehicleID",
                            check_vehicle),
    "/VIID/Faces": ("FaceListObject", "FaceObject", "FaceID", check_face),
    "/VIID/DispositionNotifications": ("DispositionNotificationListObject",
                                       "DispositionNotificationObject", "NotificationID",
                                       check_notification),
}  # fmt: skip


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self, code: int, doc: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(doc, ensure_ascii=False).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _identified(self) -> bool:
        return self.headers.get("User-Identify", "") in self.server.lib.registered

    def do_GET(self) -> None:
        lib = self.server.lib
        lib.calls.append(f"GET {self.path}")
        if self.path == "/VIID/System/Time" and self._identified():
            now = datetime.now(SHANGHAI).strftime("%Y%m%d%H%M%S")
            self._answer(200, {"SystemTimeObject": {
                "VIIDServerID": "0" * 20, "TimeMode": "1", "LocalTime": now,
                "TimeZone": "Asia/Shanghai"}})  # fmt: skip
        else:
            self._answer(401 if self.path == "/VIID/System/Time" else 404,
                         status(self.path, "", "4"))  # fmt: skip

    def do_POST(self) -> None:
        lib = self.server.lib
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        lib.calls.append(f"POST {self.path}")
        try:
            doc = json.loads(raw)
        except ValueError:
            self._answer(400, status(self.path, "", "7"))
            return
        who = self.headers.get("User-Identify", "")
        if self.path == "/VIID/System/Register":
            self._register(doc, who)
        elif not self._identified():
            self._answer(401, status(self.path, who, "4"))
        elif self.path == "/VIID/System/Keepalive":
            lib.keepalives += 1
            self._answer(200, status(self.path, who, "0"))
        elif self.path == "/VIID/System/UnRegister":
            lib.registered.discard(who)
            self._answer(200, status(self.path, who, "0"))
        elif self.path in ROUTES:
            self._records(doc)
        else:
            self._answer(404, status(self.path, "", "4"))

    def _register(self, doc: Any, who: str) -> None:
        lib = self.server.lib
        if not lib.verifier.check(
            self.headers.get("Authorization"), "POST", lib.user, lib.password
        ):
            lib.challenges += 1
            self._answer(401, status(self.path, "", "4"),
                         {"WWW-Authenticate": lib.verifier.challenge()})  # fmt: skip
            return
        dev = str(doc.get("RegisterObject", {}).get("DeviceID", ""))
        if not D20.match(dev) or dev != who:
            lib.errors.append(f"Register: DeviceID {dev!r} / User-Identify {who!r}")
            self._answer(200, status(self.path, dev, "8"))
            return
        lib.registered.add(dev)
        lib.registrations += 1
        self._answer(200, status(self.path, dev, "0"))

    def _records(self, doc: Any) -> None:
        lib = self.server.lib
        list_name, obj_name, id_field, check = ROUTES[self.path]
        if set(doc) != {list_name} or set(doc[list_name]) != {obj_name}:
            lib.errors.append(f"{self.path}: body keys {sorted(doc)}")
            self._answer(200, status(self.path, "", "8"))
            return
        answers = []
        for obj in doc[list_name][obj_name]:
            errs = check(obj)
            lib.errors += errs
            if not errs:
                lib.received[self.path].append(obj)
            answers.append(one(self.path, str(obj.get(id_field, "")), "8" if errs else "0"))
        self._answer(200, {"ResponseStatusListObject": {"ResponseStatusObject": answers}})


class _Server(ThreadingHTTPServer):
    lib: ViewLibrary


class ViewLibrary:
    """The upper platform: start, stop, start again on the same port without state."""

    def __init__(self, user: str, password: str, port: int = 0) -> None:
        self.user, self.password = user, password
        self.verifier = DigestVerifier("viid")
        self.registered: set[str] = set()
        self.registrations = 0
        self.challenges = 0
        self.keepalives = 0
        self.received: dict[str, list[dict[str, Any]]] = {k: [] for k in ROUTES}
        self.errors: list[str] = []
        self.calls: list[str] = []
        self.server = _Server(("127.0.0.1", port), _Handler)
        self.server.lib = self
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> ViewLibrary:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def ids(self, path: str, field: str) -> list[str]:
        return [str(o[field]) for o in self.received[path]]


def one(url: str, rid: str, code: str) -> dict[str, str]:
    return {"Id": rid, "RequestURL": url, "StatusCode": code,
            "StatusString": "OK" if code == "0" else "refused",
            "LocalTime": datetime.now(SHANGHAI).strftime("%Y%m%d%H%M%S")}  # fmt: skip


def status(url: str, rid: str, code: str) -> dict[str, Any]:
    return {"ResponseStatusObject": one(url, rid, code)}
