"""The frame as it leaves a camera."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray


@dataclass(slots=True)
class Frame:
    """One decoded picture from one camera.

    Attributes:
        camera_id: the site's camera id.
        seq: per-source sequence number, strictly increasing, counting every decoded
            frame (so gaps show drops downstream).
        pts: presentation time in seconds on the stream's own clock, or None when the
            container gives none.
        captured_at: wall-clock time (``time.time()``) when the frame was decoded here;
            the start of glass-to-alert latency.
        image: (h, w, 3) uint8 BGR pixels.
        stamps: per-stage wall-clock times added as the frame travels
            (``decoded``, ``inferred``, ``tracked``, ``alerted``).
    """

    camera_id: str
    seq: int
    pts: float | None
    captured_at: float
    image: NDArray[np.uint8]
    stamps: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        img = self.image
        if not isinstance(img, np.ndarray) or img.ndim != 3 or img.shape[2] != 3:
            shape = getattr(img, "shape", type(img).__name__)
            raise ValueError(f"image: expected (h, w, 3) uint8 BGR, got {shape}")
        if img.dtype != np.uint8:
            raise ValueError(f"image: expected dtype uint8, got {img.dtype}")

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.image.shape[1]), int(self.image.shape[0])
