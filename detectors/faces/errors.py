"""Errors of the face layer, all under the model layer's root :class:`ModelError`."""

from __future__ import annotations

from detectors.errors import ModelError


class FaceError(ModelError):
    """A face could not be found, embedded or matched as asked."""


class PhotoError(FaceError):
    """A photo given for enrolment or evaluation is unusable; the message names the file."""


class WatchlistError(FaceError):
    """A watchlist operation failed (unknown list or entry, duplicate name, bad store)."""
