"""Authentication and authorisation as FastAPI dependencies.

Declare them on a router (``dependencies=[Depends(csrf_protect)]``) or take them as
parameters (``user: CurrentUser``, ``Depends(require_roles("supervisor", "admin"))``,
``scope: Scoped``); a handler never re-checks by hand.

Sessions are **server-side rows** (:mod:`alerts.store.users`): the ``shouwang_session``
cookie (HttpOnly, SameSite=Strict, Secure when ``cookie_secure``) carries a random
token and the database keeps only its SHA-256, so logout and disabling a user end the
session at once. CSRF: double-submit token; login also sets a readable ``csrf`` cookie
and every unsafe request (POST, PUT, PATCH, DELETE) must echo it in ``X-CSRF-Token``.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request, status
from pydantic import BaseModel, Field

from alerts.store.users import User, session_user
from api.services import Services

SESSION_COOKIE = "shouwang_session"
CSRF_COOKIE = "csrf"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ErrorOut(BaseModel):
    """Every error answer: what went wrong and what to do about it."""

    detail: str = Field(description="a sentence a person can act on")


class InvalidOut(BaseModel):
    """422: the fields at fault (FastAPI's list), or one sentence for a rule they break."""

    detail: str | list[dict[str, Any]] = Field(description="what is invalid and where")


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries documenting error answers (:class:`ErrorOut`; 422: InvalidOut)."""
    words = {
        400: "bad request",
        401: "not logged in, or the session ended",
        403: "not allowed for this user, or the CSRF token is missing",
        404: "not found (or outside the compounds this user sees)",
        409: "changed by someone else since the version given",
        422: "invalid input",
        502: "stored evidence failed its check",
        503: "a service the answer needs is unavailable",
    }
    return {
        c: {"model": InvalidOut if c == 422 else ErrorOut, "description": words.get(c, "error")}
        for c in codes
    }


def require_aware(**times: datetime | None) -> None:
    """422 naming the first query time given without a time zone (ambiguous otherwise)."""
    for name, t in times.items():
        if t is not None and t.tzinfo is None:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                f"'{name}' needs a time zone, e.g. 2026-12-01T08:00:00+08:00",
            )


_analyzer_lock = threading.Lock()


def face_analyzer(request: Request) -> Any:
    """One face analyser per app (the platform's embedder, as the workers run it), built
    on first use: loading its models takes seconds, so it is never loaded at start-up.

    Raises:
        ModelError: a face model cannot be loaded.
    """
    with _analyzer_lock:
        found = getattr(request.app.state, "face_analyzer", None)
        if found is None:
            from detectors.faces import FaceAnalyzer

            found = FaceAnalyzer()
            request.app.state.face_analyzer = found
        return found


async def services(request: Request) -> Services:
    """The running service's shared parts (``async``: FastAPI runs a plain ``def``
    dependency in a worker thread, a hop that costs more than this attribute read)."""
    svc: Services = request.app.state.services
    return svc


Svc = Annotated[Services, Depends(services)]


def client_address(request: Request) -> str:
    """Where a request came from, for the audit log."""
    return request.client.host if request.client else ""


def csrf_protect(request: Request) -> None:
    """Refuse an unsafe request whose ``X-CSRF-Token`` header is not the ``csrf`` cookie."""
    if request.method not in UNSAFE:
        return
    cookie = request.cookies.get(CSRF_COOKIE, "")
    header = request.headers.get(CSRF_HEADER, "")
    if not cookie or not header or not hmac.compare_digest(cookie, header):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"missing or wrong {CSRF_HEADER} header: send the value of the '{CSRF_COOKIE}' "
            "cookie set at login",
        )


def same_origin(request: Request) -> None:
    """Refuse a request a page of another origin made the browser send (login CSRF).

    Browsers say where a request comes from: ``Sec-Fetch-Site`` (``same-origin``, or
    ``none`` when the user typed it) and ``Origin`` on every cross-origin POST. Either one
    naming somewhere else is refused; clients that send neither (scripts, curl) pass.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"login refused: the request came from another site (Sec-Fetch-Site: {site})",
        )
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host", ""):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "login refused: the request came from another origin "
            f"(Origin: {origin[:100]!r}, this server: {request.headers.get('host', '')!r})",
        )


def current_user(request: Request, svc: Svc) -> User:
    """The logged-in user of this request.

    Raises:
        HTTPException: 401 without a live session.
    """
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "not logged in: POST /api/auth/login first"
        )
    with svc.tx() as s:
        user = session_user(s, token)
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "your session has ended or expired; log in again"
        )
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require_roles(*roles: str) -> Callable[[User], User]:
    """A dependency that lets only these roles through (403 naming them otherwise)."""
    allowed = frozenset(roles)

    def check(user: CurrentUser) -> User:
        if user.role not in allowed:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"this needs the role {' or '.join(sorted(allowed))}; you are {user.role}",
            )
        return user

    return check


@dataclass(frozen=True, slots=True)
class Scope:
    """Which compounds a user sees: ``compounds`` None means every compound."""

    user: User
    compounds: frozenset[str] | None

    def allows(self, compound: str) -> bool:
        """Whether the compound is within this user's scope."""
        return self.compounds is None or compound in self.compounds


def compound_scope(user: CurrentUser) -> Scope:
    """Operators see their assigned compounds, supervisors and admins all of them;
    auditors read only the audit log (403 here)."""
    if user.role in ("supervisor", "admin"):
        return Scope(user, None)
    if user.role == "operator":
        return Scope(user, frozenset(user.compounds or []))
    raise HTTPException(status.HTTP_403_FORBIDDEN, "auditors read only the audit log (/api/audit)")


Scoped = Annotated[Scope, Depends(compound_scope)]
