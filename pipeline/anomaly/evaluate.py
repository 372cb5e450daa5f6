"""Scoring the scene anomaly score on a labelled folder in the ``ucsd_ped2`` format.

The folder holds ``frame_labels.csv`` with the columns
``clip,frame_1based,file,anomalous,mask_file,mask_pixels`` (paths relative to the
folder; ``mask_file`` may be empty). Every clip is scored as its own stream by a fresh
:class:`SceneScorer` (no state carried between clips, no labels seen), then:

- ``frame_auc``: ROC AUC of the per-frame score against ``anomalous``, pooled over all
  frames of all clips (the benchmark's standard frame-level figure);
- ``pixel_auc``: ROC AUC of the per-pixel score map (each pixel takes its cell's
  ratio) against the ground-truth masks, pooled over every pixel of every frame that
  has a mask. This is the plain per-pixel ROC of a score map, *not* the older UCSD
  "pixel-level" criterion (a frame counted detected when 40% of its anomalous pixels are
  covered), and is not comparable to figures quoted under that name;
- ``pixel_auc_ucsd40``: that older criterion, as a ROC AUC over the frames with a mask:
  an anomalous frame counts as a hit at threshold t only if at least 40% of its mask
  pixels score >= t; a normal frame is a false alarm when its score is >= t.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from rich.console import Console
from rich.progress import track

from pipeline.anomaly.events import AnomalyError
from pipeline.anomaly.scene import SceneConfig, SceneScorer

LABEL_FILES = ("frame_labels.csv", "labels.csv")
COLUMNS = ("clip", "frame_1based", "file", "anomalous")


@dataclass(frozen=True, slots=True)
class LabelledFrame:
    """One row of ``frame_labels.csv``."""

    clip: str
    index: int
    file: Path
    anomalous: bool
    mask: Path | None


def read_labels(folder: Path) -> list[LabelledFrame]:
    """The labelled frames of a folder, in clip then frame order.

    Raises:
        AnomalyError: no label file, a missing column, or a bad value (row named).
    """
    path = next((folder / n for n in LABEL_FILES if (folder / n).is_file()), None)
    if path is None:
        raise AnomalyError(f"{folder}: no {' or '.join(LABEL_FILES)} (ucsd_ped2 format)")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise AnomalyError(f"{path}: missing column(s) {', '.join(missing)}")
        out = []
        for n, row in enumerate(reader, start=2):
            try:
                mask = (row.get("mask_file") or "").strip()
                out.append(
                    LabelledFrame(
                        clip=row["clip"],
                        index=int(row["frame_1based"]),
                        file=folder / row["file"],
                        anomalous=int(row["anomalous"]) == 1,
                        mask=folder / mask if mask else None,
                    )
                )
            except (TypeError, ValueError) as exc:
                raise AnomalyError(f"{path}, line {n}: {exc}") from None
    out.sort(key=lambda f: (f.clip, f.index))
    return out


def weighted_auc(
    scores: NDArray[np.float64], pos: NDArray[np.float64], neg: NDArray[np.float64]
) -> float | None:
    """ROC AUC where item i stands for ``pos[i]`` positives and ``neg[i]`` negatives.

    Ties count one half (the Mann-Whitney convention). None when a class is absent.
    """
    total_p, total_n = float(pos.sum()), float(neg.sum())
    if total_p == 0 or total_n == 0:
        return None
    _, idx = np.unique(scores, return_inverse=True)
    p = np.bincount(idx, weights=pos)
    n = np.bincount(idx, weights=neg)
    below = np.cumsum(n) - n
    return float((p * (below + 0.5 * n)).sum() / (total_p * total_n))


def _read(path: Path, flags: int) -> NDArray[np.uint8]:
    img = cv2.imread(str(path), flags)
    if img is None:
        raise AnomalyError(f"cannot read image {path}")
    return np.asarray(img, dtype=np.uint8)


def evaluate(
    folder: Path,
    config: SceneConfig | None = None,
    *,
    clips: Sequence[str] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Score every clip of ``folder`` and compare with its labels (see module docstring).

    Args:
        folder: a folder in the ucsd_ped2 format.
        config: scorer parameters (defaults when None); the same for every clip.
        clips: only these clips (all when None).
        progress: show a progress bar on stderr.
    """
    config = config or SceneConfig()
    frames = read_labels(folder)
    if clips is not None:
        unknown = sorted(set(clips) - {f.clip for f in frames})
        if unknown:
            raise AnomalyError(f"{folder}: no clip {unknown[0]!r}")
        frames = [f for f in frames if f.clip in clips]
    scores = np.zeros(len(frames))
    labels = np.array([f.anomalous for f in frames], dtype=np.float64)
    pix_scores: list[NDArray[np.float64]] = []
    pix_pos: list[NDArray[np.float64]] = []
    pix_tot: list[NDArray[np.float64]] = []
    loc_scores: list[tuple[float, float]] = []  # (score, 1 anomalous-localised / 0 normal)
    events: dict[str, int] = {}
    scorer: SceneScorer | None = None
    started = time.perf_counter()
    bar = track(frames, "scene score", console=Console(stderr=True), disable=not progress)
    for k, f in enumerate(bar):
        if scorer is None or k == 0 or frames[k - 1].clip != f.clip:
            scorer = SceneScorer(config, camera=f.clip)
        image = _read(f.file, cv2.IMREAD_COLOR)
        result = scorer.update(image, f.index / 10.0)  # UCSD clips run at 10 fps
        scores[k] = result.score
        events[f.clip] = events.get(f.clip, 0) + len(result.events)
        if f.mask is not None:
            cells, hit, tot, loc = _mask_stats(result.cells, _read(f.mask, cv2.IMREAD_GRAYSCALE))
            pix_scores.append(cells)
            pix_pos.append(hit)
            pix_tot.append(tot)
            if f.anomalous and loc is not None:
                loc_scores.append((loc, 1.0))
            elif not f.anomalous:
                loc_scores.append((result.score, 0.0))
    elapsed = time.perf_counter() - started
    pixel_auc = None
    if pix_scores:
        pos = np.concatenate(pix_pos)
        pixel_auc = weighted_auc(np.concatenate(pix_scores), pos, np.concatenate(pix_tot) - pos)
    ucsd40 = None
    if loc_scores:
        arr = np.array(loc_scores, dtype=np.float64)
        ucsd40 = weighted_auc(arr[:, 0], arr[:, 1], 1 - arr[:, 1])
    th = config.threshold
    flagged = scores >= th
    per_clip = []
    for clip in sorted({f.clip for f in frames}):
        sel = np.array([f.clip == clip for f in frames])
        y, s = labels[sel], scores[sel]
        per_clip.append(
            {
                "clip": clip,
                "frames": int(sel.sum()),
                "anomalous_frames": int(y.sum()),
                "frame_auc": _round(weighted_auc(s, y, 1 - y)),
                "mean_score_normal": _round(float(s[y == 0].mean()) if (y == 0).any() else None),
                "mean_score_anomalous": _round(float(s[y == 1].mean()) if y.any() else None),
                "events": events.get(clip, 0),
            }
        )
    return {
        "dataset": str(folder),
        "method": "scene motion score: fastest grid cell's mean Farneback flow / running "
        "typical speed of moving pixels; calibrated online per clip, no labels",
        "config": config.model_dump(mode="json"),
        "frames": len(frames),
        "anomalous_frames": int(labels.sum()),
        "frame_auc": _round(weighted_auc(scores, labels, 1 - labels)),
        "pixel_auc": _round(pixel_auc),
        "pixel_auc_definition": "per-pixel ROC AUC of the cell score map against the masks, "
        "pooled over all pixels of frames with a mask (not the UCSD 40%-coverage criterion)",
        "pixel_auc_ucsd40": _round(ucsd40),
        "pixel_auc_ucsd40_definition": "the UCSD pixel-level criterion: an anomalous frame "
        "counts as detected at a threshold only when >= 40% of its mask pixels score above "
        "it; a normal frame is a false alarm when any cell does; ROC AUC over frames with "
        "a mask",
        "mask_frames": len(pix_scores),
        "threshold": th,
        "frame_tpr_at_threshold": _round(
            float(flagged[labels == 1].mean()) if labels.any() else None
        ),
        "frame_fpr_at_threshold": _round(
            float(flagged[labels == 0].mean()) if (labels == 0).any() else None
        ),
        "ms_per_frame": round(1000 * elapsed / max(len(frames), 1), 2),
        "clips": per_clip,
    }


def _mask_stats(
    cells: NDArray[np.float32], mask_image: NDArray[np.uint8]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], float | None]:
    """Per cell: score, mask pixels, all pixels; and the frame's 40%-coverage score.

    The last value is the highest threshold at which at least 40% of the mask's pixels
    are flagged (None for an empty mask).
    """
    mask = mask_image > 0
    rows, cols = cells.shape
    h, w = mask.shape
    cell_of = (np.arange(h)[:, None] * rows // h) * cols + np.arange(w)[None, :] * cols // w
    flat = cells.ravel().astype(np.float64)
    hit = np.bincount(cell_of.ravel(), weights=mask.ravel(), minlength=rows * cols)
    tot = np.bincount(cell_of.ravel(), minlength=rows * cols).astype(np.float64)
    loc = None
    if mask.any():
        inside = np.sort(flat[cell_of[mask]])[::-1]
        loc = float(inside[int(np.ceil(0.4 * len(inside))) - 1])
    return flat, np.asarray(hit, dtype=np.float64), tot, loc


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)
