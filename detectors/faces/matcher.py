"""Matching embeddings against every watchlist, each with its own threshold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from detectors.faces.search import FaceIndex
from detectors.faces.watchlist import DEFAULT_THRESHOLDS, FALLBACK_THRESHOLD, WatchlistStore


@dataclass(frozen=True, slots=True)
class Match:
    """A face matched to a watchlist entry."""

    list_id: str
    kind: str  # "residents" or "persons_of_interest"
    entry_id: int | str  # a store entry's id; a police watch order's id (a ULID string)
    name: str
    similarity: float
    threshold: float


class FaceMatcherLike(Protocol):
    """What :class:`~detectors.faces.tracking.TrackFaceMatcher` matches tracks against:
    a :class:`WatchlistMatcher`, or a wrapper adding live lists (the police watch
    orders of ``alerts.police.watch.PoliceFaceLists``)."""

    def refresh(self) -> bool:
        """Reload what changed; whether anything did."""
        ...

    def match(self, embedding: NDArray[np.float32]) -> Match | None:
        """The best entry at or above its threshold, or ``None``."""
        ...


@dataclass(slots=True)
class _List:
    id: str
    kind: str
    threshold: float
    index: FaceIndex
    names: dict[int, str]


class WatchlistMatcher:
    """Searches one embedding against every list loaded from a store.

    Example:
        >>> m = WatchlistMatcher.from_store(WatchlistStore(), model="dlib-resnet-128")
        >>> m.match(embedding)  # Match(...) or None
    """

    def __init__(self, model: str) -> None:
        self.model = model
        self._lists: list[_List] = []
        self._store: WatchlistStore | None = None
        self._generation = -1

    @classmethod
    def from_store(cls, store: WatchlistStore, model: str) -> WatchlistMatcher:
        """Load every list of ``store`` (thresholds: the list's, else the model default)."""
        m = cls(model)
        m._store = store
        m.refresh()
        return m

    def refresh(self) -> bool:
        """Reload from the store if anything changed since the last load.

        Costs one small query when nothing changed. A worker calls it periodically so an
        enrolment shows up, and a removed person's embeddings leave its memory, without a
        restart. Returns whether it reloaded.
        """
        if self._store is None:
            return False
        gen = self._store.generation()
        if gen == self._generation:
            return False
        lists = []
        for info in self._store.lists():
            idx, names = self._store.index(info.id, self.model)
            thr = info.threshold if info.threshold is not None else self.default_threshold
            lists.append(_List(info.id, info.kind, thr, idx, names))
        self._lists, self._generation = lists, gen
        return True

    def add_list(
        self,
        list_id: str,
        kind: str,
        threshold: float | None,
        index: FaceIndex,
        names: dict[int, str],
    ) -> None:
        """Add (or replace) one list."""
        thr = threshold if threshold is not None else self.default_threshold
        self._lists = [x for x in self._lists if x.id != list_id]
        self._lists.append(_List(list_id, kind, thr, index, names))

    @property
    def default_threshold(self) -> float:
        """Threshold for lists that set none."""
        return DEFAULT_THRESHOLDS.get(self.model, FALLBACK_THRESHOLD)

    def best(self, embedding: NDArray[np.float32]) -> Match | None:
        """The most similar entry over all lists, whatever the thresholds."""
        found = [m for lst in self._lists if (m := self._top(lst, embedding))]
        return max(found, key=lambda m: m.similarity, default=None)

    def match(self, embedding: NDArray[np.float32]) -> Match | None:
        """The best entry at or above its list's threshold, or ``None``.

        Among lists whose best hit clears the threshold, the highest similarity wins.
        """
        found = [m for lst in self._lists if (m := self._top(lst, embedding))]
        found = [m for m in found if m.similarity >= m.threshold]
        return max(found, key=lambda m: m.similarity, default=None)

    @staticmethod
    def _top(lst: _List, embedding: NDArray[np.float32]) -> Match | None:
        if not len(lst.index):
            return None
        hits = lst.index.search(embedding, k=1)
        if not hits:
            return None
        h = hits[0]
        return Match(
            lst.id, lst.kind, h.label, lst.names.get(h.label, "?"), h.similarity, lst.threshold
        )
