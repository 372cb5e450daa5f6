"""Per-track matching: best faces kept, few searches, one event per track."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from detectors.detections import Detections
from detectors.faces.matcher import WatchlistMatcher
from detectors.faces.search import FaceIndex
from detectors.faces.tracking import TrackFaceMatcher, TrackMatchConfig


def _unit(seed: int) -> NDArray[np.float32]:
    x = np.random.default_rng(seed).standard_normal(128).astype(np.float32)
    return x / np.linalg.norm(x)


PERSON = _unit(1)


def _near(v: NDArray[np.float32], sim: float, seed: int) -> NDArray[np.float32]:
    r = _unit(1000 + seed)
    r -= (r @ v) * v
    r /= np.linalg.norm(r)
    return np.asarray(sim * v + np.sqrt(1 - sim**2) * r, dtype=np.float32)


def _frame(rows: list[tuple[int, float, NDArray[np.float32], str]]) -> Detections:
    n = len(rows)
    return Detections(
        xyxy=np.tile([0, 0, 10, 10], (n, 1)),
        confidence=np.full(n, 0.9),
        class_id=np.zeros(n, dtype=np.int64),
        tracker_id=np.array([r[0] for r in rows]),
        data={
            "landmarks": np.zeros((n, 5, 2), np.float32),
            "quality": np.array([r[1] for r in rows], np.float32),
            "embedding": np.stack([r[2] for r in rows]),
            "skip_reason": np.array([r[3] for r in rows]),
        },
    )


@pytest.fixture
def matcher() -> WatchlistMatcher:
    idx = FaceIndex(128)
    idx.add(np.array([42]), PERSON[None])
    m = WatchlistMatcher("dlib-resnet-128")
    m.add_list("poi", "persons_of_interest", 0.9, idx, {42: "Suspect"})
    return m


@pytest.mark.parametrize(
    ("frames", "events", "max_searches"),
    [
        # a good look at the person straight away: one event, the rest costs nothing
        ([[(1, 0.9, _near(PERSON, 0.97, s), "")] for s in range(10)], 1, 1),
        # a stranger: never an event
        ([[(2, 0.9, _unit(100 + s), "")] for s in range(10)], 0, 10),
        # skipped faces and untracked faces are ignored entirely
        ([[(3, 0.9, PERSON, "blurred"), (-1, 0.9, PERSON, "")]] * 5, 0, 0),
        # poor faces first (no match), then better ones arrive and tip the mean over
        (
            [[(4, 0.1, _near(PERSON, 0.70, s), "")] for s in range(3)]
            + [[(4, 0.9, _near(PERSON, 0.99, 50 + s), "")] for s in range(3)],
            1,
            6,
        ),
        # lower-quality faces after the top-k is full do not trigger searches
        (
            [[(5, 0.9, _unit(200 + s), "")] for s in range(3)]
            + [[(5, 0.1, _unit(300 + s), "")] for s in range(20)],
            0,
            3,
        ),
    ],
)
def test_one_event_per_track(
    matcher: WatchlistMatcher,
    frames: list[list[tuple[int, float, NDArray[np.float32], str]]],
    events: int,
    max_searches: int,
) -> None:
    tm = TrackFaceMatcher(matcher, TrackMatchConfig(top_k=3))
    got = [ev for rows in frames for ev in tm.update(_frame(rows))]
    assert len(got) == events
    assert tm.searches <= max_searches
    for ev in got:
        assert (ev.list_id, ev.name, ev.entry_id) == ("poi", "Suspect", 42)
        assert ev.similarity >= ev.threshold == 0.9
        assert 1 <= ev.n_faces <= 3


def test_two_tracks_of_one_person_give_two_events(matcher: WatchlistMatcher) -> None:
    tm = TrackFaceMatcher(matcher)
    rows = [(7, 0.8, _near(PERSON, 0.95, 1), ""), (8, 0.8, _near(PERSON, 0.95, 2), "")]
    ev = tm.update(_frame(rows)) + tm.update(_frame(rows))
    assert sorted(e.track_id for e in ev) == [7, 8]


def test_min_faces_and_memory_bound(matcher: WatchlistMatcher) -> None:
    tm = TrackFaceMatcher(matcher, TrackMatchConfig(min_faces=2, max_tracks=2))
    assert tm.update(_frame([(1, 0.9, PERSON, "")])) == []  # one face is not enough yet
    tm.update(_frame([(2, 0.9, _unit(5), ""), (3, 0.9, _unit(6), "")]))
    assert 1 not in tm._tracks  # least recently seen track dropped
    tm.forget(3)
    assert set(tm._tracks) == {2}


def test_a_person_in_view_is_matched_once_enrolled_without_a_better_face(
    tmp_path: Path,
) -> None:
    from detectors.faces.watchlist import WatchlistStore
    from shouwang.config.site import WatchlistRef

    store = WatchlistStore(tmp_path)
    store.ensure_list(WatchlistRef(id="poi", kind="persons_of_interest", threshold=0.9))
    tm = TrackFaceMatcher(
        WatchlistMatcher.from_store(store, "dlib-resnet-128"), TrackMatchConfig(refresh_s=0)
    )
    same = [(6, 0.8, _near(PERSON, 0.97, 3), "")]
    for _ in range(5):  # the track's best faces are in; the same look again costs nothing
        assert tm.update(_frame(same)) == []
    searches = tm.searches
    assert tm.update(_frame(same)) == [] and tm.searches == searches
    store.add_entry("poi", "Suspect", PERSON[None], model="dlib-resnet-128")
    got = tm.update(_frame(same))  # the list changed: the unsettled track is searched again
    assert [(e.track_id, e.name) for e in got] == [(6, "Suspect")]
    assert tm.update(_frame(same)) == []  # settled: one event per track
