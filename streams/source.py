"""The decoding thread shared by RTSP and file sources.

One thread per source opens the stream, demuxes, decodes and publishes the newest frame
into a one-frame slot. ``read()`` takes it from there: a slow reader gets the newest
frame and the ones it missed are counted as drops, so memory per camera is one frame
however slow the pipeline is. Colour conversion to BGR happens in ``read()``, only for
frames someone actually takes, the cheapest measured way (:func:`to_bgr`).
"""

from __future__ import annotations

import logging
import random
import threading
import time
import traceback
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self, cast

import av
import av.error
import cv2
import numpy as np
from numpy.typing import NDArray
from prometheus_client import CollectorRegistry

from streams.errors import StreamEnded, StreamError
from streams.frame import Frame
from streams.health import Health, RateMeter, State, StreamMetrics
from streams.options import SourceOptions
from streams.redact import Redactor
from streams.rtsp_tcp import RtspTcpSession

if TYPE_CHECKING:
    from av.container import InputContainer
    from av.packet import Packet
    from av.video.codeccontext import VideoCodecContext
    from av.video.frame import VideoFrame

log = logging.getLogger(__name__)

# Consecutive undecodable packets tolerated before the stream counts as broken.
_MAX_DECODE_ERRORS = 50
Outcome = Literal["eof", "stopped", "lost", "reopen"]


@dataclass(slots=True)
class _Decoded:
    seq: int
    pts: float
    captured_at: float
    frame: VideoFrame
    arrived: float | None = None


# Limited-range 4:2:0 layouts OpenCV converts from one (h * 3 / 2, w) plane array:
# yuv420p from software decoders, nv12 from NVDEC (hwaccel frames come back as nv12).
_OPENCV_YUV = {"yuv420p": cv2.COLOR_YUV2BGR_I420, "nv12": cv2.COLOR_YUV2BGR_NV12}


def to_bgr(frame: VideoFrame) -> NDArray[np.uint8]:
    """The frame as (h, w, 3) BGR, converted the cheapest measured way.

    For yuv420p (what H.264 cameras send) OpenCV's I420 conversion of the decoder's
    planes, then the detector's letterbox, costs 44 % less CPU than PyAV's swscale
    ``bgr24`` then the letterbox (1.68 vs 3.02 ms per 768x576 frame, both on the same
    frames, ``python -m bench.decode_cost``); nv12 (hardware decoders) likewise;
    other formats (full-range ``yuvj420p``, whose levels OpenCV would get wrong, 4:2:2,
    ...) go through swscale.
    """
    even = not (frame.width | frame.height) & 1
    code = _OPENCV_YUV.get(frame.format.name)
    if code is not None and even:
        return cast("NDArray[np.uint8]", cv2.cvtColor(frame.to_ndarray(), code))
    return cast("NDArray[np.uint8]", frame.to_ndarray(format="bgr24"))


def backoff_delay(attempt: int, initial: float, maximum: float, rng: random.Random) -> float:
    """Delay before reconnect attempt ``attempt`` (0-based): doubling, capped, jittered.

    The factor in [0.5, 1] keeps a floor (no hammering) while spreading cameras that lost
    their stream at the same moment.
    """
    base = min(maximum, initial * (2.0 ** min(attempt, 30)))
    return base * rng.uniform(0.5, 1.0)


