"""The live view's settings: ``Settings.live`` (environment ``SHOUWANG_LIVE__<FIELD>``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class IceServer(BaseModel):
    """A STUN or TURN server for viewers outside the compound's network."""

    model_config = ConfigDict(extra="forbid")

    urls: list[str] = Field(min_length=1, description="stun:host:port / turn:host:port?...")
    username: str | None = Field(default=None, description="TURN user name")
    credential: SecretStr | None = Field(default=None, description="TURN password")


class LiveSettings(BaseModel):
    """The live view (``SHOUWANG_LIVE__<FIELD>``)."""

    model_config = ConfigDict(extra="forbid")

    grace_s: float = Field(
        default=15.0, ge=0, le=3600, description="camera kept open after the last viewer leaves"
    )
    ice_servers: list[IceServer] = Field(
        default_factory=list,
        description="STUN/TURN servers; none by default (an offline compound reaches none)",
    )
    transcode_cap: int = Field(
        default=4, ge=0, le=64, description="viewers per stream when it must be transcoded"
    )
    snapshot_idle_s: float = Field(
        default=20.0, gt=0, le=600, description="a snapshot session ends this long after its last"
    )
    overlay_wait_s: float = Field(
        default=15.0, gt=0, le=300, description="overlay event stream: keep-alive interval"
    )
