"""1:N search over the contiguous gallery matrix."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.faces.search import FaceIndex


def _unit(rng: np.random.Generator, n: int, d: int = 128) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    return np.asarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)


@pytest.mark.parametrize(("n", "k"), [(1, 1), (10, 3), (5000, 5), (5000, 1)])
def test_top_k_equals_brute_force(n: int, k: int) -> None:
    rng = np.random.default_rng(n)
    g = _unit(rng, n)
    idx = FaceIndex(128, capacity=7)  # forces growth
    idx.add(np.arange(n), g)
    q = _unit(rng, 1)[0]
    hits = idx.search(q, k)
    sims = g @ q
    want = np.argsort(-sims)[:k]
    assert [h.label for h in hits] == want.tolist()
    np.testing.assert_allclose([h.similarity for h in hits], sims[want], rtol=1e-5)
    assert idx.matrix.flags["C_CONTIGUOUS"] and idx.matrix.dtype == np.float32


def test_several_rows_per_label_give_one_hit_each() -> None:
    rng = np.random.default_rng(0)
    base = _unit(rng, 3)
    idx = FaceIndex(128)
    idx.add(np.array([7, 7, 7, 9, 11]), np.vstack([base[0], base[0], base[0], base[1], base[2]]))
    hits = idx.search(base[0], k=3)
    assert [h.label for h in hits] == [
        7,
        *sorted([9, 11], key=lambda lab: -float(base[[9, 11].index(lab) + 1] @ base[0])),
    ]


def test_remove_drops_rows_and_zeroes_them() -> None:
    rng = np.random.default_rng(1)
    g = _unit(rng, 4)
    idx = FaceIndex(128)
    idx.add(np.array([1, 2, 1, 3]), g)
    assert idx.remove(1) == 2
    assert len(idx) == 2 and set(idx.labels.tolist()) == {2, 3}
    assert not idx._mat[2:4].any()  # freed rows hold nothing of the removed person
    assert idx.remove(42) == 0


def test_raw_vectors_are_normalised() -> None:
    idx = FaceIndex(2)
    idx.add(np.array([0]), np.array([[3.0, 4.0]]))
    assert idx.search(np.array([6.0, 8.0]))[0].similarity == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("labels", "vectors", "error"),
    [
        ([1], np.zeros((1, 3)), "expected \\(n, 4\\)"),
        ([1, 2], np.ones((1, 4)), "labels: expected 1"),
    ],
)
def test_add_errors(labels: list[int], vectors: np.ndarray, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        FaceIndex(4).add(np.array(labels), vectors)


def test_empty_index_and_wrong_query() -> None:
    idx = FaceIndex(4)
    assert idx.search(np.ones(4)) == []
    idx.add(np.array([1]), np.ones((1, 4)))
    with pytest.raises(ValueError, match="expected 4 values"):
        idx.search(np.ones(3))
