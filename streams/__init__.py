"""Cameras in: RTSP and file sources, reconnection, frame timing and per-camera health.

The pipeline sees a camera as a :class:`Source`: ``start()``, ``read(timeout)`` for the
newest frame, ``health()``, ``stop()``. :func:`open_source` picks the implementation by
URL; :func:`open_site_sources` opens every enabled camera of a site file.
"""

from streams.contract import Source
from streams.errors import StreamEnded, StreamError
from streams.factory import SourceGroup, open_site_sources, open_source
from streams.file import FileSource
from streams.frame import Frame
from streams.health import Health, State, StreamMetrics, SurplusFrames
from streams.options import SourceOptions
from streams.redact import Redactor, redact_url
from streams.rtsp import RtspSource
from streams.source import DecodingSource

__all__ = [
    "DecodingSource",
    "FileSource",
    "Frame",
    "Health",
    "Redactor",
    "RtspSource",
    "Source",
    "SourceGroup",
    "SourceOptions",
    "State",
    "StreamEnded",
    "StreamError",
    "StreamMetrics",
    "SurplusFrames",
    "open_site_sources",
    "open_source",
    "redact_url",
]
