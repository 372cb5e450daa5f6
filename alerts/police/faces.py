"""Face watch orders (布控 on a face): a photo becomes a template, and the compound's live
police face list is consulted by the workers' face stage.

The photo passes the same quality check as enrolment
(:func:`detectors.faces.enrol.embed_photo`: one face, frontal, sharp, large enough,
not cut off); only its embedding (of the platform's embedder, with the model's name) and
the photo's SHA-256 are kept, never the photo, as face watchlists keep embeddings only
unless told otherwise. The template lives in the order's row and, while the order is in
force, in each target compound's Redis hash :func:`alerts.keys.police_faces`, which
:class:`PoliceFaceLists` re-reads about every second on the workers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import redis
from numpy.typing import NDArray

from alerts import keys

if TYPE_CHECKING:  # detectors.faces loads dlib and onnx: only when a face is handled
    from detectors.faces.analyzer import FaceAnalyzer
    from detectors.faces.matcher import FaceMatcherLike, Match

log = logging.getLogger(__name__)

#: The ``kind`` a police face hit reports (the face stage alerts on this kind only).
POI = "persons_of_interest"
#: What operators see as the person's label of a police hit (the order id is person_id).
HIT_LABEL = "police watch order (布控)"


@dataclass(frozen=True, slots=True)
class FaceTemplate:
    """What a face order keeps of its photo."""

    embedding: NDArray[np.float32]
    model: str
    quality: float
    threshold: float
    photo_sha256: str

    def record(self) -> dict[str, Any]:
        """The order row's ``face`` column."""
        return {
            "model": self.model,
            "dim": int(self.embedding.shape[0]),
            "embedding": encode_vector(self.embedding),
            "threshold": self.threshold,
            "quality": round(self.quality, 4),
            "photo_sha256": self.photo_sha256,
        }


def encode_vector(v: NDArray[np.float32]) -> str:
    """Base64 of the little-endian float32 values."""
    return base64.b64encode(np.ascontiguousarray(v, dtype="<f4").tobytes()).decode()


def decode_vector(text: str) -> NDArray[np.float32]:
    """The inverse of :func:`encode_vector` (ValueError on bad data)."""
    raw = base64.b64decode(text, validate=True)
    if not raw or len(raw) % 4:
        raise ValueError("embedding is not a float32 vector")
    return np.frombuffer(raw, dtype="<f4").astype(np.float32)


def template_from_photo(analyzer: FaceAnalyzer, data: bytes, field: str = "photo") -> FaceTemplate:
    """Check a photo as enrolment does and embed its one face.

    Raises:
        PhotoError: naming ``field``: not an image, too many pixels, no face, several
            faces, or a face the quality gate refuses (blurred, profile, too small...).
    """
    from detectors.faces.enrol import embed_photo
    from detectors.faces.photos import decode_photo
    from detectors.faces.watchlist import DEFAULT_THRESHOLDS, FALLBACK_THRESHOLD

    image = decode_photo(data, field)
    vec, quality = embed_photo(analyzer, image, field, purpose="watch for")
    model = analyzer.embedder.name
    return FaceTemplate(
        embedding=np.asarray(vec, dtype=np.float32),
        model=model,
        quality=quality,
        threshold=DEFAULT_THRESHOLDS.get(model, FALLBACK_THRESHOLD),
        photo_sha256=hashlib.sha256(data).hexdigest(),
    )


def redis_entry(face: dict[str, Any], expires_at: float, client: str) -> str:
    """The JSON a compound's live face list holds for one order."""
    return json.dumps(
        {
            "model": face["model"],
            "embedding": face["embedding"],
            "threshold": face["threshold"],
            "expires_at": expires_at,
            "client": client,
        }
    )


@dataclass(frozen=True, slots=True)
class _Live:
    ids: tuple[str, ...]
    matrix: NDArray[np.float32]  # (n, dim) unit rows
    thresholds: NDArray[np.float32]
    expires: NDArray[np.float64]


_EMPTY = _Live((), np.zeros((0, 0), np.float32), np.zeros(0, np.float32), np.zeros(0))


