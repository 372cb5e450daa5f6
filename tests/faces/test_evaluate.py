"""Evaluation protocol pieces, and the figures on the shared labelled faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detectors.faces.errors import FaceError
from detectors.faces.evaluate import (
    Embedded,
    LabelRow,
    _SNorm,
    identification,
    identification_scores,
    read_labels,
    read_pairs,
    snorm_comparison,
    tar_at_far,
    threshold_at_rate,
    track_comparison,
    verification,
)


@pytest.mark.parametrize(
    ("negatives", "rate", "above"),
    [
        ([0.1, 0.2, 0.3, 0.9], 0.0, 0),  # nothing may pass: just above the max
        ([0.1, 0.2, 0.3, 0.9], 0.25, 1),  # one of four may pass
        ([0.1, 0.2, 0.3, 0.9], 0.01, 0),
        ([0.5] * 10, 0.5, 0),  # ties: cannot let exactly half through, so none
        ([0.1, 0.2], 1.0, 2),
    ],
)
def test_threshold_at_rate(negatives: list[float], rate: float, above: int) -> None:
    thr = threshold_at_rate(np.array(negatives), rate)
    assert int((np.array(negatives) >= thr).sum()) == above


def test_tar_at_far() -> None:
    gen = np.array([0.95, 0.9, 0.6])
    imp = np.array([0.1, 0.5, 0.7, 0.2])
    assert tar_at_far(gen, imp, 0.0) == pytest.approx(2 / 3)
    assert np.isnan(tar_at_far(np.array([]), imp, 0.1))


def test_read_labels(tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text(
        "file,person,source,n_faces,license,notes\n"
        "a/1.jpg,ann,s,1,l,\n"
        'a/2.jpg,ann,s,1,l,"crop; duplicate_photo_of=a/1.jpg"\n'
        "g/x.jpg,ann|bob,s,2,l,\n",
        encoding="utf-8",
    )
    rows = read_labels(tmp_path)
    assert rows[1] == LabelRow("a/2.jpg", ("ann",), 1, "a/1.jpg")
    assert rows[2].persons == ("ann", "bob")


@pytest.mark.parametrize(
    ("content", "error"),
    [(None, "not found"), ("file,person,n_faces\na.jpg,ann,many\n", "bad row")],
)
def test_read_labels_errors(tmp_path: Path, content: str | None, error: str) -> None:
    if content is not None:
        (tmp_path / "labels.csv").write_text(content, encoding="utf-8")
    with pytest.raises(FaceError, match=error):
        read_labels(tmp_path)


def _item(file: str, person: str, vec: list[float] | None, dup: str | None = None) -> Embedded:
    v = np.array([vec], np.float32) if vec is not None else np.empty((0, 2), np.float32)
    if vec is not None:
        v /= np.linalg.norm(v)
    return Embedded(LabelRow(file, (person,), 1, dup), v, None if vec is not None else "no_face")


def test_protocol_on_toy_embeddings() -> None:
    items = [
        _item("a1", "a", [1, 0]),
        _item("a2", "a", [0.99, 0.14]),
        _item("a3", "a", [1, 0.001], dup="a1"),  # a copy of the enrolment photo: not probed
        _item("b1", "b", [0, 1]),
        _item("b2", "b", [0.1, 0.99]),
        _item("c1", "c", [-1, 0]),
        _item("c2", "c", None),  # no face: a miss when mated
    ]
    ver = verification(items, threshold=0.9)
    assert ver["n_genuine_pairs"] == 4  # a1-a2, a2-a3, b1-b2, c1-c2 (a1-a3 are copies)
    ident = identification(items, fpir=0.0)
    # folds: hold out a, b, c in turn; mated probes a2 (2 folds), b2 (2), c2 (2)
    assert ident["n_mated_probes"] == 6
    assert ident["fnir_at_fpir_0"] == pytest.approx(2 / 6, abs=1e-3)
    assert ident["fpir"] == 0.0


def test_verification_on_a_pairs_file(tmp_path: Path) -> None:
    items = [_item("a1", "a", [1, 0]), _item("a2", "a", [0.95, 0.3]), _item("b1", "b", [0, 1])]
    pairs_csv = tmp_path / "pairs.csv"
    pairs_csv.write_text("file_a,file_b,same\na1,a2,1\na1,b1,0\na2,b1,false\n", encoding="utf-8")
    pairs = read_pairs(pairs_csv)
    assert pairs == [("a1", "a2", True), ("a1", "b1", False), ("a2", "b1", False)]
    res = verification(items, threshold=0.9, pairs=pairs)
    assert (res["n_genuine_pairs"], res["n_impostor_pairs"]) == (1, 2)
    assert res["verification_accuracy"] == 1.0
    with pytest.raises(FaceError, match=r"zz is not in labels\.csv"):
        verification(items, threshold=0.9, pairs=[("a1", "zz", True)])
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(FaceError, match="missing column"):
        read_pairs(tmp_path / "bad.csv")


def _three_people() -> list[Embedded]:
    return [
        _item("a1", "a", [1, 0, 0]),
        _item("a2", "a", [0.45, 0.89, 0]),  # a bad frame: nearer b than a
        _item("a3", "a", [1, 0.05, 0]),
        _item("b1", "b", [0, 1, 0]),
        _item("b2", "b", [0.05, 1, 0]),
        _item("b3", "b", [0, 1, 0.05]),
        _item("c1", "c", [0, 0, 1]),
        _item("c2", "c", None),  # no face in this frame of the track
        _item("c3", "c", [0.05, 0, 1]),
    ]


def test_track_aggregation_uses_the_mean_of_the_window() -> None:
    items = _three_people()
    first, _ = identification_scores(items, track=2, aggregate="first")
    mean, _ = identification_scores(items, track=2, aggregate="mean")
    # one window of two probes per person (a2+a3, b2+b3, c2+c3) in each of 2 folds
    assert len(first) == len(mean) == 6
    # first frame only: c2 has no face (2 misses) and a2 goes to b when b is enrolled
    # (1 miss; with b held out a2 is nearest a); the mean gets all six
    assert sum(ok for _, ok in first) == 3
    assert sum(ok for _, ok in mean) == 6
    res = track_comparison(items, fpir=0.5)
    assert set(res) == {"tracks_of_2/first", "tracks_of_2/mean"}  # nobody has 4 photos
    assert res["tracks_of_2/mean"]["rank1_accuracy"] == 1.0


def test_snorm_formula_and_identity_without_cohort() -> None:
    cohort = np.array([[1, 0], [0, 1], [0.6, 0.8]], np.float32)
    rows = np.array([[1, 0]], np.float32)
    v = np.array([0.8, 0.6], np.float32)
    norm = _SNorm(cohort, 2)
    raw = rows @ v
    got = norm.scores(raw, v, norm.gallery(rows))
    t = np.array([1.0, 0.6])  # the template's top-2 cohort scores
    p = np.array([0.96, 0.8])  # the probe's
    want = 0.5 * ((0.8 - t.mean()) / (t.std() + 1e-6) + (0.8 - p.mean()) / (p.std() + 1e-6))
    assert got[0] == pytest.approx(want, rel=1e-5)
    assert _SNorm(cohort, 0).scores(raw, v, None) is raw  # k = 0: raw cosine
    items = [*_three_people(), _item("d1", "d", [0.7, 0.7, 0.1]), _item("d2", "d", [0.6, 0.8, 0])]
    res = snorm_comparison(items, fpir=0.0)
    assert set(res) == {"raw", "k=10", "k=20", "k=40"}
    raw_half, _ = identification_scores(items, people={"a", "c"})
    assert res["raw"]["n_mated_probes"] > len(raw_half)  # both halves pooled
