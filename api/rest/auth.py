"""Login, logout and who am I (``/api/auth``)."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status

from alerts.store import audit
from alerts.store.users import authenticate, end_session, start_session
from api.deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    CurrentUser,
    Svc,
    client_address,
    csrf_protect,
    errors,
    same_origin,
)
from api.rest.schemas import LoginIn, UserOut

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post(
    "/login",
    response_model=UserOut,
    responses=errors(401, 403, 422),
    dependencies=[Depends(same_origin)],
)
def login(body: LoginIn, request: Request, response: Response, svc: Svc) -> UserOut:
    """Log in with name and password: sets the session cookie and the ``csrf`` cookie.

    A login another site's page makes the browser send (``Origin`` or
    ``Sec-Fetch-Site`` naming somewhere else) is refused with 403 (login CSRF).

    Every later unsafe request (POST, PUT, PATCH, DELETE) must send the ``csrf``
    cookie's value in the ``X-CSRF-Token`` header. Failed logins are audited too.
    """
    src = client_address(request)
    with svc.tx() as s:
        user = authenticate(s, body.name, body.password)
        if user is None:
            audit.append(s, actor=body.name[:64], action="login.failed", source=src)
        else:
            token = start_session(s, user, ttl_s=svc.settings.session_ttl_s, source=src)
            audit.append(s, actor=user.name, action="login", source=src)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong user name or password")
    ttl, secure = svc.settings.session_ttl_s, svc.settings.cookie_secure
    response.set_cookie(
        SESSION_COOKIE, token, max_age=ttl, httponly=True, samesite="strict", secure=secure
    )
    response.set_cookie(
        CSRF_COOKIE,
        secrets.token_urlsafe(24),
        max_age=ttl,
        httponly=False,
        samesite="strict",
        secure=secure,
    )
    return UserOut.model_validate(user)


@router.post(
    "/logout",
    response_model=UserOut,
    responses=errors(401, 403),
    dependencies=[Depends(csrf_protect)],
)
def logout(user: CurrentUser, request: Request, response: Response, svc: Svc) -> UserOut:
    """End this session (the cookie stops working at once, everywhere)."""
    with svc.tx() as s:
        end_session(s, request.cookies.get(SESSION_COOKIE, ""))
        audit.append(s, actor=user.name, action="logout", source=client_address(request))
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(CSRF_COOKIE)
    return UserOut.model_validate(user)


@router.get("/me", response_model=UserOut, responses=errors(401))
def me(user: CurrentUser) -> UserOut:
    """The logged-in user: name, role and compounds."""
    return UserOut.model_validate(user)
