"""One camera's upstream for the live view: RTSP (or a file) in, encoded frames out.

A :class:`CameraFeed` is an aiortc ``MediaStreamTrack`` whose ``recv()`` returns
H.264 **packets as the camera sent them** (aiortc packetises them into RTP without
decoding or re-encoding: pass-through). A reading thread demuxes the camera with
PyAV; a camera that drops or dies is reopened with a back-off while the track itself
stays alive, so viewers see "offline" and then the picture again without reconnecting.

Where the browser cannot take the camera's stream as it is (H.265, MJPEG, a 10-bit or
4:4:4 H.264 profile), the feed decodes once and hands out ``VideoFrame`` s instead;
aiortc then encodes per viewer (``mode == "transcode"``, capped per camera by the hub).

Timestamps are rewritten from a monotonic clock at arrival (90 kHz), so a reconnect,
a camera's clock jump or a looping file never sends RTP time backwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from streams.redact import redact_url

log = logging.getLogger(__name__)

VIDEO_TIME_BASE = Fraction(1, 90_000)
#: Browsers decode 8-bit 4:2:0 H.264; anything else is transcoded.
PASSABLE_PIX_FMTS = frozenset({"yuv420p", "yuvj420p"})
Mode = Literal["passthrough", "transcode"]


@dataclass(slots=True)
class FeedState:
    """What the page shows about the camera connection."""

    online: bool = False
    reason: str = "connecting"
    mode: Mode | None = None
    codec: str = ""
    width: int = 0
    height: int = 0
    since: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON for the page's status events."""
        return {
            "online": self.online,
            "reason": self.reason,
            "mode": self.mode,
            "codec": self.codec,
            "width": self.width,
            "height": self.height,
            "since": self.since,
        }


def passable(codec: str, pix_fmt: str | None) -> bool:
    """Whether browsers take this stream as it is (H.264, 8-bit 4:2:0)."""
    return codec == "h264" and (pix_fmt is None or pix_fmt in PASSABLE_PIX_FMTS)


def _has_sps(data: bytes) -> bool:
    """Whether an Annex B access unit carries a sequence parameter set (NAL type 7)."""
    i = data.find(b"\x00\x00\x01")
    while i >= 0 and i + 3 < len(data):
        if data[i + 3] & 0x1F == 7:
            return True
        i = data.find(b"\x00\x00\x01", i + 3)
    return False


