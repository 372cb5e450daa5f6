"""Credentials never leave the ingest layer: URL and error-text redaction."""

from __future__ import annotations

import pytest

from streams.redact import Redactor, redact_url, secrets_in


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "rtsp://admin:hunter22@10.0.0.5:554/Streaming/101",
            "rtsp://***@10.0.0.5:554/Streaming/101",
        ),
        ("rtsps://admin@cam.local/live", "rtsps://***@cam.local/live"),
        ("rtsp://u:p%40ss%3Aw0rd@10.0.0.5/a", "rtsp://***@10.0.0.5/a"),
        (
            "rtsp://10.0.0.5/cam?user=admin&password=x1y2",
            "rtsp://10.0.0.5/cam?user=***&password=***",
        ),
        ("rtsp://10.0.0.5/cam?channel=1&subtype=0", "rtsp://10.0.0.5/cam?channel=1&subtype=0"),
        ("rtsp://10.0.0.5/cam", "rtsp://10.0.0.5/cam"),
        ("/srv/video/gate.mp4", "/srv/video/gate.mp4"),
        ("file:///srv/video/gate.mp4", "file:///srv/video/gate.mp4"),
        ("opening 'rtsp://a:bcdef@h/x' failed", "opening 'rtsp://***@h/x' failed"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


@pytest.mark.parametrize(
    ("url", "text", "leaked"),
    [
        # FFmpeg echoes the URL it was given
        (
            "rtsp://cam:s3cret!x@10.0.0.5/101",
            "[Errno 111] Connection refused: 'rtsp://cam:s3cret!x@10.0.0.5/101'",
            ["s3cret!x", "cam:"],
        ),
        # a library that prints the password decoded, on its own
        ("rtsp://cam:p%40ssw0rd@10.0.0.5/1", "auth failed for password p@ssw0rd", ["p@ssw0rd"]),
        ("rtsp://10.0.0.5/1?password=topsecret", "GET /1?password=topsecret 401", ["topsecret"]),
    ],
)
def test_redactor_scrubs_error_text(url: str, text: str, leaked: list[str]) -> None:
    out = Redactor(url)(text)
    for secret in leaked:
        assert secret not in out, out
    assert "***" in out


def test_short_secrets_are_not_scrubbed_as_bare_words() -> None:
    # a 2-letter password must not turn every "ab" in a message into "***"
    assert secrets_in("rtsp://ab:cd@h/x") == []
    assert Redactor("rtsp://ab:cd@h/x")("cannot open rtsp://ab:cd@h/x: about") == (
        "cannot open rtsp://***@h/x: about"
    )


def test_redactor_repr_has_no_secret() -> None:
    r = Redactor("rtsp://user:longpassword@h/x")
    assert "longpassword" not in repr(r)
    assert r.url == "rtsp://***@h/x"
