"""The root exception of the alerts package."""

from __future__ import annotations


class AlertError(Exception):
    """Anything the alerts package raises on purpose (bad input, bad stored data)."""


class LocationError(AlertError):
    """A point could not be placed on the ground (bad box, calibration that fails)."""


class EvidenceError(AlertError):
    """Evidence could not be encoded or stored."""
