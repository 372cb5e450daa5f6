"""Plate type and colour from the grammar pattern, the rows and the background colour.

The pattern decides wherever the regulations fix the colour (police plates are white,
embassy and cross-border plates black, small new-energy plates green); the measured
background colour decides the rest (a 7-character plate is blue, yellow or, rarely,
white or black).
"""

from __future__ import annotations

from typing import Literal

from detectors.plates.grammar import PlatePattern
from detectors.plates.rectify import Colour

PlateType = Literal[
    "blue",
    "yellow_single",
    "yellow_double",
    "yellow_learner",
    "yellow_trailer",
    "green_new_energy_small",
    "green_new_energy_large",
    "white_police",
    "white_armed_police",
    "black_embassy",
    "black_consulate",
    "black_hong_kong",
    "black_macau",
    "civil_aviation",
    "agricultural",
    "white_other",
    "black_other",
    "unknown",
]

_FIXED: dict[str, tuple[PlateType, Colour]] = {
    "new_energy_small": ("green_new_energy_small", "green"),
    "new_energy_large": ("green_new_energy_large", "green"),
    "police": ("white_police", "white"),
    "armed_police": ("white_armed_police", "white"),
    "embassy": ("black_embassy", "black"),
    "consulate": ("black_consulate", "black"),
    "hong_kong": ("black_hong_kong", "black"),
    "macau": ("black_macau", "black"),
    "learner": ("yellow_learner", "yellow"),
    "trailer": ("yellow_trailer", "yellow"),
}


def classify(
    pattern: PlatePattern, measured: Colour, *, double_row: bool
) -> tuple[PlateType, Colour]:
    """The plate type and the colour to report.

    Args:
        pattern: the grammar pattern the reading fits.
        measured: the background colour from :func:`~detectors.plates.rectify.background_colour`.
        double_row: whether the plate was read as two rows.
    """
    if pattern.name in _FIXED:
        return _FIXED[pattern.name]
    if pattern.name in ("civil_aviation", "agricultural"):
        return pattern.name, measured
    if measured == "yellow":
        return ("yellow_double" if double_row else "yellow_single"), "yellow"
    if measured == "white":
        return "white_other", "white"
    if measured == "black":
        return "black_other", "black"
    if measured == "green":  # 7 characters on green: an old or misread plate; keep the colour
        return "unknown", "green"
    return "blue", "blue"
