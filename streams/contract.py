"""The ``Source`` contract: a camera as the pipeline sees it."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from streams.frame import Frame
from streams.health import Health


@runtime_checkable
class Source(Protocol):
    """A camera as the pipeline sees it.

    Example:
        >>> with open_source("gate", "rtsp://cam/101") as src:  # doctest: +SKIP
        ...     frame = src.read(timeout=1.0)  # newest frame, or None after 1 s
    """

    @property
    def camera_id(self) -> str:
        """The site's camera id."""
        ...

    def start(self) -> None:
        """Start the decoding thread; returns at once (connection happens in the thread)."""
        ...

    def stop(self, timeout: float | None = None) -> bool:
        """Stop the thread; True when it has ended within ``timeout`` seconds."""
        ...

    def read(self, timeout: float) -> Frame | None:
        """The newest frame not yet returned, waiting up to ``timeout`` s; None if none came.

        Raises:
            StreamError: the source has failed for good (the message says why).
            StreamEnded: the source was stopped or its file ended.
        """
        ...

    def health(self) -> Health:
        """A snapshot of the source's state and counters."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
