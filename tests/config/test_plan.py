"""The site plan of a compound: control points pin the image to the ground."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from shouwang.config.plan import SitePlan

CORNERS = [
    {"pixel": [0, 0], "lat": 38.4885, "lon": 106.2300},
    {"pixel": [1000, 0], "lat": 38.4885, "lon": 106.2320},
    {"pixel": [1000, 800], "lat": 38.4865, "lon": 106.2320},
    {"pixel": [0, 800], "lat": 38.4865, "lon": 106.2300},
]


def plan(**over: Any) -> SitePlan:
    data: dict[str, Any] = {"image": "plan.svg", "width": 1000, "height": 800, "points": CORNERS}
    data.update(over)
    return SitePlan.model_validate(data)


@pytest.mark.parametrize(
    ("lat", "lon", "pixel"),
    [
        (38.4885, 106.2300, (0.0, 0.0)),
        (38.4875, 106.2310, (500.0, 400.0)),
        (38.48801, 106.23085, (425.0, 196.0)),
    ],
)
def test_positions_fall_where_the_control_points_say(
    lat: float, lon: float, pixel: tuple[float, float]
) -> None:
    x, y = plan().to_pixel(lat, lon)
    assert x == pytest.approx(pixel[0], abs=1.0)
    assert y == pytest.approx(pixel[1], abs=1.0)


def test_three_points_are_enough() -> None:
    assert plan(points=CORNERS[:3]).to_pixel(38.4865, 106.2300) == pytest.approx((0, 800), abs=1)


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"points": CORNERS[:2]}, "at least 3 control points"),
        (
            {
                "points": [
                    {**CORNERS[0], "pixel": [0, 0]},
                    CORNERS[1],
                    {**CORNERS[1], "pixel": [5, 5]},
                ]
            },
            "on one line",
        ),
        ({"points": [*CORNERS[:3], {**CORNERS[3], "lat": 38.4880}]}, "px off the fitted plan"),
        ({"points": [*CORNERS[:3], {**CORNERS[3], "pixel": [0, 900]}]}, "outside the 1000x800"),
        ({"width": 0}, "greater than or equal to 16"),
        ({"colour": "red"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_plans_say_what_is_wrong(over: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        plan(**over)
