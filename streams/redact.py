"""Keeping camera credentials out of logs, errors, health snapshots and metrics.

Every message the ingest layer produces about a URL passes through here. Cameras carry
their secrets in the URL (``rtsp://user:pass@host``) or, on some brands, in the query
(``?user=admin&password=...``); both are masked. FFmpeg errors echo the URL they were
given, so error text is scrubbed as well, including the secret on its own in case a
library prints it decoded.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s'\"]*@")
_QUERY_SECRET = re.compile(
    r"(?P<key>[?&;](?:user(?:name)?|pass(?:word)?|passwd|pwd|token|auth|key|secret)=)[^&;#\s'\"]*",
    re.IGNORECASE,
)
# Secrets shorter than this are not scrubbed as bare words: "ab" would mangle any text.
_MIN_BARE_SECRET = 4


def redact_url(url: str) -> str:
    """Mask credentials in a URL.

    Example:
        >>> redact_url("rtsp://admin:hunter22@10.0.0.5:554/Streaming/101")
        'rtsp://***@10.0.0.5:554/Streaming/101'
        >>> redact_url("rtsp://10.0.0.5/live?user=admin&password=x1")
        'rtsp://10.0.0.5/live?user=***&password=***'
    """
    out = _USERINFO.sub(r"\g<scheme>***@", url)
    return _QUERY_SECRET.sub(r"\g<key>***", out)


def secrets_in(url: str) -> list[str]:
    """The credential strings a URL carries (user, password, query secrets), raw and decoded."""
    found: list[str] = []
    try:
        parts = urlsplit(url)
    except ValueError:
        return found
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    for piece in userinfo.split(":", 1) if userinfo else []:
        found += [piece, unquote(piece)]
    for m in _QUERY_SECRET.finditer(url):
        value = url[m.end("key") : m.end()]
        found += [value, unquote(value)]
    return sorted({s for s in found if len(s) >= _MIN_BARE_SECRET}, key=len, reverse=True)


class Redactor:
    """Scrubs one URL's credentials out of any text, e.g. an exception from FFmpeg.

    Example:
        >>> r = Redactor("rtsp://cam:s3cret!@10.0.0.5/101")
        >>> r("Server returned 401: 'rtsp://cam:s3cret!@10.0.0.5/101'")
        "Server returned 401: 'rtsp://***@10.0.0.5/101'"
    """

    __slots__ = ("_secrets", "_url", "url")

    def __init__(self, url: str) -> None:
        self._url = url
        self.url = redact_url(url)
        self._secrets = secrets_in(url)

    def __call__(self, text: str) -> str:
        """``text`` with the URL redacted and any bare secret replaced by ``***``."""
        out = text.replace(self._url, self.url) if self._url else text
        out = redact_url(out)
        for secret in self._secrets:
            out = out.replace(secret, "***")
        return out

    def __repr__(self) -> str:
        return f"Redactor({self.url!r})"
