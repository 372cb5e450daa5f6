"""GA/T 1400 (视图库) settings of a site: the upper platform and each camera's ids.

Pure data: the password is never in the file, only the name of the environment
variable holding it (``password_env``).
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

_DIGITS20 = re.compile(r"^\d{20}$")


def check_id20(v: str, what: str) -> str:
    """``v`` when it is exactly 20 digits (a GB/T 28181 / GA/T 1400 code), else ValueError."""
    if not _DIGITS20.match(v):
        raise ValueError(f"{what} must be exactly 20 digits (GB/T 28181 coding), got {v!r}")
    return v


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class CameraCodes(_Model):
    """A camera's national ids: its GA/T 1400 device id and its GB/T 28181 channel."""

    device_id: str = Field(description="20-digit GA/T 1400 DeviceID of the camera")
    channel_id: str = Field(
        description="20-digit GB/T 28181 channel id, so the police side can open live video"
    )
    tollgate_id: str | None = Field(default=None, description="20-digit TollgateID of a gate")

    @field_validator("device_id", "channel_id", "tollgate_id")
    @classmethod
    def _digits(cls, v: str | None, info: object) -> str | None:
        name = getattr(info, "field_name", "id")
        return None if v is None else check_id20(v, name)


class Gat1400Site(_Model):
    """Shouwang as the lower platform (下级) of one upper view library."""

    platform_id: str = Field(description="this platform's 20-digit view-library id")
    upper_url: str = Field(description="upper platform base URL, e.g. http://10.1.2.3:8080")
    upper_id: str | None = Field(
        default=None, description="20-digit id of the upper platform (checked when it calls)"
    )
    user: str = Field(min_length=1, max_length=64, description="Digest user name")
    password_env: str = Field(
        default="SHOUWANG_GAT1400_PASSWORD",
        pattern=r"^[A-Z_][A-Z0-9_]*$",
        description="environment variable holding the Digest password (never the file)",
    )
    place_code: str = Field(
        default="000000",
        pattern=r"^\d{6}$",
        description="GB/T 2260 division code for ShotPlaceCode / PlaceCode",
    )
    keepalive_s: float = Field(default=60, gt=0, le=3600, description="keepalive period")
    retry_s: float = Field(default=10, gt=0, le=3600, description="wait after a failed call")
    timeout_s: float = Field(default=10, gt=0, le=120, description="per request")
    batch: int = Field(default=20, ge=1, le=500, description="records per push request")

    @field_validator("platform_id", "upper_id")
    @classmethod
    def _digits(cls, v: str | None, info: object) -> str | None:
        name = getattr(info, "field_name", "id")
        return None if v is None else check_id20(v, name)

    @field_validator("upper_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")) or "@" in v:
            raise ValueError("upper_url must be http(s)://host:port without credentials")
        return v.rstrip("/")
