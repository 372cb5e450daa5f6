"""A small RTSP client over TCP (interleaved RTP), for the marker-bit depacketiser.

Only what a camera's video needs: OPTIONS, DESCRIBE (SDP: codec, payload type, clock,
``sprop-parameter-sets``), SETUP of the first video track on interleaved channels 0-1,
PLAY, keep-alive OPTIONS within the session timeout, and TEARDOWN. Basic and Digest
authentication (RFC 2617, with or without ``qop=auth``), as IP cameras ask for.

It yields each RTP packet of the video channel with the wall-clock time it was read
(its *arrival*), so the decoder path can measure arrival-to-decoded per frame.
Credentials never appear in a message: errors name the camera and the redacted URL.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from streams.errors import StreamError

_USER_AGENT = "shouwang"


class RtspUnsupported(StreamError):
    """The camera answers, but not in a way this client handles: use FFmpeg's path."""


@dataclass
class SdpVideo:
    """The first video track of a DESCRIBE answer."""

    codec: str  # encoding name upper-case, e.g. "H264", "H265"
    payload_type: int
    clock_rate: int
    control: str  # absolute URL to SETUP
    fmtp: str = ""
    fps: float | None = None


@dataclass
class _Response:
    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def parse_sdp(sdp: str, base: str) -> SdpVideo | None:
    """The first ``m=video`` track of ``sdp`` with its control URL resolved on ``base``."""
    video: SdpVideo | None = None
    in_video = False
    for raw in sdp.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            if video is not None:
                break
            parts = line[2:].split()
            in_video = len(parts) >= 4 and parts[0] == "video"
            if in_video:
                pt = int(parts[3]) if parts[3].isdigit() else 96
                video = SdpVideo(codec="", payload_type=pt, clock_rate=90000, control=base)
            continue
        if not in_video or video is None:
            continue
        if line.startswith("a=rtpmap:"):
            num, _, enc = line[9:].partition(" ")
            if num.strip() == str(video.payload_type):
                name, _, rest = enc.partition("/")
                video.codec = name.strip().upper()
                rate = rest.partition("/")[0]
                video.clock_rate = int(rate) if rate.isdigit() else 90000
        elif line.startswith("a=fmtp:"):
            video.fmtp = line[7:].partition(" ")[2]
        elif line.startswith("a=control:"):
            ctl = line[10:].strip()
            video.control = ctl if "://" in ctl else urljoin(base.rstrip("/") + "/", ctl)
        elif line.startswith("a=framerate:"):
            try:
                video.fps = float(line[12:])
            except ValueError:
                pass
    return video if video is not None and video.codec else None


