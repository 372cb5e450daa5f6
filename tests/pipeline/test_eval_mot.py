"""MOT scoring on hand-computed cases, ground-truth parsing, and the eval command."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from detectors.detections import Detections
from detectors.errors import ModelError
from pipeline.detector import make_detector
from pipeline.errors import PipelineError
from pipeline.eval_mot import (
    MotScorer,
    drop_ignored,
    evaluate_tracking,
    iou_distance,
    read_mot_gt,
)
from pipeline.motion import MotionConfig
from pipeline.tracking import TrackerConfig
from shouwang.cli.main import app

BOX_A = [0.0, 0.0, 10.0, 10.0]
BOX_B = [20.0, 20.0, 30.0, 30.0]
BOX_C = [50.0, 50.0, 60.0, 60.0]


def _frame(ids: list[int], boxes: list[list[float]]) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(ids, np.int64), np.asarray(boxes, np.float32).reshape(-1, 4)


def test_mota_matches_the_hand_computed_value() -> None:
    """3 frames, 5 gt boxes: 2 misses + 1 false positive + 1 id switch -> MOTA = 1 - 4/5."""
    s = MotScorer()
    s.add(*_frame([1, 2], [BOX_A, BOX_B]), *_frame([1, 2], [BOX_A, BOX_C]))  # b missed, 2 FP
    s.add(*_frame([1, 2], [BOX_A, BOX_B]), *_frame([1], [BOX_A]))  # b missed
    s.add(*_frame([1], [BOX_A]), *_frame([2], [BOX_A]))  # a now hyp 2: a switch
    r = s.summary()
    assert r["num_objects"] == 5
    assert (r["num_misses"], r["num_false_positives"], r["num_switches"]) == (2, 1, 1)
    assert r["mota"] == pytest.approx(0.2)
    assert r["recall"] == pytest.approx(3 / 5)
    assert r["precision"] == pytest.approx(3 / 4)
    assert (r["mostly_tracked"], r["mostly_lost"]) == (1, 1)


def test_perfect_tracking_scores_one() -> None:
    s = MotScorer()
    for f in range(5):
        box = [f, 0.0, f + 10.0, 20.0]
        s.add(*_frame([7], [box]), *_frame([3], [box]))
    r = s.summary()
    assert r["mota"] == 1.0 and r["idf1"] == 1.0


@pytest.mark.parametrize(
    ("hyp", "expected"),
    [
        ([0.0, 0.0, 10.0, 10.0], 0.0),  # identical
        ([0.0, 0.0, 10.0, 5.0], 0.5),  # IoU 0.5 exactly: still a match
        ([0.0, 0.0, 10.0, 4.0], np.nan),  # IoU 0.4: no match allowed
        ([30.0, 30.0, 40.0, 40.0], np.nan),  # no overlap
    ],
)
def test_iou_distance(hyp: list[float], expected: float) -> None:
    d = iou_distance(np.asarray([BOX_A], np.float32), np.asarray([hyp], np.float32))
    np.testing.assert_allclose(d, [[expected]])


@pytest.mark.parametrize(
    ("lines", "expected", "ignored"),
    [
        (["1,5,10,20,30,40,1,-1,-1,-1"], {1: [5]}, {1: 0}),  # MOT15
        (  # MOT15: conf 0 marks a don't-care box
            ["1,5,10,20,30,40,0,-1,-1,-1", "2,5,10,20,30,40,1,-1,-1,-1"],
            {1: [], 2: [5]},
            {1: 1, 2: 0},
        ),
        (  # MOT16: pedestrians count, a static person is don't-care, a car is dropped
            ["1,5,10,20,30,40,1,1,0.9", "1,6,10,20,30,40,1,7,1.0", "1,7,1,2,3,4,0,3,1"],
            {1: [5]},
            {1: 1},
        ),
    ],
)
def test_read_mot_gt(
    tmp_path: Path, lines: list[str], expected: dict[int, list[int]], ignored: dict[int, int]
) -> None:
    p = tmp_path / "gt.txt"
    p.write_text("\n".join(lines) + "\n")
    gt = read_mot_gt(p)
    assert {f: g.ids.tolist() for f, g in gt.items()} == expected
    assert {f: len(g.ignore) for f, g in gt.items()} == ignored
    np.testing.assert_allclose(gt[max(gt)].xyxy[0], [10, 20, 40, 60])
    for g in gt.values():
        for box in g.ignore:
            np.testing.assert_allclose(box, [10, 20, 40, 60])


@pytest.mark.parametrize(
    ("gt", "ignore", "hyp", "keep"),
    [
        ([BOX_A], [BOX_B], [BOX_A, BOX_B, BOX_C], [True, False, True]),  # on don't-care: out
        ([BOX_A], [BOX_A], [BOX_A], [True]),  # a real person wins over a don't-care twin
        ([BOX_A], [BOX_A], [BOX_A, BOX_A], [True, False]),  # one each
        ([], [], [BOX_A], [True]),  # nothing to ignore
    ],
)
def test_drop_ignored(
    gt: list[list[float]], ignore: list[list[float]], hyp: list[list[float]], keep: list[bool]
) -> None:
    def arr(b: list[list[float]]) -> np.ndarray:
        return np.asarray(b, np.float32).reshape(-1, 4)

    assert drop_ignored(arr(gt), arr(ignore), arr(hyp)).tolist() == keep


@pytest.mark.parametrize(
    ("text", "message"),
    [("1,5,ten,20,30,40,1\n", r"gt.txt:1: expected"), (None, "no file")],
)
def test_read_mot_gt_errors(tmp_path: Path, text: str | None, message: str) -> None:
    p = tmp_path / "gt.txt"
    if text is not None:
        p.write_text(text)
    with pytest.raises(PipelineError, match=message):
        read_mot_gt(p)


@pytest.mark.parametrize(
    ("backend", "message"),
    [("tensorrt", "expected one of opencv, onnx"), ("", "expected one of opencv, onnx")],
)
def test_unknown_backend_is_named(backend: str, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        make_detector(backend)


@pytest.mark.data
@pytest.mark.slow
def test_eval_tracking_on_the_start_of_pets(shared_data: Path, tmp_path: Path) -> None:
    video = shared_data / "video/vtest_opencv_pets2009_s2l1_view001.avi"
    gt = shared_data / "video/gt/PETS09-S2L1_gt.txt"
    out = tmp_path / "mot.json"
    args = ["eval", "tracking", str(video), str(gt), "--json", str(out), "--max-frames", "100"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    r = json.loads(out.read_text())
    assert r["frames"] == 100 and r["fps"] > 0
    assert r["mota"] > 0.5 and r["idf1"] > 0.5
    assert r["recall"] > 0.7 and r["precision"] > 0.7
    assert r["id_switches"] < 10
    assert r["config"]["backend"] == "onnx"  # the production detector is the default
    assert r["strict"]["mota"] <= r["mota"]  # don't-care boxes can only remove errors


class BrightBlobDetector:
    """A real, tiny detector: every bright blob is a person (for synthetic scenes)."""

    names: Mapping[int, str] = {0: "person"}

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        out = []
        for img in images:
            mask = (img.min(axis=2) > 200).astype(np.uint8)
            n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
            boxes = [[x, y, x + w, y + h] for x, y, w, h, a in stats[1:n] if a > 50]
            out.append(
                Detections(
                    xyxy=np.asarray(boxes, np.float32).reshape(-1, 4),
                    confidence=np.full(len(boxes), 0.9, np.float32),
                    class_id=np.zeros(len(boxes), np.int64),
                )
            )
        return out


def _walk_then_stand(tmp_path: Path) -> tuple[Path, Path]:
    """60 frames at 10 fps: a person walks for 2 s, then stands still for 4 s."""
    video, gt = tmp_path / "scene.avi", tmp_path / "gt.txt"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (320, 240))
    lines = []
    for f in range(60):
        x = 20 + 6 * min(f, 20)
        frame = np.full((240, 320, 3), 60, np.uint8)
        frame[80:160, x : x + 30] = 255
        writer.write(frame)
        lines.append(f"{f + 1},1,{x},80,30,80,1,-1,-1,-1")
    writer.release()
    gt.write_text("\n".join(lines) + "\n")
    return video, gt


# Gated: 21 walking frames run, then the stopped person keeps showing as motion for
# ~2 s (alpha 0.1) until the background absorbs it; of the remaining ~2 s only the
# 1 s keyframes run.
@pytest.mark.parametrize(("gated", "min_skipped"), [(False, 0), (True, 15)])
def test_motion_gating_skips_still_frames_and_keeps_tracks(
    tmp_path: Path, gated: bool, min_skipped: int
) -> None:
    video, gt = _walk_then_stand(tmp_path)
    motion = MotionConfig(keyframe_seconds=1.0) if gated else None
    r = evaluate_tracking(
        video, gt, BrightBlobDetector(), TrackerConfig(frame_rate=10), motion=motion
    )
    assert r["frames"] == 60
    assert r["frames_skipped"] >= min_skipped and r["detector_runs"] + r["frames_skipped"] == 60
    assert r["mota"] >= 0.95 and r["id_switches"] == 0  # held tracks still cover the person
    assert r["num_misses"] <= 2  # the first frame, before the track is confirmed
