"""Watchlists: durable storage, photo policy, removal without a trace, quiet logs."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from detectors.faces.analyzer import FaceAnalyzer
from detectors.faces.enrol import enrol
from detectors.faces.errors import WatchlistError
from detectors.faces.matcher import WatchlistMatcher
from detectors.faces.watchlist import WatchlistStore
from shouwang.config.site import WatchlistRef

MODEL = "dlib-resnet-128"


def _vec(seed: int, d: int = 128) -> NDArray[np.float32]:
    x = np.random.default_rng(seed).standard_normal((1, d)).astype(np.float32)
    return x / np.linalg.norm(x)


@pytest.fixture
def store(tmp_path: Path) -> WatchlistStore:
    s = WatchlistStore(tmp_path / "data")
    s.ensure_list(WatchlistRef(id="residents", kind="residents", store_photos=True))
    s.ensure_list(WatchlistRef(id="poi", kind="persons_of_interest", threshold=0.8))
    return s


def test_lists_entries_and_durability(store: WatchlistStore) -> None:
    store.add_entry("residents", "Wang Fang", _vec(1), model=MODEL, photos=[("a.jpg", b"x")])
    store.add_entry("poi", "Li Lei", np.vstack([_vec(2), _vec(3)]), model=MODEL)
    again = WatchlistStore(store.root.parent)  # a new process sees the same state
    lists = {i.id: i for i in again.lists()}
    assert lists["residents"].kind == "residents" and lists["residents"].store_photos
    assert lists["poi"].threshold == pytest.approx(0.8)
    (e,) = again.entries("poi")
    assert (e.name, e.n_embeddings, e.n_photos) == ("Li Lei", 2, 0)
    assert again.photos("residents", "Wang Fang") == [("a.jpg", b"x")]


def test_photos_only_when_configured(store: WatchlistStore) -> None:
    store.add_entry("poi", "A", _vec(1), model=MODEL, photos=[("a.jpg", b"PHOTO")])
    assert store.photos("poi", "A") == []
    store.add_entry("residents", "B", _vec(2), model=MODEL, photos=[("b.jpg", b"PHOTO")])
    # switching the policy off deletes photos already held
    store.ensure_list(WatchlistRef(id="residents", kind="residents", store_photos=False))
    assert store.photos("residents", "B") == []
    assert b"PHOTO" not in store.db_path.read_bytes()


@pytest.mark.parametrize(
    ("action", "error"),
    [
        (lambda s: s.add_entry("nope", "A", _vec(1), model=MODEL), "no watchlist 'nope'"),
        (lambda s: s.add_entry("poi", " ", _vec(1), model=MODEL), "must not be empty"),
        (lambda s: s.add_entry("poi", "A", np.empty((0, 128)), model=MODEL), "no embeddings"),
        (lambda s: s.remove_entry("poi", "ghost"), "no entry named 'ghost'"),
        (lambda s: s.set_threshold("nope", 0.5), "no watchlist 'nope'"),
        (
            lambda s: [s.add_entry("poi", "A", _vec(1), model=MODEL) for _ in range(2)],
            "already has an entry named 'A'",
        ),
    ],
)
def test_errors(
    store: WatchlistStore, action: Callable[[WatchlistStore], object], error: str
) -> None:
    with pytest.raises(WatchlistError, match=error):
        action(store)


def test_matcher_uses_per_list_thresholds(store: WatchlistStore) -> None:
    a, b = _vec(1), _vec(2)
    store.add_entry("residents", "A", a, model=MODEL)
    store.add_entry("poi", "B", b, model=MODEL)
    m = WatchlistMatcher.from_store(store, MODEL)
    hit = m.match(a[0])
    assert hit is not None and (hit.list_id, hit.name) == ("residents", "A")
    assert hit.threshold == pytest.approx(0.91)  # the dlib default: the list sets none
    # 0.85 similar to B: above poi's 0.8, and nothing else comes close
    q = 0.85 * b[0] + np.sqrt(1 - 0.85**2) * _orth(b[0], a[0])
    hit = m.match(q)
    assert (
        hit is not None and hit.list_id == "poi" and hit.similarity == pytest.approx(0.85, abs=1e-3)
    )
    store.set_threshold("poi", 0.9)
    assert WatchlistMatcher.from_store(store, MODEL).match(q) is None


def _orth(v: NDArray[np.float32], other: NDArray[np.float32]) -> NDArray[np.float32]:
    r = np.random.default_rng(9).standard_normal(v.shape).astype(np.float32)
    for u in (v, other / np.linalg.norm(other)):
        r -= (r @ u) * u
    return r / np.linalg.norm(r)


def _all_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def test_removal_leaves_no_trace(
    store: WatchlistStore,
    dlib_analyzer: FaceAnalyzer,
    one_face: NDArray[np.uint8],
    write_image: Callable[[str, NDArray[np.uint8]], Path],
) -> None:
    photo = write_image("person.jpg", one_face)
    entry = enrol(store, dlib_analyzer, "residents", "Zhang Wei 张伟", [photo])
    store.add_entry("residents", "Keeper", _vec(5), model=MODEL)
    idx, _ = store.index("residents", MODEL)  # writes the cached index file
    assert any(store.cache_dir.iterdir())
    with closing(sqlite3.connect(store.db_path)) as db:
        (vector,) = db.execute(
            "SELECT vector FROM embeddings WHERE entry_id = ?", (entry,)
        ).fetchone()
    assert len(idx) == 2
    photo_bytes = photo.read_bytes()
    before = _all_bytes(store.root)
    assert vector in before and photo_bytes[1000:1064] in before
    assert "张伟".encode() in before

    store.remove_entry("residents", "Zhang Wei 张伟")

    after = _all_bytes(store.root)
    assert vector not in after
    assert vector[:32] not in after and vector[-32:] not in after
    assert photo_bytes[1000:1064] not in after and photo_bytes[-64:] not in after
    assert "张伟".encode() not in after and b"Zhang Wei" not in after
    assert not any(store.cache_dir.iterdir())  # cached copies gone
    assert [e.name for e in store.entries("residents")] == ["Keeper"]
    assert _vec(5).tobytes() in _all_bytes(store.root)  # the other entry is untouched


def test_embeddings_and_photos_never_logged(
    store: WatchlistStore,
    dlib_analyzer: FaceAnalyzer,
    one_face: NDArray[np.uint8],
    write_image: Callable[[str, NDArray[np.uint8]], Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    photo = write_image("p.jpg", one_face)
    with caplog.at_level(logging.DEBUG):
        enrol(store, dlib_analyzer, "residents", "P", [photo])
        idx, _ = store.index("residents", MODEL)
        WatchlistMatcher.from_store(store, MODEL).match(idx.matrix[0])
        store.remove_entry("residents", "P")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert caplog.records  # something was logged, so the check means something
    for v in idx.matrix[0][:8]:
        assert f"{v:.4f}" not in text and repr(float(v))[:9] not in text
    assert "JFIF" not in text and "\\x" not in text
    assert max(len(r.getMessage()) for r in caplog.records) < 200


def test_store_is_private_to_its_owner(store: WatchlistStore) -> None:
    assert store.db_path.stat().st_mode & 0o077 == 0
    assert store.root.stat().st_mode & 0o077 == 0


def test_running_matcher_sees_enrolments_and_removals(store: WatchlistStore) -> None:
    matcher = WatchlistMatcher.from_store(store, MODEL)
    other = WatchlistStore(store.root.parent)  # e.g. the CLI, in another process
    assert matcher.match(_vec(7)[0]) is None
    assert not matcher.refresh()  # nothing changed: no reload
    other.add_entry("poi", "New", _vec(7), model=MODEL)
    assert matcher.refresh()
    hit = matcher.match(_vec(7)[0])
    assert hit is not None and hit.name == "New"
    other.remove_entry("poi", "New")
    assert matcher.refresh()
    assert matcher.match(_vec(7)[0]) is None  # gone from the worker's memory too
    other.set_threshold("residents", 0.99)
    assert matcher.refresh()
