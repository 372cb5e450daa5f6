"""The search page: incident history (filters, dates) and the vehicle access log by
plate, fuzzy, with the crop of each read. Plate look-ups are audited (personal data).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from alerts.store import audit, queries
from api.dashboard.common import (
    SEVERITIES,
    STATES,
    Chosen,
    PageScope,
    compound_names,
    render,
    site_zone,
)
from api.dashboard.views import names_of, row_of_incident
from api.deps import Svc, client_address

router = APIRouter(tags=["dashboard"])


def _day(text: str | None, zone: Any, end: bool = False) -> datetime | None:
    if not text:
        return None
    try:
        d = datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        return None
    t = datetime.combine(d, time(0), tzinfo=zone)
    return t + timedelta(days=1) if end else t


@router.get("/ui/search", response_class=HTMLResponse)
def search(
    request: Request,
    scope: PageScope,
    svc: Svc,
    chosen: Chosen,
    plate: Annotated[str | None, Query(max_length=16)] = None,
    since: Annotated[str | None, Query(max_length=10)] = None,
    until: Annotated[str | None, Query(max_length=10)] = None,
) -> Any:
    """Incident history and, when a plate is given, its fuzzy access-log matches."""
    zone = site_zone(svc)
    t0, t1 = _day(since, zone), _day(until, zone, end=True)
    f = chosen.incident_filter(scope, since=t0, until=t1) or queries.IncidentFilter(
        compounds=frozenset()
    )
    comps = f.compounds
    reads: list[Any] = []
    problem = ""
    with svc.tx() as s:
        incs, _ = queries.list_incidents(s, f, limit=100)
        names = names_of(s, {i.assignee_id for i in incs if i.assignee_id is not None})
        rows = [row_of_incident(i, names) for i in incs]
        if plate and plate.strip():
            try:
                hits, _ = queries.lookup_plate(
                    s, plate, compounds=comps, since=t0, until=t1, limit=100
                )
                reads = [{"r": h.read, "d": h.distance} for h in hits]
            except ValueError as exc:
                problem = f"plate: {exc}"
            audit.append(
                s,
                actor=scope.user.name,
                action="vehicles.lookup",
                target=plate.strip(),
                detail={"results": len(reads)},
                source=client_address(request),
            )
    return render(
        request,
        svc,
        scope.user,
        "search.html",
        "search",
        rows=rows,
        reads=reads,
        problem=problem,
        q={"plate": plate or "", "since": since or "", "until": until or "", **chosen.chosen()},
        compounds=compound_names(svc, scope),
        severities=SEVERITIES,
        states=STATES,
    )
