"""Every store model, imported once so ``Base.metadata`` knows all tables."""

from __future__ import annotations

from alerts.store.access_log import VehicleRead
from alerts.store.audit import AuditEntry, AuditHead
from alerts.store.incidents import Activity, Comment, EvidenceLink, Incident, IncidentUpdate
from alerts.store.snoozes import CameraSnooze
from alerts.store.users import User, UserSession

__all__ = [
    "Activity",
    "AuditEntry",
    "AuditHead",
    "CameraSnooze",
    "Comment",
    "EvidenceLink",
    "Incident",
    "IncidentUpdate",
    "User",
    "UserSession",
    "VehicleRead",
]
