"""The one result type every stage takes and returns.

Modelled on supervision's ``Detections``: parallel numpy arrays validated once, at
construction, so that a shape bug is caught where it is made and not three stages
later. ``data`` holds extra per-box arrays (plate text, face embeddings, keypoints).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float32]
IntArray = NDArray[np.int64]

NO_TRACK = -1


@dataclass
class Detections:
    """Boxes found in one frame.

    Attributes:
        xyxy: (n, 4) float32 boxes in pixels, x1 <= x2 and y1 <= y2.
        confidence: (n,) float32 scores in [0, 1].
        class_id: (n,) int64 class indices into the detector's class names.
        tracker_id: (n,) int64 track ids, ``NO_TRACK`` (-1) before tracking.
        data: extra per-box arrays, each with n rows.

    Example:
        >>> d = Detections(xyxy=np.array([[0, 0, 10, 20]]), confidence=np.array([0.9]),
        ...                class_id=np.array([0]))
        >>> len(d[d.confidence > 0.5])
        1
    """

    xyxy: FloatArray
    confidence: FloatArray
    class_id: IntArray
    tracker_id: IntArray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    data: dict[str, NDArray[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float32)
        if xyxy.size == 0:
            xyxy = xyxy.reshape(0, 4)
        if xyxy.ndim != 2 or xyxy.shape[1] != 4:
            raise ValueError(f"xyxy: expected (n, 4), got {xyxy.shape}")
        n = len(xyxy)
        self.xyxy = xyxy
        self.confidence = _column("confidence", self.confidence, n, np.float32)
        self.class_id = _column("class_id", self.class_id, n, np.int64)
        if np.asarray(self.tracker_id).size == 0 and n:
            self.tracker_id = np.full(n, NO_TRACK, dtype=np.int64)
        else:
            self.tracker_id = _column("tracker_id", self.tracker_id, n, np.int64)
        if n:
            if not np.isfinite(xyxy).all():
                raise ValueError("xyxy: boxes must be finite")
            if (xyxy[:, 2] < xyxy[:, 0]).any() or (xyxy[:, 3] < xyxy[:, 1]).any():
                raise ValueError("xyxy: expected x1 <= x2 and y1 <= y2 in every box")
        data: dict[str, NDArray[Any]] = {}
        for key, value in self.data.items():
            arr = np.asarray(value)
            if arr.ndim == 0 or len(arr) != n:
                raise ValueError(f"data[{key!r}]: expected {n} rows, got shape {arr.shape}")
            data[key] = arr
        self.data = data

    @classmethod
    def empty(cls) -> Detections:
        """No detections."""
        return cls(
            xyxy=np.empty((0, 4), dtype=np.float32),
            confidence=np.empty(0, dtype=np.float32),
            class_id=np.empty(0, dtype=np.int64),
        )

    def __len__(self) -> int:
        return len(self.xyxy)

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self)))

    def __getitem__(self, index: int | slice | list[int] | NDArray[Any]) -> Detections:
        """Select rows by an int, a slice, a list of indices or a boolean mask."""
        if isinstance(index, int | np.integer):
            index = [int(index)]
        idx = np.asarray(index) if isinstance(index, list) else index
        if isinstance(idx, np.ndarray) and idx.dtype == bool and len(idx) != len(self):
            raise ValueError(f"mask: expected {len(self)} booleans, got {len(idx)}")
        return Detections(
            xyxy=self.xyxy[idx],
            confidence=self.confidence[idx],
            class_id=self.class_id[idx],
            tracker_id=self.tracker_id[idx] if len(self) else self.tracker_id,
            data={k: v[idx] for k, v in self.data.items()},
        )

    @classmethod
    def merge(cls, parts: list[Detections]) -> Detections:
        """Concatenate detections; every part must carry the same ``data`` keys."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        keys = set(parts[0].data)
        for p in parts[1:]:
            if set(p.data) != keys:
                raise ValueError(f"data keys differ: {sorted(keys)} vs {sorted(p.data)}")
        return cls(
            xyxy=np.concatenate([p.xyxy for p in parts]),
            confidence=np.concatenate([p.confidence for p in parts]),
            class_id=np.concatenate([p.class_id for p in parts]),
            tracker_id=np.concatenate([p.tracker_id for p in parts]),
            data={k: np.concatenate([p.data[k] for p in parts]) for k in keys},
        )

    def with_data(self, **columns: NDArray[Any]) -> Detections:
        """A copy with extra per-box columns added (validated like the rest)."""
        return Detections(
            xyxy=self.xyxy,
            confidence=self.confidence,
            class_id=self.class_id,
            tracker_id=self.tracker_id,
            data={**self.data, **columns},
        )

    @property
    def area(self) -> FloatArray:
        """Box areas in square pixels."""
        w = self.xyxy[:, 2] - self.xyxy[:, 0]
        h = self.xyxy[:, 3] - self.xyxy[:, 1]
        return np.asarray(w * h, dtype=np.float32)

    @property
    def bottom_center(self) -> FloatArray:
        """(n, 2) ground contact points: the middle of each box's bottom edge."""
        x = (self.xyxy[:, 0] + self.xyxy[:, 2]) / 2
        return np.asarray(np.column_stack([x, self.xyxy[:, 3]]), dtype=np.float32)

    def summary(self, names: Mapping[int, str] | None = None) -> str:
        """A short human-readable count per class, e.g. ``"3 person, 1 car"``."""
        if not len(self):
            return "nothing"
        ids, counts = np.unique(self.class_id, return_counts=True)
        names = names or {}
        return ", ".join(
            f"{c} {names.get(int(i), str(int(i)))}" for i, c in zip(ids, counts, strict=True)
        )


def _column(name: str, value: Any, n: int, dtype: type[np.generic]) -> NDArray[Any]:
    arr = np.asarray(value, dtype=dtype)
    if arr.size == 0 and n == 0:
        return arr.reshape(0)
    if arr.shape != (n,):
        raise ValueError(f"{name}: expected ({n},), got {arr.shape}")
    return arr


def box_iou(a: NDArray[np.floating[Any]], b: NDArray[np.floating[Any]]) -> NDArray[np.float64]:
    """Pairwise IoU of two sets of xyxy boxes: an (len(a), len(b)) matrix.

    Example:
        >>> box_iou(np.array([[0, 0, 10, 10]]), np.array([[5, 0, 15, 10]])).round(3)
        array([[0.333]])
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.asarray(np.divide(inter, union, out=np.zeros_like(inter), where=union > 0))
