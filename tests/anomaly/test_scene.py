"""Scene anomaly score: sanity on constructed motion, and the evaluation on real clips."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray
from typer.testing import CliRunner

from detectors.detections import Detections
from pipeline.anomaly import AnomalyError
from pipeline.anomaly.evaluate import evaluate, read_labels
from pipeline.anomaly.geometry import GroundPlane
from pipeline.anomaly.loco import (
    ClipScores,
    alert_figures,
    leave_one_clip_out,
    weighted_auc,
    youden_threshold,
)
from pipeline.anomaly.scene import SceneConfig, SceneScorer
from shouwang.cli.main import app
from tests.anomaly.test_tamper import sample

PED2 = "anomaly/ucsd_ped2"


def walkway(
    n: int, fast_from: int, fast_to: int, size: tuple[int, int] = (240, 360)
) -> list[NDArray[np.uint8]]:
    """A real photo as background, eight textured 'walkers' at 1 px/frame and, between
    ``fast_from`` and ``fast_to``, one 'cyclist' at 5 px/frame."""
    bg = sample("bus.jpg")[:240, :360].copy()
    tex = sample("zidane.jpg")
    frames = []
    for k in range(n):
        f = bg.copy()
        for j in range(8):
            x, y = 10 + 35 * j + k, 30 + (j % 3) * 60
            f[y : y + 40, x : x + 16] = tex[100 + 10 * j : 140 + 10 * j, 300:316]
        if fast_from <= k < fast_to:
            x = 20 + 5 * (k - fast_from)
            f[180:220, x : x + 24] = tex[200:240, 600:624]
        frames.append(f if f.shape[:2] == size else np.asarray(cv2.resize(f, size[::-1]), np.uint8))
    return frames


def test_fast_object_among_walkers_scores_high() -> None:
    scorer = SceneScorer(camera="walkway")
    scores, events = [], []
    for k, f in enumerate(walkway(70, 40, 60)):
        r = scorer.update(f, k / 10)
        scores.append(r.score)
        events += [(k, e.kind) for e in r.events]
        assert r.cells.shape == (8, 12)
    slow, fast = np.array(scores[5:40]), np.array(scores[41:60])
    # (smoothed over 5 frames and against per-cell typical speeds: a bit under 2x)
    assert np.median(fast) > 1.8 * slow.max(), (slow.round(2), fast.round(2))
    assert events and all(40 <= k <= 60 and kind == "scene" for k, kind in events), events


def test_first_frame_and_still_scene_score_zero() -> None:
    scorer = SceneScorer()
    still = sample("bus.jpg")
    assert [scorer.update(still, k).score for k in range(5)] == [0.0] * 5


def test_score_map_covers_the_image() -> None:
    scorer = SceneScorer(SceneConfig(smooth_frames=1))  # unsmoothed: the map's peak is it
    frames = walkway(3, 0, 3)
    r = [scorer.update(f, k) for k, f in enumerate(frames)][-1]
    m = r.score_map(240, 360)
    assert m.shape == (240, 360) and float(m.max()) == pytest.approx(r.score)


@pytest.mark.parametrize(
    ("scores", "pos", "neg", "expected"),
    [
        ([1, 2, 3, 4], [0, 0, 1, 1], [1, 1, 0, 0], 1.0),
        ([1, 2, 3, 4], [1, 1, 0, 0], [0, 0, 1, 1], 0.0),
        ([1, 1, 1, 1], [0, 1, 0, 1], [1, 0, 1, 0], 0.5),
        ([1, 2], [3, 1], [1, 3], 0.25),  # 1.5 ties + 1 win + 1.5 ties out of 16 pairs
        ([1, 2], [0, 0], [1, 1], None),
    ],
)
def test_weighted_auc(
    scores: list[float], pos: list[float], neg: list[float], expected: float | None
) -> None:
    got = weighted_auc(np.array(scores, float), np.array(pos, float), np.array(neg, float))
    assert got == (None if expected is None else pytest.approx(expected))


def test_missing_labels_are_named(tmp_path: Path) -> None:
    with pytest.raises(AnomalyError, match=r"no frame_labels\.csv"):
        read_labels(tmp_path)
    (tmp_path / "frame_labels.csv").write_text("clip,file\nA,x.jpg\n")
    with pytest.raises(AnomalyError, match="missing column"):
        read_labels(tmp_path)


@pytest.mark.data
@pytest.mark.slow
def test_eval_one_clip(shared_data: Path) -> None:
    report = evaluate(shared_data / PED2, SceneConfig(), clips=["Test002"], progress=False)
    (clip,) = report["clips"]
    assert clip["frames"] == 180 and 0 < clip["anomalous_frames"] < 180
    # The cyclist of Test002 must stand out from the walkers.
    assert report["frame_auc"] > 0.9 and report["pixel_auc"] > 0.8
    assert report["pixel_auc_ucsd40"] > 0.8  # the cyclist is also where the score is
    assert clip["mean_score_anomalous"] > clip["mean_score_normal"]


@pytest.mark.data
def test_cli_writes_json(shared_data: Path, tmp_path: Path) -> None:
    # A small folder in the same format: the first 40 frames of two clips, by absolute path.
    src = shared_data / PED2
    lines = (src / "frame_labels.csv").read_text().splitlines()
    keep = [ln for ln in lines[1:] if ln.split(",")[0] in ("Test001", "Test002")]
    keep = [ln for ln in keep if int(ln.split(",")[1]) <= 40]
    rows = [
        ",".join([*c[:2], str(src / c[2]), c[3], "", "0"]) for c in (k.split(",") for k in keep)
    ]
    (tmp_path / "frame_labels.csv").write_text("\n".join([lines[0], *rows]) + "\n")
    out = tmp_path / "out" / "anomaly.json"
    args = ["eval", "anomaly", str(tmp_path), "--json", str(out), "--no-progress", "--no-detector"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["frames"] == 80 and [c["clip"] for c in report["clips"]] == ["Test001", "Test002"]
    assert report["pixel_auc"] is None and report["frame_auc"] is None  # all 80 are normal


def test_cli_reports_a_bad_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["eval", "anomaly", str(tmp_path), "--no-progress"])
    assert result.exit_code == 1 and "no frame_labels.csv" in result.output


@pytest.mark.parametrize(
    ("mask_cells", "expected_loc"),
    [
        ([], None),  # an empty mask cannot be localised
        ([(0, 0)], 5.0),  # the whole mask in the hottest cell
        ([(0, 0), (0, 1)], 5.0),  # half the mask at 5: 40% is reached at 5
        ([(0, 0), (0, 1), (1, 0)], 1.0),  # one third at 5: 40% needs the 1s too
    ],
)
def test_ucsd40_localisation_score(
    mask_cells: list[tuple[int, int]], expected_loc: float | None
) -> None:
    from pipeline.anomaly.evaluate import _mask_stats

    cells = np.array([[5.0, 1.0], [1.0, 0.0]], np.float32)
    mask = np.zeros((4, 4), np.uint8)
    for r, c in mask_cells:
        mask[2 * r : 2 * r + 2, 2 * c : 2 * c + 2] = 255
    flat, hit, tot, loc = _mask_stats(cells, mask)
    assert loc == expected_loc
    assert tot.tolist() == [4, 4, 4, 4] and hit.sum() == 4 * len(mask_cells)
    assert flat.tolist() == [5, 1, 1, 0]


def _dets(boxes: Sequence[tuple[float, float, float, float]], classes: list[int]) -> Detections:
    return Detections(
        xyxy=np.array(boxes, np.float32).reshape(-1, 4),
        confidence=np.full(len(boxes), 0.9, np.float32),
        class_id=np.array(classes, np.int64),
    )


@pytest.mark.parametrize(
    ("cyclist_class", "calibrated", "min_rise"),
    [
        (0, False, 1.1),  # a fast "person": the object-speed cue alone
        (1, False, 1.2),  # a bicycle: object speed and the odd-class cue
        (1, True, 1.2),  # the same in m/s through a calibration
    ],
)
def test_object_cues_raise_the_score(cyclist_class: int, calibrated: bool, min_rise: float) -> None:
    """Walkers and a cyclist given as detections: the cyclist's frames score higher than
    with motion alone, and with a ground plane the object speeds are compared in m/s."""
    ground = None
    if calibrated:  # 20 px per metre, a plain scaling (x east, y south)
        ground = GroundPlane(np.array([[0.05, 0, 0], [0, -0.05, 0], [0, 0, 1]], np.float64))
    frames = walkway(60, 30, 50)
    motion_only = SceneScorer(SceneConfig(object_weight=0, class_weight=0))
    with_dets = SceneScorer(SceneConfig(object_weight=0.5), ground=ground)
    rise = []
    for k, f in enumerate(frames):
        boxes = [
            (10 + 35 * j + k, 30 + (j % 3) * 60, 26 + 35 * j + k, 70 + (j % 3) * 60)
            for j in range(8)
        ]
        classes = [0] * 8
        if 30 <= k < 50:
            x = 20 + 5 * (k - 30)
            boxes.append((x, 180, x + 24, 220))
            classes.append(cyclist_class)
        a = motion_only.update(f, k / 10).score
        b = with_dets.update(f, k / 10, _dets(boxes, classes)).score
        if 36 <= k < 50:
            rise.append(b / max(a, 1e-6))
    assert with_dets.typical_person is not None
    if calibrated:  # walkers move 1 px/frame = 0.05 m per 0.1 s = 0.5 m/s
        assert with_dets.typical_person == pytest.approx(0.5, rel=0.5)
    assert float(np.median(rise)) >= min_rise, rise


@pytest.mark.parametrize(
    ("scores", "labels", "expected"),
    [
        ([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1], 0.5),
        ([0.1, 0.9, 0.2, 0.8], [0, 1, 0, 1], 0.5),
        ([0.1, 0.3, 0.2, 0.9], [0, 1, 0, 1], 0.25),
    ],
)
def test_youden_threshold(scores: list[float], labels: list[int], expected: float) -> None:
    th = youden_threshold(np.array(scores), np.array(labels, bool))
    assert th == pytest.approx(expected)


def test_leave_one_clip_out_never_uses_the_held_out_labels() -> None:
    # Setting 0 is perfect on A and B, useless on C; setting 1 the reverse. C is scored
    # with the setting chosen on A and B (0), so its held-out AUC is the useless one.
    y = np.array([0, 0, 1, 1], bool)
    good, bad = np.array([0.1, 0.2, 0.8, 0.9]), np.array([0.9, 0.8, 0.2, 0.1])
    clips = [ClipScores("A", y, [good, bad]), ClipScores("B", y, [good, bad]),
             ClipScores("C", y, [bad, good])]  # fmt: skip
    rows, pooled, _, th = leave_one_clip_out(clips, ["s0", "s1"])
    assert [r["selected"] for r in rows] == ["s0", "s0", "s0"]
    assert [r["frame_auc"] for r in rows] == [1.0, 1.0, 0.0]
    assert len(pooled) == 12 and th["C"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("scores", "labels", "caught", "false_alarms"),
    [
        ([0, 0, 0, 5, 5, 0, 0, 0], [0, 0, 0, 1, 1, 0, 0, 0], 1, 0),
        ([5, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 1, 1, 0, 0, 0], 0, 0),  # warm-up, then missed
        ([0, 0, 5, 0, 0, 0, 5, 0], [0, 0, 0, 1, 1, 0, 0, 0], 0, 2),
        ([0, 0, 0, 5, 0, 5, 0, 0], [0, 0, 0, 1, 0, 0, 0, 0], 1, 0),  # re-rise inside cooldown
    ],
)
def test_alert_figures(
    scores: list[float], labels: list[int], caught: int, false_alarms: int
) -> None:
    got = alert_figures({"A": np.array(scores, float)}, {"A": np.array(labels, bool)},
                        {"A": 1.0}, fps=1.0, warmup_frames=1, cooldown_frames=3)  # fmt: skip
    assert got["incidents"] == 1 and got["incidents_caught"] == caught
    assert got["false_alarms"] == false_alarms
