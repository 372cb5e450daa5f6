"""``POST /api/police/v1/evidence``: a signed evidence package; the incidents go on hold."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response, status
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from alerts.police.package import PackageError, Requester, build_package
from alerts.store import audit
from alerts.store.incidents import Activity, Incident
from api.deps import Svc, errors
from api.police.auth import PREFIX, PoliceRoute, State
from api.police.common import EvidenceExport, Legal, invalid, legal
from api.police.schemas import EvidenceRequest

router = APIRouter(prefix=PREFIX, route_class=PoliceRoute, tags=["police: evidence"])


@router.post(
    "/evidence",
    response_class=Response,
    responses={
        200: {
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
            "description": "the signed ZIP (manifest.json + manifest.sig + files)",
        },
        **errors(401, 403, 404, 413, 429, 502),
    },
)
def evidence(
    body: EvidenceRequest,
    call: EvidenceExport,
    svc: Svc,
    st: State,
    why: Annotated[Legal, Depends(legal)],
) -> Response:
    """A ZIP of the incidents' original images and records with a signed manifest.

    Every incident exported goes on legal hold (never purged). Personal data: needs
    ``X-Case-Number``, ``X-Legal-Basis`` and, for the manifest, ``X-Officer``.
    Verify it offline with ``shouwang evidence verify PACKAGE.zip``."""
    ids = list(dict.fromkeys(body.incident_ids))
    if len(ids) > svc.settings.police.max_package_incidents:
        invalid(
            ("body", "incident_ids"),
            f"at most {svc.settings.police.max_package_incidents} incidents per package",
        )
    call.target = ",".join(ids)[:200]
    call.params = {"incident_ids": ids}
    now = datetime.now(UTC)
    who = Requester(
        client_id=call.client.id,
        client_name=call.client.name,
        organisation=call.client.organisation,
        officer=why.officer,
        case_number=why.case_number,
        legal_basis=why.legal_basis,
    )
    with svc.tx() as s:
        rows = {
            i.id: i
            for i in s.execute(
                select(Incident)
                .where(Incident.id.in_(ids))
                .options(selectinload(Incident.updates), selectinload(Incident.evidence))
            ).scalars()
        }
        for i in ids:
            inc = rows.get(i)
            if inc is None or inc.compound not in call.area:
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"incident {i} was not found")
        incidents = [rows[i] for i in ids]
        try:
            data = build_package(incidents, svc.evidence, st.ring, who, now=now)
        except PackageError as exc:
            raise HTTPException(status.HTTP_502_BAD_GATEWAY, str(exc)) from None
        for inc in incidents:
            if not inc.legal_hold:
                inc.legal_hold = True
                s.add(
                    Activity(
                        incident_id=inc.id,
                        at=now,
                        actor=call.client.name,
                        action="legal_hold",
                        version=inc.version,
                        detail={"case_number": why.case_number, "by": "evidence export"},
                    )
                )
            audit.append(
                s,
                actor=call.client.id,
                action="incident.legal_hold",
                target=inc.id,
                detail={"case_number": why.case_number, "reason": "police evidence export"},
                source=call.source,
                at=now,
            )
    call.records = len(incidents)
    case = why.case_number.encode("ascii", "replace").decode().replace("/", "-").replace("?", "_")
    name = f"evidence-{case}-{now:%Y%m%dT%H%M%SZ}.zip"
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
