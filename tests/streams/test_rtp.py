"""The RTP H.264 depacketiser and the SDP/RTSP helpers: packets built by hand, per RFC."""

from __future__ import annotations

import base64

import pytest

from streams.rtp import (
    MARKER_MISSES_ALLOWED,
    START,
    H264Depacketiser,
    RtpPacket,
    sprop_parameter_sets,
)
from streams.rtsp_tcp import _interleaved, _rtcp_bye, _split_auth, parse_sdp

SPS, PPS = bytes([0x67, 0x42, 0x00, 0x1E]), bytes([0x68, 0xCE, 0x3C, 0x80])
IDR, P = bytes([0x65, 0x88, 0x84, 0x00]), bytes([0x41, 0x9A, 0x02, 0x11])


def rtp(payload: bytes, seq: int, ts: int, marker: bool = True, **kw: int) -> bytes:
    """An RTP v2 packet; ``csrc``, ``ext`` (words) and ``pad`` (bytes) optional."""
    csrc, ext, pad = kw.get("csrc", 0), kw.get("ext", -1), kw.get("pad", 0)
    b0 = 0x80 | csrc | (0x10 if ext >= 0 else 0) | (0x20 if pad else 0)
    head = bytes([b0, (0x80 if marker else 0) | 96]) + seq.to_bytes(2, "big")
    head += ts.to_bytes(4, "big") + (1234).to_bytes(4, "big") + b"\0\0\0\1" * csrc
    if ext >= 0:
        head += b"\xbe\xde" + ext.to_bytes(2, "big") + b"\0" * 4 * ext
    tail = b"\0" * (pad - 1) + bytes([pad]) if pad else b""
    return head + payload + tail


