"""Accuracy and speed on a labelled face folder (the ``labels.csv`` format of shared/data).

``labels.csv`` columns: ``file,person,source,n_faces,license,notes``; ``person`` is an
identity key, several joined by ``|`` for group shots, or ``unknown_many``; ``notes`` may
hold ``duplicate_photo_of=<file>`` for re-encodings/crops of another photo.

Protocols (deterministic, nothing depends on file names beyond the labels):

- Photos: rows with one face and one person. The subject is the largest detected face.
  A photo whose subject is missed or fails the quality gate has no embedding (a
  "failure to extract"); it counts as a miss when it should have matched.
- Enrolment photo of a person: their first usable photo in ``labels.csv`` order.
- Verification: every pair of usable photos (or the ``--pairs`` CSV: ``file_a,file_b,same``),
  except pairs where one photo is a duplicate of the other or both copy the same photo.
  Accuracy is at the embedder's default threshold (not fitted to the data).
- Open-set identification, leave-one-identity-out: in turn, each person is held out
  (never enrolled) while every other person is enrolled with one photo. Probes: the
  enrolled people's other photos (mated; duplicates of their enrolment photo are left
  out) and all photos of the held-out person plus faces in group shots of people who are
  never enrolled (non-mated, strangers). The threshold is set on the stranger scores to
  the requested FPIR; FNIR is the share of mated probes not returned as the right
  person at that threshold (wrong person, below threshold, or no face).
"""

from __future__ import annotations

import csv
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm  # type: ignore[import-untyped]  # tqdm ships no stubs

from detectors.faces.analyzer import ACCEPTED, FaceAnalyzer
from detectors.faces.errors import FaceError
from detectors.faces.photos import read_photo
from detectors.faces.watchlist import DEFAULT_THRESHOLDS, FALLBACK_THRESHOLD

UNKNOWN = "unknown_many"
_DUP_KEY = "duplicate_photo_of="


@dataclass(frozen=True, slots=True)
class LabelRow:
    """One row of ``labels.csv``."""

    file: str
    persons: tuple[str, ...]
    n_faces: int
    duplicate_of: str | None


@dataclass(slots=True)
class Embedded:
    """What the pipeline made of one labelled image."""

    row: LabelRow
    vectors: NDArray[np.float32]  # (m, dim) accepted faces, largest first
    subject_reason: str | None = None  # why the subject has no embedding, if so
    faces_found: int = 0
    quality: float = 0.0  # the subject's quality score (multi-photo enrolment weights)


@dataclass(slots=True)
class Latency:
    """Per-call timings in milliseconds."""

    detect: list[float] = field(default_factory=list)
    embed_per_face: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        def stats(xs: list[float], name: str) -> dict[str, float]:
            if not xs:
                return {}
            a = np.asarray(xs)
            return {
                f"{name}_median": round(float(np.median(a)), 2),
                f"{name}_p90": round(float(np.percentile(a, 90)), 2),
            }

        return {
            **stats(self.detect, "detection_per_frame"),
            **stats(self.embed_per_face, "embedding_per_face"),
        }


def read_labels(root: Path) -> list[LabelRow]:
    """Parse ``root/labels.csv``; :class:`FaceError` naming the file and line otherwise."""
    path = root / "labels.csv"
    if not path.is_file():
        raise FaceError(f"{path}: not found; expected a labels.csv (file,person,...,n_faces)")
    rows = []
    with path.open(newline="", encoding="utf-8") as fh:
        for line, rec in enumerate(csv.DictReader(fh), start=2):
            try:
                file, person, n = rec["file"], rec["person"], int(rec["n_faces"] or 0)
            except (KeyError, TypeError, ValueError) as exc:
                raise FaceError(f"{path}:{line}: bad row ({exc})") from None
            notes = rec.get("notes") or ""
            dup = None
            for part in notes.replace(";", " ").split():
                if part.startswith(_DUP_KEY):
                    dup = part[len(_DUP_KEY) :]
            persons = tuple(p for p in person.split("|") if p)
            rows.append(LabelRow(file, persons, n, dup))
    return rows


