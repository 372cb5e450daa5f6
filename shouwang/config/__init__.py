"""Site configuration: one YAML file describes compounds, cameras, zones and lists."""

from shouwang.config.loader import ConfigError, format_errors, load_site, parse_site
from shouwang.config.rules import COCO_CLASSES, Rule, RuleType
from shouwang.config.site import (
    Calibration,
    CalibrationPoint,
    Camera,
    Compound,
    PlateListRef,
    Schedule,
    Site,
    WatchlistRef,
    Zone,
)

__all__ = [
    "COCO_CLASSES",
    "Calibration",
    "CalibrationPoint",
    "Camera",
    "Compound",
    "ConfigError",
    "PlateListRef",
    "Rule",
    "RuleType",
    "Schedule",
    "Site",
    "WatchlistRef",
    "Zone",
    "format_errors",
    "load_site",
    "parse_site",
]