def fu_a(nal: bytes, pieces: int) -> list[bytes]:
    """``nal`` cut into FU-A payloads (RFC 6184 §5.8)."""
    body, step = nal[1:], max(1, (len(nal) - 1) // pieces)
    chunks = [body[i : i + step] for i in range(0, len(body), step)]
    out = []
    for i, c in enumerate(chunks):
        s, e = 0x80 if i == 0 else 0, 0x40 if i == len(chunks) - 1 else 0
        out.append(bytes([(nal[0] & 0xE0) | 28, s | e | (nal[0] & 0x1F)]) + c)
    return out


def stap_a(*nals: bytes) -> bytes:
    return bytes([24]) + b"".join(len(n).to_bytes(2, "big") + n for n in nals)


def annexb(*nals: bytes) -> bytes:
    return b"".join(START + n for n in nals)


@pytest.mark.parametrize(
    ("packets", "params", "expected"),
    [
        ([(IDR, True)], [], [annexb(IDR)]),  # single NAL unit, marker closes it
        ([(P, False), (P, True)], [], [annexb(P, P)]),  # two slices of one picture
        ([(stap_a(SPS, PPS), False), (IDR, True)], [], [annexb(SPS, PPS, IDR)]),
        ([(IDR, True)], [SPS, PPS], [annexb(SPS, PPS, IDR)]),  # sprop sets before an IDR
        ([(P, True)], [SPS, PPS], [annexb(P)]),  # ...but not before a P picture
        ([(f, f[1] & 0x40 > 0) for f in fu_a(IDR + b"\x11" * 20, 3)], [], None),
    ],
)
def test_access_units_close_on_the_marker(
    packets: list[tuple[bytes, bool]], params: list[bytes], expected: list[bytes] | None
) -> None:
    d = H264Depacketiser(list(params))
    out = []
    for seq, (payload, marker) in enumerate(packets):
        out += d.push(rtp(payload, seq, 3000, marker), arrived=float(seq))
    if expected is None:  # FU-A: the fragments join back into the original NAL unit
        expected = [annexb(IDR + b"\x11" * 20)]
    assert [au.data for au in out] == expected
    assert out[-1].arrived == float(len(packets) - 1)  # the marker packet's arrival
    assert d.marker_misses == 0 and d.marker_closes == 1


def test_keyframe_flag_and_timestamp() -> None:
    d = H264Depacketiser()
    (key,) = d.push(rtp(IDR, 0, 9000), 0.0)
    (delta,) = d.push(rtp(P, 1, 12000), 0.1)
    assert (key.keyframe, key.timestamp) == (True, 9000)
    assert (delta.keyframe, delta.timestamp) == (False, 12000)


def test_a_camera_without_marker_bits_is_recognised() -> None:
    d = H264Depacketiser()
    out = []
    for i in range(MARKER_MISSES_ALLOWED + 3):
        out += d.push(rtp(P, i, 3000 * i, marker=False), float(i))
    # each picture is still closed, at the next picture's first packet (as FFmpeg would)
    assert len(out) == MARKER_MISSES_ALLOWED + 2
    assert d.marker_unreliable and d.marker_closes == 0


def test_a_gap_drops_the_broken_picture_only() -> None:
    d = H264Depacketiser()
    frags = fu_a(IDR + b"\x22" * 30, 3)
    assert d.push(rtp(frags[0], 0, 3000, False), 0.0) == []
    assert d.push(rtp(frags[2], 2, 3000, True), 0.0) == []  # packet 1 was lost
    (nxt,) = d.push(rtp(P, 3, 6000), 0.1)
    assert d.lost >= 1 and nxt.data == annexb(P)


@pytest.mark.parametrize(
    ("kw", "ok"),
    [({}, True), ({"csrc": 2}, True), ({"ext": 1}, True), ({"pad": 3}, True)],
)
def test_rtp_header_fields(kw: dict[str, int], ok: bool) -> None:
    pkt = RtpPacket.parse(rtp(IDR, 7, 90000, True, **kw))
    assert pkt is not None and ok
    assert (pkt.marker, pkt.seq, pkt.timestamp, pkt.payload) == (True, 7, 90000, IDR)


@pytest.mark.parametrize("data", [b"", b"\x80" * 5, bytes([0x40]) + b"\0" * 15])
def test_not_rtp_is_ignored(data: bytes) -> None:
    assert RtpPacket.parse(data) is None
    assert H264Depacketiser().push(data, 0.0) == []


def test_sprop_parameter_sets() -> None:
    b64 = ",".join(base64.b64encode(n).decode() for n in (SPS, PPS))
    fmtp = f"packetization-mode=1;profile-level-id=42001e;sprop-parameter-sets={b64}"
    assert sprop_parameter_sets(fmtp) == [SPS, PPS]
    assert sprop_parameter_sets("packetization-mode=1") == []


SDP = """v=0
o=- 1 1 IN IP4 127.0.0.1
s=cam
m=audio 0 RTP/AVP 0
a=control:audio
m=video 0 RTP/AVP 96
a=rtpmap:96 H264/90000
a=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z0IAHg==,aM48gA==
a=framerate:10
a=control:stream=0
"""


@pytest.mark.parametrize(
    ("sdp", "codec", "control"),
    [
        (SDP, "H264", "rtsp://h/cam/stream=0"),
        (SDP.replace("H264", "H265"), "H265", "rtsp://h/cam/stream=0"),
        (SDP.replace("a=control:stream=0", "a=control:rtsp://x/v"), "H264", "rtsp://x/v"),
        (SDP.split("m=video")[0], None, None),  # audio only
    ],
)
def test_parse_sdp(sdp: str, codec: str | None, control: str | None) -> None:
    video = parse_sdp(sdp, "rtsp://h/cam/")
    if codec is None:
        assert video is None
        return
    assert video is not None
    assert (video.codec, video.control, video.payload_type, video.fps) == (codec, control, 96, 10)
    assert sprop_parameter_sets(video.fmtp) == [SPS, PPS]


def test_rtcp_bye_and_digest_fields() -> None:
    sr = bytes([0x80, 200, 0, 6]) + b"\0" * 24
    bye = bytes([0x81, 203, 0, 1]) + b"\0" * 4
    assert not _rtcp_bye(sr) and _rtcp_bye(sr + bye)
    assert _split_auth('realm="a, b", nonce="n", qop="auth"') == [
        'realm="a, b"',
        'nonce="n"',
        'qop="auth"',
    ]


@pytest.mark.parametrize(
    ("transport", "channel"),
    [
        ("RTP/AVP/TCP;unicast;interleaved=0-1", 0),
        ("RTP/AVP/TCP;unicast;interleaved=2-3;ssrc=1234", 2),
        ("RTP/AVP/TCP;unicast", 0),
    ],
)
def test_the_server_chooses_the_channel(transport: str, channel: int) -> None:
    assert _interleaved(transport) == channel
