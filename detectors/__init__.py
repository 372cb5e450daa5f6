"""Models: object, face and plate detection; the model registry and runtimes.

Everything here turns images into :class:`detectors.detections.Detections`.
"""

from detectors.detections import NO_TRACK, Detections

__all__ = ["NO_TRACK", "Detections"]
