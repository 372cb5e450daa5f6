"""Anomaly detection: rules on tracks and zones, a scene anomaly score, camera tamper.

- :class:`RuleEngine` runs a camera's configured rules (``Camera.rules`` in the site
  file) on tracked detections: ``engine.update(dets, timestamp, image) -> events``.
- :class:`pipeline.anomaly.scene.SceneScorer` scores each frame's motion against what
  the stream has shown so far; no labelled training data.
- :class:`pipeline.anomaly.tamper.TamperDetector` raises covered-lens, defocus,
  view-change and signal-loss events.

Every source emits :class:`AnomalyEvent`; every error is an :class:`AnomalyError`.
"""

from pipeline.anomaly.engine import CHECKS, RuleEngine
from pipeline.anomaly.events import AnomalyError, AnomalyEvent

__all__ = ["CHECKS", "AnomalyError", "AnomalyEvent", "RuleEngine"]
