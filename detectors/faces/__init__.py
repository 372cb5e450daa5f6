"""Faces: detection with landmarks, alignment, quality gate, embedding, watchlist search.

The pieces, in the order a frame meets them: :class:`CenterFaceDetector` →
:class:`QualityGate` → an embedder (default :data:`DEFAULT_EMBEDDER`, a
:class:`FusionEmbedder` of dlib and three converted ONNX models; bundled by
:class:`FaceAnalyzer`) → :class:`TrackFaceMatcher` over a :class:`WatchlistMatcher`
loaded from a :class:`WatchlistStore`.
"""

from detectors.faces.analyzer import ACCEPTED, FaceAnalyzer
from detectors.faces.detector import CenterFaceConfig, CenterFaceDetector
from detectors.faces.embedder import (
    DEFAULT_EMBEDDER,
    EMBEDDERS,
    DlibConfig,
    DlibEmbedder,
    FaceEmbedder,
    FusionConfig,
    FusionEmbedder,
    OnnxEmbedder,
    OnnxEmbedderConfig,
)
from detectors.faces.errors import FaceError, PhotoError, WatchlistError
from detectors.faces.matcher import Match, WatchlistMatcher
from detectors.faces.quality import QualityConfig, QualityGate
from detectors.faces.search import FaceIndex, Hit
from detectors.faces.tracking import MatchEvent, TrackFaceMatcher, TrackMatchConfig
from detectors.faces.watchlist import WatchlistStore

__all__ = [
    "ACCEPTED",
    "DEFAULT_EMBEDDER",
    "EMBEDDERS",
    "CenterFaceConfig",
    "CenterFaceDetector",
    "DlibConfig",
    "DlibEmbedder",
    "FaceAnalyzer",
    "FaceEmbedder",
    "FaceError",
    "FaceIndex",
    "FusionConfig",
    "FusionEmbedder",
    "Hit",
    "Match",
    "MatchEvent",
    "OnnxEmbedder",
    "OnnxEmbedderConfig",
    "PhotoError",
    "QualityConfig",
    "QualityGate",
    "TrackFaceMatcher",
    "TrackMatchConfig",
    "WatchlistError",
    "WatchlistMatcher",
    "WatchlistStore",
]
