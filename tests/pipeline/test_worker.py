"""The worker's scheduler and error boundaries, with real frames and a fixed clock.

The detector here is a stand-in that boxes the whole image (the scheduler, not the
model, is under test; the end-to-end tests in tests/e2e use the real detector).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pytest
from numpy.typing import NDArray
from prometheus_client import CollectorRegistry

from detectors.detections import Detections
from pipeline.events import Finding
from pipeline.worker import CameraStage, Worker, WorkerConfig
from streams.frame import Frame


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Camera:
    """A source whose next frame the test sets (size, age) or whose read raises."""

    def __init__(self, camera_id: str, clock: Clock) -> None:
        self.camera_id = camera_id
        self.clock = clock
        self.seq = 0
        self.size = (64, 48)
        self.age = 0.0
        self.error: Exception | None = None
        self.reads = 0

    def read(self, timeout: float) -> Frame | None:
        self.reads += 1
        if self.error is not None:
            raise self.error
        self.seq += 1
        w, h = self.size
        return Frame(
            self.camera_id, self.seq, None, self.clock() - self.age, np.zeros((h, w, 3), np.uint8)
        )


class WholeImage:
    """One 'person' box covering each image."""

    names: Mapping[int, str] = {0: "person"}

    def __init__(self) -> None:
        self.calls: list[int] = []

    def detect(self, images: Sequence[NDArray[np.uint8]]) -> list[Detections]:
        self.calls.append(len(images))
        return [
            Detections(
                xyxy=np.array([[0, 0, im.shape[1], im.shape[0]]], np.float32),
                confidence=np.array([0.9], np.float32),
                class_id=np.array([0]),
            )
            for im in images
        ]


class Ids:
    def update(
        self, dets: Detections, timestamp: float, image: NDArray[np.uint8] | None = None
    ) -> Detections:
        return Detections(dets.xyxy, dets.confidence, dets.class_id, np.arange(1, len(dets) + 1))


class Stage:
    def __init__(self, name: str = "rule", fail: bool = False) -> None:
        self.name = name
        self.fail = fail

    def update(self, frame: Frame, dets: Detections) -> list[Finding]:
        if self.fail:
            raise ValueError("broken stage")
        return [Finding("zone.intrusion", "high", frame.camera_id, track_id=1)]


def make(
    ids: Sequence[str],
    config: WorkerConfig | None = None,
    stages: str = "ok",
    registry: CollectorRegistry | None = None,
) -> tuple[Worker, dict[str, Camera], WholeImage, Clock, list[list[Finding]], list[str]]:
    clock = Clock()
    cams = {c: Camera(c, clock) for c in ids}
    det = WholeImage()
    sunk: list[list[Finding]] = []
    built: list[str] = []

    def make_stages(cid: str) -> list[CameraStage]:
        built.append(cid)
        if stages == "broken" and cid == ids[0]:
            return [Stage("bad", fail=True), Stage()]
        return [Stage()]

    worker = Worker(
        cams,
        det,
        lambda cid: Ids(),
        make_stages,
        lambda f, d, fs: sunk.append(fs),
        fps={c: 5.0 for c in ids},
        config=config or WorkerConfig(max_wait_ms=0, poll_ms=0.1),
        clock=clock,
        registry=registry or CollectorRegistry(),
    )
    return worker, cams, det, clock, sunk, built


@pytest.mark.parametrize(
    ("n_cams", "max_batch", "batches"),
    [(3, 8, [3]), (3, 2, [2, 1]), (1, 4, [1]), (5, 5, [5])],
)
def test_newest_frames_of_due_cameras_go_in_one_batch(
    n_cams: int, max_batch: int, batches: list[int]
) -> None:
    worker, _, det, clock, _, _ = make(
        [f"c{i}" for i in range(n_cams)], WorkerConfig(max_batch=max_batch, max_wait_ms=0)
    )
    while sum(det.calls) < n_cams:
        worker.step()
    assert det.calls == batches
    # nothing is due again until 1/fps later
    assert worker.collect() == []
    clock.t += 0.2
    assert len(worker.collect()) == min(n_cams, max_batch)


def test_every_frame_carries_its_stage_times() -> None:
    worker, _, _, _, sunk, _ = make(["a"])
    ((frame, dets, findings),) = worker.process(worker.collect())
    assert {"decoded", "inferred", "tracked", "rule", "alerted"} <= set(frame.stamps) - {
        "decoded"
    } | {"decoded"}
    assert frame.stamps["inferred"] <= frame.stamps["tracked"] <= frame.stamps["alerted"]
    assert list(dets.tracker_id) == [1]
    assert [f.kind for f in findings] == ["zone.intrusion"] and sunk == [findings]
    assert worker.stats().per_camera["a"]["findings"] == 1


def test_stale_frames_are_dropped_and_counted() -> None:
    worker, cams, _, _, _, _ = make(["old", "new"], WorkerConfig(stale_after_s=1.0, max_wait_ms=0))
    cams["old"].age = 5.0
    batch = worker.collect()
    assert [f.camera_id for f in batch] == ["new"]
    stats = worker.stats()
    assert stats.dropped_stale == 1 and stats.per_camera["old"]["dropped_stale"] == 1


def test_a_failing_camera_is_one_fault_and_the_others_go_on() -> None:
    worker, cams, _, clock, _, _ = make(["dead", "live"])
    cams["dead"].error = OSError("connection refused")
    for _ in range(5):
        worker.step()
        clock.t += 0.25
    per = worker.stats().per_camera
    assert per["dead"]["faults"] == 1  # not one per scheduler tick
    assert "connection refused" in per["dead"]["last_fault"]
    assert per["dead"]["processed"] == 0 and per["live"]["processed"] == 5
    assert cams["dead"].reads < 5  # backed off for a second


def test_a_broken_stage_is_a_fault_and_the_next_stage_still_runs() -> None:
    worker, _, _, _, sunk, _ = make(["a", "b"], stages="broken")
    worker.step()
    per = worker.stats().per_camera
    assert per["a"]["faults"] == 1 and "stage bad failed: broken stage" in per["a"]["last_fault"]
    assert per["b"]["faults"] == 0
    assert sorted(len(s) for s in sunk) == [1, 1]


def test_a_resolution_change_resets_tracks_and_stages() -> None:
    worker, cams, _, clock, _, built = make(["a"])
    worker.step()
    cams["a"].size = (32, 24)
    clock.t += 0.2
    worker.step()
    per = worker.stats().per_camera["a"]
    assert per["faults"] == 1 and "resolution changed 64x48 → 32x24" in per["last_fault"]
    assert per["processed"] == 2 and built == ["a", "a"]


def test_cameras_can_be_added_and_removed_while_running() -> None:
    worker, _, det, clock, _, built = make(["a", "b", "c"])
    worker.set_active(["a", "unknown"])
    worker.step()
    assert worker.active() == {"a"} and det.calls == [1]
    worker.set_active(["a", "c"])
    clock.t += 0.2
    worker.step()
    assert worker.active() == {"a", "c"} and det.calls == [1, 2]
    assert built == ["a", "b", "c", "c"]  # c rebuilt fresh when gained again
    assert set(worker.stats().per_camera) == {"a", "c"}


def test_drops_faults_and_latency_are_prometheus_metrics() -> None:
    reg = CollectorRegistry()
    worker, cams, _, _, _, _ = make(
        ["old", "dead", "ok"], WorkerConfig(stale_after_s=1.0, max_wait_ms=0), registry=reg
    )
    cams["old"].age = 5.0
    cams["dead"].error = OSError("gone")
    worker.step()

    def value(name: str, cam: str) -> float | None:
        return reg.get_sample_value(f"shouwang_worker_{name}_total", {"camera": cam})

    assert value("frames_stale", "old") == 1
    assert value("faults", "dead") == 1
    assert value("frames_processed", "ok") == 1
    count = reg.get_sample_value("shouwang_worker_frame_latency_seconds_count", {"camera": "ok"})
    assert count == 1
