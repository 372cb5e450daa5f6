"""``POST /api/police/v1/oauth/token`` (client credentials) and ``/.well-known/jwks.json``."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from alerts.police.clients import check_secret
from alerts.police.tokens import issue
from alerts.store.audit_writer import AuditUnavailable
from api.deps import Svc, client_address
from api.police.auth import TOKEN_URL, PoliceRoute, State
from api.police.schemas import JwksOut, OAuthErrorOut, TokenOut

router = APIRouter(route_class=PoliceRoute, tags=["police: tokens"])

_FORM: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["grant_type"],
                    "properties": {
                        "grant_type": {"type": "string", "enum": ["client_credentials"]},
                        "client_id": {"type": "string", "maxLength": 64},
                        "client_secret": {"type": "string", "maxLength": 200},
                        "scope": {"type": "string", "maxLength": 500},
                    },
                }
            }
        },
    }
}


def _error(code: int, error: str, text: str, **headers: str) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": text},
        status_code=code,
        headers={"Cache-Control": "no-store", **headers},
    )


async def _form(request: Request) -> tuple[dict[str, str], str, str] | JSONResponse:
    """The token request's form and client credentials (form fields or HTTP Basic)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip()
    if ctype != "application/x-www-form-urlencoded":
        return _error(400, "invalid_request", "send application/x-www-form-urlencoded")
    try:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
    except UnicodeDecodeError:
        return _error(400, "invalid_request", "the form is not UTF-8")
    if form.get("grant_type") != "client_credentials":
        return _error(400, "unsupported_grant_type", "grant_type must be client_credentials")
    cid, secret = form.get("client_id", ""), form.get("client_secret", "")
    basic = request.headers.get("authorization", "")
    if basic.startswith("Basic "):
        try:
            cid, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return _error(400, "invalid_request", "malformed HTTP Basic credentials")
    if not cid or not secret:
        return _error(401, "invalid_client", "client_id and client_secret are required")
    return form, cid, secret


@router.post(
    TOKEN_URL,
    response_model=TokenOut,
    responses={
        400: {"model": OAuthErrorOut, "description": "bad grant, scope or form"},
        401: {"model": OAuthErrorOut, "description": "unknown, wrong or revoked client"},
        429: {"model": OAuthErrorOut, "description": "too many token requests"},
        503: {"model": OAuthErrorOut, "description": "the audit log is unavailable"},
    },
    openapi_extra=_FORM,
)
async def token(request: Request, svc: Svc, st: State) -> TokenOut | JSONResponse:
    """OAuth2 client credentials grant (RFC 6749 §4.4): client id and secret in the form
    or in HTTP Basic; ``scope`` optional (default: every scope of the client)."""
    got_form = await _form(request)
    if isinstance(got_form, JSONResponse):
        return got_form
    form, cid, secret = got_form
    limit = svc.settings.police.token_rate_per_minute
    ttl_s = svc.settings.police.token_ttl_s

    # Redis (rate, epoch) and the cached client on the event loop; a worker thread only
    # when the client row must be read
    gate = await st.gate("token:" + cid[:64])
    wait = gate.over(limit)
    if wait is not None:
        return _error(429, "slow_down", "too many token requests", **{"Retry-After": str(wait)})
    client = check_secret(await st.client(cid, gate.epoch), secret)
    if client is None:
        return _error(401, "invalid_client", "unknown client, wrong secret or revoked client")
    want = form.get("scope", "").split() or list(client.scopes)
    extra = sorted(set(want) - set(client.scopes))
    if extra:
        return _error(400, "invalid_scope", f"not granted to this client: {' '.join(extra)}")
    scopes = sorted(set(want))
    tok, _ = issue(st.ring, client.id, scopes, ttl_s=ttl_s)
    client_id = client.id
    try:  # the token leaves only once its issue is in the audit log
        await st.audit.write(
            actor=client_id,
            action="police.token",
            detail={"scopes": scopes},
            source=client_address(request),
        )
    except AuditUnavailable:
        return _error(503, "temporarily_unavailable", "the audit log is unavailable; no token")
    return TokenOut(access_token=tok, expires_in=ttl_s, scope=" ".join(scopes))


@router.get("/.well-known/jwks.json", response_model=JwksOut)
def jwks(st: State) -> JwksOut:
    """The public keys that sign access tokens (public by design, RFC 7517)."""
    return JwksOut.model_validate(st.ring.jwks())
