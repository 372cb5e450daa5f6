"""Cameras in: RTSP and file sources, reconnection, frame timing and per-camera health."""

from streams.errors import StreamError
from streams.frame import Frame

__all__ = ["Frame", "StreamError"]