class DecodingSource:
    """Base of the PyAV sources: the thread, the one-frame slot, health and metrics.

    Subclasses say how to open the container (``_open``), whether end of stream is a
    disconnect (``live``), and may pace frames (``_pace``).
    """

    live: ClassVar[bool] = True
    _thread_type: ClassVar[str] = "SLICE"  # frame threading adds frames of latency
    # One decoder thread per live stream: more slice threads cost the same CPU (measured,
    # `python -m bench.decode_cost`) and 16 cameras x N threads only oversubscribe cores.
    _thread_count: ClassVar[int] = 1

    def __init__(
        self,
        camera_id: str,
        url: str,
        options: SourceOptions | None = None,
        *,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._camera_id = camera_id
        self._url = url
        self._redact = Redactor(url)
        self.url = self._redact.url
        self.options = options or SourceOptions()
        self._lossless = not self.live and not self.options.realtime
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rng = random.Random()
        self._pending: _Decoded | None = None
        self._state = State.STOPPED
        self._seq = 0
        self._decoded = self._delivered = self._dropped = self._reconnects = 0
        self._last_error: str | None = None
        self._last_frame_at: float | None = None
        self._width = self._height = 0
        self._last_pts: float | None = None
        self._pts_offset = 0.0
        self._frame_period = 0.04
        self._next_due: float | None = None
        self._decode_errors = 0  # in a row, to give up on undecodable streams
        self._decode_error_total = 0
        self._rx = RateMeter()
        self._dec = RateMeter()
        m = StreamMetrics.for_registry(registry)
        self._m_packets = m.packets.labels(camera_id)
        self._m_decoded = m.decoded.labels(camera_id)
        self._m_delivered = m.delivered.labels(camera_id)
        self._m_dropped = m.dropped.labels(camera_id)
        self._m_skipped = m.skipped.labels(camera_id)
        self._m_reconnects = m.reconnects.labels(camera_id)
        self._m_errors = m.errors.labels(camera_id)
        self._m_up = m.up.labels(camera_id)
        self._m_fps = m.fps.labels(camera_id)
        self._m_last = m.last_frame.labels(camera_id)
        self._m_width = m.width.labels(camera_id)
        self._m_height = m.height.labels(camera_id)
        self._m_state = m.state.labels(camera_id)
        self._m_fps.set_function(self._dec.rate)
        self._m_state.state(self._state.value)

    # -- the Source contract -------------------------------------------------------------

    @property
    def camera_id(self) -> str:
        """The site's camera id."""
        return self._camera_id

    def start(self) -> None:
        """Start decoding in a daemon thread named ``stream-<camera>``; idempotent."""
        if self._thread is not None:
            if self._stop.is_set():
                raise StreamError(f"camera {self._camera_id}: a stopped source cannot restart")
            return
        self._set_state(State.CONNECTING)
        self._thread = threading.Thread(
            target=self._run, name=f"stream-{self._camera_id}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float | None = None) -> bool:
        """Ask the thread to end and wait for it.

        A call blocked inside FFmpeg returns within ``read_timeout_s`` (reading) or
        ``open_timeout_s`` (connecting), so the default wait is the longer plus a second.
        Returns False if the thread is still running after ``timeout``.
        """
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is None:
            return True
        o = self.options
        wait = max(o.read_timeout_s, o.open_timeout_s) + 1.0 if timeout is None else timeout
        self._thread.join(max(0.0, wait))
        return not self._thread.is_alive()

    def read(self, timeout: float) -> Frame | None:
        """The newest frame not yet returned; see :meth:`Source.read`."""
        if self._thread is None:
            raise StreamError(f"camera {self._camera_id}: read() before start()")
        deadline = time.monotonic() + max(0.0, timeout)
        with self._cond:
            while self._pending is None:
                if self._state is State.FAILED:
                    raise StreamError(self._last_error or f"camera {self._camera_id}: failed")
                if self._stop.is_set() or self._state is State.STOPPED:
                    raise StreamEnded(f"camera {self._camera_id}: source stopped ({self.url})")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)
            item, self._pending = self._pending, None
            self._delivered += 1
            self._cond.notify_all()  # a lossless producer waits for the slot
        self._m_delivered.inc()
        stamps = {"decoded": item.captured_at}
        if item.arrived is not None:
            stamps["arrived"] = item.arrived
        return Frame(
            camera_id=self._camera_id,
            seq=item.seq,
            pts=item.pts,
            captured_at=item.captured_at,
            image=to_bgr(item.frame),
            stamps=stamps,
        )

    def health(self) -> Health:
        """A snapshot of the state and counters; carries the redacted URL only."""
        with self._cond:
            return Health(
                camera_id=self._camera_id,
                url=self.url,
                state=self._state,
                fps_received=self._rx.rate(),
                fps_decoded=self._dec.rate(),
                frames_decoded=self._decoded,
                frames_delivered=self._delivered,
                frames_dropped=self._dropped,
                reconnects=self._reconnects,
                last_error=self._last_error,
                last_frame_at=self._last_frame_at,
                width=self._width,
                height=self._height,
                decode_errors=self._decode_error_total,
            )

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._camera_id!r}, {self.url!r}, {self._state.value})"

    # -- hooks for subclasses --------------------------------------------------------------

    def _open(self) -> InputContainer | RtspTcpSession:
        """Open the container (or an RTP session); raise :class:`StreamError` (redacted)."""
        raise NotImplementedError

    def _pump_session(self, session: RtspTcpSession) -> Outcome:
        """Decode an RTP session's packets (RTSP sources only)."""
        raise NotImplementedError

    def _permanent(self, exc: StreamError) -> bool:
        """Whether an open failure can never heal (so retrying is pointless)."""
        return False

    def _pace(self, pts: float) -> None:
        """Wait until frame ``pts`` is due (files played in real time)."""

    def _rewind(self) -> None:
        """Called before a file loops: later pts continue after the previous pass."""
        if self._last_pts is not None:
            self._pts_offset += self._last_pts + self._frame_period
            self._last_pts = None

    # -- the thread ------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # the thread must never die silently
            self._error(f"camera {self._camera_id}: internal error: {exc!r}")
            trace = "".join(traceback.format_exception(exc))
            log.error(
                "camera %s: decoding thread crashed:\n%s", self._camera_id, self._redact(trace)
            )
            self._set_state(State.FAILED)
        finally:
            with self._cond:
                if self._state is not State.FAILED:
                    self._state = State.STOPPED
                    self._m_state.state(State.STOPPED.value)
                self._m_up.set(0)
                self._cond.notify_all()

    def _loop(self) -> None:
        """Open, pump, and on loss reopen with backoff, until stopped or given up."""
        failures = 0  # consecutive attempts that produced no frame
        while not self._stop.is_set():
            try:
                container = self._open()
            except StreamError as exc:
                failures += 1
                if not self._open_failed(exc, failures):
                    return
                continue
            before = self._decoded
            try:
                outcome = self._pump_any(container)
            except StreamError as exc:
                self._error(str(exc))
                outcome = "lost"
            finally:
                _close_quietly(container)
            failures = 0 if self._decoded > before else failures + 1
            if outcome == "stopped" or self._stop.is_set():
                return
            if outcome == "reopen":  # the same camera by another path, at once
                continue
            if outcome == "lost" and not self.live:
                self._set_state(State.FAILED)  # a file that breaks mid-way stays broken
                return
            if outcome == "eof" and not self.live:
                if self.options.loop and self._decoded > before:
                    self._rewind()
                    continue
                if self._decoded == 0:
                    self._error(f"camera {self._camera_id}: no frame decoded from {self.url}")
                    self._set_state(State.FAILED)
                return
            if outcome == "eof":
                self._error(f"camera {self._camera_id}: end of stream from {self.url}")
            self._lost()
            self._backoff(failures)

    def _open_failed(self, exc: StreamError, failures: int) -> bool:
        """Record a failed open; back off and return True to try again, False to give up."""
        self._error(str(exc))
        retries = self.options.connect_retries
        if self._permanent(exc) or (retries is not None and failures > retries):
            self._set_state(State.FAILED)
            return False
        self._set_state(State.RECONNECTING)
        self._backoff(failures - 1)
        return True

    def _pump_any(self, opened: InputContainer | RtspTcpSession) -> Outcome:
        if isinstance(opened, RtspTcpSession):
            return self._pump_session(opened)
        return self._pump(opened)

    def _pump(self, container: InputContainer) -> Outcome:
        if not container.streams.video:
            raise StreamError(f"camera {self._camera_id}: no video stream in {self.url}")
        stream = container.streams.video[0]
        stream.thread_type = self._thread_type
        stream.thread_count = self._thread_count
        if stream.average_rate:
            self._frame_period = 1.0 / float(stream.average_rate)
        self._decode_errors = 0
        stalled = self._stalled_message()
        limit = self.options.read_timeout_s
        try:
            asked = time.monotonic()
            for packet in container.demux(stream):
                # A gap as long as the read timeout means PyAV's interrupt fired: FFmpeg
                # then hands over what it still held back (the last frame) and would wait
                # a whole timeout more before failing. Call the stall now.
                gap = time.monotonic() - asked
                if self._stop.is_set() or not self._decode(packet):
                    return "stopped"
                if self.live and gap >= limit:
                    raise StreamError(stalled)
                asked = time.monotonic()
        except av.error.ExitError:
            raise StreamError(stalled) from None
        except av.error.FFmpegError as exc:
            raise StreamError(self._describe("lost", exc)) from None
        return "eof"

    def _stalled_message(self) -> str:
        return (
            f"camera {self._camera_id}: no data for {self.options.read_timeout_s:g} s "
            f"from {self.url} (stalled)"
        )

    def _decode(
        self,
        packet: Packet[Any],
        decoder: VideoCodecContext | None = None,
        arrived: float | None = None,
    ) -> bool:
        """Decode one packet and publish its frames; False when asked to stop.

        ``decoder`` decodes packets that come from no container (the RTP path), whose
        last packet was read at ``arrived``.
        """
        if packet.size:
            self._rx.tick()
            self._m_packets.inc()
        try:
            frames = packet.decode() if decoder is None else decoder.decode(packet)
        except av.error.InvalidDataError as exc:
            self._decode_errors += 1
            self._damaged(f"camera {self._camera_id}: a packet could not be decoded ({exc})")
            if self._decode_errors > _MAX_DECODE_ERRORS:
                raise StreamError(self._describe("cannot decode", exc)) from None
            return True
        self._decode_errors = 0
        for frame in frames:
            if frame.is_corrupt:
                # FFmpeg conceals damaged data and hands the frame over anyway: deliver
                # it (analysis of a partly grey frame beats none) but count the fault.
                self._damaged(
                    f"camera {self._camera_id}: frame decoded from damaged data "
                    "(concealed by the decoder)"
                )
            if not self._publish(frame, arrived):
                return False
        return True

    def _damaged(self, message: str) -> None:
        with self._cond:
            self._decode_error_total += 1
        self._error(message)

    def _publish(self, frame: VideoFrame, arrived: float | None = None) -> bool:
        t = _seconds(frame)
        if t is None:
            t = 0.0 if self._last_pts is None else self._last_pts + self._frame_period
        if self._last_pts is not None and t <= self._last_pts:
            t = self._last_pts + 1e-6  # keep pts increasing through glitches and rewinds
        self._last_pts = t
        pts = t + self._pts_offset
        self._pace(t)
        if self._stop.is_set():
            return False
        now = time.time()
        self._dec.tick()
        self._m_decoded.inc()
        self._m_last.set(now)
        with self._cond:
            self._decoded += 1
            self._last_frame_at = now
            if self._state is not State.STREAMING or self._width != frame.width:
                self._streaming(frame.width, frame.height)
            seq = self._seq
            self._seq += 1
            if not self._due(pts):
                self._m_skipped.inc()
                return True
            if self._lossless:
                while self._pending is not None and not self._stop.is_set():
                    self._cond.wait(0.5)
            if self._pending is not None:
                self._dropped += 1
                self._m_dropped.inc()
            self._pending = _Decoded(seq, pts, now, frame, arrived)
            self._cond.notify_all()
        return True

    def _due(self, pts: float) -> bool:
        """``max_fps`` decimation on stream time; True when this frame should be offered."""
        if self.options.max_fps is None:
            return True
        period = 1.0 / self.options.max_fps
        if self._next_due is None or pts < self._next_due - 10 * period:
            self._next_due = pts  # first frame, or the stream clock jumped back
        if pts + 1e-3 < self._next_due:
            return False
        self._next_due = max(self._next_due + period, pts)
        return True

    # -- bookkeeping -----------------------------------------------------------------------

    def _streaming(self, width: int, height: int) -> None:
        # called with self._cond held
        self._width, self._height = width, height
        self._m_width.set(width)
        self._m_height.set(height)
        self._m_up.set(1)
        if self._state is not State.STREAMING:
            self._state = State.STREAMING
            self._m_state.state(State.STREAMING.value)
            log.info("camera %s streaming %dx%d from %s", self._camera_id, width, height, self.url)

    def _lost(self) -> None:
        self._reconnects += 1
        self._m_reconnects.inc()
        self._rx.reset()
        self._dec.reset()
        self._last_pts = None
        self._set_state(State.RECONNECTING)

    def _backoff(self, attempt: int) -> None:
        o = self.options
        delay = backoff_delay(attempt, o.backoff_initial_s, o.backoff_max_s, self._rng)
        log.info("camera %s: reconnecting in %.2f s", self._camera_id, delay)
        self._stop.wait(delay)

    def _set_state(self, state: State) -> None:
        with self._cond:
            if self._state is not state:
                self._state = state
                self._m_state.state(state.value)
                if state is not State.STREAMING:
                    self._m_up.set(0)
            self._cond.notify_all()

    def _error(self, message: str) -> None:
        message = self._redact(message)
        with self._cond:
            repeated = message == self._last_error
            self._last_error = message
        self._m_errors.inc()
        # a camera that stays down would otherwise log the same line at every retry
        log.log(logging.DEBUG if repeated else logging.WARNING, "%s", message)

    def _describe(self, what: str, exc: BaseException) -> str:
        """A redacted one-line message for an FFmpeg error."""
        detail = getattr(exc, "strerror", None) or str(exc)
        if isinstance(exc, av.error.ExitError):
            detail = "timed out"
        return self._redact(f"camera {self._camera_id}: {what} {self.url}: {detail}")


def _seconds(frame: VideoFrame) -> float | None:
    """The frame's presentation time in seconds; None when the stream gives none."""
    if frame.pts is None or frame.time_base is None:
        return None
    return float(frame.pts * frame.time_base)


def _close_quietly(container: InputContainer | RtspTcpSession) -> None:
    if isinstance(container, RtspTcpSession):
        container.close()
        return
    try:
        container.close()
    except (av.error.FFmpegError, OSError) as exc:
        log.debug("closing container: %s", type(exc).__name__)
