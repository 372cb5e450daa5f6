"""Request and response bodies of ``/api/police/v1``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from alerts.model import ALERT_TYPES, Severity

CASE = Field(min_length=3, max_length=64, pattern=r"^[\w\-/.()（）\u4e00-\u9fff]+$")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TokenOut(BaseModel):
    """An OAuth2 access token (RFC 6749 §5.1)."""

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="seconds")
    scope: str = Field(description="granted scopes, space-separated")


class OAuthErrorOut(BaseModel):
    """An OAuth2 error (RFC 6749 §5.2)."""

    error: str = Field(description="invalid_request, invalid_client, invalid_scope, ...")
    error_description: str


class Jwk(BaseModel):
    """One public key (RFC 8037 OKP)."""

    kty: str
    crv: str
    x: str
    kid: str
    alg: str
    use: str


class JwksOut(BaseModel):
    """The platform's token-signing public keys."""

    keys: list[Jwk]


class EvidenceOut(BaseModel):
    """An evidence file of an alert, by hash (fetch it in an evidence package)."""

    kind: str
    sha256: str
    size: int
    media_type: str


class AlertOut(BaseModel):
    """One alert as the police see it."""

    id: str
    type: str
    severity: str
    state: str
    camera: str
    compound: str
    created_at: datetime
    last_seen_at: datetime
    occurrences: int
    summary: str
    place: str
    lat: float
    lon: float
    plate: str | None
    subject: dict[str, Any]
    evidence: list[EvidenceOut]


class AlertPage(BaseModel):
    """A page of alerts, newest first; pass ``next`` as ``cursor`` for the next page."""

    items: list[AlertOut]
    next: str | None


class VehicleReadOut(BaseModel):
    """One pass of a vehicle at a gate camera."""

    id: str
    plate: str
    distance: float = Field(description="confusion-aware distance to the plate asked for")
    confidence: float
    camera: str
    compound: str
    gate: str | None
    direction: str | None
    read_at: datetime
    crop_sha256: str | None


class VehiclePage(BaseModel):
    """A page of access-log reads, newest first."""

    items: list[VehicleReadOut]
    next: str | None


class EvidenceRequest(_In):
    """Which incidents to package, for which case."""

    incident_ids: list[str] = Field(min_length=1, max_length=100, description="alert ids")


class SubscriptionIn(_In):
    """Where to push and which alerts."""

    url: AnyHttpUrl = Field(description="HTTPS endpoint that receives signed POSTs")
    types: list[Literal[*ALERT_TYPES]] = Field(  # type: ignore[valid-type]
        default_factory=list, max_length=len(ALERT_TYPES), description="empty: every type"
    )
    compounds: list[str] = Field(
        default_factory=list, max_length=500, description="empty: the whole jurisdiction"
    )
    min_severity: Severity = "info"


class SubscriptionOut(BaseModel):
    """A subscription; ``secret`` is shown only when it is created."""

    id: str
    url: str
    types: list[str]
    compounds: list[str]
    min_severity: str
    active: bool
    created_at: datetime
    secret: str | None = Field(default=None, description="whsec_...: verify pushes with it")


class DeliveryOut(BaseModel):
    """One push message and how its delivery stands."""

    id: str = Field(description="webhook-id")
    alert_id: str
    event: str
    status: Literal["pending", "sent", "dead"]
    attempts: int
    next_at: datetime
    created_at: datetime
    sent_at: datetime | None
    last_error: str


class ReplayIn(_In):
    """Which deliveries to send again: the named ones, or every dead one when empty."""

    ids: list[str] = Field(default_factory=list, max_length=1000)


class ReplayOut(BaseModel):
    """How many deliveries were queued again."""

    queued: int


class WatchOrderIn(_In):
    """A watch order (布控) on a plate (a face: ``POST /watch-orders/faces``)."""

    plate: str = Field(min_length=5, max_length=16, description="e.g. 宁A12345")
    reason: str = Field(min_length=3, max_length=300)
    case_number: str = CASE
    expires_at: datetime = Field(description="when the order lapses (UTC, ISO 8601)")
    compounds: list[str] = Field(min_length=1, max_length=500, description="target compounds")


class FaceWatchOrderIn(_In):
    """A watch order (布控) on a face: one photo of the person, checked like enrolment."""

    photo: str = Field(
        min_length=16,
        max_length=70_000_000,
        description="the photo (JPEG, PNG, WebP ...), base64; a data: URL prefix is allowed. "
        "One frontal, sharp face of at least 16 px between the eyes, not cut off",
    )
    reason: str = Field(min_length=3, max_length=300)
    case_number: str = CASE
    legal_basis: str = Field(
        min_length=3, max_length=300, description="the law the order rests on (personal data)"
    )
    expires_at: datetime = Field(description="when the order lapses (UTC, ISO 8601)")
    compounds: list[str] = Field(min_length=1, max_length=500, description="target compounds")


class FaceOrderOut(BaseModel):
    """What a face order keeps of its photo (never the photo, never the embedding)."""

    model: str = Field(description="the embedder the template was made with")
    quality: float = Field(description="the photo's face quality score, 0-1")
    threshold: float = Field(description="cosine similarity a face must reach to hit")
    photo_sha256: str = Field(description="SHA-256 of the photo as posted")


class WatchOrderOut(BaseModel):
    """A watch order and whether it is in force."""

    id: str
    kind: Literal["plate", "face"]
    plate: str | None
    face: FaceOrderOut | None = Field(description="for a face order")
    reason: str
    case_number: str
    legal_basis: str = Field(description="empty for a plate order")
    compounds: list[str]
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    active: bool


class AuditEntryOut(BaseModel):
    """One entry of this client's audit trail."""

    seq: int
    at: datetime
    action: str
    target: str
    detail: dict[str, Any]
    hash: str


class AuditPage(BaseModel):
    """Entries newest first."""

    items: list[AuditEntryOut]
    next: int | None
