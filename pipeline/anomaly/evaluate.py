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
  pixels score >= t; a normal frame is a false alarm when its score is >= t;
- ``leave_one_clip_out``: settings and threshold chosen for each clip on the other clips
  only (:mod:`pipeline.anomaly.loco`), the pooled held-out AUC and the alert figures.

Each frame's cues are measured once (:meth:`SceneScorer.measure`, with the detector's
outputs optionally cached per clip) and scored under every candidate setting.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from rich.console import Console
from rich.progress import track

from detectors.detections import Detections
from pipeline.anomaly.det_cache import load_detections, save_detections
from pipeline.anomaly.events import AnomalyError
from pipeline.anomaly.loco import (
    ClipScores,
    Scores,
    alert_figures,
    auc,
    leave_one_clip_out,
    weighted_auc,
)
from pipeline.anomaly.scene import SceneConfig, SceneScorer
from pipeline.anomaly.scene_cues import FrameCues, Grid

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


def _read(path: Path, flags: int) -> NDArray[np.uint8]:
    img = cv2.imread(str(path), flags)
    if img is None:
        raise AnomalyError(f"cannot read image {path}")
    return np.asarray(img, dtype=np.uint8)


# Candidate settings for leave-one-clip-out selection: small and symmetric (grids around
# the old default, each cue off / half / full weight), the same list for every fold.
GRIDS: tuple[Grid, ...] = ((12, 8), (15, 10), (18, 12))
CANDIDATES: tuple[dict[str, Any], ...] = tuple(
    {
        "grid": g,
        "object_weight": wo,
        "class_weight": wc,
        "size_weight": ws,
        "smooth_frames": sm,
        "cell_typical": ct,
    }
    for g in GRIDS
    for wo in (0.0, 0.5, 1.0)
    for wc in (0.0, 0.5, 1.0)
    for ws in (0.0, 0.5)
    for sm in (1, 5)
    for ct in (False, True)
)
FPS = 10.0  # UCSD clips run at 10 frames per second


def candidate_name(c: Mapping[str, Any]) -> str:
    """A short readable name of a candidate setting."""
    g = c["grid"]
    return (
        f"grid {g[0]}x{g[1]} object {c['object_weight']} class {c['class_weight']} "
        f"size {c['size_weight']} smooth {c['smooth_frames']}"
        f"{' per-cell' if c['cell_typical'] else ''}"
    )


class DetectionCache:
    """Runs the object detector on a clip's frames once, optionally kept on disk.

    With ``folder`` set, each clip's detections are stored as ``<clip>.npz`` there and read
    back on the next run, so trying settings does not re-run the detector.
    """

    def __init__(self, folder: Path | None, conf: float = 0.25) -> None:
        self.folder = folder
        self.conf = conf
        self._detector: Any = None

    def clip(self, clip: str, files: Sequence[Path]) -> list[Detections]:
        """The detections of each frame of ``clip`` (COCO ids, every class)."""
        path = self.folder / f"{clip}.npz" if self.folder is not None else None
        if path is not None and path.is_file():
            stored = load_detections(path)
            if len(stored) == len(files):
                return stored
        if self._detector is None:
            from detectors.objects import ObjectDetectorConfig, load_object_detector

            self._detector = load_object_detector(
                ObjectDetectorConfig(conf_threshold=self.conf, classes=None)
            )
        out = [self._detector.detect([_read(f, cv2.IMREAD_COLOR)])[0] for f in files]
        if path is not None:
            save_detections(path, out)
        return out


def score_cues(
    cues: Sequence[FrameCues | None], config: SceneConfig
) -> tuple[Scores, list[NDArray[np.float32]]]:
    """A fresh scorer's frame scores (and cell maps) over one clip's measured cues."""
    scorer = SceneScorer(config)
    cols, rows = config.grid
    scores, cells = np.zeros(len(cues)), []
    for k, c in enumerate(cues):
        if c is None:
            scorer.frames += 1
            cells.append(np.zeros((rows, cols), np.float32))
            continue
        scores[k], ratios = scorer.score(c)
        cells.append(ratios)
    return scores, cells


