"""Video files as cameras: paced like a live camera, or read as fast as the reader goes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import av
import av.error
from prometheus_client import CollectorRegistry

from streams.errors import StreamError
from streams.hwaccel import cuda_hwaccel
from streams.options import SourceOptions
from streams.source import DecodingSource

if TYPE_CHECKING:
    from av.container import InputContainer

# Fell this far behind the clip's clock (a slow disk, a busy CPU)? Start the clock again
# rather than racing through frames to catch up.
_MAX_LAG_S = 1.0


def file_path(url: str) -> Path:
    """The local path of a ``file://`` URL or a plain path."""
    return Path(url[len("file://") :] if url.startswith("file://") else url)


class FileSource(DecodingSource):
    """A video file played as a camera.

    With ``realtime`` (the default) frames come at the clip's own rate and a slow reader
    loses frames exactly as with a live camera. Without it the file is read as fast as
    the reader takes frames and none is lost: benchmarks and evaluations see every frame.
    ``loop`` starts again at the end, with timestamps continuing from the previous pass.

    A missing, unreadable or corrupt file fails the source at once (state ``failed``;
    ``read()`` raises :class:`StreamError` naming the file): files do not heal.
    """

    live: ClassVar[bool] = False
    _thread_type: ClassVar[str] = "AUTO"  # latency does not matter for files; throughput does
    _thread_count: ClassVar[int] = 0  # FFmpeg picks the count

    def __init__(
        self,
        camera_id: str,
        url: str,
        options: SourceOptions | None = None,
        *,
        registry: CollectorRegistry | None = None,
    ) -> None:
        super().__init__(camera_id, url, options, registry=registry)
        self.path = file_path(url)
        self._anchor: float | None = None  # monotonic time at which pts 0 is due

    def _open(self) -> InputContainer:
        where = self._redact(str(self.path))
        if not self.path.is_file():
            raise StreamError(f"camera {self.camera_id}: video file not found: {where}")
        try:
            hw = cuda_hwaccel() if self.options.hwaccel == "cuda" else None
            return av.open(str(self.path), mode="r", hwaccel=hw)
        except (av.error.FFmpegError, OSError) as exc:
            detail = getattr(exc, "strerror", None) or type(exc).__name__
            raise StreamError(
                self._redact(f"camera {self.camera_id}: cannot read video file {where}: {detail}")
            ) from None

    def _permanent(self, exc: StreamError) -> bool:
        return True

    def _pace(self, pts: float) -> None:
        if not self.options.realtime:
            return
        now = time.monotonic()
        if self._anchor is None or now - (self._anchor + pts) > _MAX_LAG_S:
            self._anchor = now - pts
            return
        wait = self._anchor + pts - now
        if wait > 0:
            self._stop.wait(wait)

    def _rewind(self) -> None:
        super()._rewind()
        self._anchor = None
