"""Short-lived access tokens: EdDSA-signed JWTs (RFC 7519/8037) with a ``kid``.

Claims: ``iss`` (the platform), ``aud`` (``shouwang-police``), ``sub`` (client id),
``scope`` (space-separated), ``iat``/``nbf``/``exp`` and a unique ``jti``. A token
names a client, so revoking the client ends its tokens at once: the API checks the
client on every call, not just the signature.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import jwt

from alerts.police.signing import KeyRing

ISSUER = "shouwang"
AUDIENCE = "shouwang-police"


class TokenError(Exception):
    """A token is missing, malformed, expired or signed by an unknown key (message says which)."""


@dataclass(frozen=True, slots=True)
class Claims:
    """What a verified token says."""

    client_id: str
    scopes: frozenset[str]
    expires_at: float
    jti: str
    kid: str


def issue(
    ring: KeyRing, client_id: str, scopes: list[str], *, ttl_s: int, now: float | None = None
) -> tuple[str, int]:
    """A signed token for the client; returns it and its lifetime in seconds."""
    now = time.time() if now is None else now
    key = ring.signing(now)
    if key.private is None:  # pragma: no cover - signing() hands out private keys only
        raise TokenError("no private signing key")
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": client_id,
        "scope": " ".join(scopes),
        "iat": int(now),
        "nbf": int(now) - 5,
        "exp": int(now) + ttl_s,
        "jti": secrets.token_hex(12),
    }
    token = jwt.encode(claims, key.private, algorithm="EdDSA", headers={"kid": key.kid})
    return token, ttl_s


def verify(ring: KeyRing, token: str) -> Claims:
    """The token's claims once its signature, issuer, audience and times check out.

    Raises:
        TokenError: saying what is wrong (never echoing the token).
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise TokenError("the bearer token is not a JWT") from None
    if header.get("alg") != "EdDSA":
        raise TokenError("the token must be signed with EdDSA")
    kid = str(header.get("kid", ""))
    key = ring.get(kid)
    if key is None:
        raise TokenError("the token's key id is unknown (or retired): get a new token")
    try:
        doc = jwt.decode(
            token,
            key.public,
            algorithms=["EdDSA"],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "scope", "jti"]},
        )
    except jwt.ExpiredSignatureError:
        raise TokenError(
            "the token has expired: get a new one from /api/police/v1/oauth/token"
        ) from None
    except jwt.PyJWTError as exc:
        raise TokenError(f"the token is invalid: {exc.__class__.__name__}") from None
    return Claims(
        client_id=str(doc["sub"]),
        scopes=frozenset(str(doc["scope"]).split()),
        expires_at=float(doc["exp"]),
        jti=str(doc["jti"]),
        kid=kid,
    )
