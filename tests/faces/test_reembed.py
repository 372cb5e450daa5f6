"""Changing the embedder: a list enrolled with another model is refused, or re-embedded."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from detectors.faces.analyzer import FaceAnalyzer
from detectors.faces.enrol import enrol, reembed
from detectors.faces.errors import WatchlistError
from detectors.faces.matcher import WatchlistMatcher
from detectors.faces.watchlist import WatchlistStore
from shouwang.config.site import WatchlistRef


@pytest.fixture
def dlib_list(
    tmp_path: Path,
    dlib_analyzer: FaceAnalyzer,
    one_face: NDArray[np.uint8],
    write_image: Callable[[str, NDArray[np.uint8]], Path],
) -> Callable[[bool], WatchlistStore]:
    def make(store_photos: bool) -> WatchlistStore:
        store = WatchlistStore(tmp_path / f"data-{store_photos}")
        store.ensure_list(
            WatchlistRef(id="poi", kind="persons_of_interest", store_photos=store_photos)
        )
        enrol(store, dlib_analyzer, "poi", "Z", [write_image("z.jpg", one_face)])
        return store

    return make


def test_another_embedder_refuses_the_list_with_a_clear_message(
    dlib_list: Callable[[bool], WatchlistStore],
    analyzer: FaceAnalyzer,
    one_face: NDArray[np.uint8],
    write_image: Callable[[str, NDArray[np.uint8]], Path],
) -> None:
    store = dlib_list(False)
    assert analyzer.embedder.name != "dlib-resnet-128"
    msg = r"enrolled with embedder dlib-resnet-128, not 'arcface-w600k-mbf'; embeddings of different models are not comparable"
    with pytest.raises(WatchlistError, match=msg):
        WatchlistMatcher.from_store(store, analyzer.embedder.name)
    with pytest.raises(WatchlistError, match="faces reembed poi"):
        enrol(store, analyzer, "poi", "Y", [write_image("y.jpg", one_face)])
    with pytest.raises(WatchlistError, match=r"keeps no enrolment photos.*re-enrol its 1 people"):
        reembed(store, analyzer, "poi")
    assert store.models("poi") == {"dlib-resnet-128": 1}  # nothing changed


def test_kept_photos_are_re_embedded_with_the_new_model(
    dlib_list: Callable[[bool], WatchlistStore], analyzer: FaceAnalyzer, one_face: NDArray[np.uint8]
) -> None:
    store = dlib_list(True)
    assert reembed(store, analyzer, "poi") == 1
    assert store.models("poi") == {analyzer.embedder.name: 1}  # the dlib rows are gone
    matcher = WatchlistMatcher.from_store(store, analyzer.embedder.name)
    face = analyzer.analyze(one_face).data["embedding"][0]
    m = matcher.match(face)
    assert m is not None and m.name == "Z" and m.similarity > 0.99
    with pytest.raises(WatchlistError, match="enrolled with embedder arcface-w600k-mbf"):
        WatchlistMatcher.from_store(store, "dlib-resnet-128")
