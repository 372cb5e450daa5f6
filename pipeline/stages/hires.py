"""The camera's main (high-resolution) stream, for recognition on small objects.

Detection runs on the sub-stream (``detect_url``); a plate or a face that is too small
there is read from the newest main-stream frame instead, with the box scaled by the
ratio of the two sizes. The two streams are not frame-locked: the main frame is the
newest one decoded, at most ``max_skew_s`` apart from the detection frame, so a
fast-moving object may be a little off; the crop is taken with a margin for that.
"""

from __future__ import annotations

import threading
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from streams.frame import Frame


class _Readable(Protocol):
    def read(self, timeout: float) -> Frame | None: ...


class MainStream:
    """Keeps the newest main-stream frame of one camera; never blocks.

    Example:
        >>> main = MainStream(open_source("gate-main", camera.url))  # doctest: +SKIP
        >>> image, scale = main.image_for(frame)  # doctest: +SKIP
    """

    def __init__(self, source: _Readable, *, max_skew_s: float = 0.5) -> None:
        self.source = source
        self.max_skew_s = max_skew_s
        self._last: Frame | None = None
        self._lock = threading.Lock()
        self.used = 0  # how many times recognition used the main stream

    def newest(self) -> Frame | None:
        """The newest main-stream frame (None before the first, or after an error)."""
        with self._lock:
            try:
                fresh = self.source.read(0.0)
            except Exception:  # a failed main stream must not stop recognition
                fresh = None
            if fresh is not None:
                self._last = fresh
            return self._last

    def image_for(self, frame: Frame) -> tuple[NDArray[np.uint8], float]:
        """The best image for recognising objects of ``frame``, and its scale factor.

        Returns the main-stream image and (main width / detection width) when a recent
        main frame exists and is larger; else the detection frame's own image and 1.0.
        """
        main = self.newest()
        if main is None or abs(main.captured_at - frame.captured_at) > self.max_skew_s:
            return frame.image, 1.0
        scale = main.size[0] / max(1, frame.size[0])
        if scale <= 1.0:
            return frame.image, 1.0
        self.used += 1
        return main.image, scale
