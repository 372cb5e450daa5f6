"""Scene anomaly score: sanity on constructed motion, and the evaluation on real clips."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray
from typer.testing import CliRunner

from pipeline.anomaly import AnomalyError
from pipeline.anomaly.evaluate import evaluate, read_labels, weighted_auc
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
    assert np.median(fast) > 2 * slow.max(), (slow.round(2), fast.round(2))
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
