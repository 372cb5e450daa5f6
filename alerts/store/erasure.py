"""Erasure of a person (PIPL): every watchlist entry, embedding and face crop of them.

A person is named by a watchlist entry id (what alerts carry as ``person_id``) or by
the entry's name; every list's entries with that name are removed. Removing an entry
deletes its embeddings and photos, overwrites the freed pages and drops cached search
indices (:meth:`detectors.faces.watchlist.WatchlistStore.remove_entry`). Then every
incident about them loses its evidence files (snapshot and face crop) and the label in
its stored alert JSON. Incidents on legal hold keep theirs and are reported.

The audit entry says who was erased, by whom, from which lists, how many incidents and
files: never an embedding, a photo or a crop.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from alerts.store import audit
from alerts.store.incidents import EvidenceLink, Incident, IncidentUpdate
from alerts.store.retention import delete_files, unreferenced


@dataclass
class ErasureResult:
    """What :func:`erase_person` removed."""

    entries: list[tuple[str, str]] = field(default_factory=list)  # (list id, entry id)
    incidents: list[str] = field(default_factory=list)
    files: int = 0
    held: list[str] = field(default_factory=list)


def _scrub(doc: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    out["evidence"] = []
    subj = out.get("subject")
    if isinstance(subj, dict) and subj.get("kind") == "face":
        subj["person_label"] = ""
    return out


def erase_person(
    session: Session,
    person: str,
    *,
    data_dir: Path,
    evidence_root: Path,
    actor: str,
    source: str = "",
) -> ErasureResult:
    """Erase ``person`` everywhere, in the caller's transaction plus the watchlist file."""
    from detectors.faces.watchlist import WatchlistStore

    res = ErasureResult()
    wl = WatchlistStore(data_dir)
    ids = {person}
    for info in wl.lists():
        for e in wl.entries(info.id):
            if e.name == person or str(e.id) == person:
                ids.add(str(e.id))
                wl.remove_entry(info.id, e.name)
                res.entries.append((info.id, str(e.id)))
    incs = list(
        session.execute(select(Incident).where(Incident.person_id.in_(sorted(ids)))).scalars()
    )
    shas: set[str] = set()
    for inc in incs:
        if inc.legal_hold:
            res.held.append(inc.id)
            continue
        shas |= {e.sha256 for e in inc.evidence}
        session.execute(delete(EvidenceLink).where(EvidenceLink.incident_id == inc.id))
        inc.alert = _scrub(inc.alert)
        inc.summary = "face (erased on request)"
        for u in session.execute(
            select(IncidentUpdate).where(IncidentUpdate.incident_id == inc.id)
        ).scalars():
            u.alert = _scrub(u.alert)
        res.incidents.append(inc.id)
    session.flush()
    res.files = delete_files(evidence_root, unreferenced(session, shas))
    audit.append(
        session,
        actor=actor,
        action="privacy.erase",
        target=person,
        source=source,
        detail={
            "watchlist_entries": [f"{lst}:{eid}" for lst, eid in res.entries],
            "incidents": res.incidents[:2000],
            "files": res.files,
            "kept_on_hold": res.held,
        },
    )
    return res
