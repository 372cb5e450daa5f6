"""Settings of the police liaison API (``Settings.police``, env ``SHOUWANG_POLICE__*``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from alerts.police.push import PushPolicy


class PoliceSettings(BaseModel):
    """Tokens, limits and pushes of ``/api/police/v1``."""

    model_config = ConfigDict(extra="forbid")

    token_ttl_s: int = Field(
        default=600, ge=300, le=900, description="access token lifetime (5-15 minutes)"
    )
    key_publish_ahead_s: float = Field(
        default=300,
        ge=0,
        le=86_400,
        description="a rotated key is in the JWKS this long before it signs",
    )
    max_body_bytes: int = Field(
        default=1 << 20, ge=1024, le=64 << 20, description="largest request body accepted"
    )
    max_photo_bytes: int = Field(
        default=8_000_000,
        ge=10_000,
        le=50_000_000,
        description="largest photo of a face watch order (decoded bytes); that route's body "
        "limit is its base64 size plus 64 KiB",
    )
    max_package_incidents: int = Field(
        default=100, ge=1, le=10_000, description="incidents in one evidence package"
    )
    token_rate_per_minute: int = Field(
        default=60, ge=1, le=100_000, description="token requests per client id per minute"
    )
    client_cache_s: float = Field(
        default=5.0,
        ge=0,
        le=60,
        description="longest a client row is used from memory (0: read on every call); "
        "revocations are seen at once through the Redis epoch, within this if Redis was away",
    )
    run_push: bool = Field(
        default=True, description="run the push fan-out and sender with the scheduler"
    )
    push_start_id: str = Field(
        default="$", description="where a new push group starts on the alert stream"
    )
    push: PushPolicy = Field(default_factory=PushPolicy)
    push_hosts: list[str] = Field(
        default_factory=list,
        max_length=1000,
        description="hosts a push subscription may point at: IPs or networks (CIDR) and "
        "names (*.example for subdomains); empty = any host that is not loopback, "
        "link-local, unspecified, multicast or reserved (alerts/police/targets.py)",
    )

    @property
    def max_photo_body_bytes(self) -> int:
        """The body limit of ``POST /watch-orders/faces`` (a base64 photo in JSON)."""
        return (self.max_photo_bytes + 2) // 3 * 4 + (64 << 10)
