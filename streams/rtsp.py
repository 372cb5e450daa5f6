"""Live cameras over RTSP (PyAV/FFmpeg), with timeouts that keep a frozen camera harmless."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import av
import av.error

from streams.errors import StreamError
from streams.source import DecodingSource

if TYPE_CHECKING:
    from av.container import InputContainer

# How long FFmpeg probes a new stream for its parameters. Its default (5 s of media, in
# practice ~1.1 s over RTSP) delays every reconnect; H.264 cameras announce their
# parameters in the SDP, so a fifth of a second is plenty.
_ANALYZE_US = 200_000


class RtspSource(DecodingSource):
    """One RTSP camera: TCP by default, open/read timeouts, reconnect with backoff.

    The read timeout is enforced twice: FFmpeg's socket ``timeout`` option and PyAV's
    interrupt callback (``av.open(timeout=(open, read))``), which also covers waits that
    are not socket reads. A frozen server is therefore noticed within ``read_timeout_s``;
    the stream is then closed and reopened. The end of a live stream (the server closed
    the session) counts as a disconnect too.

    Example:
        >>> url = resolve_url("rtsp://${GATE_USER}:${GATE_PASS}@10.0.0.5/101")  # doctest: +SKIP
        >>> with RtspSource("gate", url, SourceOptions(read_timeout_s=2)) as src:  # doctest: +SKIP
        ...     frame = src.read(timeout=1.0)
    """

    live: ClassVar[bool] = True

    def _open(self) -> InputContainer:
        o = self.options
        options = {
            "rtsp_transport": o.transport,
            "timeout": str(int(o.read_timeout_s * 1_000_000)),  # socket I/O, microseconds
            "analyzeduration": str(_ANALYZE_US),
        }
        try:
            return av.open(
                self._url,
                mode="r",
                options=options,
                timeout=(o.open_timeout_s, o.read_timeout_s),
            )
        except av.error.ExitError:
            raise StreamError(
                f"camera {self.camera_id}: cannot open {self.url}: no answer within "
                f"{o.open_timeout_s:g} s"
            ) from None
        except (av.error.FFmpegError, OSError) as exc:
            raise StreamError(self._describe("cannot open", exc)) from None
