"""The live view's relay: one camera connection per stream, shared by every viewer.

:class:`LiveHub` lives in the web service's event loop. A viewer's offer gets a
``RTCPeerConnection`` whose video track is a ``MediaRelay`` proxy of the camera's one
:class:`~api.live.feed.CameraFeed`: the first viewer of a stream opens the camera, and
the last one leaving starts a grace period (``grace_s``) after which the camera
connection is closed (a viewer who comes back within it finds the picture already there).

Every session — WebRTC or the snapshot fallback — is a :class:`LiveSession` with who,
which camera, from when to when; ``on_audit`` writes its start and its end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaRelay

from api.live.feed import CameraFeed, FeedState
from api.live.settings import IceServer, LiveSettings

log = logging.getLogger(__name__)

Variant = Literal["main", "sub"]
AuditFn = Callable[[str, str, str, dict[str, Any]], Awaitable[None]]


class LiveError(Exception):
    """A viewer cannot be served; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(slots=True)
class LiveSession:
    """One person watching one camera."""

    id: str
    user: str
    source: str
    camera: str
    variant: Variant
    mode: str
    started: float = field(default_factory=time.time)
    ended: float | None = None
    pc: RTCPeerConnection | None = None
    last_seen: float = field(default_factory=time.monotonic)


@dataclass(slots=True)
class Upstream:
    """One camera stream with its viewers; closed ``grace_s`` after the last leaves."""

    key: tuple[str, Variant]
    feed: CameraFeed
    viewers: set[str] = field(default_factory=set)
    closer: asyncio.TimerHandle | None = None
    listeners: set[asyncio.Queue[dict[str, Any]]] = field(default_factory=set)


def rtc_configuration(servers: list[IceServer]) -> RTCConfiguration:
    """The server side's ICE configuration: exactly ``servers`` (none by default).

    aiortc adds a public STUN server when ``iceServers`` is None; an empty list keeps
    it from doing so.
    """
    return RTCConfiguration(
        iceServers=[
            RTCIceServer(
                urls=s.urls,
                username=s.username,
                credential=s.credential.get_secret_value() if s.credential else None,
            )
            for s in servers
        ]
    )


