"""Plate lists and face watchlists (``/api/lists``): admins change plate lists.

Plate lists are the site's files (one plate per line, ``,comment`` after it); a change
rewrites the file atomically and is audited. Workers read lists when they start:
restart them (or let the lease hand-over do it) for a change to reach the cameras.
Watchlists are shown by size only; people are enrolled with ``shouwang faces``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path as FsPath
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request, status
from pydantic import BaseModel, ConfigDict, Field

from alerts.store import audit
from alerts.store.users import User
from api.deps import Svc, client_address, errors, require_roles
from detectors.plates.grammar import normalise
from detectors.plates.lists import parse_entries
from shouwang.config.site import PlateListRef

router = APIRouter(prefix="/api/lists", tags=["lists"])

Admin = Annotated[User, Depends(require_roles("admin"))]
Viewer = Annotated[User, Depends(require_roles("admin", "supervisor"))]
ListId = Annotated[str, Path(min_length=1, max_length=64)]


class PlateListOut(BaseModel):
    """A plate list of the site."""

    id: str
    kind: str
    max_distance: float
    entries: int


class WatchlistOut(BaseModel):
    """A face watchlist (never its people's faces)."""

    id: str
    kind: str
    entries: int


class ListsOut(BaseModel):
    """Every list of the site."""

    plate_lists: list[PlateListOut]
    watchlists: list[WatchlistOut]


class PlateEntryOut(BaseModel):
    """One plate of a list."""

    plate: str
    comment: str


class PlateEntryIn(BaseModel):
    """A plate to add."""

    model_config = ConfigDict(extra="forbid")

    plate: str = Field(min_length=2, max_length=16, description="e.g. 宁A12345")
    comment: str = Field(default="", max_length=200, description="who or why")


def _ref(svc: Svc, list_id: str) -> tuple[PlateListRef, FsPath]:
    for ref in svc.site.plate_lists if svc.site else []:
        if ref.id == list_id:
            p = FsPath(ref.path)
            return ref, p if p.is_absolute() else (svc.site_dir or FsPath(".")) / p
    raise HTTPException(status.HTTP_404_NOT_FOUND, f"the site has no plate list {list_id!r}")


def _read(path: FsPath) -> list[PlateEntryOut]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return []
    return [
        PlateEntryOut(plate=e.plate, comment=e.comment) for e in parse_entries(text.splitlines())
    ]


def _write(path: FsPath, entries: list[PlateEntryOut]) -> None:
    lines = [f"{e.plate},{e.comment}" if e.comment else e.plate for e in entries]
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


@router.get("", response_model=ListsOut, responses=errors(401, 403))
def lists(user: Viewer, svc: Svc) -> ListsOut:
    """The site's plate lists and face watchlists, with their sizes."""
    plates = []
    for ref in svc.site.plate_lists if svc.site else []:
        _, path = _ref(svc, ref.id)
        plates.append(
            PlateListOut(
                id=ref.id, kind=ref.kind, max_distance=ref.max_distance, entries=len(_read(path))
            )
        )
    from detectors.faces.watchlist import WatchlistStore

    faces = [
        WatchlistOut(id=w.id, kind=w.kind, entries=w.n_entries)
        for w in WatchlistStore(svc.settings.data_dir).lists()
    ]
    return ListsOut(plate_lists=plates, watchlists=faces)


@router.get(
    "/plates/{list_id}", response_model=list[PlateEntryOut], responses=errors(401, 403, 404)
)
def plate_list(list_id: ListId, user: Viewer, svc: Svc, request: Request) -> list[PlateEntryOut]:
    """The plates of one list (audited: plates are personal data)."""
    _, path = _ref(svc, list_id)
    out = _read(path)
    with svc.tx() as s:
        audit.append(
            s,
            actor=user.name,
            action="list.view",
            target=list_id,
            detail={"entries": len(out)},
            source=client_address(request),
        )
    return out


@router.post(
    "/plates/{list_id}/entries",
    response_model=list[PlateEntryOut],
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 404, 409, 422),
)
def add_plate(
    list_id: ListId, body: PlateEntryIn, admin: Admin, svc: Svc, request: Request
) -> list[PlateEntryOut]:
    """Add a plate to a list (audited)."""
    _, path = _ref(svc, list_id)
    plate = normalise(body.plate)
    if len(plate) < 2:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"{body.plate!r} is not a plate (e.g. 宁A12345)"
        )
    entries = _read(path)
    if any(e.plate == plate for e in entries):
        raise HTTPException(status.HTTP_409_CONFLICT, f"{plate} is on list {list_id!r} already")
    entries.append(PlateEntryOut(plate=plate, comment=body.comment.replace("\n", " ")))
    _write(path, entries)
    with svc.tx() as s:
        audit.append(
            s,
            actor=admin.name,
            action="list.add",
            target=list_id,
            detail={"plate": plate},
            source=client_address(request),
        )
    return entries


@router.delete(
    "/plates/{list_id}/entries/{plate}",
    response_model=list[PlateEntryOut],
    responses=errors(401, 403, 404),
)
def remove_plate(
    list_id: ListId,
    plate: Annotated[str, Path(min_length=1, max_length=16)],
    admin: Admin,
    svc: Svc,
    request: Request,
) -> list[PlateEntryOut]:
    """Remove a plate from a list (audited)."""
    _, path = _ref(svc, list_id)
    want = normalise(plate)
    entries = _read(path)
    kept = [e for e in entries if e.plate != want]
    if len(kept) == len(entries):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"{want or plate!r} is not on list {list_id!r}"
        )
    _write(path, kept)
    with svc.tx() as s:
        audit.append(
            s,
            actor=admin.name,
            action="list.remove",
            target=list_id,
            detail={"plate": want},
            source=client_address(request),
        )
    return kept
