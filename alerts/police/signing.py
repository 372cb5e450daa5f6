"""The platform's signing keys (Ed25519): access tokens, evidence manifests.

Keys live in ``<data dir>/police/keys/`` (folder 0700, each private key a PKCS#8 PEM
file with mode 0600) with ``ring.json`` saying when each key starts signing and when it
was superseded. Or one key comes from the environment (``SHOUWANG_POLICE_SIGNING_KEY``,
a PEM), for deployments that keep secrets out of the disk. Private keys are never
logged or printed.

Rotation without downtime: :meth:`KeyRing.rotate` adds a key that is *published* at
once (``/.well-known/jwks.json``) but *signs* only after ``publish_ahead_s``, so every
verifier that caches the JWKS has seen it before the first token signed with it
arrives; the superseded key stays published until every token it signed has expired,
then :meth:`KeyRing.prune` drops its private half. Public halves are kept for ever in
``public/`` so an evidence package signed years ago still verifies.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from alerts.errors import AlertError

ENV_KEY = "SHOUWANG_POLICE_SIGNING_KEY"


class KeyRingError(AlertError):
    """The key ring cannot be read or written (the message names the file)."""


def b64url(data: bytes) -> str:
    """Unpadded base64url, as JOSE writes it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_raw(key: Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of an Ed25519 public key."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_jwk(kid: str, key: Ed25519PublicKey) -> dict[str, str]:
    """The JWK (RFC 8037, OKP/Ed25519) of a public key."""
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": b64url(public_raw(key)),
        "kid": kid,
        "alg": "EdDSA",
        "use": "sig",
    }


