"""The hash-chained audit log: verify finds a changed row and a deleted row."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, update
from sqlalchemy.orm import Session, sessionmaker

from alerts.store import audit
from alerts.store.audit import AuditEntry
from alerts.store.db import transaction


def fill(factory: sessionmaker[Session], n: int = 6) -> None:
    for i in range(n):
        with transaction(factory) as s:
            audit.append(
                s,
                actor="wang",
                action="incident.close",
                target=f"inc{i}",
                detail={"reason": "false_alarm", "cause": "猫"},
                source="10.0.0.7",
            )


def test_an_intact_chain_verifies(factory: sessionmaker[Session]) -> None:
    fill(factory)
    with factory() as s:
        res = audit.verify(s)
    assert (res.ok, res.checked, res.first_bad) == (True, 6, None)


@pytest.mark.parametrize(
    ("tamper", "first_bad", "words"),
    [
        (update(AuditEntry).where(AuditEntry.seq == 3).values(actor="li"), 3, "changed"),
        (
            update(AuditEntry).where(AuditEntry.seq == 2).values(detail='{"reason":"confirmed"}'),
            2,
            "changed",
        ),
        (delete(AuditEntry).where(AuditEntry.seq == 4), 4, "missing"),
        (delete(AuditEntry).where(AuditEntry.seq == 6), 6, "missing from the end"),
    ],
)
def test_verify_reports_the_first_changed_or_removed_entry(
    factory: sessionmaker[Session], tamper: object, first_bad: int, words: str
) -> None:
    fill(factory)
    with transaction(factory) as s:
        s.execute(tamper)  # type: ignore[call-overload]
    with factory() as s:
        res = audit.verify(s)
    assert not res.ok
    assert res.first_bad == first_bad
    assert words in res.problem
