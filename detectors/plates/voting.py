"""Combining one vehicle's plate readings over the frames of its pass.

Per track, readings are grouped by plate pattern length; the largest group (by summed
confidence) wins, and within it each character position is voted on with the
per-character confidences as weights. The pass's confidence is the mean, over
positions, of the winning character's share of the vote times its mean confidence, so
a plate read the same way in many frames scores high, and a plate read once, or read
differently each time, scores low. A low-confidence result is emitted with
``low_confidence=True``; it is never dropped.

Example:
    >>> voter = PlateVoter()
    >>> voter.add(7, reading_1); voter.add(7, reading_2)        # doctest: +SKIP
    >>> voter.finish(7).text                                    # doctest: +SKIP
    '京A12345'
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from dataclasses import dataclass

from detectors.plates.grammar import match_pattern
from detectors.plates.reader import PlateReading


@dataclass(frozen=True, slots=True)
class PassReading:
    """One plate per vehicle pass.

    Attributes:
        track_id: the tracker's id for the vehicle.
        text: the voted plate.
        confidence: in [0, 1]; see the module docstring.
        char_confidences: per position, vote share times mean confidence.
        n_frames: readings that took part (all lengths).
        n_agreeing: readings whose full text equals ``text``.
        low_confidence: ``confidence`` below the voter's threshold or text not a plate.
        best: the single reading with the highest confidence (its box, type, colour).
    """

    track_id: int
    text: str
    confidence: float
    char_confidences: tuple[float, ...]
    n_frames: int
    n_agreeing: int
    low_confidence: bool
    best: PlateReading


def vote(readings: list[PlateReading]) -> tuple[str, tuple[float, ...]]:
    """Per-character confidence-weighted vote over readings (see module docstring).

    Raises:
        ValueError: no readings.
    """
    if not readings:
        raise ValueError("readings: need at least one reading to vote")
    by_len: dict[int, list[PlateReading]] = defaultdict(list)
    for r in readings:
        by_len[len(r.text)].append(r)
    group = max(by_len.values(), key=lambda g: sum(r.confidence for r in g))
    total_weight = sum(r.confidence for r in group) or 1.0
    chars: list[str] = []
    confs: list[float] = []
    for pos in range(len(group[0].text)):
        weight: dict[str, float] = defaultdict(float)
        count: dict[str, int] = defaultdict(int)
        for r in group:
            c = r.char_confidences[pos] if pos < len(r.char_confidences) else r.confidence
            weight[r.text[pos]] += c
            count[r.text[pos]] += 1
        ch = max(weight, key=lambda k: weight[k])
        mean_conf = weight[ch] / count[ch]
        share = sum(r.confidence for r in group if r.text[pos] == ch) / total_weight
        chars.append(ch)
        confs.append(share * mean_conf * len(group) / len(readings))
    return "".join(chars), tuple(confs)


class PlateVoter:
    """Collects readings per track and emits one :class:`PassReading` per pass.

    Args:
        low_confidence: a pass below this confidence is flagged ``low_confidence``.
        max_tracks: tracks held at once; when full the oldest track is finished and
            returned by :meth:`add` (never silently dropped).
        max_readings: readings kept per track (the most confident ones).
    """

    def __init__(
        self, *, low_confidence: float = 0.6, max_tracks: int = 512, max_readings: int = 50
    ) -> None:
        if max_tracks < 1 or max_readings < 1:
            raise ValueError("max_tracks and max_readings must be at least 1")
        self.low_confidence = low_confidence
        self.max_tracks = max_tracks
        self.max_readings = max_readings
        self._tracks: OrderedDict[int, list[PlateReading]] = OrderedDict()

    def add(self, track_id: int, reading: PlateReading) -> PassReading | None:
        """Add one frame's reading; returns a pass evicted to stay within ``max_tracks``."""
        evicted = None
        if track_id not in self._tracks and len(self._tracks) >= self.max_tracks:
            oldest = next(iter(self._tracks))
            evicted = self.finish(oldest)
        held = self._tracks.setdefault(track_id, [])
        self._tracks.move_to_end(track_id)
        held.append(reading)
        if len(held) > self.max_readings:
            held.remove(min(held, key=lambda r: r.confidence))
        return evicted

    def finish(self, track_id: int) -> PassReading | None:
        """The vehicle left: its one reading for the pass, or ``None`` if it had none."""
        readings = self._tracks.pop(track_id, None)
        if not readings:
            return None
        text, confs = vote(readings)
        confidence = sum(confs) / len(confs) if confs else 0.0
        return PassReading(
            track_id=track_id,
            text=text,
            confidence=confidence,
            char_confidences=confs,
            n_frames=len(readings),
            n_agreeing=sum(r.text == text for r in readings),
            low_confidence=confidence < self.low_confidence or match_pattern(text) is None,
            best=max(readings, key=lambda r: r.confidence),
        )

    def active(self) -> list[int]:
        """Track ids with readings not yet finished."""
        return list(self._tracks)
