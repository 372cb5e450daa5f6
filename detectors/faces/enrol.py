"""Enrolment: photos of one person into a watchlist, refusing anything doubtful."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from detectors.faces.analyzer import ACCEPTED, FaceAnalyzer
from detectors.faces.errors import PhotoError
from detectors.faces.photos import read_photo
from detectors.faces.watchlist import WatchlistStore

log = logging.getLogger(__name__)

_WHY = {
    "small": "it is too small (eyes under the minimum distance); use a closer photo",
    "blurred": "it is blurred; use a sharp photo",
    "profile": "the head is turned sideways; use a frontal photo",
    "pitched": "the head is tilted up or down; use a frontal photo",
    "edge": "it is cut off by the photo's border; use a photo showing the whole face",
    "low_confidence": "the detector is unsure it is a face; use a clearer photo",
}


def embed_photo(analyzer: FaceAnalyzer, path: Path) -> tuple[np.ndarray, bytes]:
    """The one good face of an enrolment photo.

    Returns:
        Its (dim,) unit embedding and the photo's bytes.

    Raises:
        PhotoError: naming the file when it is unreadable, huge or corrupt, shows no face,
            several faces, or a face the quality gate rejects (with the reason).
    """
    image, data = read_photo(path)
    faces = analyzer.analyze_photo(image)
    if len(faces) == 0:
        raise PhotoError(f"{path}: no face found; use a clear, frontal photo of the person")
    if len(faces) > 1:
        raise PhotoError(
            f"{path}: {len(faces)} faces found; enrolment needs a photo of exactly one person "
            "(crop it to the person)"
        )
    reason = str(faces.data["skip_reason"][0])
    if reason != ACCEPTED:
        why = _WHY.get(reason, reason)
        raise PhotoError(f"{path}: the face is not good enough to enrol: {why}")
    return faces.data["embedding"][0], data


def enrol(
    store: WatchlistStore,
    analyzer: FaceAnalyzer,
    list_id: str,
    name: str,
    photos: Sequence[Path],
) -> int:
    """Embed every photo, then add the person in one transaction.

    Every photo is checked before anything is written, so a bad photo leaves the
    watchlist unchanged.

    Returns:
        The new entry id.
    """
    if not photos:
        raise PhotoError("give at least one photo")
    store.get_list(list_id)
    vecs, blobs = [], []
    for p in photos:
        v, data = embed_photo(analyzer, p)
        vecs.append(v)
        blobs.append((p.name, data))
    return store.add_entry(
        list_id, name, np.stack(vecs), model=analyzer.embedder.name, photos=blobs
    )