def evaluate(
    folder: Path,
    config: SceneConfig | None = None,
    *,
    clips: Sequence[str] | None = None,
    progress: bool = True,
    detector: bool = True,
    cache: Path | None = None,
) -> dict[str, Any]:
    """Score every clip of ``folder`` and compare with its labels (see module docstring).

    Args:
        folder: a folder in the ucsd_ped2 format.
        config: scorer parameters (defaults when None); the same for every clip.
        clips: only these clips (all when None).
        progress: show a progress bar on stderr.
        detector: run the object detector (object-speed and odd-class cues).
        cache: folder for the detector's outputs per clip (None: not kept).
    """
    config = config or SceneConfig()
    frames = read_labels(folder)
    if clips is not None:
        unknown = sorted(set(clips) - {f.clip for f in frames})
        if unknown:
            raise AnomalyError(f"{folder}: no clip {unknown[0]!r}")
        frames = [f for f in frames if f.clip in clips]
    names = sorted({f.clip for f in frames})
    by_clip = {c: [f for f in frames if f.clip == c] for c in names}
    dets_cache = DetectionCache(cache) if detector else None
    grids = sorted({config.grid, *GRIDS})
    measured: dict[str, list[FrameCues | None]] = {}
    started = time.perf_counter()
    console = Console(stderr=True)
    for clip in names:
        fs = by_clip[clip]
        dets = dets_cache.clip(clip, [f.file for f in fs]) if dets_cache is not None else None
        scorer = SceneScorer(config, camera=clip)
        measured[clip] = [
            scorer.measure(
                _read(f.file, cv2.IMREAD_COLOR), f.index / FPS, dets[k] if dets else None, grids
            )
            for k, f in enumerate(
                track(fs, f"scene cues {clip}", console=console, disable=not progress)
            )
        ]
    elapsed = time.perf_counter() - started
    report = _default_report(folder, config, by_clip, measured)
    report["ms_per_frame"] = round(1000 * elapsed / max(len(frames), 1), 2)
    report["detector"] = "yolov4-tiny, every COCO class" if detector else "none (motion only)"
    if len(names) >= 3:
        report["leave_one_clip_out"] = _loco(config, by_clip, measured)
    return report


def _loco(
    config: SceneConfig,
    by_clip: Mapping[str, Sequence[LabelledFrame]],
    measured: Mapping[str, Sequence[FrameCues | None]],
) -> dict[str, Any]:
    cands = [config.model_copy(update=c) for c in CANDIDATES]
    labels = {c: np.array([f.anomalous for f in fs]) for c, fs in by_clip.items()}
    per = [
        ClipScores(clip, labels[clip], [score_cues(measured[clip], k)[0] for k in cands])
        for clip in by_clip
    ]
    cand_names = [candidate_name(c) for c in CANDIDATES]
    rows, pooled_s, pooled_y, thresholds = leave_one_clip_out(per, cand_names)
    held = {
        r["clip"]: p.scores[cand_names.index(r["selected"])] for r, p in zip(rows, per, strict=True)
    }
    every_y = np.concatenate(list(labels.values()))
    all_auc = [auc(np.concatenate([p.scores[k] for p in per]), every_y) for k in range(len(cands))]
    best = int(np.argmax([a if a is not None else -1 for a in all_auc]))
    return {
        "rule": "for each clip, the setting with the best pooled frame AUC on the other clips "
        "and the Youden threshold on their frames; the clip's own labels are never used",
        "candidates": len(CANDIDATES),
        "pooled_frame_auc": _round(auc(pooled_s, pooled_y)),
        "clips": rows,
        "alerts_at_operating_threshold": alert_figures(
            held,
            labels,
            thresholds,
            fps=FPS,
            warmup_frames=config.warmup_frames,
            cooldown_frames=round(config.cooldown_s * FPS),
        ),
        "selected_on_all_clips": candidate_name(CANDIDATES[best]),
        "selected_on_all_clips_auc": _round(all_auc[best]),
    }


