"""H.264 over RTP (RFC 6184): packets in, whole access units out, closed on the marker bit.

FFmpeg's RTSP demuxer hands the H.264 parser a byte stream, and the parser can only
tell that frame N is complete when the first bytes of frame N+1 arrive: every frame
reaches the decoder one frame interval late (100 ms at 10 fps). The RTP marker bit says
the same thing one interval sooner: it is set on the last packet of an access unit
(RFC 6184 §5.1). :class:`H264Depacketiser` assembles NAL units from single-NAL, STAP-A
and FU-A packets into an Annex-B access unit and closes it on the marker.

Some encoders never set the marker, or set it wrongly. When the RTP timestamp changes
while an access unit is still open, the marker has failed: the open unit is closed
there (as FFmpeg would) and counted in ``marker_misses``; the caller falls back to
FFmpeg's own path for that camera once :attr:`H264Depacketiser.marker_unreliable`.

Example:
    >>> d = H264Depacketiser()
    >>> d.push(bytes([0x80, 0xE0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 1, 0x65, 0x88]), 0.0)
    [AccessUnit(timestamp=9, data=b'\\x00\\x00\\x00\\x01e\\x88', keyframe=True, arrived=0.0)]
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

START = b"\x00\x00\x00\x01"
_NAL_IDR, _NAL_SPS, _NAL_PPS = 5, 7, 8
_STAP_A, _FU_A = 24, 28
#: Timestamp changes without a marker tolerated before the marker counts as unreliable.
MARKER_MISSES_ALLOWED = 3


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """The fields of one RTP packet this module uses (RFC 3550 §5.1)."""

    marker: bool
    payload_type: int
    seq: int
    timestamp: int
    payload: bytes

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket | None:
        """Parse one packet; None when it is not RTP version 2 or is truncated."""
        if len(data) < 12 or data[0] >> 6 != 2:
            return None
        cc = data[0] & 0x0F
        offset = 12 + 4 * cc
        if data[0] & 0x10:  # header extension: 4 bytes + length words
            if len(data) < offset + 4:
                return None
            offset += 4 + 4 * int.from_bytes(data[offset + 2 : offset + 4], "big")
        end = len(data)
        if data[0] & 0x20:  # padding: the last byte says how much
            end -= data[-1]
        if end < offset:
            return None
        return cls(
            marker=bool(data[1] & 0x80),
            payload_type=data[1] & 0x7F,
            seq=int.from_bytes(data[2:4], "big"),
            timestamp=int.from_bytes(data[4:8], "big"),
            payload=bytes(data[offset:end]),
        )


@dataclass(frozen=True, slots=True)
class AccessUnit:
    """One coded picture as Annex-B bytes, ready for the decoder."""

    timestamp: int  # RTP timestamp (90 kHz for video), not unwrapped
    data: bytes
    keyframe: bool
    arrived: float  # wall-clock time its last packet was read


@dataclass
class H264Depacketiser:
    """RTP packets of one H.264 stream in, access units out (closed on the marker bit).

    ``parameter_sets`` (SPS/PPS from the SDP's ``sprop-parameter-sets``) are put in
    front of every IDR picture that does not carry its own, so the decoder can start on
    any keyframe. A sequence-number gap drops the unit being assembled (a picture with a
    hole decodes into garbage; the next keyframe repairs the stream) and counts it in
    ``lost``.
    """

    parameter_sets: list[bytes] = field(default_factory=list)
    marker_misses: int = 0
    marker_closes: int = 0
    lost: int = 0
    _nals: list[bytes] = field(default_factory=list)
    _fu: bytearray | None = None
    _ts: int | None = None
    _seq: int | None = None
    _broken: bool = False
    _arrived: float = 0.0

    @property
    def marker_unreliable(self) -> bool:
        """True once the marker failed more often than :data:`MARKER_MISSES_ALLOWED`."""
        return self.marker_misses > MARKER_MISSES_ALLOWED

    def push(self, data: bytes, arrived: float) -> list[AccessUnit]:
        """Feed one RTP packet; returns the access units it completed (0, 1 or 2)."""
        pkt = RtpPacket.parse(data)
        if pkt is None:
            return []
        out: list[AccessUnit] = []
        if self._ts is not None and pkt.timestamp != self._ts and (self._nals or self._fu):
            self.marker_misses += 1  # a new picture began before the marker closed the last
            self._fu = None
            out.extend(self._close())
        if self._seq is not None and pkt.seq != (self._seq + 1) & 0xFFFF:
            self.lost += 1
            self._broken = True
            self._fu = None
        self._seq = pkt.seq
        self._ts = pkt.timestamp
        self._arrived = arrived
        self._payload(pkt.payload)
        if pkt.marker:
            self.marker_closes += 1
            self._fu = None
            out.extend(self._close())
        return out

    def _payload(self, p: bytes) -> None:
        if not p:
            return
        kind = p[0] & 0x1F
        if 1 <= kind <= 23:
            self._nals.append(p)
        elif kind == _STAP_A:
            i = 1
            while i + 2 <= len(p):
                size = int.from_bytes(p[i : i + 2], "big")
                if size == 0 or i + 2 + size > len(p):
                    break
                self._nals.append(p[i + 2 : i + 2 + size])
                i += 2 + size
        elif kind == _FU_A and len(p) >= 2:
            start, end = p[1] & 0x80, p[1] & 0x40
            if start:
                self._fu = bytearray([(p[0] & 0xE0) | (p[1] & 0x1F)])
            if self._fu is None:  # a fragment whose start we never saw
                self._broken = True
                return
            self._fu += p[2:]
            if end:
                self._nals.append(bytes(self._fu))
                self._fu = None
        # other types (STAP-B, MTAP, FU-B: interleaved mode) are not sent by cameras

    def _close(self) -> list[AccessUnit]:
        nals, self._nals = self._nals, []
        broken, self._broken = self._broken, False
        if not nals or self._ts is None:
            return []
        if broken:
            self.lost += 1
            return []
        kinds = {n[0] & 0x1F for n in nals}
        key = _NAL_IDR in kinds
        if key and _NAL_SPS not in kinds and self.parameter_sets:
            nals = [*self.parameter_sets, *nals]
        data = b"".join(START + n for n in nals)
        return [AccessUnit(self._ts, data, key, self._arrived)]


def sprop_parameter_sets(fmtp: str) -> list[bytes]:
    """The SPS/PPS NAL units of an SDP ``a=fmtp`` line's ``sprop-parameter-sets``."""
    for part in fmtp.split(";"):
        name, _, value = part.strip().partition("=")
        if name.lower() == "sprop-parameter-sets":
            out = []
            for b64 in value.split(","):
                try:
                    nal = base64.b64decode(b64 + "=" * (-len(b64) % 4), validate=False)
                except ValueError:
                    continue
                if nal:
                    out.append(nal)
            return out
    return []
