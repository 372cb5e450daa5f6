"""Evidence files: the frame with the box drawn, the crop (and the clean frame), by SHA-256.

Files live at ``<root>/<first two hex digits>/<sha256>.jpg``: identical images are
stored once, a reference can be verified by re-hashing, and nothing needs an index.

Disk use is bounded by ``max_bytes``. When a save takes the store above it, the oldest
files (by modification time; saving an existing file again refreshes it) are deleted
until usage is under ``low_water`` x ``max_bytes``, skipping every file the
``protected`` callable names, e.g. :class:`UnacknowledgedEvidence`, which lists the
evidence of alerts that a consumer group has not acknowledged yet. If protected files
alone exceed the budget the store stays over it (logged, ``over_budget`` set) rather
than delete evidence nobody has looked at.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import cv2
import numpy as np
import redis
from numpy.typing import NDArray

from alerts import keys
from alerts.errors import EvidenceError
from alerts.model import EvidenceRef

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What one prune did."""

    removed: int
    freed_bytes: int
    usage_bytes: int
    over_budget: bool


def evidence_path(root: Path, sha256: str) -> Path:
    """Where the file with this hash lives under an evidence root (existing or not)."""
    return root / sha256[:2] / f"{sha256}.jpg"


class EvidenceStore:
    """Content-addressed JPEG evidence with a disk budget.

    Example:
        >>> store = EvidenceStore("/var/lib/shouwang/evidence", max_bytes=2**34)  # doctest: +SKIP
        >>> refs = store.snapshot(frame_bgr, dets.xyxy[i], label="person #7")  # doctest: +SKIP
    """

    def __init__(
        self,
        root: str | Path,
        *,
        max_bytes: int = 2 * 2**30,
        low_water: float = 0.9,
        jpeg_quality: int = 85,
        crop_margin: float = 0.15,
        protected: Callable[[], set[str]] | None = None,
    ) -> None:
        if max_bytes <= 0 or not 0 < low_water <= 1:
            raise ValueError(
                f"need max_bytes > 0 and 0 < low_water <= 1, got {max_bytes}, {low_water}"
            )
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.low_water = low_water
        self.jpeg_quality = jpeg_quality
        self.crop_margin = crop_margin
        self.protected = protected
        self.over_budget = False
        self._lock = threading.Lock()
        self._usage = sum(p.stat().st_size for p in self._files())

    def _files(self) -> Iterable[Path]:
        return self.root.glob("??/*.jpg")

    def path(self, sha256: str) -> Path:
        """Where the file with this hash lives (whether or not it exists)."""
        return evidence_path(self.root, sha256)

    def usage(self) -> int:
        """Bytes of evidence on disk."""
        return self._usage

    def put(
        self,
        data: bytes,
        *,
        kind: Literal["snapshot", "crop", "clip", "frame"],
        width: int | None = None,
        height: int | None = None,
        box: tuple[float, float, float, float] | None = None,
    ) -> EvidenceRef:
        """Store encoded JPEG bytes; returns the reference to put in the alert."""
        sha = hashlib.sha256(data).hexdigest()
        dest = self.path(sha)
        with self._lock:
            if dest.exists():
                os.utime(dest)  # referenced again: keep it longer
            else:
                dest.parent.mkdir(exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=dest.parent, suffix=".tmp")
                try:
                    with os.fdopen(fd, "wb") as f:
                        f.write(data)
                    os.replace(tmp, dest)
                except OSError as exc:
                    Path(tmp).unlink(missing_ok=True)
                    raise EvidenceError(f"cannot write evidence {dest}: {exc}") from exc
                self._usage += len(data)
        if self._usage > self.max_bytes:
            self.prune(also_keep={sha})  # never the file this alert is about to reference
        return EvidenceRef(
            kind=kind,
            sha256=sha,
            uri=dest.resolve().as_uri(),
            size=len(data),
            media_type="image/jpeg",
            width=width,
            height=height,
            box=box,
        )

    def encode(self, image: NDArray[np.uint8]) -> bytes:
        """JPEG-encode a BGR image."""
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:
            raise EvidenceError(f"JPEG encoding failed for an image of shape {image.shape}")
        return bytes(buf.tobytes())

    def snapshot(
        self,
        image: NDArray[np.uint8],
        xyxy: Sequence[float] | NDArray[np.floating],
        *,
        label: str = "",
        color: tuple[int, int, int] = (0, 0, 255),
        clean: bool = False,
    ) -> list[EvidenceRef]:
        """Save the frame with the box drawn and the crop around the box.

        Args:
            image: the BGR frame (H, W, 3) uint8; not modified.
            xyxy: the box in the image's pixels.
            label: ASCII text drawn above the box (OpenCV fonts have no CJK glyphs).
            clean: also save the frame as it was (kind ``frame``), so a screen can draw
                the box (and zone) over it instead of over the burnt-in one.

        Returns:
            ``[snapshot, crop]`` references, then ``frame`` with ``clean``; snapshot and
            frame carry the box in their pixels.
        """
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise EvidenceError(
                f"expected a (H, W, 3) uint8 BGR image, got {image.shape} {image.dtype}"
            )
        h, w = image.shape[:2]
        x1, y1, x2, y2 = (float(v) for v in np.asarray(xyxy, dtype=np.float64).reshape(4))
        ix1, iy1 = max(0, int(x1)), max(0, int(y1))
        ix2, iy2 = min(w - 1, round(x2)), min(h - 1, round(y2))
        if ix2 <= ix1 or iy2 <= iy1:
            raise EvidenceError(f"box {[x1, y1, x2, y2]} lies outside the {w}x{h} frame")
        drawn = image.copy()
        thick = max(2, round(min(h, w) / 300))
        cv2.rectangle(drawn, (ix1, iy1), (ix2, iy2), color, thick)
        if label:
            cv2.putText(
                drawn,
                label,
                (ix1, max(12, iy1 - 6)),
                cv2.FONT_HERSHEY_SIMPLEX,
                max(0.5, min(h, w) / 900),
                color,
                max(1, thick // 2),
                cv2.LINE_AA,
            )
        mx, my = (x2 - x1) * self.crop_margin, (y2 - y1) * self.crop_margin
        cx1, cy1 = max(0, int(x1 - mx)), max(0, int(y1 - my))
        cx2, cy2 = min(w, round(x2 + mx)), min(h, round(y2 + my))
        crop = image[cy1:cy2, cx1:cx2]
        box = (round(x1, 1), round(y1, 1), round(x2, 1), round(y2, 1))
        refs = [
            self.put(self.encode(drawn), kind="snapshot", width=w, height=h, box=box),
            self.put(self.encode(crop), kind="crop", width=cx2 - cx1, height=cy2 - cy1),
        ]
        if clean:
            refs.append(self.put(self.encode(image), kind="frame", width=w, height=h, box=box))
        return refs

    def verify(self, ref: EvidenceRef) -> bool:
        """Whether the stored file still exists and hashes to ``ref.sha256``."""
        p = self.path(ref.sha256)
        return p.is_file() and hashlib.sha256(p.read_bytes()).hexdigest() == ref.sha256

    def prune(self, also_keep: set[str] | None = None) -> PruneResult:
        """Delete the oldest unprotected files until usage is below the low-water mark."""
        try:
            keep = (self.protected() if self.protected else set()) | (also_keep or set())
        except (redis.RedisError, OSError) as exc:
            # Cannot tell what is still unacknowledged: delete nothing rather than guess.
            self.over_budget = self._usage > self.max_bytes
            log.warning("evidence prune skipped, protected set unavailable: %s", exc)
            return PruneResult(0, 0, self._usage, self.over_budget)
        target = int(self.max_bytes * self.low_water)
        removed = freed = 0
        with self._lock:
            files = []
            for p in self._files():
                try:
                    st = p.stat()
                except FileNotFoundError:
                    continue
                files.append((st.st_mtime, st.st_size, p))
            self._usage = sum(s for _, s, _ in files)
            for _, size, p in sorted(files):
                if self._usage <= target:
                    break
                if p.stem in keep:
                    continue
                p.unlink(missing_ok=True)
                self._usage -= size
                removed += 1
                freed += size
            self.over_budget = self._usage > self.max_bytes
        if self.over_budget:
            log.error(
                "evidence store %s over budget: %d bytes protected by unacknowledged "
                "alerts exceed max_bytes %d",
                self.root,
                self._usage,
                self.max_bytes,
            )
        return PruneResult(removed, freed, self._usage, self.over_budget)


class UnacknowledgedEvidence:
    """The ``protected`` callable: SHA-256s referenced by alerts some group has not acked.

    For each consumer group of the alert stream that is the group's pending entries
    plus the entries not yet delivered to it (after its last-delivered id), scanning at
    most ``max_scan`` entries per group (the newest are kept when a group lags more).
    """

    def __init__(
        self, client: redis.Redis, *, stream: str = keys.ALERT_STREAM, max_scan: int = 50_000
    ) -> None:
        self.redis = client
        self.stream = stream
        self.max_scan = max_scan

    def __call__(self) -> set[str]:
        out: set[str] = set()
        try:
            groups = self.redis.xinfo_groups(self.stream)
        except redis.ResponseError:  # no stream yet
            return out
        for g in groups:
            name, last = _s(g["name"]), _s(g["last-delivered-id"])
            entries = list(
                cast(
                    "list[Any]",
                    self.redis.xrevrange(self.stream, "+", f"({last}", count=self.max_scan),
                )
                or []
            )
            pending = self.redis.xpending_range(self.stream, name, "-", "+", self.max_scan)
            pipe = self.redis.pipeline(transaction=False)
            for p in pending:
                mid = _s(p["message_id"])
                pipe.xrange(self.stream, mid, mid)
            for rows in pipe.execute():
                entries += rows or []
            for _, fields in entries:
                out |= _evidence_hashes(fields)
        return out


def _s(v: object) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _evidence_hashes(fields: dict[Any, Any] | None) -> set[str]:
    if not fields:
        return set()
    doc = fields.get("alert", fields.get(b"alert"))
    if doc is None:
        return set()
    try:
        ev = json.loads(_s(doc)).get("evidence", [])
        return {str(e["sha256"]) for e in ev}
    except (ValueError, KeyError, TypeError, AttributeError):
        return set()
