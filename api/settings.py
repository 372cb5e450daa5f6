"""The web service's settings: one pydantic model, read from the environment.

Every field has an environment variable (``SHOUWANG_<FIELD>``, and ``REDIS_URL`` for
Redis, as the workers use); :func:`api.app.create_app` takes a :class:`Settings`, so a
test builds one directly with its own database and Redis database.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from alerts.police.config import PoliceSettings
from alerts.publisher import DEFAULT_REDIS_URL
from api.live.settings import LiveSettings


class EscalationPolicy(BaseModel):
    """Seconds an incident may stay ``new`` before its severity rises one step.

    ``None`` never escalates that severity (``critical`` is the top already).
    """

    model_config = ConfigDict(extra="forbid")

    info: float | None = Field(default=None, gt=0, le=86_400, description="seconds, or off")
    low: float | None = Field(default=900, gt=0, le=86_400, description="seconds, or off")
    medium: float | None = Field(default=300, gt=0, le=86_400, description="seconds, or off")
    high: float | None = Field(default=60, gt=0, le=86_400, description="seconds, or off")

    def after(self, severity: str) -> float | None:
        """The delay for ``severity`` (None: never)."""
        value = getattr(self, severity, None)
        return float(value) if isinstance(value, int | float) else None


class RetentionPolicy(BaseModel):
    """How long closed incidents, their evidence and the access log are kept (days).

    An incident that is not closed is never purged; one on legal hold never is either.
    ``per_type`` overrides the default for closed incidents of one alert type, except
    false alarms and test alerts, which follow their own (shorter) limits.
    """

    model_config = ConfigDict(extra="forbid")

    false_alarm_days: float = Field(default=30, gt=0, le=3650, description="closed false alarms")
    test_days: float = Field(default=7, gt=0, le=3650, description="closed test alerts")
    confirmed_days: float = Field(default=180, gt=0, le=3650, description="confirmed incidents")
    default_days: float = Field(default=90, gt=0, le=3650, description="other closed incidents")
    per_type: dict[str, float] = Field(
        default_factory=dict, description="alert type → days for its closed incidents"
    )
    access_log_days: float = Field(default=90, gt=0, le=3650, description="vehicle access log")


class Settings(BaseSettings):
    """Everything the web service needs; unknown fields are refused."""

    model_config = SettingsConfigDict(
        env_prefix="SHOUWANG_", extra="forbid", env_nested_delimiter="__"
    )

    database_url: str = Field(
        default="",
        description="SHOUWANG_DATABASE_URL: postgresql+psycopg://...; empty = SQLite in data_dir",
    )
    redis_url: str = Field(
        default=DEFAULT_REDIS_URL,
        validation_alias=AliasChoices("redis_url", "REDIS_URL", "SHOUWANG_REDIS_URL"),
        description="REDIS_URL of the site's Redis database",
    )
    data_dir: Path = Field(default=Path(".shouwang"), description="SHOUWANG_DATA_DIR")
    site: Path | None = Field(default=None, description="site file (cameras, compounds, lists)")
    session_ttl_s: int = Field(
        default=12 * 3600, ge=60, le=30 * 86400, description="login lifetime in seconds"
    )
    cookie_secure: bool = Field(
        default=False, description="mark cookies Secure (set it when served over HTTPS)"
    )
    metrics_token: SecretStr | None = Field(
        default=None, description="bearer token Prometheus presents on /metrics"
    )
    run_consumer: bool = Field(
        default=False, description="run the store consumer in this process (shouwang serve)"
    )
    consumer_name: str = Field(
        default="", max_length=64, description="store consumer name; host name if empty"
    )
    run_scheduler: bool = Field(
        default=False, description="run escalation, snooze expiry and the retention purge"
    )
    scheduler_interval_s: float = Field(
        default=2.0, gt=0, le=600, description="how often escalation is checked"
    )
    purge_interval_s: float = Field(
        default=3600, gt=0, le=7 * 86400, description="how often the retention purge runs"
    )
    escalation: EscalationPolicy = Field(default_factory=EscalationPolicy)
    retention: RetentionPolicy = Field(default_factory=RetentionPolicy)
    page_limit: int = Field(default=50, ge=1, le=500, description="default page size")
    police: PoliceSettings = Field(default_factory=PoliceSettings, description="/api/police/v1")
    live: LiveSettings = Field(default_factory=LiveSettings, description="the live view")

    @property
    def evidence_dir(self) -> Path:
        """Where the workers keep evidence files (``<data dir>/evidence``)."""
        return self.data_dir / "evidence"
