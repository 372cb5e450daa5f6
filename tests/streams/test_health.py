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


@pytest.mark.parametrize(
    ("sent", "decoded", "state", "want", "noted"),
    [
        (25.0, 500, State.STREAMING, 5.0, True),  # 20 frames/s decoded for nothing
        (10.0, 500, State.STREAMING, 10.0, False),  # sends what is analysed
        (7.0, 500, State.STREAMING, 5.0, False),  # within the 1.5x margin
        (25.0, 40, State.STREAMING, 5.0, False),  # not streaming long enough to tell
        (25.0, 500, State.RECONNECTING, 5.0, False),
    ],
)
def test_surplus_frames_note_names_camera_rates_and_fix(
    sent: float, decoded: int, state: State, want: float, noted: bool
) -> None:
    from streams.health import SurplusFrames

    advice = SurplusFrames({"cam": want})
    h = _health(camera_id="cam", fps_decoded=sent, frames_decoded=decoded, state=state)
    notes = advice.check({"cam": h})
    assert bool(notes) == noted
    if noted:
        assert "camera cam sends 25 fps but is analysed at 5 fps" in notes[0]
        assert "sub-stream" in notes[0]
        assert advice.check({"cam": h}) == []  # once per camera
