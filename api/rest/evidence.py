"""Evidence files (``/api/evidence/{sha256}``), checked on every read and audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, Response, status

from alerts.store.evidence_files import EvidenceNotFound, EvidenceTampered, read_evidence
from api.deps import Scoped, Svc, client_address, errors

router = APIRouter(prefix="/api/evidence", tags=["evidence"])


@router.get(
    "/{sha256}",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "the verified file"},
        **errors(401, 403, 404, 422, 502),
    },
)
def get_evidence(
    sha256: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the file")],
    scope: Scoped,
    svc: Svc,
    request: Request,
) -> Response:
    """The evidence file, after re-hashing it; a mismatch is refused (502) and audited."""
    try:
        f = read_evidence(
            svc.factory,
            svc.settings.evidence_dir,
            sha256,
            actor=scope.user.name,
            compounds=scope.compounds,
            source=client_address(request),
        )
    except EvidenceNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except EvidenceTampered as exc:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, str(exc)) from None
    return Response(f.data, media_type=f.media_type, headers={"Cache-Control": "private, no-store"})