def embed_rows(
    root: Path, rows: Iterable[LabelRow], analyzer: FaceAnalyzer, *, progress: bool = True
) -> tuple[list[Embedded], Latency]:
    """Run detection, quality gate and embedding on every still image in ``rows``."""
    rows = [r for r in rows if Path(r.file).suffix.lower() in {".jpg", ".jpeg", ".png", ".bmp"}]
    out, lat = [], Latency()
    for row in tqdm(rows, desc="faces", unit="img", disable=not progress, leave=False):
        image, _ = read_photo(root / row.file)
        t0 = time.perf_counter()
        faces = analyzer.detect_photo(image)
        t1 = time.perf_counter()
        faces = analyzer.describe(image, faces)
        t2 = time.perf_counter()
        lat.detect.append((t1 - t0) * 1000)
        ok = faces.data["skip_reason"] == ACCEPTED
        if ok.any():
            lat.embed_per_face.append((t2 - t1) * 1000 / int(ok.sum()))
        order = np.argsort(-faces.area, kind="stable")
        reason = None
        if not len(faces):
            reason = "no_face"
        elif not ok[order[0]]:
            reason = str(faces.data["skip_reason"][order[0]])
        vecs = faces.data["embedding"][order][ok[order]]
        q = float(faces.data["quality"][order[0]]) if len(faces) else 0.0
        out.append(Embedded(row, np.asarray(vecs, dtype=np.float32), reason, len(faces), q))
    return out, lat


def _singles(items: list[Embedded]) -> list[Embedded]:
    return [e for e in items if e.row.n_faces == 1 and len(e.row.persons) == 1]


def _subject(e: Embedded) -> NDArray[np.float32] | None:
    return e.vectors[0] if e.subject_reason is None and len(e.vectors) else None


def _related(a: LabelRow, b: LabelRow) -> bool:
    """Same photo re-encoded or cropped: never a fair pair."""
    return (
        a.duplicate_of == b.file
        or b.duplicate_of == a.file
        or (a.duplicate_of is not None and a.duplicate_of == b.duplicate_of)
    )


def tar_at_far(gen: NDArray[np.float64], imp: NDArray[np.float64], far: float) -> float:
    """True-accept rate at the threshold that lets at most ``far`` of impostors through."""
    if not len(gen) or not len(imp):
        return float("nan")
    thr = threshold_at_rate(imp, far)
    return float((gen >= thr).mean())


def threshold_at_rate(negatives: NDArray[np.float64], rate: float) -> float:
    """Lowest threshold with at most ``rate`` of ``negatives`` at or above it."""
    if not len(negatives):
        return float("nan")
    s = np.sort(np.asarray(negatives, dtype=np.float64))[::-1]
    allowed = int(np.floor(rate * len(s)))
    if allowed >= len(s):
        return float(s[-1])
    return float(np.nextafter(s[allowed], np.inf))


def verification(
    items: list[Embedded], threshold: float, pairs: list[tuple[str, str, bool]] | None = None
) -> dict[str, Any]:
    """Same/different decisions on pairs of photos."""
    by_file = {e.row.file: e for e in items}
    if pairs is None:
        singles = _singles(items)
        pairs = [
            (a.row.file, b.row.file, a.row.persons == b.row.persons)
            for i, a in enumerate(singles)
            for b in singles[i + 1 :]
            if not _related(a.row, b.row)
        ]
    gen: list[float] = []
    imp: list[float] = []
    scores: list[float] = []
    correct = failed = 0
    for fa, fb, same in pairs:
        if fa not in by_file or fb not in by_file:
            raise FaceError(f"pairs: {fa if fa not in by_file else fb} is not in labels.csv")
        va, vb = _subject(by_file[fa]), _subject(by_file[fb])
        sim = float(va @ vb) if va is not None and vb is not None else -1.0
        failed += int(va is None or vb is None)
        (gen if same else imp).append(sim)
        scores.append(sim)
        correct += int((sim >= threshold) == same)
    g, m = np.asarray(gen), np.asarray(imp)
    persons = {f: frozenset(by_file[f].row.persons) for fa, fb, _ in pairs for f in (fa, fb)}
    return {
        "verification_accuracy": round(correct / max(len(pairs), 1), 4),
        "verification_threshold": threshold,
        "verification_accuracy_loio": _loio_accuracy(pairs, scores, persons),
        "tar_at_far_1e-2": round(tar_at_far(g, m, 1e-2), 4),
        "tar_at_far_1e-3": round(tar_at_far(g, m, 1e-3), 4),
        "n_genuine_pairs": len(g),
        "n_impostor_pairs": len(m),
        "n_pairs_without_face": failed,  # counted as "different" (FRVT convention)
    }


