"""Serving evidence: find who may see a file, check its SHA-256 on every read, audit.

Evidence files live in the workers' evidence store (``<data dir>/evidence``, by
SHA-256). A file is served only when an incident or an access-log read within the
user's compounds refers to it, and only after re-hashing it: a file whose bytes no
longer match its name is refused and the mismatch is written to the audit log (a
tampered or corrupted image is never shown as evidence).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from alerts.evidence import evidence_path
from alerts.store import audit
from alerts.store.access_log import VehicleRead
from alerts.store.db import StoreError, transaction
from alerts.store.incidents import EvidenceLink, Incident


class EvidenceNotFound(StoreError):
    """No visible reference to this file, or the file is gone (purged, erased)."""


class EvidenceTampered(StoreError):
    """The file's bytes do not hash to its name."""


@dataclass(frozen=True, slots=True)
class EvidenceFile:
    """A verified file and what refers to it."""

    sha256: str
    data: bytes
    media_type: str
    incidents: list[str]
    reads: list[str]


def references(
    session: Session, sha256: str, compounds: Collection[str] | None
) -> tuple[list[str], list[str], str]:
    """Incident ids and read ids within ``compounds`` (None = all) that use the file."""
    q = (
        select(EvidenceLink.incident_id, EvidenceLink.media_type)
        .join(Incident, Incident.id == EvidenceLink.incident_id)
        .where(EvidenceLink.sha256 == sha256)
    )
    r = select(VehicleRead.id).where(VehicleRead.crop_sha256 == sha256)
    if compounds is not None:
        q = q.where(Incident.compound.in_(sorted(compounds)))
        r = r.where(VehicleRead.compound.in_(sorted(compounds)))
    links = list(session.execute(q.limit(100)))
    reads = list(session.execute(r.limit(100)).scalars())
    media = str(links[0][1]) if links else "image/jpeg"
    return [str(i) for i, _ in links], reads, media


def read_evidence(
    factory: sessionmaker[Session],
    root: Path,
    sha256: str,
    *,
    actor: str,
    compounds: Collection[str] | None,
    source: str = "",
) -> EvidenceFile:
    """The file's bytes after checking them; every view and every mismatch is audited.

    Raises:
        EvidenceNotFound: nothing the user may see refers to it, or the file is gone.
        EvidenceTampered: the bytes on disk do not hash to ``sha256`` (audited).
    """
    with transaction(factory) as s:
        incidents, reads, media = references(s, sha256, compounds)
    if not incidents and not reads:
        raise EvidenceNotFound(
            f"no evidence {sha256} in an incident or access-log read you can see"
        )
    path = evidence_path(root, sha256)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise EvidenceNotFound(
            f"evidence {sha256} is referenced but its file is gone (purged or erased)"
        ) from None
    actual = hashlib.sha256(data).hexdigest()
    refs = {"incidents": incidents[:10], "reads": reads[:10]}
    with transaction(factory) as s:
        if actual != sha256:
            audit.append(
                s,
                actor=actor,
                action="evidence.mismatch",
                target=sha256,
                detail={**refs, "actual_sha256": actual, "size": len(data)},
                source=source,
            )
        else:
            audit.append(
                s, actor=actor, action="evidence.view", target=sha256, detail=refs, source=source
            )
    if actual != sha256:
        raise EvidenceTampered(
            f"evidence {sha256} failed its SHA-256 check (the file hashes to {actual}); "
            "it is not shown. The mismatch is in the audit log; restore the file from backup"
        )
    return EvidenceFile(sha256, data, media, incidents, reads)
