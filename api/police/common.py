"""Dependencies and shapes the police routes share."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, NoReturn
from urllib.parse import unquote

from fastapi import Header, Security
from fastapi.exceptions import RequestValidationError

from alerts.store.incidents import Incident
from api.police.auth import PoliceCall, police_client
from api.police.schemas import AlertOut, EvidenceOut

CASE_PATTERN = r"^[\w\-/.()（）\u4e00-\u9fff]+$"


def invalid(loc: tuple[str, ...], msg: str, value: object = None) -> NoReturn:
    """Raise a 422 shaped like FastAPI's own validation errors (one schema for all)."""
    raise RequestValidationError([{"type": "value_error", "loc": loc, "msg": msg, "input": value}])


@dataclass(frozen=True, slots=True)
class Legal:
    """Case number and legal basis a personal-data call must state."""

    case_number: str
    legal_basis: str
    officer: str


async def legal(
    x_case_number: Annotated[
        str,
        Header(
            min_length=3,
            max_length=200,
            description="case number; percent-encode non-ASCII (UTF-8), e.g. 兴公刑 → %E5%85%B4...",
        ),
    ],
    x_legal_basis: Annotated[
        str,
        Header(
            min_length=3,
            max_length=900,
            description="legal basis, e.g. 'PRC Criminal Procedure Law art. 54' "
            "(percent-encoded UTF-8)",
        ),
    ],
    x_officer: Annotated[
        str, Header(min_length=1, max_length=200, description="officer's badge or name")
    ] = "unnamed",
) -> Legal:
    """The ``X-Case-Number`` / ``X-Legal-Basis`` / ``X-Officer`` headers (422 without;
    ``async`` only so that FastAPI does not hand this pure check to a worker thread).

    Values are percent-decoded (UTF-8), since HTTP headers carry ASCII only."""
    case, basis, officer = (unquote(v).strip() for v in (x_case_number, x_legal_basis, x_officer))
    if not re.match(CASE_PATTERN, case) or not 3 <= len(case) <= 64:
        invalid(
            ("header", "x-case-number"),
            "3-64 letters, digits, '-', '/', '.', brackets or Chinese characters",
            case,
        )
    if not 3 <= len(basis) <= 300:
        invalid(("header", "x-legal-basis"), "say the law, 3-300 characters", basis)
    return Legal(case, basis, officer[:64] or "unnamed")


AlertsRead = Annotated[PoliceCall, Security(police_client, scopes=["alerts:read"])]
VehiclesRead = Annotated[PoliceCall, Security(police_client, scopes=["vehicles:read"])]
FacesRead = Annotated[PoliceCall, Security(police_client, scopes=["faces:read"])]
EvidenceExport = Annotated[PoliceCall, Security(police_client, scopes=["evidence:export"])]
DispositionsWrite = Annotated[PoliceCall, Security(police_client, scopes=["dispositions:write"])]
SubscriptionsWrite = Annotated[PoliceCall, Security(police_client, scopes=["subscriptions:write"])]
AuditRead = Annotated[PoliceCall, Security(police_client, scopes=["audit:read"])]


def alert_out(inc: Incident) -> AlertOut:
    """An incident as the police see it (evidence by hash, no file paths)."""
    doc = public_alert_doc(inc)
    return AlertOut(
        id=inc.id,
        type=inc.type,
        severity=inc.severity,
        state=inc.state,
        camera=inc.camera,
        compound=inc.compound,
        created_at=inc.created_at,
        last_seen_at=inc.last_seen_at,
        occurrences=inc.occurrences,
        summary=inc.summary,
        place=inc.place,
        lat=inc.lat,
        lon=inc.lon,
        plate=inc.plate,
        subject=dict(doc.get("subject", {})),
        evidence=[
            EvidenceOut(
                kind=str(e.get("kind", "")),
                sha256=str(e.get("sha256", "")),
                size=int(e.get("size", 0)),
                media_type=str(e.get("media_type", "image/jpeg")),
            )
            for e in doc.get("evidence", [])
        ],
    )


def public_alert_doc(inc: Incident) -> dict[str, Any]:
    """The stored alert JSON without internal file paths (no re-validation: the store
    validated it on the way in, and this runs for every row of every page)."""
    doc = dict(inc.alert)
    doc["evidence"] = [{k: v for k, v in e.items() if k != "uri"} for e in doc.get("evidence", [])]
    return doc
