"""GA/T 1400 codes, ids and times as they travel on the wire.

Plate colour (GA/T 1400.3 ColorType, as used by the open implementations): 1 black,
2 white, 5 blue, 6 yellow, 9 green, 99 other. New-energy plates are green-based; their
colour is sent as 9. Plate class (GA 24.7 号牌种类): inferred from the plate text, as
the reader gives no colour; a yellow large-vehicle plate cannot be told from a blue
small one by text alone and is sent as 02 (small car): see docs/gat1400.md.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from zoneinfo import ZoneInfo

#: ColorType codes used for PlateColor.
PLATE_COLORS = {"1": "black", "2": "white", "5": "blue", "6": "yellow", "9": "green", "99": "other"}

#: GA 24.7 plate classes Shouwang can infer from the text.
PLATE_CLASSES = {
    "01": "大型汽车",
    "02": "小型汽车",
    "03": "使馆汽车",
    "04": "领馆汽车",
    "15": "挂车",
    "16": "教练汽车",
    "23": "警用汽车",
    "26": "香港入出境车",
    "27": "澳门入出境车",
    "31": "武警号牌",
    "51": "大型新能源汽车",
    "52": "小型新能源汽车",
    "99": "其他号牌",
}

#: GA/T 1400.4 ResponseStatusObject StatusCode values.
STATUS = {
    "0": "OK",
    "1": "OtherError",
    "2": "Device Busy",
    "3": "Device Error",
    "4": "Invalid Operation",
    "5": "XML Format Invalid",
    "6": "XML Content Invalid",
    "7": "JSON Format Invalid",
    "8": "JSON Content Invalid",
    "9": "Reboot",
}

#: Image types (SubImageInfoObject.Type) Shouwang sends.
IMAGE_SCENE = "14"  # 场景图
IMAGE_VEHICLE = "01"  # 车辆大图
IMAGE_PLATE = "02"  # 车牌彩色小图
IMAGE_FACE = "11"  # 人脸图

#: Object type digits inside a 48-character object id.
OBJ_VEHICLE = "02"
OBJ_FACE = "06"


#: (suffix or prefix, PlateClass, PlateColor) of special plates, first match wins.
_SPECIAL = (
    ("警", "23", "2"),
    ("学", "16", "6"),
    ("挂", "15", "6"),
    ("使", "03", "1"),
    ("领", "04", "1"),
    ("港", "26", "1"),
    ("澳", "27", "1"),
)


def plate_codes(plate: str) -> tuple[str, str]:
    """(PlateClass, PlateColor) of a normalised Chinese plate, from its text."""
    if plate.startswith("WJ"):
        return "31", "2"
    for mark, klass, colour in _SPECIAL:
        if plate.endswith(mark) or (mark == "使" and plate.startswith(mark)):
            return klass, colour
    if len(plate) == 8:
        # New energy: D/F right after the letter is a small car, at the end a large one.
        return ("51", "9") if plate[-1] in "DF" else ("52", "9")
    if len(plate) == 7:
        return "02", "5"
    return "99", "99"


def wire_time(t: datetime, tz: str) -> str:
    """``yyyyMMddHHmmss`` in the site's local time zone."""
    return t.astimezone(ZoneInfo(tz)).strftime("%Y%m%d%H%M%S")


def _seq(key: str, n: int) -> str:
    return str(int(hashlib.sha256(key.encode()).hexdigest(), 16) % 10**n).zfill(n)


def source_id(device_id: str, t: datetime, tz: str, key: str) -> str:
    """41-character image id: device (20) + ``02`` (image) + time (14) + sequence (5).

    The sequence comes from ``key`` (the read or alert id), so every retry carries the
    same id and the upper platform drops what it has.
    """
    return f"{device_id}02{wire_time(t, tz)}{_seq(key, 5)}"


def object_id(src: str, obj_type: str, key: str) -> str:
    """48-character object id: source id (41) + object type (2) + sequence (5)."""
    return f"{src}{obj_type}{_seq(key + obj_type, 5)}"