class CameraFeed(MediaStreamTrack):
    """The camera as one video track, shared by every viewer through ``MediaRelay``.

    Args:
        camera: camera id (for logs and the page).
        url: resolved stream URL (never logged unredacted).
        transport: RTSP transport.
        on_state: called in the event loop whenever :attr:`state` changes.
        queue_max: encoded frames kept for the relay; when full the oldest is dropped
            and counted in :attr:`dropped` (the relay reads continuously, so this only
            fills when the event loop stalls).
    """

    kind = "video"

    def __init__(
        self,
        camera: str,
        url: str,
        *,
        transport: str = "tcp",
        on_state: Callable[[FeedState], None] | None = None,
        queue_max: int = 120,
        open_timeout_s: float = 5.0,
    ) -> None:
        super().__init__()
        self.camera = camera
        self._url = url
        self._transport = transport
        self._on_state = on_state
        self._timeout_s = open_timeout_s
        self._evloop = asyncio.get_running_loop()
        self._queue: deque[Any] = deque(maxlen=queue_max)
        self._ready = asyncio.Event()
        self.answered = asyncio.Event()  # set once the camera answered (mode and size known)
        self.pictured = asyncio.Event()  # set once a picture for snapshots arrived
        self._stop = threading.Event()
        self._t0 = time.monotonic()
        self.state = FeedState(since=time.time())
        self.dropped = 0
        self.frames = 0
        self.opens = 0
        self.last_keyframe: bytes | None = None
        self.last_image: Any = None  # newest decoded frame (transcode mode)
        self.last_codec: str = ""
        self._thread = threading.Thread(target=self._run, name=f"live-{camera}", daemon=True)
        self._thread.start()

    # -- the event-loop side ----------------------------------------------------------

    async def recv(self) -> Any:
        """The next encoded packet (pass-through) or decoded frame (transcode)."""
        while True:
            if self.readyState != "live" or self._stop.is_set():
                raise MediaStreamError
            if self._queue:
                return self._queue.popleft()
            self._ready.clear()
            await self._ready.wait()

    def stop(self) -> None:
        """Close the camera connection and end the track (its relay stops reading)."""
        self._stop.set()
        self._evloop.call_soon(self._ready.set)
        super().stop()

    def join(self, timeout: float = 10.0) -> bool:
        """Wait for the reading thread; True once the camera connection is closed."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def closed(self) -> bool:
        """True once the reading thread ended (camera connection closed)."""
        return not self._thread.is_alive()

    def _push(self, item: Any) -> None:
        if self.last_keyframe is not None or self.last_image is not None:
            self.pictured.set()
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(item)
        self._ready.set()

    def _set_state(self, **changes: Any) -> None:
        for k, v in changes.items():
            setattr(self.state, k, v)
        self.state.since = time.time()
        snapshot = FeedState(**{k: getattr(self.state, k) for k in FeedState.__slots__})
        with contextlib.suppress(RuntimeError):  # loop closed at shutdown
            if snapshot.mode is not None:
                self._evloop.call_soon_threadsafe(self.answered.set)
            if self._on_state is not None:
                self._evloop.call_soon_threadsafe(self._on_state, snapshot)

    # -- the reading thread -------------------------------------------------------------

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            opened = time.monotonic()
            try:
                self._read_once()
                reason = "the camera ended the stream"
            except (av.FFmpegError, OSError, ValueError) as exc:
                reason = f"cannot read the camera: {type(exc).__name__}: {exc}"
                reason = reason.replace(self._url, redact_url(self._url))
            if self._stop.is_set():
                break
            if self.state.online or self.state.reason == "connecting":
                log.warning("live: camera %s offline: %s", self.camera, reason)
            self._set_state(online=False, reason=reason)
            if time.monotonic() - opened > 10:
                backoff = 0.5
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 5.0)

    def _options(self) -> dict[str, str]:
        us = str(int(self._timeout_s * 1_000_000))
        if self._url.lower().startswith(("rtsp://", "rtsps://")):
            # FFmpeg probes an RTSP stream for up to 5 s by default; the SDP's parameter
            # sets (or the first in-band SPS) already say all the relay needs.
            return {
                "rtsp_transport": self._transport,
                "timeout": us,
                "fflags": "nobuffer",
                "probesize": "262144",
                "analyzeduration": "200000",
            }
        return {}

    def _read_once(self) -> None:
        is_file = not self._url.lower().startswith(("rtsp://", "rtsps://"))
        with av.open(self._url, options=self._options(), timeout=self._timeout_s) as container:
            self.opens += 1
            stream = container.streams.video[0]
            ctx = stream.codec_context
            codec = ctx.name
            mode: Mode = "passthrough" if passable(codec, ctx.pix_fmt) else "transcode"
            self.last_codec = codec
            self._set_state(
                online=True, reason="", mode=mode, codec=codec, width=ctx.width, height=ctx.height
            )
            log.info("live: camera %s online (%s, %s)", self.camera, codec, mode)
            extradata = bytes(ctx.extradata or b"")
            to_annexb = None
            if codec == "h264" and extradata[:1] == b"\x01":  # MP4 files: avcC, not Annex B
                from av.bitstream import BitStreamFilterContext

                to_annexb = BitStreamFilterContext("h264_mp4toannexb", stream)
            first_pts: float | None = None
            began = time.monotonic()
            for packet in container.demux(stream):
                if self._stop.is_set():
                    return
                if packet.size == 0 or packet.pts is None:
                    continue
                if is_file:  # a file stands in for a camera: play it at its own pace
                    t = float(packet.pts * packet.time_base)
                    first_pts = t if first_pts is None else first_pts
                    self._stop.wait(max(0.0, began + (t - first_pts) - time.monotonic()))
                if mode == "transcode":
                    for frame in packet.decode():
                        self._emit(frame)
                    continue
                for p in to_annexb.filter(packet) if to_annexb is not None else [packet]:
                    self._emit_packet(p, extradata)

    def _stamp(self, item: Any) -> Any:
        item.pts = int((time.monotonic() - self._t0) * 90_000)
        item.time_base = VIDEO_TIME_BASE
        return item

    def jpeg(self) -> bytes:
        """The newest picture as JPEG (the snapshot fallback); decodes one keyframe.

        Raises:
            ValueError: no picture yet.
        """
        import cv2

        frame = self.last_image
        if frame is None and self.last_keyframe is not None:
            ctx: Any = av.CodecContext.create(self.last_codec or "h264", "r")
            frames = ctx.decode(av.Packet(self.last_keyframe)) + ctx.decode(None)
            frame = frames[0] if frames else None
        if frame is None:
            raise ValueError(f"camera {self.camera}: no picture yet")
        ok, buf = cv2.imencode(
            ".jpg", frame.to_ndarray(format="bgr24"), [cv2.IMWRITE_JPEG_QUALITY, 80]
        )
        if not ok:
            raise ValueError(f"camera {self.camera}: JPEG encoding failed")
        return bytes(buf)

    def _emit(self, frame: Any) -> None:
        self.frames += 1
        self.last_image = frame
        self._evloop.call_soon_threadsafe(self._push, self._stamp(frame))

    def _emit_packet(self, packet: Any, extradata: bytes) -> None:
        if packet.is_keyframe:
            data = bytes(packet)
            if not _has_sps(data) and extradata[:3] in (b"\x00\x00\x01", b"\x00\x00\x00"):
                packet = av.Packet(extradata + data)  # browsers need SPS/PPS before an IDR
                packet.is_keyframe = True
                data = bytes(packet)
            self.last_keyframe = data
        self.frames += 1
        self._evloop.call_soon_threadsafe(self._push, self._stamp(packet))