class RtspTcpSession:
    """One RTSP session over one TCP connection; video RTP on interleaved channel 0.

    Args:
        url: the camera URL, possibly with ``user:password@``.
        shown: the redacted URL, the only form that goes into messages.
        camera_id: for messages.
        open_timeout_s: connecting and each answer during set-up.
        read_timeout_s: no packet for this long counts as a stall.
    """

    def __init__(
        self,
        url: str,
        shown: str,
        camera_id: str,
        open_timeout_s: float,
        read_timeout_s: float,
    ) -> None:
        parts = urlsplit(url)
        self._user = unquote(parts.username or "")
        self._password = unquote(parts.password or "")
        host = parts.hostname or ""
        netloc = host if ":" not in host else f"[{host}]"
        if parts.port:
            netloc += f":{parts.port}"
        self.url = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        self._host, self._port = host, parts.port or 554
        self.shown = shown
        self.camera_id = camera_id
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self._sock: socket.socket | None = None
        self._buf = bytearray()
        self._cseq = 0
        self._session = ""
        self._keepalive_s = 30.0
        self._auth: dict[str, str] | None = None
        self._basic = False
        self.video: SdpVideo | None = None
        self.ended = False
        self._channel = 0  # RTP's interleaved channel; RTCP's is the next one

    # -- set-up ---------------------------------------------------------------------

    def open(self) -> SdpVideo:
        """Connect, DESCRIBE, SETUP and PLAY; the video track it plays.

        Raises:
            StreamError: no connection, an error answer, or no video track in the SDP.
        """
        try:
            self._sock = socket.create_connection(
                (self._host, self._port), timeout=self.open_timeout_s
            )
        except OSError as exc:
            raise self._error(f"cannot connect ({exc.strerror or exc})") from None
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        r = self._request("DESCRIBE", self.url, {"Accept": "application/sdp"})
        base = r.headers.get("content-base") or r.headers.get("content-location") or self.url
        video = parse_sdp(r.body.decode("utf-8", "replace"), base)
        if video is None:
            raise self._unsupported("no video track in the stream description")
        self.video = video
        r = self._request(
            "SETUP", video.control, {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"}
        )
        self._channel = _interleaved(r.headers.get("transport", ""))
        session = r.headers.get("session", "")
        self._session = session.split(";")[0].strip()
        for part in session.split(";")[1:]:
            name, _, value = part.strip().partition("=")
            if name.lower() == "timeout" and value.isdigit():
                self._keepalive_s = max(5.0, int(value) / 2)
        # the aggregate control URL (Content-Base) for the session-wide requests
        self.url = base
        self._request("PLAY", self.url, {"Range": "npt=0.000-"})
        return video

    def _error(self, what: str) -> StreamError:
        return StreamError(f"camera {self.camera_id}: {what} from {self.shown}")

    def _unsupported(self, what: str) -> RtspUnsupported:
        return RtspUnsupported(f"camera {self.camera_id}: {what} from {self.shown}")

    def _request(self, method: str, uri: str, headers: dict[str, str]) -> _Response:
        for _attempt in range(2):
            self._send(method, uri, headers)
            deadline = time.monotonic() + self.open_timeout_s
            while True:
                r = self._read_message(deadline)
                if r is not None:
                    break
            if r.status == 401 and self._auth is None and not self._basic:
                self._challenge(r.headers.get("www-authenticate", ""))
                continue
            if r.status != 200:
                raise self._unsupported(f"{method} answered {r.status} {r.reason}")
            return r
        raise self._unsupported(f"{method}: authentication failed (401)")

    def _challenge(self, header: str) -> None:
        if not self._user:
            raise self._unsupported("the camera asks for a user name and password (401)")
        scheme, _, rest = header.partition(" ")
        if scheme.lower() == "basic":
            self._basic = True
            return
        fields: dict[str, str] = {}
        for part in _split_auth(rest):
            k, _, v = part.partition("=")
            fields[k.strip().lower()] = v.strip().strip('"')
        if "nonce" not in fields:
            raise self._unsupported(f"unsupported authentication {scheme!r}")
        self._auth = fields

    def _authorization(self, method: str, uri: str) -> str | None:
        if self._basic:
            import base64

            token = base64.b64encode(f"{self._user}:{self._password}".encode()).decode()
            return f"Basic {token}"
        if self._auth is None:
            return None
        a = self._auth
        realm, nonce = a.get("realm", ""), a["nonce"]

        def md5(s: str) -> str:
            return hashlib.md5(s.encode(), usedforsecurity=False).hexdigest()

        ha1 = md5(f"{self._user}:{realm}:{self._password}")
        ha2 = md5(f"{method}:{uri}")
        out = f'Digest username="{self._user}", realm="{realm}", nonce="{nonce}", uri="{uri}"'
        if "auth" in a.get("qop", "").split(","):
            cnonce, nc = os.urandom(8).hex(), "00000001"
            resp = md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
            out += f', qop=auth, nc={nc}, cnonce="{cnonce}"'
        else:
            resp = md5(f"{ha1}:{nonce}:{ha2}")
        if "opaque" in a:
            out += f', opaque="{a["opaque"]}"'
        return out + f', response="{resp}"'

    def _send(self, method: str, uri: str, headers: dict[str, str]) -> None:
        assert self._sock is not None
        self._cseq += 1
        lines = [f"{method} {uri} RTSP/1.0", f"CSeq: {self._cseq}", f"User-Agent: {_USER_AGENT}"]
        auth = self._authorization(method, uri)
        if auth:
            lines.append(f"Authorization: {auth}")
        if self._session:
            lines.append(f"Session: {self._session}")
        lines += [f"{k}: {v}" for k, v in headers.items()]
        try:
            self._sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        except OSError as exc:
            raise self._error(f"connection lost ({exc.strerror or exc})") from None

    # -- reading ----------------------------------------------------------------------

    def _fill(self, deadline: float) -> None:
        assert self._sock is not None
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        self._sock.settimeout(min(left, 0.5))
        try:
            chunk = self._sock.recv(65536)
        except TimeoutError:
            return
        except OSError as exc:
            raise self._error(f"connection lost ({exc.strerror or exc})") from None
        if not chunk:
            raise self._error("the server closed the connection")
        self._buf += chunk

    def _read_message(self, deadline: float) -> _Response | None:
        """One RTSP answer; None after skipping an interleaved packet (set-up only)."""
        try:
            while True:
                if self._buf[:1] == b"$":
                    if len(self._buf) >= 4:
                        size = int.from_bytes(self._buf[2:4], "big")
                        if len(self._buf) >= 4 + size:
                            del self._buf[: 4 + size]
                            return None
                else:
                    end = self._buf.find(b"\r\n\r\n")
                    if end >= 0:
                        return self._parse_answer(end, deadline)
                self._fill(deadline)
        except TimeoutError:
            raise self._error(f"no answer within {self.open_timeout_s:g} s") from None

    def _parse_answer(self, end: int, deadline: float) -> _Response:
        head = bytes(self._buf[:end]).decode("utf-8", "replace").split("\r\n")
        headers: dict[str, str] = {}
        for line in head[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        size = int(headers.get("content-length", "0") or 0)
        while len(self._buf) < end + 4 + size:
            self._fill(deadline)
        body = bytes(self._buf[end + 4 : end + 4 + size])
        del self._buf[: end + 4 + size]
        status = head[0].split(" ", 2)
        if len(status) < 2 or not status[0].startswith("RTSP/") or not status[1].isdigit():
            raise self._unsupported(f"not an RTSP answer: {head[0][:60]!r}")
        return _Response(int(status[1]), status[2] if len(status) > 2 else "", headers, body)

    def packets(self, stop: threading.Event) -> Iterator[tuple[bytes, float]]:
        """The video channel's RTP packets with their arrival times, until ``stop``.

        Ends early, with :attr:`ended` set, when the server says goodbye (RTCP BYE).

        Raises:
            StreamError: no packet for ``read_timeout_s`` (stalled) or connection lost.
        """
        last_data = time.monotonic()
        next_alive = last_data + self._keepalive_s
        buf = self._buf
        while not stop.is_set():
            now = time.monotonic()
            if now >= next_alive:
                self._send("OPTIONS", self.url, {})
                next_alive = now + self._keepalive_s
            if buf[:1] == b"$" and len(buf) >= 4:
                size = int.from_bytes(buf[2:4], "big")
                if len(buf) >= 4 + size:
                    channel = buf[1]
                    data = bytes(buf[4 : 4 + size])
                    del buf[: 4 + size]
                    last_data = now
                    if channel == self._channel:
                        yield data, time.time()
                    elif channel == self._channel + 1 and _rtcp_bye(data):
                        self.ended = True  # the server ends the stream (RFC 3550 §6.6)
                        return
                    continue
            elif buf and buf[:1] != b"$":
                end = buf.find(b"\r\n\r\n")
                if end >= 0:
                    self._parse_answer(end, now + self.open_timeout_s)  # keep-alive answer
                    continue
            try:
                self._fill(last_data + self.read_timeout_s)
            except TimeoutError:
                raise self._error(f"no data for {self.read_timeout_s:g} s (stalled)") from None

    def close(self) -> None:
        """TEARDOWN (best effort) and close the connection."""
        if self._sock is None:
            return
        try:
            if self._session:
                self._sock.settimeout(0.5)
                self._send("TEARDOWN", self.url, {})
        except (StreamError, OSError):
            pass
        finally:
            self._sock.close()
            self._sock = None


def _split_auth(value: str) -> list[str]:
    """Split ``a="x, y", b=z`` on the commas outside quotes."""
    out: list[str] = []
    cur: list[str] = []
    quoted = False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if cur:
        out.append("".join(cur).strip())
    return [p for p in out if p]


def _rtcp_bye(data: bytes) -> bool:
    """Whether a compound RTCP packet holds a BYE (packet type 203)."""
    i = 0
    while i + 4 <= len(data):
        if data[i + 1] == 203:
            return True
        i += 4 * (int.from_bytes(data[i + 2 : i + 4], "big") + 1)
    return False


def _interleaved(transport: str) -> int:
    """The RTP channel of a SETUP answer's ``Transport`` (``interleaved=2-3`` → 2)."""
    for part in transport.split(";"):
        name, _, value = part.strip().partition("=")
        first = value.partition("-")[0]
        if name.lower() == "interleaved" and first.isdigit():
            return int(first)
    return 0
