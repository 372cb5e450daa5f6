"""Faces: detection with landmarks, alignment, quality gate, embedding, watchlist search.

The pieces, in the order a frame meets them: :class:`CenterFaceDetector` →
:class:`QualityGate` → :class:`DlibEmbedder` / :class:`OnnxEmbedder` (bundled by
:class:`FaceAnalyzer`) → :class:`TrackFaceMatcher` over a :class:`WatchlistMatcher`
loaded from a :class:`WatchlistStore`.
"""

from detectors.faces.analyzer import ACCEPTED, FaceAnalyzer
from detectors.faces.detector import CenterFaceConfig, CenterFaceDetector
from detectors.faces.embedder import (
    DlibConfig,
    DlibEmbedder,
    FaceEmbedder,
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
    "CenterFaceConfig",
    "CenterFaceDetector",
    "DlibConfig",
    "DlibEmbedder",
    "FaceAnalyzer",
    "FaceEmbedder",
    "FaceError",
    "FaceIndex",
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