class PoliceFaceLists:
    """The camera's watchlists plus the compound's live police face orders.

    A police hit comes first: a :class:`~detectors.faces.matcher.Match` of list
    :data:`alerts.keys.POLICE_FACE_LIST`, kind ``persons_of_interest``, whose
    ``entry_id`` is the order id, so the face stage raises a high-severity
    ``face.watchlist`` alert for it. Orders embedded with another embedder than
    ``model`` are skipped (embeddings of different models are not comparable), with a
    warning once per order.

    Args:
        matcher: the site's watchlists (a shared ``WatchlistMatcher``).
        client: Redis of the site.
        compound: the camera's compound.
        model: the worker's embedder name.
        refresh_s: how often the live list is re-read (a Redis error keeps the last one).
    """

    def __init__(
        self,
        matcher: FaceMatcherLike,
        client: redis.Redis,
        compound: str,
        *,
        model: str,
        refresh_s: float = 1.0,
    ) -> None:
        self.matcher = matcher
        self.redis = client
        self.key = keys.police_faces(compound)
        self.model = model
        self.refresh_s = refresh_s
        self._live = _EMPTY
        self._raw: dict[str, str] = {}
        self._read_at = -1e18
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    def _reload(self) -> bool:
        """Re-read Redis when due; whether the orders changed."""
        now = time.monotonic()
        with self._lock:
            if now - self._read_at < self.refresh_s:
                return False
            self._read_at = now
        try:
            raw = {str(k): str(v) for k, v in dict(self.redis.hgetall(self.key)).items()}
        except (redis.RedisError, OSError) as exc:
            log.warning("police face list %s unreadable, keeping the last: %s", self.key, exc)
            return False
        if raw == self._raw:
            return False
        ids: list[str] = []
        vecs: list[NDArray[np.float32]] = []
        thr: list[float] = []
        exp: list[float] = []
        for oid, doc in sorted(raw.items()):
            try:
                e = json.loads(doc)
                if e["model"] != self.model:
                    if oid not in self._warned:
                        self._warned.add(oid)
                        log.warning(
                            "police face order %s was embedded with %s, this worker runs %s: "
                            "skipped (the order must be posted again)",
                            oid,
                            e["model"],
                            self.model,
                        )
                    continue
                v = decode_vector(str(e["embedding"]))
                t, x = float(e["threshold"]), float(e["expires_at"])
            except (ValueError, KeyError, TypeError):
                log.warning("police face list %s: unreadable entry %s", self.key, oid)
                continue
            if vecs and v.shape != vecs[0].shape:
                log.warning("police face list %s: entry %s has another size", self.key, oid)
                continue
            ids.append(oid)
            vecs.append(v)
            thr.append(t)
            exp.append(x)
        live = (
            _Live(
                tuple(ids),
                np.stack(vecs).astype(np.float32),
                np.asarray(thr, np.float32),
                np.asarray(exp, np.float64),
            )
            if ids
            else _EMPTY
        )
        with self._lock:
            self._raw, self._live = raw, live
        return True

    def refresh(self) -> bool:
        """Reload the site's lists and the police orders; whether either changed."""
        mine = self._reload()
        return bool(self.matcher.refresh()) or mine

    def in_force(self) -> bool:
        """Whether the compound has a police face order this worker can match now."""
        self._reload()
        return bool((self._live.expires > time.time()).any())

    def idle(self) -> bool:
        """``not`` :meth:`in_force`: for a face stage with nothing else to alert on."""
        return not self.in_force()

    def police_match(self, embedding: NDArray[np.float32]) -> Match | None:
        """The most similar order in force at or above its threshold, or ``None``."""
        from detectors.faces.matcher import Match

        self._reload()
        live = self._live
        if not live.ids or embedding.shape[-1] != live.matrix.shape[1]:
            return None
        sims = live.matrix @ embedding.astype(np.float32)
        ok = (sims >= live.thresholds) & (live.expires > time.time())
        if not ok.any():
            return None
        i = int(np.argmax(np.where(ok, sims, -np.inf)))
        return Match(
            keys.POLICE_FACE_LIST,
            POI,
            live.ids[i],
            HIT_LABEL,
            float(sims[i]),
            float(live.thresholds[i]),
        )

    def match(self, embedding: NDArray[np.float32]) -> Match | None:
        """A police hit first, else the site's lists' match."""
        return self.police_match(embedding) or self.matcher.match(embedding)