class LiveHub:
    """Viewers, camera connections and the one process-wide relay."""

    def __init__(
        self,
        settings: LiveSettings,
        resolve: Callable[[str, Variant], tuple[str, str]],
        on_audit: AuditFn,
    ) -> None:
        self.settings = settings
        self.relay = MediaRelay()
        self._resolve = resolve
        self._audit = on_audit
        self.upstreams: dict[tuple[str, Variant], Upstream] = {}
        self.sessions: dict[str, LiveSession] = {}
        self.opened = 0  # camera connections opened since start (tests, metrics)
        self._reaper: asyncio.Task[None] | None = None

    # -- camera connections -------------------------------------------------------------

    def _upstream(self, camera: str, variant: Variant) -> Upstream:
        key = (camera, variant)
        up = self.upstreams.get(key)
        if up is not None:
            if up.closer is not None:
                up.closer.cancel()
                up.closer = None
            return up
        try:
            url, transport = self._resolve(camera, variant)
        except KeyError as exc:  # a ${VAR} of the camera's URL is unset (named, no value)
            raise LiveError(503, f"camera {camera}: {exc.args[0]}") from None
        holder: list[Upstream] = []
        feed = CameraFeed(
            camera, url, transport=transport, on_state=lambda s: self._announce(holder, s)
        )
        up = Upstream(key=key, feed=feed)
        holder.append(up)
        self.upstreams[key] = up
        self.opened += 1
        log.info("live: camera %s (%s stream) opened for its first viewer", camera, variant)
        return up

    def _announce(self, holder: list[Upstream], state: FeedState) -> None:
        for q in list(holder[0].listeners if holder else ()):
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait({"event": "status", **state.as_dict()})

    def _release(self, up: Upstream, session_id: str) -> None:
        up.viewers.discard(session_id)
        if up.viewers or up.closer is not None:
            return
        loop = asyncio.get_running_loop()
        up.closer = loop.call_later(self.settings.grace_s, self._close_upstream, up)

    def _close_upstream(self, up: Upstream) -> None:
        if up.viewers or self.upstreams.get(up.key) is not up:
            return
        del self.upstreams[up.key]
        up.feed.stop()
        log.info("live: camera %s (%s stream) closed: no viewer for the grace period", *up.key)

    def feed_state(self, camera: str, variant: Variant) -> FeedState | None:
        """The camera connection's state, or None while it is not open."""
        up = self.upstreams.get((camera, variant))
        return up.feed.state if up else None

    # -- WebRTC viewers ---------------------------------------------------------------

    async def offer(
        self, *, user: str, source: str, camera: str, variant: Variant, sdp: str, kind: str
    ) -> tuple[LiveSession, RTCSessionDescription]:
        """Answer a viewer's offer with the camera's stream through the relay.

        Raises:
            LiveError: 503 when the camera does not answer, 409 past the transcode cap
                or when the browser offers no H.264, 422 for an offer without video.
        """
        up = self._upstream(camera, variant)
        sid = secrets.token_urlsafe(12)
        up.viewers.add(sid)  # held while we wait, so the grace timer cannot close it
        pc: RTCPeerConnection | None = None
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(8.0):
                    await up.feed.answered.wait()
            st = up.feed.state
            if st.mode is None:
                raise LiveError(503, f"camera {camera} does not answer: {st.reason}")
            if st.mode == "transcode":
                self._check_cap(camera, variant, st)
            pc = RTCPeerConnection(rtc_configuration(self.settings.ice_servers))
            session = LiveSession(
                id=sid,
                user=user,
                source=source,
                camera=camera,
                variant=variant,
                mode=st.mode,
                pc=pc,
            )
            answer = await self._answer(pc, up.feed, st, sdp, kind)
            await pc.setLocalDescription(answer)
        except BaseException:
            self._release(up, sid)
            if pc is not None:
                await pc.close()
            raise

        @pc.on("connectionstatechange")
        async def _changed() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self.end(sid, why=pc.connectionState)

        self.sessions[sid] = session
        await self._audit(
            user,
            "live.start",
            camera,
            {"session": sid, "variant": variant, "mode": st.mode, "source": source},
        )
        local = pc.localDescription
        return session, local

    def _check_cap(self, camera: str, variant: Variant, st: FeedState) -> None:
        watching = sum(
            1
            for s in self.sessions.values()
            if (s.camera, s.variant, s.mode) == (camera, variant, "transcode") and s.ended is None
        )
        if watching >= self.settings.transcode_cap:
            raise LiveError(
                409,
                f"camera {camera} sends {st.codec}, which browsers cannot play as it "
                f"is; it is transcoded for at most {self.settings.transcode_cap} "
                "viewers and that many are watching",
            )

    async def _answer(
        self, pc: RTCPeerConnection, feed: CameraFeed, st: FeedState, sdp: str, kind: str
    ) -> RTCSessionDescription:
        """The answer carrying a relay proxy of ``feed`` (only H.264 when passing through)."""
        pc.addTrack(self.relay.subscribe(feed, buffered=False))
        if st.mode == "passthrough":
            caps = RTCRtpSender.getCapabilities("video")
            h264 = [c for c in caps.codecs if c.mimeType == "video/H264"]
            for t in pc.getTransceivers():
                if t.kind == "video":
                    t.setCodecPreferences(h264)
        if "m=video" not in sdp:
            raise LiveError(422, "sdp: the offer has no video (m=video) section")
        # after addTrack and the codec choice: the offer's m-line takes this transceiver
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=kind))
        except ValueError as exc:
            raise LiveError(422, f"sdp: not a usable WebRTC offer ({exc})") from None
        answer = await pc.createAnswer()
        if st.mode == "passthrough" and "H264" not in answer.sdp:
            raise LiveError(409, "this browser offers no H.264 decoder; use Chromium")
        return answer

    async def end(self, session_id: str, *, why: str = "left") -> LiveSession | None:
        """End a session (viewer left, connection failed); audits who, camera, from–to."""
        s = self.sessions.pop(session_id, None)
        if s is None:
            return None
        s.ended = time.time()
        if s.pc is not None:
            await s.pc.close()
        up = self.upstreams.get((s.camera, s.variant))
        if up is not None:
            self._release(up, s.id)
        await self._audit(
            s.user,
            "live.end",
            s.camera,
            {
                "session": s.id,
                "variant": s.variant,
                "mode": s.mode,
                "from": s.started,
                "to": s.ended,
                "seconds": round(s.ended - s.started, 1),
                "why": why,
            },
        )
        return s

    # -- snapshot fallback ----------------------------------------------------------

    async def snapshot(
        self, *, user: str, source: str, camera: str, variant: Variant, session_id: str | None
    ) -> tuple[LiveSession, bytes]:
        """The newest picture as JPEG, for a page whose WebRTC cannot connect.

        A page's snapshots form one session (``session_id`` from the first answer),
        ended ``snapshot_idle_s`` after its last request.

        Raises:
            LiveError: 503 when the camera does not answer.
        """
        s = self.sessions.get(session_id or "")
        if s is None or s.user != user or s.camera != camera or s.mode != "snapshot":
            s = LiveSession(
                id=secrets.token_urlsafe(12),
                user=user,
                source=source,
                camera=camera,
                variant=variant,
                mode="snapshot",
            )
            self.sessions[s.id] = s
            self._upstream(camera, variant).viewers.add(s.id)
            await self._audit(
                user,
                "live.start",
                camera,
                {"session": s.id, "variant": variant, "mode": "snapshot", "source": source},
            )
            self._start_reaper()
        s.last_seen = time.monotonic()
        up = self._upstream(camera, variant)
        up.viewers.add(s.id)
        try:
            async with asyncio.timeout(8.0):
                await up.feed.pictured.wait()
        except TimeoutError:
            raise LiveError(
                503, f"camera {camera} does not answer: {up.feed.state.reason}"
            ) from None
        jpeg = await asyncio.to_thread(up.feed.jpeg)
        return s, jpeg

    def _start_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.create_task(self._reap())

    async def _reap(self) -> None:
        while any(s.mode == "snapshot" for s in self.sessions.values()):
            await asyncio.sleep(1.0)
            idle = time.monotonic() - self.settings.snapshot_idle_s
            for s in [s for s in self.sessions.values() if s.mode == "snapshot"]:
                if s.last_seen < idle:
                    await self.end(s.id, why="idle")

    # -- overlay / status listeners ---------------------------------------------------

    def listen(self, camera: str, variant: Variant) -> asyncio.Queue[dict[str, Any]] | None:
        """A queue of the camera's status events (None while no connection is open)."""
        up = self.upstreams.get((camera, variant))
        if up is None:
            return None
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=16)
        up.listeners.add(q)
        q.put_nowait({"event": "status", **up.feed.state.as_dict()})
        return q

    def unlisten(self, camera: str, variant: Variant, q: asyncio.Queue[dict[str, Any]]) -> None:
        up = self.upstreams.get((camera, variant))
        if up is not None:
            up.listeners.discard(q)

    async def close(self) -> None:
        """End every session and close every camera connection (service shutdown)."""
        for sid in list(self.sessions):
            await self.end(sid, why="server stopped")
        for up in list(self.upstreams.values()):
            if up.closer is not None:
                up.closer.cancel()
            up.feed.stop()
        feeds = [up.feed for up in self.upstreams.values()]
        self.upstreams.clear()
        for f in feeds:
            await asyncio.to_thread(f.join, 5.0)
        if self._reaper is not None:
            self._reaper.cancel()