def _default_report(
    folder: Path,
    config: SceneConfig,
    by_clip: Mapping[str, Sequence[LabelledFrame]],
    measured: Mapping[str, Sequence[FrameCues | None]],
) -> dict[str, Any]:
    pix_scores: list[NDArray[np.float64]] = []
    pix_pos: list[NDArray[np.float64]] = []
    pix_tot: list[NDArray[np.float64]] = []
    loc_scores: list[tuple[float, float]] = []  # (score, 1 anomalous-localised / 0 normal)
    all_s, all_y, per_clip, clip_scores = [], [], [], {}
    for clip, fs in by_clip.items():
        s, cells = score_cues(measured[clip], config)
        y = np.array([f.anomalous for f in fs])
        clip_scores[clip] = s
        all_s.append(s)
        all_y.append(y)
        for k, f in enumerate(fs):
            if f.mask is None:
                continue
            flat, hit, tot, loc = _mask_stats(cells[k], _read(f.mask, cv2.IMREAD_GRAYSCALE))
            pix_scores.append(flat)
            pix_pos.append(hit)
            pix_tot.append(tot)
            if f.anomalous and loc is not None:
                loc_scores.append((loc, 1.0))
            elif not f.anomalous:
                loc_scores.append((float(s[k]), 0.0))
        hot = s >= config.threshold
        hot[: config.warmup_frames] = False
        per_clip.append(
            {
                "clip": clip,
                "frames": len(fs),
                "anomalous_frames": int(y.sum()),
                "frame_auc": _round(auc(s, y)),
                "mean_score_normal": _round(float(s[~y].mean()) if (~y).any() else None),
                "mean_score_anomalous": _round(float(s[y].mean()) if y.any() else None),
                "events": int((hot & ~np.concatenate([[False], hot[:-1]])).sum()),
            }
        )
    scores, labels = np.concatenate(all_s), np.concatenate(all_y)
    pixel_auc = None
    if pix_scores:
        pos = np.concatenate(pix_pos)
        pixel_auc = weighted_auc(np.concatenate(pix_scores), pos, np.concatenate(pix_tot) - pos)
    ucsd40 = None
    if loc_scores:
        arr = np.array(loc_scores, dtype=np.float64)
        ucsd40 = weighted_auc(arr[:, 0], arr[:, 1], 1 - arr[:, 1])
    flagged = scores >= config.threshold
    clip_labels = {c: np.array([f.anomalous for f in fs]) for c, fs in by_clip.items()}
    return {
        "dataset": str(folder),
        "method": "scene score: motion (fastest cell / typical speed), fastest object / typical "
        "person speed, odd-class confidence, moving-region size; calibrated online per clip",
        "config": config.model_dump(mode="json"),
        "frames": len(labels),
        "anomalous_frames": int(labels.sum()),
        "frame_auc": _round(auc(scores, labels)),
        "pixel_auc": _round(pixel_auc),
        "pixel_auc_definition": "per-pixel ROC AUC of the motion cell map against the masks, "
        "pooled over all pixels of frames with a mask (not the UCSD 40%-coverage criterion)",
        "pixel_auc_ucsd40": _round(ucsd40),
        "pixel_auc_ucsd40_definition": "the UCSD pixel-level criterion: an anomalous frame "
        "counts as detected at a threshold only when >= 40% of its mask pixels score above "
        "it; a normal frame is a false alarm when its frame score does; ROC AUC over frames "
        "with a mask",
        "mask_frames": len(pix_scores),
        "threshold": config.threshold,
        "frame_tpr_at_threshold": _round(float(flagged[labels].mean()) if labels.any() else None),
        "frame_fpr_at_threshold": _round(
            float(flagged[~labels].mean()) if (~labels).any() else None
        ),
        "alerts_at_threshold": alert_figures(
            clip_scores,
            clip_labels,
            dict.fromkeys(clip_scores, config.threshold),
            fps=FPS,
            warmup_frames=config.warmup_frames,
            cooldown_frames=round(config.cooldown_s * FPS),
        ),
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
