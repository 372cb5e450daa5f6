"""The lists page: plate lists (add/remove with reason and expiry) and face watchlists
(enrol from an uploaded photo with the quality check's verdict, remove every trace).

Supervisors and admins change lists; every change is audited. A refused change (a
malformed plate, a photo that is not an image, a face too small or blurred) answers
422 with a sentence naming the problem, and nothing is written.
"""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile, status
from fastapi.responses import HTMLResponse

from alerts.store import audit, plate_edits
from alerts.store.users import User
from api.dashboard.common import PageUser, fragment, lang_of, render
from api.dashboard.i18n import label
from api.deps import Svc, client_address, face_analyzer, require_roles
from api.services import Services

router = APIRouter(tags=["dashboard"])

MAX_UPLOAD = 20_000_000


def _editor(user: PageUser) -> User:
    return require_roles("supervisor", "admin")(user)


Editor = Annotated[User, Depends(_editor)]


def _watchlists(svc: Services) -> Any:
    from detectors.faces import WatchlistStore

    store = WatchlistStore(svc.settings.data_dir)
    for ref in svc.site.watchlists if svc.site else []:
        store.ensure_list(ref)
    return store


def _context(svc: Services) -> dict[str, Any]:
    plates = []
    for ref in svc.site.plate_lists if svc.site else []:
        path = (svc.site_dir or FsPath(".")) / ref.path
        plates.append({"ref": ref, "entries": plate_edits.read_entries(path)})
    store = _watchlists(svc)
    faces = [{"info": i, "entries": store.entries(i.id)} for i in store.lists()]
    return {"plates": plates, "faces": faces, "today": date.today()}


def _panel(svc: Services, request: Request, msg: str = "", ok: bool = True) -> str:
    return fragment(svc, lang_of(request), "_lists.html", msg=msg, ok=ok, **_context(svc))


@router.get("/ui/lists", response_class=HTMLResponse)
def lists_page(request: Request, user: Editor, svc: Svc) -> Any:
    """Plate lists and face watchlists."""
    return render(request, svc, user, "lists.html", "lists", **_context(svc))


def _refuse(msg: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, msg)


@router.post("/ui/lists/plates/{list_id}", response_class=HTMLResponse)
def add_plate(
    list_id: str,
    request: Request,
    user: Editor,
    svc: Svc,
    plate: Annotated[str, Form(max_length=32)] = "",
    reason: Annotated[str, Form(max_length=300)] = "",
    until: Annotated[str, Form(max_length=10)] = "",
) -> str:
    """Add a plate with a reason and an optional expiry date."""
    try:
        expiry = date.fromisoformat(until) if until else None
    except ValueError:
        raise _refuse(f"expires: {until!r} is not a date (YYYY-MM-DD)") from None
    try:
        ref = plate_edits.list_ref(svc.site, list_id)
        with svc.tx() as s:
            e = plate_edits.add_plate(
                s,
                svc.site_dir or FsPath("."),
                ref,
                plate,
                reason=reason,
                until=expiry,
                actor=user.name,
                source=client_address(request),
            )
    except plate_edits.ListEditError as exc:
        raise _refuse(str(exc)) from None
    return _panel(svc, request, f"{label(lang_of(request), 'saved')}: {e.plate} → {list_id}")


@router.post("/ui/lists/plates/{list_id}/remove", response_class=HTMLResponse)
def remove_plate(
    list_id: str,
    request: Request,
    user: Editor,
    svc: Svc,
    plate: Annotated[str, Form(max_length=32)],
    reason: Annotated[str, Form(max_length=300)] = "",
) -> str:
    """Remove a plate from a list."""
    try:
        ref = plate_edits.list_ref(svc.site, list_id)
        with svc.tx() as s:
            plate_edits.remove_plate(
                s,
                svc.site_dir or FsPath("."),
                ref,
                plate,
                reason=reason,
                actor=user.name,
                source=client_address(request),
            )
    except plate_edits.ListEditError as exc:
        raise _refuse(str(exc)) from None
    return _panel(svc, request, label(lang_of(request), "removed", what=plate))


@router.post("/ui/lists/faces/{list_id}", response_class=HTMLResponse)
async def enrol_face(
    list_id: str,
    request: Request,
    user: Editor,
    svc: Svc,
    photo: Annotated[UploadFile, File()],
    name: Annotated[str, Form(max_length=100)] = "",
) -> str:
    """Enrol a person from one uploaded photo; the quality check decides."""
    import asyncio

    from detectors.faces.enrol import enrol
    from detectors.faces.errors import FaceError

    name = " ".join(name.split())
    if not name:
        raise _refuse("name: give the person's name")
    data = await photo.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise _refuse(f"photo: over the {MAX_UPLOAD // 1_000_000} MB limit; resize it")
    shown = FsPath(photo.filename or "photo").name

    def work() -> None:
        store = _watchlists(svc)
        store.get_list(list_id)
        if any(e.name == name for e in store.entries(list_id)):
            raise FaceError(f"name: {name!r} is already on {list_id}; remove it first")
        with tempfile.TemporaryDirectory() as tmp:
            path = FsPath(tmp) / shown
            path.write_bytes(data)
            with svc.tx() as s:  # the audit entry commits only with the enrolment
                audit.append(
                    s,
                    actor=user.name,
                    action="watchlist.enrol",
                    target=f"{list_id}:{name}",
                    detail={"photo": shown, "bytes": len(data)},
                    source=client_address(request),
                )
                try:
                    enrol(store, face_analyzer(request), list_id, name, [path])
                except FaceError as exc:  # name the uploaded file, not the temporary copy
                    raise FaceError(str(exc).replace(str(path), f"photo {shown}")) from None

    try:
        await asyncio.to_thread(work)
    except FaceError as exc:
        raise _refuse(str(exc)) from None
    return _panel(svc, request, label(lang_of(request), "quality_ok", name=name))


@router.post("/ui/lists/faces/{list_id}/remove", response_class=HTMLResponse)
def remove_face(
    list_id: str,
    request: Request,
    user: Editor,
    svc: Svc,
    name: Annotated[str, Form(max_length=100)],
) -> str:
    """Remove a person: embeddings, photos and cached indices (every trace)."""
    from detectors.faces.errors import FaceError

    try:
        store = _watchlists(svc)
        with svc.tx() as s:
            audit.append(
                s,
                actor=user.name,
                action="watchlist.remove",
                target=f"{list_id}:{name}",
                source=client_address(request),
            )
            store.remove_entry(list_id, name)
    except FaceError as exc:
        raise _refuse(str(exc)) from None
    return _panel(svc, request, label(lang_of(request), "removed", what=name))