def best_threshold(gen: NDArray[np.float64], imp: NDArray[np.float64]) -> float:
    """The threshold with the most correct same/different decisions (ties: the midpoint)."""
    cand = np.unique(np.concatenate([gen, imp]))
    if not len(cand):
        return float("nan")
    correct = [(gen >= t).sum() + (imp < t).sum() for t in cand]
    i = int(np.argmax(correct))
    lo = cand[i - 1] if i else cand[i] - 1e-3
    return float((lo + cand[i]) / 2)


def _loio_accuracy(
    pairs: list[tuple[str, str, bool]], scores: list[float], persons: dict[str, frozenset[str]]
) -> float:
    """Verification accuracy with the threshold of each pair fitted on the pairs of
    *other* people only (leave-one-identity-out): what a threshold chosen on one
    population gives on people it has never seen."""
    sc = np.asarray(scores, dtype=np.float64)
    same = np.asarray([p[2] for p in pairs])
    who = [persons[fa] | persons[fb] for fa, fb, _ in pairs]
    correct = 0
    for i in range(len(pairs)):
        train = np.asarray([not (w & who[i]) for w in who])
        thr = best_threshold(sc[train & same], sc[train & ~same])
        correct += int((sc[i] >= thr) == same[i])
    return round(correct / max(len(pairs), 1), 4)


def identification_scores(
    items: list[Embedded],
    *,
    enrol_photos: int = 1,
    probe_from: int | None = None,
    template: Literal["best", "mean"] = "best",
    track: int = 1,
    aggregate: Literal["first", "mean"] = "mean",
    people: set[str] | None = None,
    cohort: NDArray[np.float32] | None = None,
    cohort_k: int = 0,
) -> tuple[list[tuple[float, bool]], list[float]]:
    """Leave-one-identity-out searches (see the module doc).

    Args:
        enrol_photos: each person is enrolled with their first ``enrol_photos`` usable
            photos (``labels.csv`` order).
        probe_from: mated probes are a person's photos from this position on (default:
            every photo after the enrolment ones); fixing it compares 1, 3 or 5 enrolment
            photos on the same probes.
        template: ``best`` scores a person by their most similar enrolment photo (what
            the watchlist search does), ``mean`` by the quality-weighted mean of them.
        track: probe with "tracks" of this many consecutive photos of one person
            (sliding windows), mated and stranger alike; group-shot faces stay tracks of
            one. ``aggregate`` ``mean`` searches with the re-normalised mean of the
            window's accepted faces (what :class:`TrackFaceMatcher` does), ``first``
            with its first photo only; a window with no accepted face is a miss.
        people: only these identities take part (enrolled, probed, held out).
        cohort, cohort_k: adaptive s-norm against the top ``cohort_k`` scores of the
            probe and of each template with ``cohort``, faces of people who are never
            enrolled nor probed (``cohort_k`` 0: raw cosine).

    Returns:
        Mated searches as (score of the top hit, top hit is the right person) — a failed
        extraction is (-inf, False) — and the top score of every stranger search.
    """
    singles = [e for e in _singles(items) if people is None or e.row.persons[0] in people]
    photos, enrol, probes = _split(singles, enrol_photos, probe_from)
    names = sorted(photos)
    outsiders = [  # faces in group shots of people who are never enrolled
        e
        for e in items
        if not (e.row.n_faces == 1 and len(e.row.persons) == 1)
        and e.row.persons
        and UNKNOWN not in e.row.persons
        and not set(e.row.persons) & set(names)
    ]
    norm = _SNorm(cohort, cohort_k)
    mated: list[tuple[float, bool]] = []
    strangers: list[float] = []
    for held_out in names:
        gallery = [p for p in enrol if p != held_out]
        if not gallery:
            continue
        rows, labels = _templates(gallery, enrol, template)
        stats = norm.gallery(rows)

        def top(
            v: NDArray[np.float32], rows: NDArray[np.float32] = rows, stats: Any = stats
        ) -> tuple[float, int]:
            sims = norm.scores(rows @ v, v, stats)
            i = int(np.argmax(sims))
            return float(sims[i]), i

        for v in _tracks(photos[held_out], track, aggregate):
            if v is not None:
                strangers.append(top(v)[0])
        for p in gallery:
            for v in _tracks(probes.get(p, []), track, aggregate):
                if v is None:
                    mated.append((-np.inf, False))
                    continue
                sim, i = top(v)
                mated.append((sim, labels[i] == p))
        for e in outsiders:
            strangers.extend(top(v)[0] for v in e.vectors)
    return mated, strangers


