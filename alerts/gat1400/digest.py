"""HTTP Digest (RFC 7616, MD5 and SHA-256, qop=auth) on the answering side.

Nonces are stateless: ``<unix time>.<HMAC of it>``, valid for ``NONCE_TTL_S``, so any
worker of the service can check them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from urllib.request import parse_http_list, parse_keqv_list

NONCE_TTL_S = 300


def _h(algorithm: str, text: str) -> str:
    fn = hashlib.sha256 if algorithm.upper().startswith("SHA-256") else hashlib.md5
    return fn(text.encode()).hexdigest()


class DigestVerifier:
    """Issues challenges and checks ``Authorization: Digest ...`` answers.

    Args:
        realm: the realm shown to the caller.
        key: HMAC key of the nonces (random per process when None).
    """

    def __init__(self, realm: str, key: bytes | None = None) -> None:
        self.realm = realm
        self.key = key or secrets.token_bytes(32)

    def _sign(self, stamp: str) -> str:
        return hmac.new(self.key, stamp.encode(), hashlib.sha256).hexdigest()[:32]

    def challenge(self, algorithm: str = "MD5") -> str:
        """The ``WWW-Authenticate`` value of a 401."""
        stamp = str(int(time.time()))
        nonce = f"{stamp}.{self._sign(stamp)}"
        return (
            f'Digest realm="{self.realm}", qop="auth", nonce="{nonce}", '
            f'opaque="{secrets.token_hex(8)}", algorithm={algorithm}'
        )

    def check(self, header: str | None, method: str, user: str, password: str) -> bool:
        """Whether ``header`` proves ``user`` knows ``password`` for this request."""
        if not header or not header.lower().startswith("digest "):
            return False
        try:
            p = parse_keqv_list(parse_http_list(header[7:]))
        except ValueError:
            return False
        nonce = p.get("nonce", "")
        stamp, _, sig = nonce.partition(".")
        if not stamp.isdigit() or not hmac.compare_digest(sig, self._sign(stamp)):
            return False
        if time.time() - int(stamp) > NONCE_TTL_S:
            return False
        if not hmac.compare_digest(p.get("username", ""), user) or p.get("realm") != self.realm:
            return False
        alg = p.get("algorithm", "MD5")
        ha1 = _h(alg, f"{user}:{self.realm}:{password}")
        ha2 = _h(alg, f"{method}:{p.get('uri', '')}")
        if p.get("qop") == "auth":
            want = _h(alg, f"{ha1}:{nonce}:{p.get('nc', '')}:{p.get('cnonce', '')}:auth:{ha2}")
        else:
            want = _h(alg, f"{ha1}:{nonce}:{ha2}")
        return hmac.compare_digest(p.get("response", ""), want)
