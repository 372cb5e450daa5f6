"""How a source connects, waits, retries and paces: one validated options model."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class SourceOptions(BaseModel):
    """Options for one camera source; the defaults suit a live camera on a LAN.

    Example:
        >>> SourceOptions(read_timeout_s=2, backoff_max_s=5).transport
        'tcp'
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    transport: Literal["tcp", "udp"] = Field(
        default="tcp",
        description=(
            "RTSP transport. TCP (interleaved) survives packet loss and NAT; UDP has less "
            "latency on a clean LAN but loses frames to any drop"
        ),
    )
    open_timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=120,
        description="seconds to connect, negotiate and read the first packets before giving up",
    )
    read_timeout_s: float = Field(
        default=3.0,
        gt=0,
        le=120,
        description=(
            "seconds without a packet before a live stream counts as stalled and is reopened; "
            "also the longest stop() waits for a blocked read"
        ),
    )
    backoff_initial_s: float = Field(
        default=0.25, gt=0, le=60, description="first delay before reconnecting"
    )
    backoff_max_s: float = Field(
        default=1.0,
        gt=0,
        le=300,
        description=(
            "longest delay between reconnect attempts; delays double from backoff_initial_s "
            "up to this, each scaled by a random factor in [0.5, 1] (jitter) so cameras "
            "behind one failed switch do not reconnect in lockstep"
        ),
    )
    connect_retries: int | None = Field(
        default=None,
        ge=0,
        description=(
            "consecutive failed connection attempts tolerated before the source gives up "
            "(state 'failed'); None retries for ever, as a camera that is down comes back"
        ),
    )
    realtime: bool = Field(
        default=True,
        description=(
            "files only: play at the clip's own frame rate, dropping frames a slow reader "
            "misses (like a camera); false reads as fast as the reader takes frames, losing none"
        ),
    )
    loop: bool = Field(default=False, description="files only: start again at the end")
    max_fps: float | None = Field(
        default=None,
        gt=0,
        le=240,
        description=(
            "deliver at most this many frames per second of stream time (decimation before "
            "colour conversion); None delivers every decoded frame"
        ),
    )

    depacketiser: Literal["auto", "ffmpeg"] = Field(
        default="auto",
        description=(
            "RTSP over TCP with H.264: 'auto' reads RTP itself and hands each picture to "
            "the decoder as soon as its last packet (the RTP marker bit) arrives, one frame "
            "interval sooner than FFmpeg's demuxer, falling back to FFmpeg for other "
            "codecs, UDP, or a camera whose marker bits are unreliable; 'ffmpeg' always "
            "uses FFmpeg's RTSP demuxer"
        ),
    )

    hwaccel: Literal["none", "cuda"] = Field(
        default="none",
        description=(
            "decode on the GPU through PyAV's CUDA hwaccel (NVDEC); where the wheel or the "
            "machine lacks it, decoding stays on the CPU and one logged line says why"
        ),
    )

    @model_validator(mode="after")
    def _backoff(self) -> SourceOptions:
        if self.backoff_initial_s > self.backoff_max_s:
            raise ValueError(
                f"backoff_initial_s ({self.backoff_initial_s}) must not exceed "
                f"backoff_max_s ({self.backoff_max_s})"
            )
        return self
