"""The root exception of the plate reader."""

from __future__ import annotations

from detectors.errors import ModelError


class PlateError(ModelError):
    """A plate image, list file or model could not be used; the message names which."""
