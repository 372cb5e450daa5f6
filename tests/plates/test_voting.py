"""Per-track voting over frames."""

from __future__ import annotations

import pytest

from detectors.plates.reader import PlateReading
from detectors.plates.voting import PlateVoter, vote


def _r(text: str, conf: float = 0.9, chars: tuple[float, ...] | None = None) -> PlateReading:
    return PlateReading(
        text=text,
        confidence=conf,
        char_confidences=chars or tuple([conf] * len(text)),
        plate_type="blue",
        colour="blue",
        xyxy=(0.0, 0.0, 10.0, 3.0),
        corners=((0.0, 0.0), (10.0, 0.0), (10.0, 3.0), (0.0, 3.0)),
        is_valid=True,
    )


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (["京A12345"], "京A12345"),
        (["京A12345", "京A12345", "京A1Z345"], "京A12345"),
        # each frame gets a different character wrong; the vote still recovers the plate
        (["京A1Z345", "京A12B45", "京A123S5", "京A12345"], "京A12345"),
        # a short misread (different length) does not disturb the 7-character vote
        (["京A12345", "京A1234", "京A12345"], "京A12345"),
    ],
)
def test_vote_recovers_the_plate(texts: list[str], expected: str) -> None:
    text, confs = vote([_r(t) for t in texts])
    assert text == expected and len(confs) == len(expected)


def test_confidence_weights_the_vote() -> None:
    readings = [
        _r("京A12345", 0.95),
        _r("京A12346", 0.3, (0.3,) * 7),
        _r("京A12346", 0.3, (0.3,) * 7),
    ]
    text, _ = vote(readings)
    assert text == "京A12345"


def test_empty_vote_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="at least one"):
        vote([])


def test_one_reading_per_pass_with_agreement_counts() -> None:
    voter = PlateVoter()
    for t in ["粤B6R678", "粤B6R678", "粤B6R67B"]:
        voter.add(7, _r(t))
    result = voter.finish(7)
    assert result is not None
    assert (result.text, result.n_frames, result.n_agreeing) == ("粤B6R678", 3, 2)
    assert not result.low_confidence
    assert voter.finish(7) is None  # a pass is emitted once


def test_low_confidence_pass_is_flagged_not_dropped() -> None:
    voter = PlateVoter(low_confidence=0.6)
    voter.add(1, _r("京A12345", 0.4))
    result = voter.finish(1)
    assert result is not None and result.text == "京A12345" and result.low_confidence


def test_full_voter_finishes_the_oldest_track() -> None:
    voter = PlateVoter(max_tracks=2)
    assert voter.add(1, _r("京A11111")) is None
    assert voter.add(2, _r("京A22222")) is None
    evicted = voter.add(3, _r("京A33333"))
    assert evicted is not None and evicted.track_id == 1 and evicted.text == "京A11111"
    assert voter.active() == [2, 3]


def test_readings_per_track_are_bounded() -> None:
    voter = PlateVoter(max_readings=3)
    for i in range(10):
        voter.add(5, _r("京A12345", 0.5 + i / 100))
    result = voter.finish(5)
    assert result is not None and result.n_frames == 3
