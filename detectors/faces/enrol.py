"""Enrolment: photos of one person into a watchlist, refusing anything doubtful."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from detectors.faces.analyzer import ACCEPTED, FaceAnalyzer
from detectors.faces.errors import PhotoError, WatchlistError
from detectors.faces.photos import decode_photo, read_photo
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


def embed_photo(
    analyzer: FaceAnalyzer, image: np.ndarray, path: str, *, purpose: str = "enrol"
) -> tuple[np.ndarray, float]:
    """The one good face of a given photo: its (dim,) unit embedding and quality.

    The one quality check every photo a person hands in passes: enrolment, re-embedding
    and police watch orders.

    Args:
        path: names the photo in errors (a file, or a request field such as ``photo``).
        purpose: what the photo is for, in the error ("enrol", "watch for").

    Raises:
        PhotoError: naming ``path`` when the photo shows no face, several faces, or a
            face the quality gate rejects (with the reason).
    """
    faces = analyzer.analyze_photo(image)
    if len(faces) == 0:
        raise PhotoError(f"{path}: no face found; use a clear, frontal photo of the person")
    if len(faces) > 1:
        raise PhotoError(
            f"{path}: {len(faces)} faces found; a photo of exactly one person is needed "
            "(crop it to the person)"
        )
    reason = str(faces.data["skip_reason"][0])
    if reason != ACCEPTED:
        why = _WHY.get(reason, reason)
        raise PhotoError(f"{path}: the face is not good enough to {purpose}: {why}")
    return faces.data["embedding"][0], float(faces.data["quality"][0])


def template(vectors: Sequence[np.ndarray], qualities: Sequence[float]) -> np.ndarray:
    """One unit template from several photos: their quality-weighted mean.

    On the East-Asian development set three photos averaged this way miss far fewer
    people than one photo or the best of three (docs/faces.md, enrolment photos).
    """
    w = np.maximum(np.asarray(qualities, dtype=np.float32), 1e-3)
    mean = (np.stack(vectors).astype(np.float32) * w[:, None]).sum(0)
    return np.asarray(mean / max(float(np.linalg.norm(mean)), 1e-12), dtype=np.float32)


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
    model = analyzer.embedder.name
    store.check_model(list_id, model)
    vecs, quals, blobs = [], [], []
    for p in photos:
        image, data = read_photo(p)
        v, q = embed_photo(analyzer, image, str(p))
        vecs.append(v)
        quals.append(q)
        blobs.append((p.name, data))
    return store.add_entry(list_id, name, template(vecs, quals), model=model, photos=blobs)


def reembed(store: WatchlistStore, analyzer: FaceAnalyzer, list_id: str) -> int:
    """Re-embed every entry of a list from its kept photos with ``analyzer``'s embedder.

    All photos are embedded before anything is written, so a failure leaves the list as
    it was.

    Returns:
        The number of entries re-embedded.

    Raises:
        WatchlistError: the list keeps no photos (its people must be re-enrolled), or an
            entry has none.
        PhotoError: a kept photo no longer passes (naming the entry and file).
    """
    info = store.get_list(list_id)
    entries = store.entries(list_id)
    if entries and not info.store_photos:
        raise WatchlistError(
            f"watchlist {list_id!r} keeps no enrolment photos, so it cannot be re-embedded "
            f"with {analyzer.embedder.name!r}; re-enrol its {len(entries)} people with photos"
        )
    new: dict[str, np.ndarray] = {}
    for e in entries:
        kept = store.photos(list_id, e.name)
        if not kept:
            raise WatchlistError(
                f"watchlist {list_id!r}: entry {e.name!r} has no kept photo; re-enrol it"
            )
        vecs, quals = [], []
        for filename, data in kept:
            image = decode_photo(data, f"{list_id}/{e.name}/{filename}")
            v, q = embed_photo(analyzer, image, f"{list_id}/{e.name}/{filename}")
            vecs.append(v)
            quals.append(q)
        new[e.name] = template(vecs, quals)
    store.replace_embeddings(list_id, new, analyzer.embedder.name)
    return len(new)
