"""The incident workflow: states, claims, closes, assignment, comments, legal hold.

States: ``new → acknowledged (claimed by one operator) → in_progress ⇄ on_hold →
closed``; a supervisor reopens a closed incident (back to ``new``). Closing needs a
reason (:data:`Close`: one model per reason, with the details that reason needs).
Every change names the incident version it was made on; when someone else changed it
first the change is refused with :class:`Conflict`, which says who changed it and how,
so the API answers 409 with that.

Who may do what (the API checks roles on the router; the rules that need the
incident's state live here): an operator acts only on incidents of their compounds
and, once an incident is claimed, only the claimer (or a supervisor) moves it on;
``assign`` and ``reopen`` are for supervisors and admins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from alerts.store import audit
from alerts.store.db import StoreError
from alerts.store.incidents import Activity, Comment, Incident
from alerts.store.users import User

Action = Literal["acknowledge", "start", "hold", "close", "reopen", "assign"]

#: action → (states it may start from, state it leads to; None = unchanged)
TRANSITIONS: dict[str, tuple[frozenset[str], str | None]] = {
    "acknowledge": (frozenset({"new"}), "acknowledged"),
    "start": (frozenset({"acknowledged", "on_hold"}), "in_progress"),
    "hold": (frozenset({"acknowledged", "in_progress"}), "on_hold"),
    "close": (frozenset({"new", "acknowledged", "in_progress", "on_hold"}), "closed"),
    "reopen": (frozenset({"closed"}), "new"),
    "assign": (frozenset({"new", "acknowledged", "in_progress", "on_hold"}), None),
}
SUPERVISING = frozenset({"supervisor", "admin"})
SUPERVISOR_ACTIONS = frozenset({"reopen", "assign"})


class WorkflowError(StoreError):
    """A workflow change that cannot be made (the message says why and what to do)."""


class NotFound(WorkflowError):
    """No such incident (or not one this user may see)."""


class NotAllowed(WorkflowError):
    """The change is not allowed in the incident's state or for this user."""


@dataclass(eq=False)
class Conflict(WorkflowError):
    """The incident changed since the version the change was made on.

    Attributes:
        by: who made the change that won; ``action`` what it was, ``at`` when.
    """

    incident_id: str
    version: int
    current_version: int
    by: str
    action: str
    at: datetime | None
    state: str

    def __str__(self) -> str:
        when = f" at {self.at.isoformat(timespec='seconds')}" if self.at else ""
        return (
            f"incident {self.incident_id} was changed by {self.by} ({self.action}){when} "
            f"after version {self.version}; it is now version {self.current_version}, "
            f"state {self.state}. Reload it and decide again."
        )


