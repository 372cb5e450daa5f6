"""The operator JSON API's request and response bodies (the OpenAPI contract)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from alerts.store.incidents import Incident
from alerts.store.workflow import Close


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class LoginIn(BaseModel):
    """Operator login."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, description="user name")
    password: str = Field(min_length=1, max_length=1024, description="password")


class UserOut(_Out):
    """A user as others see them (never the password hash)."""

    id: int
    name: str
    role: str
    compounds: list[str]
    active: bool


class IncidentOut(_Out):
    """An incident in a list."""

    id: str = Field(description="alert ULID")
    type: str
    severity: str = Field(description="current severity (after escalation)")
    original_severity: str
    state: Literal["new", "acknowledged", "in_progress", "on_hold", "closed"]
    version: int = Field(description="send it back with every change")
    camera: str
    compound: str
    assignee: str | None = Field(default=None, description="user name of the claimer")
    close_reason: str | None
    close_note: str | None
    created_at: datetime
    last_seen_at: datetime
    state_since: datetime
    escalated_at: datetime | None
    closed_at: datetime | None
    update_count: int
    occurrences: int
    plate: str | None
    summary: str
    place: str
    lat: float
    lon: float
    legal_hold: bool
    snoozed: bool

    @classmethod
    def of(cls, inc: Incident, names: dict[int, str]) -> IncidentOut:
        """From the row, with the assignee's name looked up in ``names``."""
        out = cls.model_validate(inc)
        if inc.assignee_id is not None:
            out.assignee = names.get(inc.assignee_id)
        return out


class IncidentPage(BaseModel):
    """One page of incidents, newest first."""

    items: list[IncidentOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")


class EvidenceOut(_Out):
    """An evidence file of an incident; fetch it at ``/api/evidence/{sha256}``."""

    sha256: str
    kind: str
    size: int
    media_type: str


class ActivityOut(_Out):
    """One entry of the incident's activity log."""

    at: datetime
    actor: str
    action: str
    from_state: str | None
    to_state: str | None
    version: int
    detail: dict[str, Any]


class CommentOut(_Out):
    """An operator's comment."""

    id: int
    at: datetime
    author: str
    text: str


class UpdateOut(_Out):
    """One publication of the alert (0 = the first)."""

    update_count: int
    severity: str
    occurrences: int
    detected_at: datetime
    stored_at: datetime


class IncidentDetail(IncidentOut):
    """An incident with its alert, evidence, updates, activity and comments."""

    alert: dict[str, Any] = Field(description="the latest Alert JSON")
    evidence: list[EvidenceOut]
    updates: list[UpdateOut]
    activity: list[ActivityOut]
    comments: list[CommentOut]


class TransitionIn(BaseModel):
    """A workflow change made on a version of the incident."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["acknowledge", "start", "hold", "close", "reopen", "assign"] = Field(
        description="acknowledge (claim), start, hold, close, reopen, assign"
    )
    version: int = Field(ge=1, le=2**31 - 1, description="the version you saw")
    close: Close | None = Field(default=None, description="required for close")
    assignee: str | None = Field(
        default=None, max_length=64, description="user name, required for assign"
    )


class ConflictOut(BaseModel):
    """409: someone else changed the incident first."""

    detail: str = Field(description="who changed it, how, and what to do")
    changed_by: str
    action: str
    at: datetime | None
    current_version: int
    state: str


class CommentIn(BaseModel):
    """A comment on an incident."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=4000)


class LegalHoldIn(BaseModel):
    """Put an incident on legal hold, or release it."""

    model_config = ConfigDict(extra="forbid")

    hold: bool
    note: str = Field(default="", max_length=500, description="case number, requester")
