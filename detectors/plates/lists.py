"""Resident, visitor and blacklist plate lists with fuzzy matching.

A list file holds one plate per line, optionally followed by ``,comment``; blank lines
and lines starting with ``#`` are ignored. The site file names the lists
(``plate_lists: [{id, kind, path, max_distance}]``, see
:class:`shouwang.config.site.PlateListRef`).

Matching uses a weighted edit distance: insertions and deletions cost 1, substituting
one character for another costs 1, except the pairs cameras and recognisers really
confuse (``0/D``, ``8/B``, ``2/Z``, ``5/S``, ``1/7`` and a few more), which cost
:data:`CONFUSION_COST`. With the default limit of 1.0 (inclusive), ``京A12345`` matches ``京A1Z345``
(distance 0.3) and ``京A19345`` (1.0), but not ``京A19395`` (2.0).

Example:
    >>> lists = PlateLists.from_site(site, site_dir)            # doctest: +SKIP
    >>> [m.list_id for m in lists.match("宁A1Z345")]            # doctest: +SKIP
    ['residents']
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from detectors.plates.errors import PlateError
from detectors.plates.grammar import normalise

if TYPE_CHECKING:
    from shouwang.config.site import PlateListRef, Site

ListKind = Literal["resident", "visitor", "blacklist"]

#: Cost of substituting one character of a confusable pair for the other.
CONFUSION_COST = 0.3
#: Confusable pairs: shapes recognisers and people mix up on plates.
CONFUSIONS: tuple[tuple[str, str], ...] = (
    ("0", "D"),
    ("0", "Q"),
    ("D", "Q"),
    ("8", "B"),
    ("2", "Z"),
    ("5", "S"),
    ("1", "7"),
    ("1", "T"),
    ("6", "G"),
    ("4", "A"),
    ("0", "U"),
    ("3", "8"),
    # province characters that look alike at low resolution
    ("京", "豫"),
    ("鄂", "鲁"),
    ("浙", "湘"),
    ("皖", "晋"),
    ("苏", "赣"),
)
_PAIRS = {frozenset(p) for p in CONFUSIONS}


def substitution_cost(a: str, b: str) -> float:
    """0 for equal characters, :data:`CONFUSION_COST` for a confusable pair, else 1."""
    if a == b:
        return 0.0
    return CONFUSION_COST if frozenset((a, b)) in _PAIRS else 1.0


def weighted_distance(a: str, b: str) -> float:
    """Edit distance with confusion-aware substitution costs (Levenshtein otherwise)."""
    prev = [float(j) for j in range(len(b) + 1)]
    for i, ca in enumerate(a, start=1):
        cur = [float(i)] + [0.0] * len(b)
        for j, cb in enumerate(b, start=1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + substitution_cost(ca, cb))
        prev = cur
    return prev[-1]


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One plate in a list file."""

    plate: str
    comment: str
    line: int


@dataclass(frozen=True, slots=True)
class ListMatch:
    """A reading matched a list entry.

    Attributes:
        list_id: the list's id in the site file.
        kind: ``resident``, ``visitor`` or ``blacklist``.
        entry: the plate as written in the list.
        comment: the entry's comment.
        read: the plate as read.
        distance: weighted edit distance (0 = exact).
    """

    list_id: str
    kind: ListKind
    entry: str
    comment: str
    read: str
    distance: float


@dataclass(frozen=True, slots=True)
class PlateList:
    """One loaded list."""

    id: str
    kind: ListKind
    entries: tuple[ListEntry, ...]
    max_distance: float = 1.0

    @classmethod
    def load(cls, path: Path, *, id: str, kind: ListKind, max_distance: float = 1.0) -> PlateList:
        """Read a list file.

        Raises:
            PlateError: the file is missing or unreadable (naming it).
        """
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise PlateError(f"plate list {id!r}: cannot read {path}: {exc.strerror}") from exc
        return cls(id, kind, tuple(parse_entries(text.splitlines())), max_distance)

    def match(self, plate: str) -> ListMatch | None:
        """The closest entry within ``max_distance``, or ``None``."""
        read = normalise(plate)
        best: ListMatch | None = None
        for e in self.entries:
            if abs(len(e.plate) - len(read)) > self.max_distance:
                continue
            d = weighted_distance(read, e.plate)
            if d <= self.max_distance + 1e-9 and (best is None or d < best.distance):
                best = ListMatch(self.id, self.kind, e.plate, e.comment, read, round(d, 3))
        return best


#: A comment ending in ``until=YYYY-MM-DD`` makes the entry expire after that day.
EXPIRY = re.compile(r"\buntil=(\d{4}-\d{2}-\d{2})\s*$")


def entry_expiry(comment: str) -> date | None:
    """The last day an entry is valid (its comment's ``until=YYYY-MM-DD``), if any."""
    m = EXPIRY.search(comment)
    if not m:
        return None
    try:
        return date.fromisoformat(m.group(1))
    except ValueError:
        return None


def parse_entries(lines: Iterable[str], today: date | None = None) -> list[ListEntry]:
    """Entries of a list file's lines (``PLATE[,comment]``, ``#`` comments).

    Entries whose comment ends in ``until=YYYY-MM-DD`` before ``today`` (the local date)
    are left out: an expired visitor pass no longer matches.
    """
    today = today or date.today()
    out = []
    for n, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        plate, _, comment = line.partition(",")
        plate = normalise(plate)
        until = entry_expiry(comment)
        if plate and (until is None or until >= today):
            out.append(ListEntry(plate, comment.strip(), n))
    return out


class PlateLists:
    """All of a site's lists; :meth:`match` checks a reading against every one."""

    def __init__(self, lists: list[PlateList]) -> None:
        self.lists = lists

    @classmethod
    def from_refs(cls, refs: Iterable[PlateListRef], base: Path) -> PlateLists:
        """Load the lists named in the site file; relative paths from ``base``."""
        loaded = []
        for ref in refs:
            path = Path(ref.path)
            path = path if path.is_absolute() else base / path
            loaded.append(
                PlateList.load(path, id=ref.id, kind=ref.kind, max_distance=ref.max_distance)
            )
        return cls(loaded)

    @classmethod
    def from_site(cls, site: Site, site_dir: Path) -> PlateLists:
        """Load ``site.plate_lists`` (paths relative to the site file's folder)."""
        return cls.from_refs(site.plate_lists, site_dir)

    def match(self, plate: str) -> list[ListMatch]:
        """Every list's closest match, blacklists first, then by distance."""
        found = [m for m in (pl.match(plate) for pl in self.lists) if m is not None]
        order = {"blacklist": 0, "visitor": 1, "resident": 2}
        return sorted(found, key=lambda m: (order[m.kind], m.distance))
