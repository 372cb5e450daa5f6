"""RateMeter and Health: the numbers the health line and the run table show."""

from __future__ import annotations

import pytest

from streams.health import Health, RateMeter, State


@pytest.mark.parametrize(
    ("ticks", "now", "expected"),
    [
        ([], 10.0, 0.0),
        ([9.0 + i / 25 for i in range(25)], 10.0, 12.5),  # 25 events in the last 2 s window
        ([8.5 + i / 25 for i in range(25)], 10.0, 12.5),
        ([5.0 + i / 25 for i in range(25)], 10.0, 0.0),  # all older than the window
    ],
)
def test_rate_meter_counts_events_in_the_window(
    ticks: list[float], now: float, expected: float
) -> None:
    meter = RateMeter(window_s=2.0)
    meter._since = 0.0  # started long ago
    for t in ticks:
        meter.tick(t)
    assert meter.rate(now) == pytest.approx(expected)


def _health(**kw: object) -> Health:
    base: dict[str, object] = {
        "camera_id": "gate",
        "url": "rtsp://***@10.0.0.5/101",
        "state": State.STREAMING,
        "fps_received": 25.0,
        "fps_decoded": 24.96,
        "frames_decoded": 100,
        "frames_delivered": 20,
        "frames_dropped": 3,
        "reconnects": 1,
        "last_error": None,
        "last_frame_at": None,
        "width": 1280,
        "height": 720,
    }
    base.update(kw)
    return Health(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kw", "parts"),
    [
        ({}, ["gate: streaming", "1280x720", "rx  25.0 dec  25.0", "drops 3", "reconnects 1"]),
        ({"width": 0, "height": 0, "state": State.CONNECTING}, ["connecting", "?x?"]),
        ({"last_error": "camera gate: stalled"}, ["last error: camera gate: stalled"]),
    ],
)
def test_health_line(kw: dict[str, object], parts: list[str]) -> None:
    line = _health(**kw).line()
    for part in parts:
        assert part in line
    assert _health(**kw).age_s is None
