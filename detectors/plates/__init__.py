"""Chinese licence plate reading: detection, rectification, grammar-constrained
recognition, type and colour, voting over time, and plate lists.

Start with :class:`detectors.plates.reader.PlateReader`.
"""

from detectors.plates.errors import PlateError

__all__ = ["PlateError"]
