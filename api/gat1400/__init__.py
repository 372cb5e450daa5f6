"""The GA/T 1400 endpoints the upper platform calls: ``/VIID/Dispositions``.

Authentication: HTTP Digest with the site's ``gat1400.user`` and the password from
``gat1400.password_env`` (the same credentials this platform registers with), and,
when ``gat1400.upper_id`` is set, ``User-Identify`` must name it. Answers are
``ResponseStatusListObject`` with one ``ResponseStatusObject`` per disposition:
HTTP 200 when all were applied, 400 with StatusCode 7 (malformed JSON) or 8 (bad
content: unknown field, wrong type, an image that holds no face), 409 with StatusCode
4 (an operation that cannot be done: revoking an unknown disposition, a person
disposition). A refused request changes nothing (its refusal is audited).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from functools import cache
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import JSONResponse

from alerts.gat1400 import dispositions
from alerts.gat1400.client import UpperError, password
from alerts.gat1400.digest import DigestVerifier
from alerts.police import watch
from alerts.store import audit
from api.deps import Svc, client_address
from shouwang.config import Site

router = APIRouter(prefix="/VIID", tags=["gat1400"])


@cache
def _verifier(realm: str, key: str) -> DigestVerifier:
    return DigestVerifier(realm, hashlib.sha256(key.encode()).digest())


@cache
def _face_detector() -> Any:
    from detectors.faces import CenterFaceDetector

    return CenterFaceDetector()


def holds_face(data: bytes) -> bool:
    """Whether the image decodes and the face detector finds a face in it."""
    import cv2

    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        return False
    return len(_face_detector().detect(img)) > 0


def upper_platform(request: Request, svc: Svc) -> Site:
    """The site, once the caller proved it is the upper platform (Digest)."""
    site = svc.site
    if site is None or site.gat1400 is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "GA/T 1400 is not configured")
    cfg = site.gat1400
    try:
        pw = password(cfg)
    except UpperError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc
    v = _verifier("shouwang-viid", cfg.platform_id + pw)
    ok = v.check(request.headers.get("authorization"), request.method, cfg.user, pw)
    if not ok:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "HTTP Digest authentication required",
            headers={"WWW-Authenticate": v.challenge()},
        )
    who = request.headers.get("user-identify", "")
    if cfg.upper_id is not None and who != cfg.upper_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "User-Identify is not the upper platform")
    return site


Upper = Annotated[Site, Depends(upper_platform)]


def _status(url: str, rid: str, code: str, text: str) -> dict[str, str]:
    return {
        "Id": rid,
        "RequestURL": url,
        "StatusCode": code,
        "StatusString": text[:200],
        "LocalTime": datetime.now().strftime("%Y%m%d%H%M%S"),
    }


def _answer(http: int, objs: list[dict[str, str]]) -> JSONResponse:
    return JSONResponse(
        {"ResponseStatusListObject": {"ResponseStatusObject": objs}}, status_code=http
    )


def _refuse(svc: Svc, request: Request, code: str, why: str, rid: str = "") -> JSONResponse:
    with svc.tx() as s:
        audit.append(
            s, actor=dispositions.UPPER_CLIENT, action="gat1400.disposition_refused",
            target=rid, detail={"code": code, "why": why[:200]}, source=client_address(request),
        )  # fmt: skip
    http = status.HTTP_409_CONFLICT if code == "4" else status.HTTP_400_BAD_REQUEST
    return _answer(http, [_status(request.url.path, rid, code, why)])


def _resync(svc: Svc, site: Site) -> None:
    # An earlier disposition of a refused batch may have reached Redis before the
    # rollback: rewrite the live lists from the database.
    with svc.tx() as s:
        watch.sync(s, svc.redis, dispositions.target_compounds(site))


_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "ResponseStatusListObject, every StatusCode 0"},
    400: {"description": "StatusCode 7 (malformed JSON) or 8 (bad content)"},
    401: {"description": "HTTP Digest challenge"},
    404: {"description": "GA/T 1400 is not configured on this site"},
    409: {"description": "StatusCode 4 (invalid operation)"},
}


# One handler for both verbs (upper platforms send either), registered once per verb so
# each has its own operation id in the OpenAPI contract.
@router.put("/Dispositions", responses=_RESPONSES, operation_id="gat1400_put_dispositions")
@router.post("/Dispositions", responses=_RESPONSES, operation_id="gat1400_post_dispositions")
async def post_dispositions(request: Request, site: Upper, svc: Svc) -> JSONResponse:
    """Create (OperateType 0) or revoke (OperateType 1) watch orders, all or none."""
    raw = await request.body()
    try:
        body = json.loads(raw)
    except ValueError:
        return _refuse(svc, request, "7", "the body is not JSON")
    try:
        items = dispositions.parse(body)
    except dispositions.DispositionError as exc:
        return _refuse(svc, request, exc.code, str(exc))
    out = []
    try:
        with svc.tx() as s:
            for d in items:
                dispositions.apply(
                    s, svc.redis, site, d, is_face=holds_face, source=client_address(request)
                )
                out.append(_status(request.url.path, d.DispositionID, "0", "OK"))
    except dispositions.DispositionError as exc:
        _resync(svc, site)
        return _refuse(svc, request, exc.code, str(exc), rid=d.DispositionID)
    return _answer(status.HTTP_200_OK, out)


@router.delete("/Dispositions", responses=_RESPONSES)
def delete_dispositions(request: Request, site: Upper, svc: Svc, IDList: str) -> JSONResponse:
    """Revoke the dispositions named in ``IDList`` (comma-separated), all or none."""
    ids = [i.strip() for i in IDList.split(",") if i.strip()]
    out = []
    try:
        with svc.tx() as s:
            for rid in ids:
                d = dispositions.DispositionIn(
                    DispositionID=rid, DispositionCategory="2", EndTime="19700101000000",
                    OperateType=1,
                )  # fmt: skip
                dispositions.apply(
                    s, svc.redis, site, d, is_face=holds_face, source=client_address(request)
                )
                out.append(_status(request.url.path, rid, "0", "OK"))
    except dispositions.DispositionError as exc:
        _resync(svc, site)
        return _refuse(svc, request, exc.code, str(exc), rid=rid)
    return _answer(status.HTTP_200_OK, out)
