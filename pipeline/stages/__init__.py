"""Per-camera stages after tracking: anomaly rules, watchlist faces, plates.

Each stage implements the worker's ``CameraStage`` protocol (``name``,
``update(frame, dets) -> list[Finding]``) and is built only for cameras whose site
config asks for it (``rules``, ``watchlists``, ``plate_lists``). Stages own no model:
heavy models (face analyzer, plate reader) are built once by the composition root
(``shouwang.runtime``) and shared by the stages of every camera of one worker thread.
"""

from pipeline.stages.anomaly import ALERT_TYPES, AnomalyStage
from pipeline.stages.faces import FaceStage
from pipeline.stages.hires import MainStream
from pipeline.stages.plates import PlateStage

__all__ = ["ALERT_TYPES", "AnomalyStage", "FaceStage", "MainStream", "PlateStage"]
