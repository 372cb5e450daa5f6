"""Evidence packages: a ZIP a court can check offline.

Inside: ``incidents/<id>/alert.json`` (the incident and every stored update of its
alert), ``incidents/<id>/<kind>-<sha256>.<ext>`` (the original images, byte for byte
as the workers stored them), ``manifest.json`` (every file with SHA-256, size and
format; per incident the camera, shot time, place, model and score; who asked, case
number, legal basis, when exported) and ``manifest.sig`` (Ed25519 over the exact bytes
of ``manifest.json``, with the key id and the public key).

:func:`verify_package` re-hashes every file and checks the signature with nothing but
the ZIP (and, when given, the platform's known public keys), and names every fault.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from alerts.evidence import EvidenceStore
from alerts.police.signing import KeyRing, b64url, fingerprint, public_raw
from alerts.store.incidents import Incident

FORMAT = "shouwang-evidence/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
_EXT = {"image/jpeg": "jpg", "image/png": "png", "video/mp4": "mp4"}
_MODEL = {
    "plate": "plate detector + reader (detectors.plates)",
    "face": "face detector + embedder (detectors.faces)",
    "track": "object detector + tracker + rules (detectors.objects, pipeline)",
    "scene": "scene anomaly / tamper scorer (pipeline.anomaly)",
}


class PackageError(Exception):
    """An evidence file is missing or damaged, so no package can be made."""


@dataclass(frozen=True, slots=True)
class Requester:
    """Who asks for the package and on what grounds."""

    client_id: str
    client_name: str
    organisation: str
    officer: str
    case_number: str
    legal_basis: str


def _version() -> str:
    try:
        return metadata.version("shouwang")
    except metadata.PackageNotFoundError:
        return "unknown"


def _score(subject: Mapping[str, Any]) -> float | None:
    for k in ("confidence", "similarity", "score", "value"):
        v = subject.get(k)
        if isinstance(v, int | float):
            return float(v)
    return None


def _incident_entry(inc: Incident) -> dict[str, Any]:
    a = inc.alert
    loc = a.get("location", {})
    place = loc.get("place", {})
    subj = a.get("subject", {})
    return {
        "id": inc.id,
        "type": inc.type,
        "severity": inc.severity,
        "camera": inc.camera,
        "compound": inc.compound,
        "shot_at": a.get("times", {}).get("captured"),
        "detected_at": a.get("times", {}).get("detected"),
        "place": {
            "lat": loc.get("lat"),
            "lon": loc.get("lon"),
            "error_m": loc.get("error_m"),
            "compound_name": place.get("compound_name"),
            "building": place.get("building"),
            "gate": place.get("gate"),
            "description": place.get("description"),
            "label": inc.place,
        },
        "model": {"name": _MODEL.get(str(subj.get("kind")), "unknown"), "version": _version()},
        "score": _score(subj),
        "subject": {k: v for k, v in subj.items() if k != "kind"} | {"kind": subj.get("kind")},
    }


def build_package(
    incidents: Sequence[Incident],
    evidence: EvidenceStore,
    ring: KeyRing,
    who: Requester,
    *,
    now: datetime | None = None,
) -> bytes:
    """The signed ZIP for these incidents.

    Raises:
        PackageError: an evidence file is missing or no longer matches its hash.
    """
    now = now or datetime.now(UTC)
    files: list[dict[str, Any]] = []
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:

        def put(path: str, data: bytes, fmt: str, incident: str, kind: str) -> None:
            z.writestr(path, data)
            files.append(
                {
                    "path": path,
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "size": len(data),
                    "format": fmt,
                    "incident": incident,
                    "kind": kind,
                }
            )

        for inc in incidents:
            record = {
                "incident": {
                    "id": inc.id,
                    "state": inc.state,
                    "close_reason": inc.close_reason,
                    "created_at": inc.created_at.isoformat(),
                    "last_seen_at": inc.last_seen_at.isoformat(),
                    "occurrences": inc.occurrences,
                },
                "alert": inc.alert,
                "updates": [u.alert for u in inc.updates],
            }
            doc = json.dumps(record, ensure_ascii=False, indent=1, sort_keys=True).encode()
            put(f"incidents/{inc.id}/alert.json", doc, "application/json", inc.id, "record")
            seen: set[str] = set()
            refs = [(e.sha256, e.kind, e.media_type) for e in inc.evidence] + [
                (e["sha256"], e["kind"], e.get("media_type", "image/jpeg"))
                for e in inc.alert.get("evidence", [])
            ]
            for sha, kind, media in refs:
                if sha in seen:
                    continue
                seen.add(sha)
                path = evidence.path(sha)
                try:
                    data = path.read_bytes()
                except OSError as exc:
                    raise PackageError(
                        f"incident {inc.id}: evidence {kind} {sha[:12]}… is missing from the "
                        f"evidence store ({exc.strerror})"
                    ) from exc
                if hashlib.sha256(data).hexdigest() != sha:
                    raise PackageError(
                        f"incident {inc.id}: evidence {kind} {sha[:12]}… no longer matches its "
                        "SHA-256 (damaged on disk); not exported"
                    )
                ext = _EXT.get(media, "bin")
                put(f"incidents/{inc.id}/{kind}-{sha}.{ext}", data, media, inc.id, kind)
        manifest = {
            "format": FORMAT,
            "exported_at": now.isoformat(),
            "platform": {"software": "shouwang", "version": _version()},
            "requested_by": {
                "client_id": who.client_id,
                "client": who.client_name,
                "organisation": who.organisation,
                "officer": who.officer,
            },
            "case_number": who.case_number,
            "legal_basis": who.legal_basis,
            "incidents": [_incident_entry(i) for i in incidents],
            "files": files,
        }
        body = json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True).encode()
        key = ring.signing()
        if key.private is None:  # pragma: no cover - signing() returns private keys only
            raise PackageError("no private signing key")
        sig = {
            "alg": "EdDSA",
            "crv": "Ed25519",
            "kid": key.kid,
            "public_key": b64url(public_raw(key.public)),
            "fingerprint": fingerprint(key.public),
            "signed": MANIFEST,
            "signature": base64.b64encode(key.private.sign(body)).decode(),
        }
        z.writestr(MANIFEST, body)
        z.writestr(SIGNATURE, json.dumps(sig, indent=1))
    return buf.getvalue()


@dataclass
class VerifyReport:
    """What :func:`verify_package` found: ``problems`` empty means intact."""

    files_checked: int = 0
    kid: str = ""
    fingerprint: str = ""
    key_known: bool | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every hash and the signature check out."""
        return not self.problems


