"""Plate list changes: atomic, audited, refusals name the field; expiry honoured."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from alerts.store import plate_edits
from alerts.store.audit import AuditEntry
from alerts.store.db import transaction
from detectors.plates.lists import parse_entries
from shouwang.config.site import PlateListRef

REF = PlateListRef(id="visitors", kind="visitor", path="visitors.txt")
TODAY = date(2026, 12, 1)


@pytest.fixture
def site_dir(tmp_path: Path) -> Path:
    (tmp_path / "visitors.txt").write_text("# visitors: PLATE[,comment]\n宁A11111,old friend\n")
    return tmp_path


def test_add_then_remove_is_audited_and_keeps_the_header(
    factory: sessionmaker[Session], site_dir: Path
) -> None:
    with transaction(factory) as s:
        plate_edits.add_plate(
            s,
            site_dir,
            REF,
            "宁A·22222",
            reason="plumber, 3号楼",
            until=date(2026, 12, 3),
            actor="admin",
            today=TODAY,
        )
    text = (site_dir / "visitors.txt").read_text()
    assert text.splitlines() == [
        "# visitors: PLATE[,comment]",
        "宁A11111,old friend",
        "宁A22222,plumber, 3号楼 until=2026-12-03",
    ]
    with transaction(factory) as s:
        plate_edits.remove_plate(s, site_dir, REF, "宁A22222", reason="job done", actor="admin")
    assert "宁A22222" not in (site_dir / "visitors.txt").read_text()
    with transaction(factory) as s:
        actions = [e.action for e in s.execute(select(AuditEntry)).scalars()]
    assert actions == ["plate_list.add", "plate_list.remove"]


@pytest.mark.parametrize(
    ("plate", "reason", "until", "message"),
    [
        ("ABC", "x", None, "is not a Chinese licence plate"),
        ("", "x", None, "plate: empty"),
        ("宁A33333", "  ", None, "reason: say why"),
        ("宁A33333", "x", date(2026, 11, 30), "is in the past"),
    ],
)
def test_a_refused_change_writes_nothing(
    factory: sessionmaker[Session],
    site_dir: Path,
    plate: str,
    reason: str,
    until: date | None,
    message: str,
) -> None:
    before = (site_dir / "visitors.txt").read_bytes()
    with pytest.raises(plate_edits.ListEditError, match=message), transaction(factory) as s:
        plate_edits.add_plate(
            s, site_dir, REF, plate, reason=reason, until=until, actor="admin", today=TODAY
        )
    assert (site_dir / "visitors.txt").read_bytes() == before
    with transaction(factory) as s:
        assert s.execute(select(AuditEntry)).first() is None


@pytest.mark.parametrize(
    ("line", "today", "kept"),
    [
        ("宁A12345,pass until=2026-12-01", date(2026, 12, 1), True),
        ("宁A12345,pass until=2026-12-01", date(2026, 12, 2), False),
        ("宁A12345,no expiry", date(2030, 1, 1), True),
    ],
)
def test_expired_entries_no_longer_match(line: str, today: date, kept: bool) -> None:
    assert bool(parse_entries([line], today=today)) is kept
