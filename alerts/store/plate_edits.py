"""Changing a site's plate lists: add or remove a plate, with a reason and an expiry.

The lists stay the site's files (``PLATE,comment`` per line, which the workers read);
a change rewrites the file atomically (temporary file + rename, so a crash leaves the
old list or the new one, never half of it) and is audited in the caller's transaction.
An expiry is written as ``until=YYYY-MM-DD`` at the end of the comment, which
:func:`detectors.plates.lists.parse_entries` honours.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy.orm import Session

from alerts.store import audit
from alerts.store.db import StoreError
from detectors.plates.grammar import is_valid_plate, normalise
from detectors.plates.lists import entry_expiry
from shouwang.config.site import PlateListRef, Site


class ListEditError(StoreError):
    """A list change that cannot be made; the message names the field and the problem."""


@dataclass(frozen=True, slots=True)
class PlateEntry:
    """One line of a plate list file."""

    plate: str
    reason: str
    until: date | None


def list_ref(site: Site | None, list_id: str) -> PlateListRef:
    """The site's plate list with this id."""
    for ref in site.plate_lists if site else []:
        if ref.id == list_id:
            return ref
    known = ", ".join(r.id for r in site.plate_lists) if site else "none"
    raise ListEditError(f"no plate list {list_id!r} in the site file; known: {known}")


def read_entries(path: Path) -> list[PlateEntry]:
    """Every entry of a list file (expired ones included, so they can be removed)."""
    out: list[PlateEntry] = []
    if not path.is_file():
        return out
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        plate, _, comment = line.partition(",")
        until = entry_expiry(comment)
        reason = comment.rsplit("until=", 1)[0].strip() if until else comment.strip()
        out.append(PlateEntry(normalise(plate), reason, until))
    return out


def _write(path: Path, header: list[str], entries: list[PlateEntry]) -> None:
    lines = list(header)
    for e in entries:
        comment = e.reason + (f" until={e.until.isoformat()}" if e.until else "")
        lines.append(f"{e.plate},{comment}" if comment else e.plate)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _header(path: Path) -> list[str]:
    if not path.is_file():
        return []
    return [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.startswith("#")]


def check_plate(text: str) -> str:
    """The normalised plate, or :class:`ListEditError` saying what is wrong with it."""
    plate = normalise(text.strip())
    if not plate:
        raise ListEditError("plate: empty; write a plate such as 宁A12345")
    if not is_valid_plate(plate):
        raise ListEditError(
            f"plate: {text.strip()!r} is not a Chinese licence plate (expected a province "
            "character, a letter and 5-6 letters or digits, e.g. 宁A12345)"
        )
    return plate


def add_plate(
    session: Session,
    site_dir: Path,
    ref: PlateListRef,
    plate: str,
    *,
    reason: str,
    until: date | None,
    actor: str,
    source: str = "",
    today: date | None = None,
) -> PlateEntry:
    """Add (or replace) one plate in the list, audited; nothing is written on a refusal."""
    norm = check_plate(plate)
    reason = " ".join(reason.split())  # one line; commas are fine (split at the first)
    if not reason:
        raise ListEditError("reason: say why the plate is on the list")
    if until is not None and until < (today or date.today()):
        raise ListEditError(f"expires: {until.isoformat()} is in the past")
    path = site_dir / ref.path
    entries = [e for e in read_entries(path) if e.plate != norm]
    entry = PlateEntry(norm, reason, until)
    entries.append(entry)
    audit.append(
        session,
        actor=actor,
        action="plate_list.add",
        target=f"{ref.id}:{norm}",
        detail={"reason": reason, "until": until.isoformat() if until else None},
        source=source,
    )
    session.flush()  # the audit entry is valid before the file changes
    _write(path, _header(path), entries)
    return entry


def remove_plate(
    session: Session,
    site_dir: Path,
    ref: PlateListRef,
    plate: str,
    *,
    reason: str,
    actor: str,
    source: str = "",
) -> None:
    """Remove a plate from the list, audited."""
    norm = normalise(plate)
    path = site_dir / ref.path
    entries = read_entries(path)
    kept = [e for e in entries if e.plate != norm]
    if len(kept) == len(entries):
        raise ListEditError(f"plate: {norm} is not on list {ref.id}")
    audit.append(
        session,
        actor=actor,
        action="plate_list.remove",
        target=f"{ref.id}:{norm}",
        detail={"reason": reason},
        source=source,
    )
    session.flush()
    _write(path, _header(path), kept)