def _b64url_decode(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def verify_package(
    data: bytes, *, known_keys: Mapping[str, Ed25519PublicKey] | None = None
) -> VerifyReport:
    """Check a package offline: the signature over ``manifest.json``, then every file's
    size and SHA-256, and that no file is missing or unlisted.

    ``known_keys`` (kid → public key, e.g. :meth:`KeyRing.all_public`) also checks that
    the signing key is the platform's, not just any key shipped in the package.
    """
    rep = VerifyReport()
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        rep.problems.append("not a ZIP file (damaged or truncated)")
        return rep
    names = set(z.namelist())
    for need in (MANIFEST, SIGNATURE):
        if need not in names:
            rep.problems.append(f"{need} is missing")
    if rep.problems:
        return rep
    try:
        body = z.read(MANIFEST)
        sig = json.loads(z.read(SIGNATURE))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        rep.problems.append(f"{MANIFEST} or {SIGNATURE} unreadable: {exc}")
        return rep
    try:
        pub = Ed25519PublicKey.from_public_bytes(_b64url_decode(str(sig["public_key"])))
        rep.kid, rep.fingerprint = str(sig.get("kid", "")), fingerprint(pub)
        signature = base64.b64decode(str(sig["signature"]), validate=True)
    except (KeyError, ValueError, TypeError) as exc:
        rep.problems.append(f"{SIGNATURE} is malformed: {exc}")
        return rep
    try:
        pub.verify(signature, body)
    except InvalidSignature:
        rep.problems.append(
            f"{MANIFEST}: the signature does not match ({MANIFEST} or {SIGNATURE} changed)"
        )
    except (KeyError, ValueError, TypeError) as exc:
        rep.problems.append(f"{SIGNATURE} is malformed: {exc}")
        return rep
    if known_keys is not None:
        known = known_keys.get(rep.kid)
        rep.key_known = known is not None and public_raw(known) == public_raw(pub)
        if not rep.key_known:
            rep.problems.append(f"{SIGNATURE}: key {rep.kid} is not one of the platform's keys")
    try:
        manifest = json.loads(body)
        listed = {f["path"]: f for f in manifest["files"]}
    except (ValueError, KeyError, TypeError) as exc:
        rep.problems.append(f"{MANIFEST} is not a valid manifest: {exc}")
        return rep
    _check_files(z, names, listed, rep)
    return rep


def _check_files(
    z: zipfile.ZipFile, names: set[str], listed: Mapping[str, Any], rep: VerifyReport
) -> None:
    for path, f in sorted(listed.items()):
        if path not in names:
            rep.problems.append(f"{path}: listed in the manifest but missing")
            continue
        try:
            content = z.read(path)
        except (zipfile.BadZipFile, OSError, zlib.error) as exc:  # a damaged entry
            rep.problems.append(f"{path}: unreadable, damaged in the ZIP ({exc})")
            continue
        rep.files_checked += 1
        if len(content) != f.get("size"):
            rep.problems.append(f"{path}: size {len(content)}, manifest says {f.get('size')}")
        if hashlib.sha256(content).hexdigest() != f.get("sha256"):
            rep.problems.append(f"{path}: SHA-256 does not match the manifest (file changed)")
    for extra in sorted(names - set(listed) - {MANIFEST, SIGNATURE}):
        rep.problems.append(f"{extra}: in the ZIP but not in the manifest")