def fingerprint(key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw public key, hex: what to compare over the phone."""
    return hashlib.sha256(public_raw(key)).hexdigest()


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One key of the ring. ``private`` is None for a public-only (retired) key."""

    kid: str
    public: Ed25519PublicKey
    private: Ed25519PrivateKey | None
    signs_from: float
    superseded_at: float | None = None

    def __repr__(self) -> str:  # never show key material
        return f"SigningKey(kid={self.kid!r})"


class KeyRing:
    """The platform's Ed25519 keys: one signs, every unexpired one verifies.

    Args:
        root: the ring's folder (``<data dir>/police/keys``); created 0700 when missing.
        max_token_ttl_s: the longest token lifetime, i.e. how long a superseded key must
            stay published.
        publish_ahead_s: how long a new key is published before it signs.
        create: make the first key when the ring is empty (not when only verifying).
    """

    def __init__(
        self,
        root: Path,
        *,
        max_token_ttl_s: float = 900,
        publish_ahead_s: float = 0,
        create: bool = True,
    ) -> None:
        self.root = root
        self.max_token_ttl_s = max_token_ttl_s
        self.publish_ahead_s = publish_ahead_s
        self._lock = threading.Lock()
        self._keys: dict[str, SigningKey] = {}
        self._loaded_at = 0.0
        self._checked_at = 0.0
        self._mtime = 0.0
        self.reload()
        if not self._keys and create:
            self.rotate(ahead_s=0)

    # -- files -------------------------------------------------------------------------

    def _ring_path(self) -> Path:
        return self.root / "ring.json"

    def _read_ring(self) -> list[dict[str, Any]]:
        p = self._ring_path()
        if not p.exists():
            return []
        try:
            doc = json.loads(p.read_text())
        except (OSError, ValueError) as exc:
            raise KeyRingError(f"cannot read the key ring {p}: {exc}") from exc
        return list(doc.get("keys", []))

    def _write_ring(self, entries: list[dict[str, Any]]) -> None:
        tmp = self._ring_path().with_suffix(".tmp")
        tmp.write_text(json.dumps({"keys": entries}, indent=1))
        os.chmod(tmp, 0o600)
        os.replace(tmp, self._ring_path())

    def reload(self) -> None:
        """Read the ring again (another process may have rotated)."""
        keys: dict[str, SigningKey] = {}
        env = os.environ.get(ENV_KEY)
        if env:
            try:
                priv = serialization.load_pem_private_key(env.encode(), password=None)
            except ValueError as exc:
                raise KeyRingError(f"{ENV_KEY} is not a PEM private key") from exc
            if not isinstance(priv, Ed25519PrivateKey):
                raise KeyRingError(f"{ENV_KEY} must be an Ed25519 key")
            kid = "env-" + fingerprint(priv.public_key())[:16]
            keys[kid] = SigningKey(kid, priv.public_key(), priv, 0.0)
        for e in self._read_ring():
            kid = str(e["kid"])
            priv_path = self.root / f"{kid}.pem"
            pub_path = self.root / "public" / f"{kid}.pub.pem"
            private: Ed25519PrivateKey | None = None
            try:
                if priv_path.exists():
                    loaded = serialization.load_pem_private_key(
                        priv_path.read_bytes(), password=None
                    )
                    if not isinstance(loaded, Ed25519PrivateKey):
                        raise KeyRingError(f"{priv_path} is not an Ed25519 key")
                    private = loaded
                    public = loaded.public_key()
                else:
                    pub = serialization.load_pem_public_key(pub_path.read_bytes())
                    if not isinstance(pub, Ed25519PublicKey):
                        raise KeyRingError(f"{pub_path} is not an Ed25519 key")
                    public = pub
            except (OSError, ValueError) as exc:
                raise KeyRingError(f"key {kid} in {self.root}: cannot read it: {exc}") from exc
            keys[kid] = SigningKey(
                kid, public, private, float(e["signs_from"]), e.get("superseded_at")
            )
        with self._lock:
            self._keys = keys
            self._loaded_at = time.monotonic()
            self._mtime = self._ring_mtime()

    def _ring_mtime(self) -> float:
        try:
            return self._ring_path().stat().st_mtime_ns / 1e9
        except OSError:
            return 0.0

    def _fresh(self) -> None:
        """Re-read the ring when another process rotated it (checked once a second)."""
        now = time.monotonic()
        if now - self._checked_at < 1.0:
            return
        self._checked_at = now
        if self._ring_mtime() != self._mtime:
            self.reload()

    def rotate(self, *, ahead_s: float | None = None, now: float | None = None) -> SigningKey:
        """Add a new key: published now, signing after ``ahead_s`` (default
        ``publish_ahead_s``); the current signing key is superseded from then."""
        now = time.time() if now is None else now
        ahead = self.publish_ahead_s if ahead_s is None else ahead_s
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.root, 0o700)
        (self.root / "public").mkdir(exist_ok=True)
        priv = Ed25519PrivateKey.generate()
        kid = time.strftime("k%Y%m%dT%H%M%S", time.gmtime(now)) + "-" + secrets.token_hex(3)
        pem = priv.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path = self.root / f"{kid}.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        (self.root / "public" / f"{kid}.pub.pem").write_bytes(
            priv.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        entries = self._read_ring()
        for e in entries:
            if e.get("superseded_at") is None:
                e["superseded_at"] = now + ahead
        entries.append({"kid": kid, "signs_from": now + ahead, "superseded_at": None})
        self._write_ring(entries)
        self.reload()
        return self._keys[kid]

    def prune(self, now: float | None = None) -> list[str]:
        """Delete the private half of keys superseded longer than a token lives; their
        public halves stay (``public/``) for evidence packages. Returns the kids."""
        now = time.time() if now is None else now
        gone = []
        for e in self._read_ring():
            sup = e.get("superseded_at")
            p = self.root / f"{e['kid']}.pem"
            if sup is not None and now - float(sup) > self.max_token_ttl_s + 60 and p.exists():
                p.unlink()
                gone.append(str(e["kid"]))
        self.reload()
        return gone

    # -- use ---------------------------------------------------------------------------

    def signing(self, now: float | None = None) -> SigningKey:
        """The key that signs now: the newest whose ``signs_from`` has come."""
        now = time.time() if now is None else now
        self._fresh()
        with self._lock:
            ready = [k for k in self._keys.values() if k.private is not None]
        ready = [k for k in ready if k.signs_from <= now] or ready
        if not ready:
            raise KeyRingError(f"no private signing key in {self.root} or {ENV_KEY}")
        return max(ready, key=lambda k: (k.signs_from, k.kid))

    def get(self, kid: str) -> SigningKey | None:
        """The key ``kid``; re-reads the ring once a second at most for an unknown kid."""
        with self._lock:
            k = self._keys.get(kid)
            stale = time.monotonic() - self._loaded_at > 1.0
        if k is None and stale:
            self.reload()
            with self._lock:
                k = self._keys.get(kid)
        return k

    def published(self) -> list[SigningKey]:
        """Keys a verifier may meet in a token now (JWKS): private half still held."""
        self._fresh()
        with self._lock:
            keys = list(self._keys.values())
        return sorted(
            (k for k in keys if k.private is not None), key=lambda k: k.signs_from, reverse=True
        )

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JSON Web Key Set served at ``/.well-known/jwks.json``."""
        return {"keys": [public_jwk(k.kid, k.public) for k in self.published()]}

    def all_public(self) -> dict[str, Ed25519PublicKey]:
        """Every public key the platform ever signed with (retired included)."""
        out = {}
        pub = self.root / "public"
        for p in sorted(pub.glob("*.pub.pem")) if pub.exists() else []:
            k = serialization.load_pem_public_key(p.read_bytes())
            if isinstance(k, Ed25519PublicKey):
                out[p.name.removesuffix(".pub.pem")] = k
        with self._lock:
            out.update({k.kid: k.public for k in self._keys.values()})
        return out
