"""Authentication, scopes, jurisdiction, rate limits, size limits and the audit of every
call of ``/api/police/v1``.

* :func:`police_client` (``Security(police_client, scopes=[...])``): a valid EdDSA
  bearer token of a live client → :class:`PoliceCall`; else 401 (no/expired/revoked
  token), 403 naming the missing scope, 429 with ``Retry-After`` over the client's rate.
* :class:`PoliceCall.inside` answers 404 for anything outside the jurisdiction.
* :class:`PoliceRoute` refuses bodies over the size limit (413) before they are read
  and writes one audit entry per call once the answer is known: client, endpoint,
  parameters, records returned, case number, status. The entry goes through the
  service's :class:`~alerts.store.audit_writer.AuditWriter` (group commit) and the
  answer leaves only once it is committed; when it cannot be, the answer is 503.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import Depends, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import OAuth2, SecurityScopes

from alerts.police.clients import SCOPES
from alerts.police.config import PoliceSettings
from alerts.police.models import PoliceClient
from alerts.police.tokens import TokenError, verify
from alerts.store.audit_writer import AuditUnavailable
from api.deps import Svc, client_address
from api.police.state import PoliceState, police_state

PREFIX = "/api/police/v1"
TOKEN_URL = PREFIX + "/oauth/token"
SCOPE_WORDS = {
    "alerts:read": "read alerts",
    "vehicles:read": "read the vehicle access log (personal data)",
    "faces:read": "read face watchlist hits (personal data)",
    "evidence:export": "export signed evidence packages (personal data)",
    "dispositions:write": "post and revoke watch orders (布控)",
    "subscriptions:write": "manage push subscriptions and replay deliveries",
    "audit:read": "read this client's own audit trail",
}
assert set(SCOPE_WORDS) == set(SCOPES)

oauth2 = OAuth2(
    flows=OAuthFlows(
        clientCredentials=OAuthFlowClientCredentials(tokenUrl=TOKEN_URL, scopes=SCOPE_WORDS)
    ),
    scheme_name="police",
    auto_error=False,
    description="OAuth2 client credentials; EdDSA JWT bearer tokens (5-15 minutes)",
)


@dataclass
class PoliceCall:
    """The authenticated client of one call, and what goes in its audit entry."""

    client: PoliceClient
    area: frozenset[str]
    source: str
    endpoint: str
    params: dict[str, Any] = field(default_factory=dict)
    records: int | None = None
    case_number: str | None = None
    legal_basis: str | None = None
    target: str = ""

    def inside(self, compound: str, what: str = "it") -> None:
        """404 unless the compound is in the jurisdiction (existence not disclosed)."""
        if compound not in self.area:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"{what} was not found")


def _unauthorised(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail,
        headers={"WWW-Authenticate": 'Bearer realm="shouwang-police"'},
    )


def _header(request: Request, name: str) -> str | None:
    v = request.headers.get(name)
    return unquote(v)[:300] if v is not None else None


async def police_client(
    scopes: SecurityScopes,
    request: Request,
    svc: Svc,
    token: Annotated[str | None, Depends(oauth2)],
) -> PoliceCall:
    """The calling client, checked as the module docstring says.

    No database read in the common case: the token's signature and times are checked
    here, and the client row (revoked or not, its scopes and compounds) comes from the
    process's :class:`~alerts.police.client_cache.ClientCache`, valid for the revocation
    epoch read from Redis in the same round trip as the rate-limit step — so a client
    revoked through ``shouwang clients revoke`` gets 401 on its next call.
    """
    st = police_state(svc)
    if not token or not token.startswith("Bearer "):
        raise _unauthorised(f"send 'Authorization: Bearer <token>' (get one at {TOKEN_URL})")
    try:
        claims = verify(st.ring, token[7:].strip())
    except TokenError as exc:
        raise _unauthorised(str(exc)) from None
    gate = await st.gate(claims.client_id)
    client = await st.client(claims.client_id, gate.epoch)
    if client is None or client.revoked_at is not None:
        raise _unauthorised("this client has been revoked")
    call = PoliceCall(
        client=client,
        area=st.area(client),
        source=client_address(request),
        endpoint=f"{request.method} {request.url.path}",
        params=dict(request.query_params),
        case_number=_header(request, "x-case-number"),
        legal_basis=_header(request, "x-legal-basis"),
    )
    request.state.police_call = call
    for need in scopes.scopes:
        if need not in claims.scopes or need not in client.scopes:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this call needs the scope {need!r}")
    wait = gate.over(client.rate_per_minute)
    if wait is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"rate limit of {client.rate_per_minute} calls per minute reached; retry later",
            headers={"Retry-After": str(wait)},
        )
    return call


async def state(svc: Svc) -> PoliceState:
    """The police API state of this service (no I/O after the first call: no thread)."""
    return police_state(svc)


State = Annotated[PoliceState, Depends(state)]


class PoliceRoute(APIRoute):
    """Size limit before the body is read; one audit entry after the answer."""

    def body_limit(self, cfg: PoliceSettings) -> int:
        """The largest body this route takes."""
        return cfg.max_body_bytes

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        inner = super().get_route_handler()

        async def handler(request: Request) -> Response:
            svc = request.app.state.services
            limit = self.body_limit(svc.settings.police)
            size = request.headers.get("content-length")
            if size is not None and (not size.isdigit() or int(size) > limit):
                return JSONResponse(
                    {"detail": f"request body over the limit of {limit} bytes"},
                    status_code=status.HTTP_413_CONTENT_TOO_LARGE,
                )
            if size is None and request.method in ("POST", "PUT", "PATCH"):
                body = bytearray()  # not bytes +=: a photo body arrives in many chunks
                async for chunk in request.stream():
                    body += chunk
                    if len(body) > limit:
                        return JSONResponse(
                            {"detail": f"request body over the limit of {limit} bytes"},
                            status_code=status.HTTP_413_CONTENT_TOO_LARGE,
                        )
                request._body = bytes(body)
            try:
                response = await inner(request)
            except (HTTPException, RequestValidationError) as exc:
                code = exc.status_code if isinstance(exc, HTTPException) else 422
                if not await _audit(request, code):
                    return _audit_down()
                raise
            if not await _audit(request, response.status_code):
                return _audit_down()  # no answer leaves unaudited
            return response

        return handler


class PhotoRoute(PoliceRoute):
    """A route whose body carries a photo (base64): the photo limit, not the general one,
    and a 422 that does not echo the input (the photo, megabytes of personal data)."""

    def body_limit(self, cfg: PoliceSettings) -> int:
        """:attr:`PoliceSettings.max_photo_body_bytes`."""
        return cfg.max_photo_body_bytes

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        inner = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await inner(request)
            except RequestValidationError as exc:
                raise RequestValidationError(
                    [{k: v for k, v in e.items() if k != "input"} for e in exc.errors()]
                ) from None

        return handler


def _audit_down() -> JSONResponse:
    return JSONResponse(
        {"detail": "the audit log is unavailable; nothing was returned"},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
    )


async def _audit(request: Request, code: int) -> bool:
    """Write the call's audit entry and wait for its commit; False when it failed."""
    call: PoliceCall | None = getattr(request.state, "police_call", None)
    if call is None:
        return True
    detail: dict[str, Any] = {
        "endpoint": call.endpoint,
        "params": call.params,
        "status": code,
        "records": call.records,
        "case_number": call.case_number,
        "legal_basis": call.legal_basis,
    }
    try:
        await police_state(request.app.state.services).audit.write(
            actor=call.client.id,
            action="police.call",
            target=call.target,
            detail=detail,
            source=call.source,
        )
    except AuditUnavailable:
        return False
    return True
