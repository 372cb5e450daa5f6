"""A compound's site plan: an image and the control points that pin it to the ground.

The dashboard draws cameras and incidents on the plan (Leaflet with a non-geographic
CRS, so it works offline). Three or more lat/lon ↔ plan-pixel pairs fix an affine map
from the ground to the image; with four or more the fit's residual is checked, so a
mistyped point is reported instead of drawing every pin in the wrong place.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shouwang.geo import LocalPlane

_LAT = Field(ge=-90, le=90, description="WGS-84 latitude, degrees")
_LON = Field(ge=-180, le=180, description="WGS-84 longitude, degrees")


class PlanPoint(BaseModel):
    """One point of the plan image and the ground position it shows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pixel: tuple[float, float] = Field(description="(x, y) in the plan image's pixels")
    lat: float = _LAT
    lon: float = _LON


class SitePlan(BaseModel):
    """The plan image of a compound and at least three ground control points."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    image: str = Field(
        min_length=1, description="plan image (PNG, JPEG or SVG), relative to the site file"
    )
    width: int = Field(ge=16, le=20_000, description="image width in pixels")
    height: int = Field(ge=16, le=20_000, description="image height in pixels")
    points: list[PlanPoint] = Field(description="lat/lon ↔ plan-pixel pairs, at least 3")
    max_residual_px: float = Field(
        default=15.0, gt=0, le=1000, description="refuse fits worse than this (4+ points)"
    )

    @field_validator("points")
    @classmethod
    def _enough(cls, v: list[PlanPoint]) -> list[PlanPoint]:
        if len(v) < 3:
            raise ValueError(f"a site plan needs at least 3 control points, got {len(v)}")
        return v

    @model_validator(mode="after")
    def _fits(self) -> SitePlan:
        for i, p in enumerate(self.points):
            x, y = p.pixel
            if not (0 <= x <= self.width and 0 <= y <= self.height):
                raise ValueError(
                    f"control point {i}: pixel ({x}, {y}) lies outside the "
                    f"{self.width}x{self.height} plan image"
                )
        ground = self._ground()
        centred = ground - ground.mean(axis=0)
        sv = np.linalg.svd(centred, compute_uv=False)
        if sv[0] < 0.5 or sv[1] < 1e-3 * sv[0]:
            raise ValueError(
                "control points lie on one line (or coincide) on the ground; spread them "
                "over the compound"
            )
        px = np.array([p.pixel for p in self.points], dtype=np.float64)
        err = np.linalg.norm(self._design(ground) @ self._coef() - px, axis=1)
        worst = int(np.argmax(err))
        if len(self.points) > 3 and err[worst] > self.max_residual_px:
            raise ValueError(
                f"control point {worst} is {err[worst]:.0f} px off the fitted plan "
                f"(limit {self.max_residual_px:.0f} px); check its pixel and lat/lon"
            )
        return self

    def _plane(self) -> LocalPlane:
        return LocalPlane(self.points[0].lat, self.points[0].lon)

    def _ground(self) -> np.ndarray:
        east, north = self._plane().to_metres(
            np.array([p.lat for p in self.points]), np.array([p.lon for p in self.points])
        )
        return np.column_stack([east, north])

    @staticmethod
    def _design(ground: np.ndarray) -> np.ndarray:
        return np.column_stack([ground, np.ones(len(ground))])

    def _coef(self) -> np.ndarray:
        px = np.array([p.pixel for p in self.points], dtype=np.float64)
        coef, *_ = np.linalg.lstsq(self._design(self._ground()), px, rcond=None)
        return np.asarray(coef)

    def to_pixel(self, lat: float, lon: float) -> tuple[float, float]:
        """Where a WGS-84 position falls on the plan image (x right, y down, pixels).

        Example:
            >>> plan.to_pixel(38.48801, 106.23085)  # doctest: +SKIP
            (425.0, 196.0)
        """
        east, north = self._plane().to_metres(np.array([lat]), np.array([lon]))
        x, y = (self._design(np.column_stack([east, north])) @ self._coef())[0]
        return round(float(x), 1), round(float(y), 1)
