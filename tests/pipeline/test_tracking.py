"""Tracker: id stability on constructed sequences, history, best crop, track ends."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from detectors.detections import Detections
from pipeline.tracking import Tracker, TrackerConfig

FPS = 10.0
Box = tuple[float, float, float, float]


def _dets(boxes: list[Box], classes: list[int] | None = None, **data: list[str]) -> Detections:
    n = len(boxes)
    return Detections(
        xyxy=np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
        confidence=np.full(n, 0.9, np.float32),
        class_id=np.asarray(classes if classes is not None else [0] * n, dtype=np.int64),
        data={k: np.asarray(v) for k, v in data.items()},
    )


def _run(tracker: Tracker, frames: list[Detections]) -> list[Detections]:
    return [tracker.update(d, timestamp=(i + 1) / FPS) for i, d in enumerate(frames)]


def _crossing(dy: float) -> list[Detections]:
    """a walks right, b walks left; they pass each other (dy apart vertically) at t=2 s."""
    out = []
    for f in range(40):
        xa, xb = 100 + 5 * f, 300 - 5 * f
        out.append(
            _dets([(xa, 100, xa + 30, 180), (xb, 100 + dy, xb + 30, 180 + dy)], tag=["a", "b"])
        )
    return out


def _ids_by_tag(results: list[Detections]) -> dict[str, set[int]]:
    seen: dict[str, set[int]] = {}
    for r in results:
        for i in r:
            seen.setdefault(str(r.data["tag"][i]), set()).add(int(r.tracker_id[i]))
    return seen


@pytest.mark.parametrize("dy", [0.0, 10.0, 40.0], ids=["head-on", "overlapping", "apart"])
def test_two_objects_crossing_keep_their_ids(dy: float) -> None:
    ids = _ids_by_tag(_run(Tracker(), _crossing(dy)))
    assert len(ids["a"]) == 1 and len(ids["b"]) == 1
    assert ids["a"] != ids["b"]


def _gap(start: int, length: int, frames: int = 40) -> list[Detections]:
    out = []
    for f in range(frames):
        x = 50 + 4 * f
        box = (x, 50.0, x + 30.0, 130.0)
        out.append(
            _dets(
                [] if start <= f < start + length else [box],
                tag=[] if start <= f < start + length else ["a"],
            )
        )
    return out


@pytest.mark.parametrize(
    ("gap_frames", "lost_seconds", "same_id"),
    [
        (3, 1.5, True),  # 0.3 s hidden: re-found under the same id
        (10, 1.5, True),  # 1 s hidden, inside the buffer
        (25, 1.5, False),  # 2.5 s hidden: the track ended, a new id starts
        (5, 0.2, False),  # 0.5 s hidden with a 0.2 s buffer
    ],
)
def test_disappearing_object(gap_frames: int, lost_seconds: float, same_id: bool) -> None:
    tracker = Tracker(TrackerConfig(frame_rate=FPS, lost_track_seconds=lost_seconds))
    ids = _ids_by_tag(_run(tracker, _gap(10, gap_frames)))["a"]
    assert (len(ids) == 1) is same_id


def test_data_columns_stay_aligned_through_reordering() -> None:
    rng = np.random.default_rng(0)
    tracker = Tracker()
    names = ["a", "b", "c", "d"]
    id_of: dict[str, int] = {}
    for f in range(30):
        boxes = [(50 + 100 * k + 2 * f, 80.0, 80 + 100 * k + 2 * f, 160.0) for k in range(4)]
        order = rng.permutation(4)
        conf = np.array([0.9, 0.3, 0.8, 0.95], np.float32)[order]  # one box only low-score
        d = Detections(
            xyxy=np.asarray([boxes[k] for k in order], np.float32),
            confidence=conf,
            class_id=np.zeros(4, np.int64),
            data={"tag": np.array([names[k] for k in order]), "k": order.astype(np.int64)},
        )
        out = tracker.update(d, (f + 1) / FPS)
        for i in out:
            tag, k = str(out.data["tag"][i]), int(out.data["k"][i])
            assert names[k] == tag
            np.testing.assert_allclose(out.xyxy[i], boxes[k])
            assert id_of.setdefault(tag, int(out.tracker_id[i])) == int(out.tracker_id[i])
    assert set(id_of) == {"a", "c", "d"}  # 0.3 never reaches the activation threshold


def test_class_groups_never_share_ids() -> None:
    # A person standing where a car is: same box, two classes, two tracks.
    frames = [_dets([(100 + f, 100, 160 + f, 200)] * 2, classes=[0, 2]) for f in range(10)]
    results = _run(Tracker(), frames)
    last = results[-1]
    assert sorted(last.class_id.tolist()) == [0, 2]
    assert len(set(last.tracker_id.tolist())) == 2
    by_class = {
        int(c): {int(r.tracker_id[i]) for r in results for i in r if r.class_id[i] == c}
        for c in (0, 2)
    }
    assert len(by_class[0]) == 1 and len(by_class[2]) == 1


def test_history_is_bounded_and_ordered() -> None:
    tracker = Tracker(TrackerConfig(history_length=5))
    _run(tracker, _gap(100, 0, frames=20))
    (track,) = tracker.tracks.values()
    assert len(track.history) == 5
    times = [t for t, _, _ in track.history]
    assert times == sorted(times) and times[-1] == pytest.approx(2.0)
    np.testing.assert_allclose(track.points[-1], [(track.last_box[0] + track.last_box[2]) / 2, 130])


def test_best_crop_is_the_largest_confident_view() -> None:
    tracker = Tracker(TrackerConfig(crop_max_side=64))
    image = np.zeros((480, 640, 3), np.uint8)
    for f in range(10):
        big = f == 6
        h = 200 if big else 80
        box = (100.0 + f, 100.0, 100.0 + f + h / 2, 100.0 + h)
        frame = image.copy()
        frame[100 : 100 + h, 100 + f : 100 + f + h // 2] = 255 if big else 80
        tracker.update(_dets([box]), (f + 1) / FPS, image=frame)
    (track,) = tracker.tracks.values()
    assert track.best_crop is not None
    assert max(track.best_crop.shape[:2]) == 64  # shrunk to crop_max_side
    assert track.best_crop.mean() > 200  # the bright, big view of frame 6
    assert track.best_score == pytest.approx(0.9 * 100 * 200)


def test_finished_tracks_are_handed_over_once() -> None:
    tracker = Tracker(TrackerConfig(lost_track_seconds=0.5))
    frames = _gap(10, 100, frames=30)  # seen for 1 s, then gone
    _run(tracker, frames)
    done = tracker.finished()
    assert [t.state for t in done] == ["finished"]
    assert done[0].last_seen == pytest.approx(1.0)
    assert tracker.finished() == [] and tracker.tracks == {}


def test_lost_then_close() -> None:
    tracker = Tracker()
    _run(tracker, _gap(5, 100, frames=8))
    assert [t.state for t in tracker.tracks.values()] == ["lost"]
    assert [t.state for t in tracker.close()] == ["finished"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda t: [t.update(Detections.empty(), 1.0), t.update(Detections.empty(), 1.0)],
            "timestamp",
        ),
        (lambda t: TrackerConfig(class_groups=[[0], [0, 2]]), "two groups"),
        (lambda t: TrackerConfig(class_groups=[[]]), "at least one"),
        (lambda t: TrackerConfig(frame_rate=0), "frame_rate"),
        (lambda t: TrackerConfig(unknown=1), "unknown"),  # type: ignore[call-arg]
    ],
)
def test_bad_input_is_a_clear_error(call: Callable[[Tracker], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call(Tracker())


def test_empty_frames_and_no_detections() -> None:
    tracker = Tracker()
    out = tracker.update(Detections.empty(), 0.1)
    assert len(out) == 0 and tracker.tracks == {}
    first = tracker.update(_dets([(0, 0, 10, 20)], tag=["a"]), 0.2)  # not confirmed yet
    assert len(first) == 0 and list(first.data) == ["tag"]
