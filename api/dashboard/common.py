"""What every dashboard page shares: templates, the page user, language, site time.

A page needs a logged-in user like every other route; without one it answers
``303 → /ui/login`` instead of the JSON 401 of the REST API, so an operator whose
session ended lands on the login form.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.templating import Jinja2Templates

from alerts.store.queries import IncidentFilter
from alerts.store.users import User, session_user
from api.dashboard.i18n import Lang, label
from api.deps import SESSION_COOKIE, Scope, Svc, compound_scope
from api.services import Services

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")

SEVERITIES = ("info", "low", "medium", "high", "critical")
STATES = ("new", "acknowledged", "in_progress", "on_hold", "closed")


def lang_of(request: Request) -> Lang:
    """The page language: the ``lang`` cookie, Chinese by default."""
    return "en" if request.cookies.get("lang") == "en" else "zh"


def site_zone(svc: Services) -> ZoneInfo:
    """The site's time zone (``timezone`` of the site file; Asia/Shanghai without one)."""
    return ZoneInfo(svc.site.timezone if svc.site else "Asia/Shanghai")


def local_time(t: datetime | str | None, zone: ZoneInfo, fmt: str = "%m-%d %H:%M:%S") -> str:
    """A UTC time (or ISO text) shown in the site's zone."""
    if t is None:
        return ""
    if isinstance(t, str):
        t = datetime.fromisoformat(t)
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(zone).strftime(fmt)


def _redirect_to_login() -> HTTPException:
    return HTTPException(
        status.HTTP_303_SEE_OTHER, "log in first", headers={"Location": "/ui/login"}
    )


def page_user(request: Request, svc: Svc) -> User:
    """The logged-in user, or a redirect to the login page."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise _redirect_to_login()
    with svc.tx() as s:
        user = session_user(s, token)
    if user is None:
        raise _redirect_to_login()
    return user


PageUser = Annotated[User, Depends(page_user)]


def page_scope(user: PageUser) -> Scope:
    """The compounds the page's user sees (auditors get 403, as in the API)."""
    return compound_scope(user)


PageScope = Annotated[Scope, Depends(page_scope)]


def compound_names(svc: Services, scope: Scope) -> dict[str, str]:
    """id → display name of the site's compounds this user sees."""
    if svc.site is None:
        return {}
    return {c.id: c.name for c in svc.site.compounds if scope.allows(c.id)}


def render(request: Request, svc: Services, user: User, name: str, page: str, **ctx: Any) -> Any:
    """A full page from ``templates/<name>`` with the shared context."""
    lang = lang_of(request)
    return templates.TemplateResponse(
        request,
        name,
        {
            "user": user,
            "page": page,
            "lang": lang,
            "t": lambda key, **fmt: label(lang, key, **fmt),
            "site": svc.site,
            "zone": site_zone(svc),
            "when": lambda t, fmt="%m-%d %H:%M:%S": local_time(t, site_zone(svc), fmt),
            **ctx,
        },
    )


def fragment(svc: Services, lang: str, name: str, **ctx: Any) -> str:
    """A partial template rendered to text (rows pushed over SSE, drawer pieces)."""
    tpl = templates.get_template(name)
    return tpl.render(
        t=lambda key, **fmt: label(lang, key, **fmt),
        lang=lang,
        when=lambda t, fmt="%m-%d %H:%M:%S": local_time(t, site_zone(svc), fmt),
        site=svc.site,
        **ctx,
    )


_Opt = Annotated[str, Query(max_length=64)]


@dataclass(frozen=True, slots=True)
class Filters:
    """The incident filters of the desk and the search page (empty = any)."""

    compound: str = ""
    camera: str = ""
    type: str = ""
    severity: str = ""
    state: str = ""

    def chosen(self) -> dict[str, str]:
        """Field → chosen value, for the page's selects."""
        return asdict(self)

    def incident_filter(
        self, scope: Scope, since: datetime | None = None, until: datetime | None = None
    ) -> IncidentFilter | None:
        """The store's filter within the user's scope; None when it can match nothing."""
        comps = scope.compounds
        if self.compound:
            if not scope.allows(self.compound):
                return None
            comps = frozenset({self.compound})
        return IncidentFilter(
            since=since,
            until=until,
            compounds=comps,
            camera=self.camera or None,
            type=self.type or None,
            severity=self.severity if self.severity in SEVERITIES else None,
            state=self.state if self.state in STATES else None,
        )


def filters(
    compound: _Opt = "", camera: _Opt = "", type: _Opt = "", severity: _Opt = "", state: _Opt = ""
) -> Filters:
    """The filters of the query string."""
    return Filters(compound, camera, type, severity, state)


Chosen = Annotated[Filters, Depends(filters)]
