"""Leave-one-clip-out selection and the alert-level figures of a frame score.

A setting (grid, cue weights, smoothing) and the operating threshold must never be
chosen on the labels of the clip being scored. :func:`leave_one_clip_out` picks, for each
clip, the setting with the best pooled frame AUC on the *other* clips and the threshold
that best separates their frames (Youden's J), then scores the held-out clip with them.
The pooled AUC over the held-out scores is the figure that says how the method does on
clips it was not tuned on.

Alert-level figures are what an operator feels: an *incident* is a run of consecutive
anomalous frames; it is caught when at least one of its frames scores at or above the
threshold (after the warm-up). A false alarm is an alert (a rising edge of
``score >= threshold``, with the scorer's cooldown) raised on a normal frame.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

Scores = NDArray[np.float64]


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


@dataclass(frozen=True, slots=True)
class ClipScores:
    """One clip's frame labels and its frame scores under every candidate setting."""

    clip: str
    labels: NDArray[np.bool_]
    scores: Sequence[Scores]  # index: candidate setting


def auc(scores: Scores, labels: NDArray[np.bool_]) -> float | None:
    """Frame ROC AUC (ties count half); None when a class is absent."""
    y = labels.astype(np.float64)
    return weighted_auc(scores, y, 1 - y)


def youden_threshold(scores: Scores, labels: NDArray[np.bool_]) -> float:
    """The score threshold maximising TPR - FPR (the midpoint between two scores)."""
    order = np.unique(scores)
    if len(order) < 2 or labels.all() or not labels.any():
        return float(order[-1]) if len(order) else 0.0
    cuts = (order[:-1] + order[1:]) / 2
    pos, neg = scores[labels], scores[~labels]
    tpr = (pos[None, :] >= cuts[:, None]).mean(axis=1)
    fpr = (neg[None, :] >= cuts[:, None]).mean(axis=1)
    return float(cuts[int(np.argmax(tpr - fpr))])


def leave_one_clip_out(
    clips: Sequence[ClipScores], names: Sequence[str]
) -> tuple[list[dict[str, Any]], Scores, NDArray[np.bool_], dict[str, float]]:
    """Per held-out clip: the setting and threshold chosen on the others, and its scores.

    Args:
        clips: every clip with its scores under each candidate (same candidate order).
        names: a readable name for each candidate setting.

    Returns:
        per-clip rows, the pooled held-out scores and labels, and each clip's threshold.
    """
    rows, pooled, labels, thresholds = [], [], [], {}
    for held in clips:
        rest = [c for c in clips if c is not held]
        best_k, best_auc = 0, -1.0
        for k in range(len(names)):
            s = np.concatenate([c.scores[k] for c in rest])
            y = np.concatenate([c.labels for c in rest])
            a = auc(s, y)
            if a is not None and a > best_auc + 1e-9:
                best_k, best_auc = k, a
        train_s = np.concatenate([c.scores[best_k] for c in rest])
        train_y = np.concatenate([c.labels for c in rest])
        th = youden_threshold(train_s, train_y)
        thresholds[held.clip] = th
        s = held.scores[best_k]
        pooled.append(s)
        labels.append(held.labels)
        a = auc(s, held.labels)
        rows.append(
            {
                "clip": held.clip,
                "selected": names[best_k],
                "selected_on_others_auc": round(best_auc, 4),
                "frame_auc": None if a is None else round(a, 4),
                "threshold": round(th, 4),
            }
        )
    return rows, np.concatenate(pooled), np.concatenate(labels), thresholds


def alert_figures(
    scores: Mapping[str, Scores],
    labels: Mapping[str, NDArray[np.bool_]],
    thresholds: Mapping[str, float],
    *,
    fps: float,
    warmup_frames: int,
    cooldown_frames: int,
) -> dict[str, Any]:
    """Incident catch rate and false alarms per hour of normal footage (module docstring)."""
    incidents = caught = false_alarms = normal_frames = 0
    for clip, s in scores.items():
        y = labels[clip]
        th = thresholds[clip]
        hot = s >= th
        hot[:warmup_frames] = False
        for start, end in _runs(y):
            incidents += 1
            caught += bool(hot[start:end].any())
        normal_frames += int((~y).sum())
        last = -(10**9)
        for k in range(len(s)):
            rising = hot[k] and (k == 0 or not hot[k - 1])
            if rising and k - last >= cooldown_frames:
                last = k
                false_alarms += int(not y[k])
    hours = normal_frames / fps / 3600
    return {
        "incidents": incidents,
        "incidents_caught": caught,
        "catch_rate": round(caught / incidents, 4) if incidents else None,
        "false_alarms": false_alarms,
        "normal_hours": round(hours, 5),
        "false_alarms_per_hour": round(false_alarms / hours, 1) if hours else None,
    }


def _runs(y: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """[start, end) of each run of True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], y.astype(np.int8), [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]