def _tracks(es: list[Embedded], k: int, aggregate: str) -> Iterable[NDArray[np.float32] | None]:
    """The probe vector of each window of ``k`` consecutive photos (see above)."""
    for i in range(max(len(es) - k + 1, 0)):
        window = es[i : i + 1] if aggregate == "first" else es[i : i + k]
        vecs = [v for v in (_subject(e) for e in window) if v is not None]
        if not vecs:
            yield None
            continue
        m = np.mean(vecs, axis=0)
        yield np.asarray(m / max(float(np.linalg.norm(m)), 1e-12), dtype=np.float32)


class _SNorm:
    """Adaptive symmetric score normalisation (s-norm) against a cohort; identity when
    there is no cohort."""

    def __init__(self, cohort: NDArray[np.float32] | None, k: int) -> None:
        self.cohort = cohort if cohort is not None and k > 0 and len(cohort) else None
        self.k = min(k, len(cohort)) if self.cohort is not None and cohort is not None else 0

    def _stats(self, sims: NDArray[np.float32]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        top = np.sort(np.asarray(sims, dtype=np.float64), axis=-1)[..., -self.k :]
        return top.mean(-1), top.std(-1) + 1e-6

    def gallery(self, rows: NDArray[np.float32]) -> Any:
        return None if self.cohort is None else self._stats(rows @ self.cohort.T)

    def scores(self, raw: NDArray[np.float32], v: NDArray[np.float32], stats: Any) -> Any:
        if self.cohort is None:
            return raw
        t_mu, t_sd = stats
        p_mu, p_sd = self._stats(self.cohort @ v)
        return 0.5 * ((raw - t_mu) / t_sd + (raw - p_mu) / p_sd)


def _split(
    singles: list[Embedded], enrol_photos: int, probe_from: int | None
) -> tuple[dict[str, list[Embedded]], dict[str, list[Embedded]], dict[str, list[Embedded]]]:
    """Photos per person, the enrolment photos and the mated probes of each."""
    photos: dict[str, list[Embedded]] = {}
    for e in singles:
        photos.setdefault(e.row.persons[0], []).append(e)
    enrol: dict[str, list[Embedded]] = {}
    probes: dict[str, list[Embedded]] = {}
    for p, es in photos.items():
        chosen = [e for e in es if _subject(e) is not None][:enrol_photos]
        if not chosen:
            continue
        enrol[p] = chosen
        ids = {id(e) for e in chosen}
        probes[p] = [
            e
            for pos, e in enumerate(es)
            if id(e) not in ids
            and (probe_from is None or pos >= probe_from)
            and not any(_related(r.row, e.row) for r in chosen)
        ]
    return photos, enrol, probes


def _templates(
    gallery: list[str], enrol: dict[str, list[Embedded]], template: str
) -> tuple[NDArray[np.float32], list[str]]:
    rows: list[NDArray[np.float32]] = []
    labels: list[str] = []
    for p in gallery:
        vecs = np.stack([_subject(e) for e in enrol[p]])  # type: ignore[misc]
        if template == "mean":
            w = np.asarray([max(e.quality, 1e-3) for e in enrol[p]], dtype=np.float32)
            mean = (vecs * w[:, None]).sum(0)
            rows.append(mean / max(float(np.linalg.norm(mean)), 1e-12))
            labels.append(p)
        else:
            rows.extend(vecs)
            labels.extend([p] * len(vecs))
    return np.asarray(rows, dtype=np.float32), labels


def identification(items: list[Embedded], fpir: float, **how: Any) -> dict[str, Any]:
    """FNIR at the threshold that gives ``fpir`` on strangers (``how``: see
    :func:`identification_scores`)."""
    mated, strangers = identification_scores(items, **how)
    s = np.asarray(strangers, dtype=np.float64)
    thr = threshold_at_rate(s, fpir)
    hits = [ok and sim >= thr for sim, ok in mated]
    return {
        f"fnir_at_fpir_{fpir:g}": round(1 - float(np.mean(hits)), 4) if mated else float("nan"),
        "fpir": round(float((s >= thr).mean()), 4) if len(s) else float("nan"),
        "identification_threshold": round(thr, 4),
        "n_probes": len(mated) + len(strangers),
        "n_mated_probes": len(mated),
        "n_stranger_probes": len(strangers),
        "rank1_accuracy": round(float(np.mean([ok for _, ok in mated])), 4) if mated else None,
    }


def read_pairs(path: Path) -> list[tuple[str, str, bool]]:
    """A pairs CSV: ``file_a,file_b,same`` with ``same`` 1/0 (or true/false)."""
    pairs = []
    with path.open(newline="", encoding="utf-8") as fh:
        for line, rec in enumerate(csv.DictReader(fh), start=2):
            try:
                same = str(rec["same"]).strip().lower() in {"1", "true", "yes"}
                pairs.append((rec["file_a"], rec["file_b"], same))
            except KeyError as exc:
                raise FaceError(f"{path}:{line}: missing column {exc}") from None
    return pairs


def evaluate(
    root: Path,
    analyzer: FaceAnalyzer,
    *,
    pairs: Path | None = None,
    fpir: float = 0.01,
    progress: bool = True,
) -> dict[str, Any]:
    """Every figure of ``shouwang eval faces`` as one JSON-ready dict."""
    rows = read_labels(root)
    items, lat = embed_rows(root, rows, analyzer, progress=progress)
    thr = DEFAULT_THRESHOLDS.get(analyzer.embedder.name, FALLBACK_THRESHOLD)
    reasons: dict[str, int] = {}
    for e in _singles(items):
        if e.subject_reason:
            reasons[e.subject_reason] = reasons.get(e.subject_reason, 0) + 1
    return {
        "dataset": str(root),
        "embedder": analyzer.embedder.name,
        "n_images": len(items),
        "failures_to_extract": reasons,
        "rejected_photos": sorted(e.row.file for e in _singles(items) if e.subject_reason),
        **verification(items, thr, read_pairs(pairs) if pairs else None),
        **identification(items, fpir),
        "enrolment_photos": enrolment_comparison(items, fpir),
        "track_aggregation": track_comparison(items, fpir),
        "score_normalisation": snorm_comparison(items, fpir),
        "latency_ms": lat.summary(),
    }


def enrolment_comparison(items: list[Embedded], fpir: float) -> dict[str, Any]:
    """FNIR and rank-1 with 1, 3 or 5 enrolment photos per person, on the same probes.

    Keys ``probes_from_<p>/<k>_<template>``: probes are each person's photos from
    position ``p`` on (so only people with more than ``p`` usable photos are probed),
    enrolment uses the first ``k`` (``k`` ≤ ``p``), scored by the best photo or the
    quality-weighted mean template.
    """
    out: dict[str, Any] = {}
    for start in (3, 5):
        for k in (1, 3, 5):
            if k > start:
                continue
            for template in ("best", "mean"):
                if k == 1 and template == "mean":
                    continue
                r = identification(items, fpir, enrol_photos=k, probe_from=start, template=template)
                if not r["n_mated_probes"]:
                    continue
                out[f"probes_from_{start}/{k}_{template}"] = {
                    key: r[key]
                    for key in (f"fnir_at_fpir_{fpir:g}", "rank1_accuracy", "n_mated_probes")
                }
    return out


def track_comparison(items: list[Embedded], fpir: float) -> dict[str, Any]:
    """FNIR and rank-1 when each search is a "track" of 2 or 3 consecutive photos of one
    person, searched with its first photo or with the mean of its faces (per-track
    aggregation), on the same windows."""
    out: dict[str, Any] = {}
    for k in (2, 3):
        for how in ("first", "mean"):
            r = identification(items, fpir, track=k, aggregate=how)
            if r["n_mated_probes"]:
                out[f"tracks_of_{k}/{how}"] = {
                    key: r[key]
                    for key in (f"fnir_at_fpir_{fpir:g}", "rank1_accuracy", "n_mated_probes")
                }
    return out


SNORM_K = (10, 20, 40)


def snorm_comparison(items: list[Embedded], fpir: float) -> dict[str, Any]:
    """Adaptive s-norm against a cohort of faces that are never enrolled, against raw
    cosine, on the same searches.

    The identities (sorted) are split alternately into two halves; each half in turn is
    searched leave-one-identity-out while the other half's photos are the cohort, and
    the searches of both halves are pooled. ``raw`` is the same split without
    normalisation (galleries half the size of the full protocol's).
    """
    singles = [e for e in _singles(items) if _subject(e) is not None]
    names = sorted({e.row.persons[0] for e in singles})
    if len(names) < 4:
        return {}
    halves = [set(names[0::2]), set(names[1::2])]
    out: dict[str, Any] = {}
    for k in (0, *SNORM_K):
        mated: list[tuple[float, bool]] = []
        strangers: list[float] = []
        for h in (0, 1):
            vecs = [_subject(e) for e in singles if e.row.persons[0] in halves[1 - h]]
            cohort = np.stack([v for v in vecs if v is not None])
            m, st = identification_scores(items, people=halves[h], cohort=cohort, cohort_k=k)
            mated += m
            strangers += st
        out["raw" if k == 0 else f"k={k}"] = _open_set(mated, strangers, fpir)
    return out


def _open_set(mated: list[tuple[float, bool]], strangers: list[float], fpir: float) -> Any:
    s = np.asarray(strangers, dtype=np.float64)
    thr = threshold_at_rate(s, fpir)
    return {
        f"fnir_at_fpir_{fpir:g}": round(
            1 - float(np.mean([ok and x >= thr for x, ok in mated])), 4
        ),
        "rank1_accuracy": round(float(np.mean([ok for _, ok in mated])), 4),
        "n_mated_probes": len(mated),
    }


def calibrate(root: Path, analyzer: FaceAnalyzer, fpir: float, *, progress: bool = True) -> float:
    """The threshold that gives ``fpir`` false alarms on the folder's strangers."""
    items, _ = embed_rows(root, read_labels(root), analyzer, progress=progress)
    _, strangers = identification_scores(items)
    if not strangers:
        raise FaceError(f"{root}: no stranger probes; need at least two labelled people")
    return threshold_at_rate(np.asarray(strangers, dtype=np.float64), fpir)