class _Close(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def note(self) -> str | None:
        """The free text kept with the close (cause, text or the duplicated incident)."""
        return None


_SOME_TEXT = r"\S"  # at least one character that is not a space


class CloseConfirmed(_Close):
    """It happened: a real incident."""

    reason: Literal["confirmed"]


class CloseFalseAlarm(_Close):
    """Nothing happened; ``cause`` says what set the alert off."""

    reason: Literal["false_alarm"]
    cause: str = Field(
        min_length=1,
        max_length=200,
        pattern=_SOME_TEXT,
        description="what set it off, e.g. 'shadow', 'cat', 'rain'",
    )

    def note(self) -> str | None:
        return self.cause


class CloseDuplicate(_Close):
    """The same incident as another one."""

    reason: Literal["duplicate"]
    duplicate_of: str | None = Field(
        default=None, pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$", description="the incident it repeats"
    )

    def note(self) -> str | None:
        return self.duplicate_of


class CloseTest(_Close):
    """A test alert (someone walked the fence on purpose)."""

    reason: Literal["test"]


class CloseOther(_Close):
    """Anything else; ``text`` says what."""

    reason: Literal["other"]
    text: str = Field(min_length=1, max_length=2000, pattern=_SOME_TEXT, description="why")

    def note(self) -> str | None:
        return self.text


Close = Annotated[
    CloseConfirmed | CloseFalseAlarm | CloseDuplicate | CloseTest | CloseOther,
    Field(discriminator="reason"),
]
CLOSE: TypeAdapter[Close] = TypeAdapter(Close)


def close_as(reason: str, **details: str) -> Close:
    """A close reason from plain values, e.g. ``close_as("false_alarm", cause="cat")``."""
    return CLOSE.validate_python({"reason": reason, **details})


def visible(user: User, inc: Incident) -> bool:
    """Whether ``user`` may see (and act on) the incident."""
    if user.role in SUPERVISING:
        return True
    return user.role == "operator" and inc.compound in (user.compounds or [])


def get_incident(session: Session, incident_id: str, user: User) -> Incident:
    """The incident, if the user may see it.

    Raises:
        NotFound: no such incident, or outside the user's compounds (same answer, so
            the id of another compound's incident reveals nothing).
    """
    inc = session.get(Incident, incident_id)
    if inc is None or not visible(user, inc):
        raise NotFound(f"no incident {incident_id!r} among the compounds you can see")
    return inc


def _conflict(session: Session, inc: Incident, version: int) -> Conflict:
    winner = session.execute(
        select(Activity)
        .where(Activity.incident_id == inc.id, Activity.version > version)
        .order_by(Activity.version, Activity.id)
        .limit(1)
    ).scalar()
    return Conflict(
        incident_id=inc.id,
        version=version,
        current_version=inc.version,
        by=winner.actor if winner else "someone",
        action=winner.action if winner else "a change",
        at=winner.at if winner else None,
        state=inc.state,
    )


def _check(user: User, inc: Incident, action: str, assignee: User | None) -> str:
    if action not in TRANSITIONS:
        raise NotAllowed(f"unknown action {action!r}; use one of {sorted(TRANSITIONS)}")
    sources, target = TRANSITIONS[action]
    if action in SUPERVISOR_ACTIONS and user.role not in SUPERVISING:
        raise NotAllowed(f"only a supervisor or admin may {action} an incident")
    if inc.state not in sources:
        raise NotAllowed(
            f"cannot {action} incident {inc.id} in state {inc.state!r} "
            f"(allowed from: {', '.join(sorted(sources))})"
        )
    if (
        user.role not in SUPERVISING
        and inc.assignee_id is not None
        and inc.assignee_id != user.id
        and action != "acknowledge"
    ):
        raise NotAllowed(
            f"incident {inc.id} is claimed by another operator; ask a supervisor to "
            "reassign it to you"
        )
    if action == "assign" and assignee is None:
        raise NotAllowed("assign needs the user to assign the incident to")
    return target or inc.state


def transition(
    session: Session,
    incident_id: str,
    action: str,
    *,
    version: int,
    user: User,
    close: Close | None = None,
    assignee: User | None = None,
    source: str = "",
    now: datetime | None = None,
) -> Incident:
    """Make one workflow change on ``version`` of the incident, audited.

    Raises:
        NotFound: no such incident for this user.
        NotAllowed: not allowed in this state or for this user (message says why).
        Conflict: someone changed the incident after ``version``.
    """
    now = now or datetime.now(UTC)
    inc = get_incident(session, incident_id, user)
    if inc.version != version:
        raise _conflict(session, inc, version)
    target = _check(user, inc, action, assignee)
    if action == "close" and close is None:
        raise NotAllowed("closing needs a reason: confirmed, false_alarm, duplicate, test, other")
    values: dict[str, object] = {"version": version + 1}
    if target != inc.state:
        values |= {"state": target, "state_since": now}
    if action == "acknowledge":
        values["assignee_id"] = user.id
    elif action == "assign" and assignee is not None:
        values["assignee_id"] = assignee.id
    elif action == "close" and close is not None:
        values |= {"close_reason": close.reason, "close_note": close.note(), "closed_at": now}
    elif action == "reopen":
        values |= {
            "close_reason": None,
            "close_note": None,
            "closed_at": None,
            "assignee_id": None,
            "escalated_at": None,
        }
    # The version check again, in the UPDATE itself: two writers racing past the read
    # above cannot both succeed (one row matches, the other gets rowcount 0).
    res = session.execute(
        update(Incident)
        .where(Incident.id == inc.id, Incident.version == version)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if res.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(inc)
        raise _conflict(session, inc, version)
    from_state = inc.state
    session.refresh(inc)
    detail: dict[str, object] = {}
    if close is not None and action == "close":
        detail = close.model_dump(exclude_none=True)
    if assignee is not None and action == "assign":
        detail = {"assignee": assignee.name}
    session.add(
        Activity(
            incident_id=inc.id,
            at=now,
            actor=user.name,
            action=action,
            from_state=from_state,
            to_state=inc.state,
            version=inc.version,
            detail=detail,
        )
    )
    audit.append(
        session,
        actor=user.name,
        action=f"incident.{action}",
        target=inc.id,
        detail={"from": from_state, "to": inc.state, "version": inc.version, **detail},
        source=source,
        at=now,
    )
    return inc


def add_comment(
    session: Session,
    incident_id: str,
    *,
    user: User,
    text: str,
    source: str = "",
    now: datetime | None = None,
) -> Comment:
    """Add an operator's comment (no version needed: comments never conflict)."""
    now = now or datetime.now(UTC)
    if not text.strip():
        raise NotAllowed("a comment needs some text")
    inc = get_incident(session, incident_id, user)
    c = Comment(incident_id=inc.id, at=now, author=user.name, text=text.strip())
    session.add(c)
    session.flush()
    session.add(
        Activity(
            incident_id=inc.id,
            at=now,
            actor=user.name,
            action="comment",
            version=inc.version,
            detail={"comment_id": c.id},
        )
    )
    audit.append(
        session,
        actor=user.name,
        action="incident.comment",
        target=inc.id,
        detail={"comment_id": c.id, "chars": len(c.text)},
        source=source,
        at=now,
    )
    return c


def set_legal_hold(
    session: Session,
    incident_id: str,
    *,
    user: User,
    hold: bool,
    note: str = "",
    source: str = "",
    now: datetime | None = None,
) -> Incident:
    """Put an incident on legal hold (nothing of it is deleted) or release it."""
    now = now or datetime.now(UTC)
    if user.role not in SUPERVISING:
        raise NotAllowed("only a supervisor or admin may change a legal hold")
    inc = get_incident(session, incident_id, user)
    inc.legal_hold = hold
    action = "legal_hold" if hold else "legal_hold_released"
    session.add(
        Activity(
            incident_id=inc.id,
            at=now,
            actor=user.name,
            action=action,
            version=inc.version,
            detail={"note": note} if note else {},
        )
    )
    audit.append(
        session,
        actor=user.name,
        action=f"incident.{action}",
        target=inc.id,
        detail={"note": note} if note else {},
        source=source,
        at=now,
    )
    return inc
