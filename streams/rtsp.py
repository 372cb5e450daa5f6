"""Live cameras over RTSP, with timeouts that keep a frozen camera harmless.

Two ways in, one decoder: over TCP an H.264 camera is read by our own small RTSP client
(:mod:`streams.rtsp_tcp`) and RTP depacketiser (:mod:`streams.rtp`), which hands each
picture to PyAV's decoder as soon as its last packet arrives (the RTP marker bit);
FFmpeg's RTSP demuxer would hold it until the next picture starts, one frame interval
later. Other codecs, UDP, a camera whose set-up our client does not understand, and
one whose marker bits are unreliable use FFmpeg's demuxer, as before; the switch is
logged once per camera with the reason.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from typing import TYPE_CHECKING, ClassVar

import av
import av.error

from streams.errors import StreamError
from streams.hwaccel import cuda_hwaccel
from streams.rtp import H264Depacketiser, sprop_parameter_sets
from streams.rtsp_tcp import RtspTcpSession, RtspUnsupported
from streams.source import DecodingSource, Outcome

if TYPE_CHECKING:
    from av.container import InputContainer

log = logging.getLogger(__name__)

# How long FFmpeg probes a new stream for its parameters. Its default (5 s of media, in
# practice ~1.1 s over RTSP) delays every reconnect; H.264 cameras announce their
# parameters in the SDP, so a fifth of a second is plenty.
_ANALYZE_US = 200_000


class RtspSource(DecodingSource):
    """One RTSP camera: TCP by default, open/read timeouts, reconnect with backoff.

    The read timeout is enforced twice on FFmpeg's path: its socket ``timeout`` option
    and PyAV's interrupt callback (``av.open(timeout=(open, read))``), which also
    covers waits that are not socket reads; the RTP path's socket reads time out in
    half a second and it counts the silence itself. A frozen server is therefore
    noticed within ``read_timeout_s``; the stream is then closed and reopened. The end
    of a live stream (the server closed the session) counts as a disconnect too.

    Example:
        >>> url = resolve_url("rtsp://${GATE_USER}:${GATE_PASS}@10.0.0.5/101")  # doctest: +SKIP
        >>> with RtspSource("gate", url, SourceOptions(read_timeout_s=2)) as src:  # doctest: +SKIP
        ...     frame = src.read(timeout=1.0)
    """

    live: ClassVar[bool] = True
    #: Why this camera uses FFmpeg's demuxer rather than the RTP path (None: it does not).
    ffmpeg_reason: str | None = None

    @property
    def path(self) -> str:
        """``rtp-marker`` or ``ffmpeg``: how this camera's packets reach the decoder."""
        return "ffmpeg" if self._ffmpeg_why() else "rtp-marker"

    def _ffmpeg_why(self) -> str | None:
        o = self.options
        if o.depacketiser == "ffmpeg":
            return "depacketiser: ffmpeg"
        if o.transport != "tcp":
            return f"transport {o.transport}"
        return self.ffmpeg_reason

    def _use_ffmpeg(self, reason: str) -> None:
        self.ffmpeg_reason = reason
        log.warning("camera %s: %s; using FFmpeg's RTSP demuxer", self.camera_id, reason)

    def _open(self) -> InputContainer | RtspTcpSession:
        o = self.options
        if self._ffmpeg_why() is None:
            session = RtspTcpSession(
                self._url, self.url, self.camera_id, o.open_timeout_s, o.read_timeout_s
            )
            try:
                video = session.open()
            except RtspUnsupported as exc:
                session.close()
                self._use_ffmpeg(f"RTP client not usable ({self._redact(str(exc))})")
            except StreamError:
                session.close()
                raise
            else:
                if video.codec == "H264":
                    return session
                session.close()
                self._use_ffmpeg(f"codec {video.codec} has no marker-bit depacketiser")
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
                hwaccel=cuda_hwaccel() if o.hwaccel == "cuda" else None,
            )
        except av.error.ExitError:
            raise StreamError(
                f"camera {self.camera_id}: cannot open {self.url}: no answer within "
                f"{o.open_timeout_s:g} s"
            ) from None
        except (av.error.FFmpegError, OSError) as exc:
            raise StreamError(self._describe("cannot open", exc)) from None

    def _pump_session(self, session: RtspTcpSession) -> Outcome:
        """Depacketise and decode until stopped; ``reopen`` when the marker fails."""
        video = session.video
        if video is None:
            raise StreamError(f"camera {self.camera_id}: RTP session not set up")
        hw = cuda_hwaccel() if self.options.hwaccel == "cuda" else None
        decoder = av.CodecContext.create("h264", "r", hwaccel=hw)
        decoder.thread_type = self._thread_type
        decoder.thread_count = self._thread_count
        depacketiser = H264Depacketiser(sprop_parameter_sets(video.fmtp))
        time_base = Fraction(1, video.clock_rate)
        if video.fps:
            self._frame_period = 1.0 / video.fps
        self._decode_errors = 0
        unwrap = _Unwrap()
        for data, arrived in session.packets(self._stop):
            for au in depacketiser.push(data, arrived):
                packet = av.Packet(au.data)
                packet.pts = packet.dts = unwrap(au.timestamp)
                packet.time_base = time_base
                try:
                    if not self._decode(packet, decoder, au.arrived):
                        return "stopped"
                except av.error.FFmpegError as exc:
                    raise StreamError(self._describe("cannot decode", exc)) from None
            if depacketiser.marker_unreliable:
                self._use_ffmpeg(
                    f"RTP marker bit unreliable ({depacketiser.marker_misses} pictures "
                    f"without it, {depacketiser.marker_closes} with it)"
                )
                return "reopen"
        return "eof" if session.ended else "stopped"


class _Unwrap:
    """32-bit RTP timestamps into a monotonic 64-bit count (wrap every 13 h at 90 kHz)."""

    def __init__(self) -> None:
        self._last: int | None = None
        self._high = 0

    def __call__(self, ts: int) -> int:
        if self._last is not None and ts < self._last and self._last - ts > 1 << 31:
            self._high += 1 << 32
        self._last = ts
        return self._high + ts
