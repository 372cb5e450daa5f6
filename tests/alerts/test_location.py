"""Precise location: homography projection, error estimate, GCJ-02, named place."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alerts.errors import LocationError
from alerts.location import (
    Locator,
    SiteLocator,
    gcj02_to_wgs84,
    ground_point,
    locate,
    out_of_china,
    wgs84_to_gcj02,
)
from shouwang.config.site import Site
from shouwang.geo import apply_homography, haversine_m
from tests.alerts.factory import (
    COMPOUND,
    H_GROUND_TO_IMAGE,
    LAT0,
    LON0,
    PLANE,
    camera,
    truth_latlon,
)

# Published WGS-84 → GCJ-02 pairs: the test vectors of googollee/eviltransform
# (go/transform_test.go: "shanghai", "shenzhen", "beijing"), the reference
# implementation most open-source converters are checked against.
EVILTRANSFORM_VECTORS = [
    pytest.param(31.1774276, 121.5272106, 31.17530398364597, 121.531541859215, id="shanghai"),
    pytest.param(22.543847, 113.912316, 22.540796131694766, 113.9171764808363, id="shenzhen"),
    pytest.param(39.911954, 116.377817, 39.91334545536069, 116.38404722455657, id="beijing"),
]


@pytest.mark.parametrize(("wlat", "wlon", "glat", "glon"), EVILTRANSFORM_VECTORS)
def test_gcj02_matches_published_points(wlat: float, wlon: float, glat: float, glon: float) -> None:
    lat, lon = wgs84_to_gcj02(wlat, wlon)
    assert haversine_m(lat, lon, glat, glon) < 1.0
    back = gcj02_to_wgs84(glat, glon)
    assert haversine_m(*back, wlat, wlon) < 0.01


@pytest.mark.parametrize(
    ("lat", "lon", "outside"),
    [(LAT0, LON0, False), (51.5074, -0.1278, True), (35.68, 139.69, True), (22.3, 114.17, False)],
)
def test_gcj02_is_identity_outside_china(lat: float, lon: float, outside: bool) -> None:
    assert out_of_china(lat, lon) is outside
    moved = haversine_m(*wgs84_to_gcj02(lat, lon), lat, lon)
    assert (moved == 0.0) is outside
    if not outside:
        assert 50 < moved < 1000  # GCJ-02 offsets are a few hundred metres


@pytest.mark.parametrize(
    "pixel", [(960.0, 700.0), (500.0, 900.0), (1400.0, 600.0), (960.0, 300.0), (200.0, 1000.0)]
)
def test_known_calibration_maps_pixel_within_half_metre(pixel: tuple[float, float]) -> None:
    x, y = pixel
    box = (x - 40, y - 180, x + 40, y)  # ground point = bottom-centre = (x, y)
    loc = locate(camera(), box, COMPOUND)
    truth = truth_latlon(x, y)
    assert loc.source == "calibration"
    assert haversine_m(loc.lat, loc.lon, *truth) < 0.5
    assert loc.pixel == (x, y)
    assert (loc.gcj_lat, loc.gcj_lon) == pytest.approx(wgs84_to_gcj02(loc.lat, loc.lon))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_noisy_calibration_error_estimate_is_credible(seed: int) -> None:
    """0.3 m survey noise: positions stay within half a metre, and the error bar covers them."""
    loc8 = Locator(camera(noise_m=0.3), COMPOUND)
    assert loc8.calibration_error_m is not None
    assert 0.1 < loc8.calibration_error_m < 1.5
    rng = np.random.default_rng(seed)
    misses, bars = [], []
    for x, y in rng.uniform([300, 500], [1600, 1000], size=(20, 2)):
        loc = loc8.locate_point(float(x), float(y))
        misses.append(haversine_m(loc.lat, loc.lon, *truth_latlon(float(x), float(y))))
        bars.append(loc.error_m)
    assert float(np.median(misses)) < 0.5
    assert float(np.mean(np.asarray(misses) <= 2 * np.asarray(bars))) >= 0.9


@pytest.mark.parametrize(
    ("points", "expected"),
    [(4, "tolerance"), (5, "residual"), (7, "loo")],
)
def test_error_source_by_number_of_points(points: int, expected: str) -> None:
    loc = Locator(camera(noise_m=0.2, n=points), COMPOUND)
    err = loc.calibration_error_m
    assert err is not None
    if expected == "tolerance":
        assert err == 5.0  # the calibration's max_residual_m: a 4-point fit is exact
    else:
        assert 0 < err < 5.0


@pytest.mark.parametrize(
    ("cam_kwargs", "pixel", "note"),
    [
        ({"calibrated": False}, (960.0, 700.0), "no calibration"),
        ({}, (960.0, 100.0), "horizon"),  # the sky: above the horizon (y = 140)
    ],
)
def test_fallback_to_camera_position(
    cam_kwargs: dict[str, bool], pixel: tuple[float, float], note: str
) -> None:
    loc = Locator(camera(**cam_kwargs), COMPOUND, uncalibrated_error_m=50.0).locate_point(*pixel)
    assert loc.source == "camera"
    assert (loc.lat, loc.lon) == (LAT0, LON0)
    assert loc.error_m == 50.0
    assert note in loc.note


def test_far_projection_falls_back() -> None:
    horizon_y = 540 - 1100 * math.tan(math.radians(20))  # where the ground meets the sky
    loc = Locator(camera(), COMPOUND, max_range_m=100).locate_point(960, horizon_y + 3)
    assert loc.source == "camera"
    assert "from the camera" in loc.note


def test_named_place_and_zones() -> None:
    ground_zone = [(e, n) for e, n in [(-2.0, 9.0), (2.0, 9.0), (2.0, 13.0), (-2.0, 13.0)]]
    lat, lon = PLANE.to_latlon(
        np.array([p[0] for p in ground_zone]), np.array([p[1] for p in ground_zone])
    )
    cam = camera(
        zones=[
            {
                "id": "lawn",
                "kind": "intrusion",
                "polygon": [[0, 0], [1920, 0], [1920, 1080], [0, 1080]],
            },
            {
                "id": "pool",
                "kind": "intrusion",
                "polygon_latlon": [[a, o] for a, o in zip(lat, lon, strict=True)],
            },
            {"id": "gate-line", "kind": "line", "polygon": [[0, 800], [1920, 800]]},
        ]
    )
    inside = apply_homography(H_GROUND_TO_IMAGE, np.array([[0.0, 11.0]]))[0]
    outside = apply_homography(H_GROUND_TO_IMAGE, np.array([[5.0, 20.0]]))[0]
    loc_in = Locator(cam, COMPOUND).locate_point(*map(float, inside))
    loc_out = Locator(cam, COMPOUND).locate_point(*map(float, outside))
    assert loc_in.place.zones == ["lawn", "pool"]
    assert loc_out.place.zones == ["lawn"]
    place = loc_in.place
    assert (place.compound, place.building, place.gate, place.floor) == (
        "lijing",
        "3号楼",
        "north gate",
        1,
    )
    assert place.label() == "丽景湾小区 / 3号楼 / north gate / floor 1 / zone lawn,pool"


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        ((10, 20, 30, 60), (20.0, 60.0)),
        ((10, 20, 5, 60), LocationError),
        ((0, 0, float("nan"), 1), LocationError),
        ((1, 2, 3), LocationError),
    ],
)
def test_ground_point(box: tuple[float, ...], expected: object) -> None:
    if expected is LocationError:
        with pytest.raises(LocationError, match="expected one finite box"):
            ground_point(box)
    else:
        assert ground_point(box) == expected


def test_site_locator_names_unknown_camera() -> None:
    site = Site.model_validate(
        {"name": "t", "compounds": [COMPOUND.model_dump()], "cameras": [camera().model_dump()]}
    )
    locator = SiteLocator(site)
    assert locator.locate("gate-north", [900, 500, 980, 700]).place.compound_name == "丽景湾小区"
    with pytest.raises(LocationError, match="no camera 'roof'; known: gate-north"):
        locator.locate("roof", [0, 0, 1, 1])
