"""Pydantic models of the anomaly rules a camera runs on its tracks.

Each rule names one zone of its camera (``zone``), may be limited to a daily window
(``schedule``) and to object classes (``classes``, COCO names such as ``person`` or
``car``), and has its own thresholds. A rule is active when both its own schedule and its
zone's schedule are active, and it counts an object when its class passes both the
rule's and the zone's class lists (an empty list means every class).

The rule types form one tagged union on ``type``, so a YAML entry such as::

    rules:
      - {id: night-lawn, type: intrusion, zone: lawn, schedule: "22:00-06:00"}
      - {id: gate-wrong-way, type: line_crossing, zone: gate-line, direction: to_left}

is validated against exactly one model and a misspelt key is reported, not ignored.
Cross-checks against the camera (the zone exists, line rules use a line zone, running
needs a calibration) live in :class:`shouwang.config.site.Camera`. ``Schedule`` is the
same type zones use (``shouwang.config.site.Schedule``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shouwang.config.common import Identifier, Schedule

# The 80 COCO class names in index order: the object detector's class ids index this.
COCO_CLASSES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat",
    "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack",
    "umbrella", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball",
    "kite", "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket",
    "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair",
    "couch", "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse",
    "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
    "refrigerator", "book", "clock", "vase", "scissors", "teddy bear", "hair drier",
    "toothbrush",
)  # fmt: skip

VEHICLES = ["car", "motorcycle", "bus", "truck"]
# What may not enter a pedestrian zone (walkways, playgrounds, lawns): bicycles included.
WHEELED = ["bicycle", "car", "motorcycle", "bus", "truck"]
LEFT_OBJECTS = ["backpack", "umbrella", "handbag", "suitcase"]

Seconds = Annotated[float, Field(ge=0, le=86400)]


def _no_person(classes: list[str], rule: str, watched: str) -> list[str]:
    """Rules about things reject ``person`` in their class list."""
    if "person" in classes:
        raise ValueError(f"{rule} watches {watched}; 'person' cannot be one")
    return classes


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    id: Identifier = Field(description="rule id, unique on its camera; names the rule in events")
    zone: Identifier = Field(description="id of a zone of the same camera")
    schedule: Schedule | None = Field(
        default=None, description='active window such as "22:00-06:00"; always active if absent'
    )
    classes: list[str] = Field(
        default_factory=list, description="COCO class names that count; empty means all"
    )
    cooldown_s: Seconds = Field(
        default=30.0,
        description="after an event, the same rule and track (or zone) stays quiet this long",
    )

    @field_validator("schedule", mode="before")
    @classmethod
    def _parse_schedule(cls, v: object) -> object:
        return Schedule.parse(v) if isinstance(v, str) else v

    @field_validator("classes")
    @classmethod
    def _known_classes(cls, v: list[str]) -> list[str]:
        unknown = [c for c in v if c not in COCO_CLASSES]
        if unknown:
            raise ValueError(
                f"unknown class {unknown[0]!r}; use COCO names such as person, car, "
                "bicycle, motorcycle, bus, truck, backpack, handbag, suitcase"
            )
        return v

    @property
    def needs_calibration(self) -> bool:
        """Whether the rule measures on the ground plane (metres)."""
        return False

    def units_note(self, calibrated: bool) -> str | None:
        """How the rule measures on a camera with or without calibration (config check)."""
        return None


class IntrusionRule(_Rule):
    """Any counted object whose ground point (box bottom centre) is inside the zone."""

    type: Literal["intrusion"]
    min_seconds: Seconds = Field(
        default=0.0, le=3600, description="time inside before the event (0 = at once)"
    )


class LineCrossingRule(_Rule):
    """A track crossing a line zone, optionally only in one (the wrong) direction.

    Directions are named as seen in the image, relative to the line drawn from its
    first point to its second: ``to_left`` is a crossing from the right-hand side to the
    left-hand side. For a wrong-way alert name the forbidden direction.
    """

    type: Literal["line_crossing"]
    direction: Literal["any", "to_left", "to_right"] = Field(
        default="any", description="which crossings raise an event"
    )


class LoiteringRule(_Rule):
    """A track staying inside the zone longer than ``seconds``."""

    type: Literal["loitering"]
    seconds: float = Field(gt=0, le=86400, description="time in the zone that makes loitering")
    classes: list[str] = Field(default_factory=lambda: ["person"], description="who can loiter")


class CrowdingRule(_Rule):
    """At least ``count`` objects inside the zone together for ``seconds``."""

    type: Literal["crowding"]
    count: int = Field(ge=2, le=10000, description="objects in the zone that make a crowd")
    seconds: Seconds = Field(default=5.0, description="how long the crowd must last")
    classes: list[str] = Field(default_factory=lambda: ["person"], description="what is counted")


class RunningRule(_Rule):
    """A track moving faster than ``speed_mps`` on the ground (needs the calibration)."""

    type: Literal["running"]
    speed_mps: float = Field(gt=0, le=60, description="ground speed above which it is running")
    min_seconds: float = Field(
        default=1.0, ge=0.2, le=60, description="the speed must hold this long"
    )
    classes: list[str] = Field(default_factory=lambda: ["person"], description="who can run")

    @property
    def needs_calibration(self) -> bool:
        return True


class FallRule(_Rule):
    """A person who was standing drops within ``transition_s`` and stays down, still.

    On a calibrated camera the geometry is in metres: a person's height is the box height
    divided by the ground plane's scale (pixels per metre) at their ground point, so a
    person is *standing* at ``upright_min_m`` or taller and *down* at ``lying_max_m`` or
    lower wherever they are in the view, and *still* when their ground point moves less
    than ``max_motion_m``. Without a calibration (the pixel fallback, which
    ``shouwang config check`` names) the box's aspect ratio decides instead.
    """

    type: Literal["fall"]
    upright_min_m: float = Field(
        default=1.2, ge=0.5, le=2.5, description="calibrated: at least this tall is standing"
    )
    lying_max_m: float = Field(
        default=0.8, ge=0.2, le=1.5, description="calibrated: at most this tall is down"
    )
    max_motion_m: float = Field(
        default=0.5, gt=0, le=5, description="calibrated: still = ground point moved less"
    )
    lying_aspect: float = Field(
        default=1.2,
        ge=0.8,
        le=5,
        description="uncalibrated fallback: box width/height at or above which it is lying",
    )
    upright_aspect: float = Field(
        default=0.7,
        gt=0.1,
        le=1.0,
        description="uncalibrated fallback: box width/height at or below which upright",
    )
    transition_s: float = Field(
        default=3.0, gt=0, le=30, description="standing → down must happen within this time"
    )
    still_seconds: float = Field(
        default=3.0, gt=0, le=600, description="down and still this long raises the event"
    )
    max_motion: float = Field(
        default=0.5,
        gt=0,
        le=5,
        description="uncalibrated fallback: still = centre moved less than this × the box's "
        "longer side",
    )
    classes: list[str] = Field(default_factory=lambda: ["person"], description="who can fall")

    @model_validator(mode="after")
    def _ordered(self) -> FallRule:
        if self.lying_max_m >= self.upright_min_m:
            raise ValueError(
                f"lying_max_m ({self.lying_max_m}) must be below upright_min_m "
                f"({self.upright_min_m})"
            )
        return self

    def units_note(self, calibrated: bool) -> str | None:
        if calibrated:
            return (
                f"fall measures in metres: standing >= {self.upright_min_m} m, down <= "
                f"{self.lying_max_m} m, still within {self.max_motion_m} m"
            )
        return (
            f"no calibration: fall falls back to the box aspect (lying >= {self.lying_aspect} "
            f"w/h, upright <= {self.upright_aspect}); add a calibration to measure in metres"
        )


class AbandonedObjectRule(_Rule):
    """A non-person object left stationary with no person near it for ``seconds``.

    On a calibrated camera owner distance and stillness are ground distances in metres
    (``owner_distance_m``, ``max_motion_m``); the pixel keys are the fallback for cameras
    without a calibration only (``shouwang config check`` says which a camera uses).
    """

    type: Literal["abandoned_object"]
    seconds: float = Field(default=30.0, gt=0, le=86400, description="unattended time")
    owner_distance_m: float = Field(
        default=3.0, gt=0, le=100, description="calibrated: a person this close attends it"
    )
    max_motion_m: float = Field(
        default=0.3, gt=0, le=10, description="calibrated: stationary = moved less than this"
    )
    owner_distance_px: float = Field(
        default=150.0,
        gt=0,
        le=10000,
        description="uncalibrated fallback: a person closer than this attends the object",
    )
    max_motion_px: float = Field(
        default=15.0,
        gt=0,
        le=1000,
        description="uncalibrated fallback: stationary = centre moved less than this",
    )
    classes: list[str] = Field(
        default_factory=lambda: list(LEFT_OBJECTS), description="objects that can be left"
    )

    _not_people = field_validator("classes")(lambda v: _no_person(v, "abandoned_object", "objects"))

    def units_note(self, calibrated: bool) -> str | None:
        if calibrated:
            return (
                f"abandoned_object measures in metres: owner within {self.owner_distance_m} m,"
                f" still within {self.max_motion_m} m"
            )
        return (
            f"no calibration: abandoned_object falls back to pixels (owner within "
            f"{self.owner_distance_px:g} px, still within {self.max_motion_px:g} px); add a "
            "calibration to measure in metres"
        )


class VehicleInZoneRule(_Rule):
    """A bicycle, car, motorbike, bus or truck inside a pedestrian zone.

    Needs a zone of ``kind: pedestrian`` (a walkway, playground, lawn). The vehicle must be
    seen inside for ``min_seconds`` so a single mistaken detection does not alert.
    """

    type: Literal["vehicle_in_zone"]
    min_seconds: Seconds = Field(
        default=1.0, le=3600, description="time inside before the event (detector flicker)"
    )
    classes: list[str] = Field(
        default_factory=lambda: list(WHEELED), description="vehicle classes not allowed"
    )

    _not_people = field_validator("classes")(lambda v: _no_person(v, "vehicle_in_zone", "vehicles"))


class NoParkingRule(_Rule):
    """A vehicle stationary inside the zone (a fire lane) for ``seconds``."""

    type: Literal["no_parking"]
    seconds: float = Field(default=60.0, gt=0, le=86400, description="stopped time allowed")
    max_motion_px: float = Field(
        default=15.0, gt=0, le=1000, description="stopped = centre moved less than this"
    )
    classes: list[str] = Field(
        default_factory=lambda: list(VEHICLES), description="vehicle classes watched"
    )


Rule = Annotated[
    IntrusionRule
    | LineCrossingRule
    | LoiteringRule
    | CrowdingRule
    | RunningRule
    | FallRule
    | AbandonedObjectRule
    | NoParkingRule
    | VehicleInZoneRule,
    Field(discriminator="type"),
]
RuleType = Literal[
    "intrusion",
    "line_crossing",
    "loitering",
    "crowding",
    "running",
    "fall",
    "abandoned_object",
    "no_parking",
    "vehicle_in_zone",
]
