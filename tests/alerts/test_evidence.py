"""Evidence: content addressing, drawing and cropping, the disk budget."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import urlsplit

import cv2
import numpy as np
import pytest
import redis

from alerts import keys
from alerts.errors import EvidenceError
from alerts.evidence import EvidenceStore, UnacknowledgedEvidence
from alerts.model import Alert
from tests.alerts.factory import make_alert


def _frame(seed: int = 0, shape: tuple[int, int] = (360, 640)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 255, (*shape, 3), dtype=np.uint8)


def test_snapshot_and_crop_are_content_addressed(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    frame = _frame()
    before = frame.copy()
    snap, crop = store.snapshot(frame, [100, 50, 200, 250], label="person #7")
    assert np.array_equal(frame, before)  # the caller's frame is not drawn on
    for ref in (snap, crop):
        path = Path(urlsplit(ref.uri).path)
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == ref.sha256
        assert ref.size == len(data) and ref.media_type == "image/jpeg"
        assert path == store.path(ref.sha256)
        assert store.verify(ref)
    assert (snap.width, snap.height) == (640, 360)
    decoded = cv2.imdecode(np.frombuffer(store.path(crop.sha256).read_bytes(), np.uint8), 1)
    assert decoded is not None
    assert decoded.shape[:2] == (crop.height, crop.width) == (260, 130)  # box + 15% margins
    assert store.usage() == snap.size + crop.size


def test_same_image_is_stored_once(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    a = store.snapshot(_frame(1), [10, 10, 50, 50])
    b = store.snapshot(_frame(1), [10, 10, 50, 50])
    assert a == b
    assert len(list(tmp_path.glob("??/*.jpg"))) == 2


def test_tampered_file_fails_verification(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    snap, _ = store.snapshot(_frame(), [10, 10, 50, 50])
    store.path(snap.sha256).write_bytes(b"not the evidence")
    assert not store.verify(snap)


@pytest.mark.parametrize(
    ("image", "box", "message"),
    [
        (np.zeros((10, 10), np.uint8), [1, 1, 5, 5], "expected a \\(H, W, 3\\) uint8"),
        (np.zeros((10, 10, 3), np.float32), [1, 1, 5, 5], "expected a \\(H, W, 3\\) uint8"),
        (np.zeros((10, 10, 3), np.uint8), [20, 20, 30, 30], "outside the 10x10 frame"),
    ],
)
def test_bad_input(tmp_path: Path, image: np.ndarray, box: list[float], message: str) -> None:
    with pytest.raises(EvidenceError, match=message):
        EvidenceStore(tmp_path).snapshot(image, box)


def test_budget_prunes_oldest_but_keeps_protected(tmp_path: Path) -> None:
    protected: set[str] = set()
    probe = EvidenceStore(tmp_path / "probe")
    one = len(probe.encode(_frame(0)))
    store = EvidenceStore(tmp_path / "ev", max_bytes=int(one * 4.5), protected=lambda: protected)
    refs = []
    for i in range(4):
        refs.append(store.put(store.encode(_frame(i)), kind="snapshot"))
        os.utime(store.path(refs[-1].sha256), (1000 + i, 1000 + i))  # distinct ages
    protected.add(refs[0].sha256)  # the oldest belongs to an unacknowledged alert
    refs.append(store.put(store.encode(_frame(4)), kind="snapshot"))
    refs.append(store.put(store.encode(_frame(5)), kind="snapshot"))
    alive = [store.path(r.sha256).exists() for r in refs]
    assert alive[0], "protected evidence was pruned"
    assert not alive[1], "the oldest unprotected file should go first"
    assert alive[-1]
    assert store.usage() <= store.max_bytes
    assert not store.over_budget


def test_over_budget_when_everything_is_protected(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path, max_bytes=1000, protected=lambda: everything)
    everything: set[str] = set()
    for i in range(3):
        ref = store.put(store.encode(_frame(i)), kind="crop")
        everything.add(ref.sha256)
    result = store.prune()
    assert result.removed == 0 and result.over_budget and store.over_budget


@pytest.mark.redis
def test_unacknowledged_evidence_from_consumer_groups(r: redis.Redis, tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    alerts: list[Alert] = []
    for i in range(3):
        ev = store.snapshot(_frame(i), [10, 10, 60, 60])
        alerts.append(make_alert(track_id=i).model_copy(update={"evidence": ev}))
    ids = [r.xadd(keys.ALERT_STREAM, {"alert": a.model_dump_json(), "id": a.id}) for a in alerts]
    protect = UnacknowledgedEvidence(r)
    assert protect() == set()  # no consumer group: nobody is waiting for anything
    r.xgroup_create(keys.ALERT_STREAM, "police", id="0")
    assert len(protect()) == 6  # none delivered yet
    r.xreadgroup("police", "c1", {keys.ALERT_STREAM: ">"}, count=2)  # 0, 1 pending
    r.xack(keys.ALERT_STREAM, "police", ids[0])  # 0 acknowledged
    expected = {e.sha256 for a in alerts[1:] for e in a.evidence}
    assert protect() == expected


def test_prune_skipped_when_protected_set_is_unavailable(tmp_path: Path) -> None:
    def unreachable() -> set[str]:
        raise redis.ConnectionError("Redis is away")

    store = EvidenceStore(tmp_path, max_bytes=1000, protected=unreachable)
    refs = [store.put(store.encode(_frame(i)), kind="crop") for i in range(3)]
    assert all(store.path(r.sha256).exists() for r in refs)  # nothing deleted blindly
    assert store.over_budget
