"""The local metric plane and homography fit that calibration and alert locations use."""

from __future__ import annotations

import numpy as np
import pytest

from shouwang.config import parse_site
from shouwang.config.loader import ConfigError
from shouwang.geo import LocalPlane, apply_homography, fit_homography, haversine_m


@pytest.mark.parametrize(
    ("d_lat", "d_lon"), [(0.001, 0.0), (0.0, 0.001), (-0.004, 0.003), (0.009, -0.009)]
)
def test_local_plane_distances_match_haversine(d_lat: float, d_lon: float) -> None:
    plane = LocalPlane(38.4872, 106.2309)
    east, north = plane.to_metres(38.4872 + d_lat, 106.2309 + d_lon)
    flat = float(np.hypot(east, north))
    great_circle = haversine_m(38.4872, 106.2309, 38.4872 + d_lat, 106.2309 + d_lon)
    assert flat == pytest.approx(great_circle, rel=5e-3)
    lat, lon = plane.to_latlon(east, north)
    assert float(lat) == pytest.approx(38.4872 + d_lat, abs=1e-10)
    assert float(lon) == pytest.approx(106.2309 + d_lon, abs=1e-10)


def test_homography_recovers_a_known_mapping() -> None:
    truth = np.array([[0.02, 0.001, -5.0], [0.0005, -0.03, 20.0], [1e-5, 4e-4, 1.0]])
    rng = np.random.default_rng(7)
    px = rng.uniform(0, 1280, size=(8, 2))
    ground = apply_homography(truth, px)
    fitted = fit_homography(px, ground)
    probe = rng.uniform(0, 1280, size=(50, 2))
    assert np.allclose(apply_homography(fitted, probe), apply_homography(truth, probe), atol=1e-6)


@pytest.mark.parametrize(
    ("src", "error"),
    [
        (np.zeros((3, 2)), "at least 4"),
        (np.array([[0, 0], [1, 1], [2, 2], [3, 3]], dtype=float), "degenerate"),
    ],
)
def test_homography_rejects_bad_points(src: np.ndarray, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        fit_homography(src, src)


def test_inconsistent_calibration_point_is_named() -> None:
    points = [
        {"pixel": [100, 700], "lat": 38.488030, "lon": 106.230800},
        {"pixel": [1180, 700], "lat": 38.488030, "lon": 106.230910},
        {"pixel": [1000, 420], "lat": 38.488120, "lon": 106.230900},
        {"pixel": [280, 420], "lat": 38.488120, "lon": 106.230810},
        {"pixel": [640, 560], "lat": 38.489000, "lon": 106.232000},  # ~140 m off
    ]
    site = {
        "name": "s",
        "compounds": [{"id": "a", "name": "A", "lat": 38.48, "lon": 106.23}],
        "cameras": [
            {"id": "c", "compound": "a", "url": "x.mp4", "lat": 38.48, "lon": 106.23,
             "calibration": {"points": points}},
        ],
    }  # fmt: skip
    with pytest.raises(ConfigError) as info:
        parse_site(site)
    ((loc, msg),) = info.value.problems
    assert loc == "cameras[0].calibration"
    assert "inconsistent calibration" in msg and "check its pixel" in msg
