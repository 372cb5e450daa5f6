"""The incident workflow on both engines: transitions, close reasons, roles, escalation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from alerts.store import escalation, snoozes, workflow
from alerts.store.db import transaction
from alerts.store.incidents import Incident
from alerts.store.workflow import CLOSE, Conflict, NotAllowed, close_as
from tests.alerts.factory import make_alert
from tests.store.conftest import make_user
from tests.store.helpers import store


def act(
    factory: sessionmaker[Session], inc_id: str, action: str, user_name: str, **kw: object
) -> Incident:
    from sqlalchemy import select

    from alerts.store.users import User

    with transaction(factory) as s:
        user = s.execute(select(User).where(User.name == user_name)).scalar_one()
        inc = s.get(Incident, inc_id)
        assert inc is not None
        version = kw.pop("version", inc.version)
        return workflow.transition(s, inc_id, action, version=version, user=user, **kw)  # type: ignore[arg-type]


@pytest.fixture
def inc_id(factory: sessionmaker[Session]) -> str:
    make_user(factory, "wang", "operator", ["lijing"])
    make_user(factory, "li", "operator", ["lijing"])
    make_user(factory, "zhao", "supervisor")
    a = make_alert()
    store(factory, a)
    return a.id


@pytest.mark.parametrize(
    ("steps", "state"),
    [
        ([("acknowledge", "wang")], "acknowledged"),
        ([("acknowledge", "wang"), ("start", "wang")], "in_progress"),
        (
            [("acknowledge", "wang"), ("start", "wang"), ("hold", "wang"), ("start", "wang")],
            "in_progress",
        ),
        ([("acknowledge", "wang"), ("close", "wang")], "closed"),
        ([("close", "wang"), ("reopen", "zhao")], "new"),
        ([("acknowledge", "wang"), ("assign", "zhao"), ("start", "li")], "in_progress"),
    ],
)
def test_allowed_paths(
    factory: sessionmaker[Session], inc_id: str, steps: list[tuple[str, str]], state: str
) -> None:
    from sqlalchemy import select

    from alerts.store.users import User

    for action, who in steps:
        kw: dict[str, object] = {}
        if action == "close":
            kw["close"] = close_as("false_alarm", cause="shadow")
        if action == "assign":
            with factory() as s:
                kw["assignee"] = s.execute(select(User).where(User.name == "li")).scalar_one()
        act(factory, inc_id, action, who, **kw)
    with factory() as s:
        inc = s.get(Incident, inc_id)
        assert inc is not None and inc.state == state
        assert inc.version == len(steps) + 1
        assert [a.action for a in inc.activity] == ["created"] + [a for a, _ in steps]


@pytest.mark.parametrize(
    ("steps", "bad", "words"),
    [
        ([], ("start", "wang"), "cannot start"),
        ([("acknowledge", "wang")], ("start", "li"), "claimed by another operator"),
        ([("close", "wang")], ("reopen", "wang"), "only a supervisor"),
        ([("close", "wang")], ("close", "zhao"), "cannot close"),
        ([], ("close", "wang"), "needs a reason"),
    ],
)
def test_refused_changes_say_why(
    factory: sessionmaker[Session],
    inc_id: str,
    steps: list[tuple[str, str]],
    bad: tuple[str, str],
    words: str,
) -> None:
    for action, who in steps:
        act(factory, inc_id, action, who, close=close_as("test") if action == "close" else None)
    close = close_as("test") if bad[0] == "close" and words != "needs a reason" else None
    with pytest.raises(NotAllowed, match=words):
        act(factory, inc_id, bad[0], bad[1], close=close)


@pytest.mark.parametrize(
    ("doc", "error"),
    [
        ({"reason": "false_alarm"}, "cause\n  Field required"),
        ({"reason": "false_alarm", "cause": "  "}, "should match pattern"),
        ({"reason": "other"}, "text\n  Field required"),
        ({"reason": "fixed"}, "does not match any of the expected tags"),
    ],
)
def test_close_reasons_need_their_details(doc: dict[str, str], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        CLOSE.validate_python(doc)


def test_a_stale_version_is_a_conflict_naming_who_and_how(
    factory: sessionmaker[Session], inc_id: str
) -> None:
    act(factory, inc_id, "close", "wang", close=close_as("duplicate"))
    with pytest.raises(Conflict) as err:
        act(factory, inc_id, "acknowledge", "li", version=1)
    assert (err.value.by, err.value.action, err.value.current_version) == ("wang", "close", 2)
    assert "wang" in str(err.value) and "close" in str(err.value)


def test_escalation_raises_one_step_per_delay(factory: sessionmaker[Session]) -> None:
    a = make_alert(severity="medium")
    store(factory, a)
    with factory() as s:
        t0 = s.get(Incident, a.id).state_since  # type: ignore[union-attr]
    delays = {"medium": 300.0, "high": 60.0}.get
    for dt, severity in (
        (100, "medium"),
        (301, "high"),
        (330, "high"),
        (362, "critical"),
        (9999, "critical"),
    ):
        with transaction(factory) as s:
            escalation.escalate_due(s, delays, now=t0 + timedelta(seconds=dt))
        with factory() as s:
            assert s.get(Incident, a.id).severity == severity, dt  # type: ignore[union-attr]


def test_a_snoozed_camera_is_stored_but_not_announced(factory: sessionmaker[Session]) -> None:
    from alerts.consumer import Delivery
    from alerts.store.consumer import store_alerts

    with transaction(factory) as s:
        snoozes.snooze(s, "gate-north", minutes=30, by="wang", reason="lens cleaning")
    quiet, loud = make_alert(), make_alert(camera_id="lobby")
    with transaction(factory) as s:
        n, events = store_alerts(s, [Delivery("1-0", quiet), Delivery("2-0", loud)])
    assert n == 2
    assert [e[1]["id"] for e in events] == [loud.id]
    later = datetime.now(UTC) + timedelta(minutes=31)
    with transaction(factory) as s:
        assert snoozes.active(s, later) == {}
        assert snoozes.expire(s, later) == 1
