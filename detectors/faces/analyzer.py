"""From a frame to embedded faces: detect, gate on quality, align and embed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from detectors.detections import Detections
from detectors.faces.detector import CenterFaceConfig, CenterFaceDetector
from detectors.faces.embedder import EmbedderConfig, FaceEmbedder, make_embedder
from detectors.faces.quality import QualityConfig, QualityGate

ACCEPTED = ""  # skip_reason of a face that passed the gate
PHOTO_MAX_SIDE = 1600  # second-look inference size for still photos


class FaceAnalyzer:
    """Detects faces, records their quality and embeds those that pass the gate.

    The returned :class:`Detections` carry these ``data`` columns:

    - ``landmarks`` (n, 5, 2) float32 pixel points;
    - ``quality`` (n,) float32 score in [0, 1] (higher is better);
    - ``skip_reason`` (n,) str: ``""`` when embedded, else why not (see ``quality``);
    - ``embedding`` (n, dim) float32 unit rows; all-zero rows for skipped faces.

    Example:
        >>> faces = FaceAnalyzer().analyze(frame.image)
        >>> ok = faces[faces.data["skip_reason"] == ""]
    """

    def __init__(
        self,
        detector: CenterFaceConfig | None = None,
        embedder: EmbedderConfig | FaceEmbedder | str | None = None,
        quality: QualityConfig | None = None,
    ) -> None:
        self.detector = CenterFaceDetector(detector)
        if embedder is None or isinstance(embedder, str | EmbedderConfig):
            self.embedder: FaceEmbedder = make_embedder(embedder)
        else:
            self.embedder = embedder
        self.gate = QualityGate(quality)

    def analyze(self, image: NDArray[np.uint8]) -> Detections:
        """Faces of one BGR image, with quality, skip reasons and embeddings."""
        return self.analyze_batch([image])[0]

    def analyze_batch(self, images: Sequence[NDArray[np.uint8]]) -> list[Detections]:
        """Like :meth:`analyze` for several images; detection runs as one batch."""
        return [
            self.describe(img, det) for img, det in zip(images, self.detect(images), strict=True)
        ]

    def detect(self, images: Sequence[NDArray[np.uint8]]) -> list[Detections]:
        """Detection only (batched)."""
        return self.detector.detect_batch(images)

    def detect_photo(self, image: NDArray[np.uint8]) -> Detections:
        """Detection for a still photo: when nothing is found at the video size, look again
        at up to ``PHOTO_MAX_SIDE`` pixels (small faces in large full-body photos)."""
        faces = self.detector.detect(image)
        big = max(image.shape[:2])
        if not len(faces) and big > self.detector.config.max_side:
            faces = self.detector.detect(image, max_side=min(big, PHOTO_MAX_SIDE))
        return faces

    def analyze_photo(self, image: NDArray[np.uint8]) -> Detections:
        """:meth:`analyze` with :meth:`detect_photo`'s second look."""
        return self.describe(image, self.detect_photo(image))

    def describe(self, image: NDArray[np.uint8], faces: Detections) -> Detections:
        """Quality-gate and embed faces already detected in ``image``."""
        n = len(faces)
        lms = faces.data.get("landmarks", np.empty((0, 5, 2), dtype=np.float32))
        reports = [
            self.gate.assess(image, faces.xyxy[i], lms[i], float(faces.confidence[i]))
            for i in range(n)
        ]
        reasons = np.array([r.reason or ACCEPTED for r in reports], dtype=object)
        ok = np.flatnonzero(reasons == ACCEPTED)
        vecs = self.embedder.embed(image, lms[ok]) if len(ok) else None
        dim = vecs.shape[1] if vecs is not None else self.embedder.dim
        emb = np.zeros((n, dim), dtype=np.float32)
        if vecs is not None:
            emb[ok] = vecs
        return faces.with_data(
            quality=np.array([r.score for r in reports], dtype=np.float32),
            skip_reason=reasons.astype(str) if n else np.empty(0, dtype=str),
            embedding=emb,
        )
