"""Plate lists: parsing, confusion-weighted distance, site references."""

from __future__ import annotations

from pathlib import Path

import pytest

from detectors.plates.errors import PlateError
from detectors.plates.lists import (
    CONFUSION_COST,
    PlateList,
    PlateLists,
    parse_entries,
    weighted_distance,
)
from shouwang.config.site import PlateListRef


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("京A12345", "京A12345", 0.0),
        ("京A12345", "京A1Z345", CONFUSION_COST),  # 2/Z
        ("京A10345", "京A1D345", CONFUSION_COST),  # 0/D
        ("京A18345", "京A1B345", CONFUSION_COST),  # 8/B
        ("京A15345", "京A1S345", CONFUSION_COST),  # 5/S
        ("京A11345", "京A17345", CONFUSION_COST),  # 1/7
        ("京A12345", "京A19345", 1.0),  # not a usual confusion
        ("京A12345", "京A1234", 1.0),  # deletion
        ("京A12345", "京AD12345", 1.0),  # insertion (new-energy)
        ("京A12345", "京A1Z34S", 2 * CONFUSION_COST),
        ("京A12345", "豫A12345", CONFUSION_COST),  # look-alike provinces
    ],
)
def test_weighted_distance(a: str, b: str, expected: float) -> None:
    assert weighted_distance(a, b) == pytest.approx(expected)
    assert weighted_distance(b, a) == pytest.approx(expected)


def test_parse_skips_comments_and_blank_lines() -> None:
    entries = parse_entries(["# residents", "", "宁A12345,3号楼 王先生", " 宁ad12345 ", "#x"])
    assert [(e.plate, e.comment, e.line) for e in entries] == [
        ("宁A12345", "3号楼 王先生", 3),
        ("宁AD12345", "", 4),
    ]


@pytest.mark.parametrize(
    ("read", "limit", "entry", "distance"),
    [
        ("宁A12345", 1.0, "宁A12345", 0.0),
        ("宁A1Z345", 1.0, "宁A12345", CONFUSION_COST),
        ("宁A19345", 1.0, "宁A12345", 1.0),
        ("宁A19395", 1.0, None, None),  # two real substitutions: over the limit
        ("宁A1Z345", 0.0, None, None),  # exact-only list
    ],
)
def test_list_match_names_entry_and_distance(
    tmp_path: Path, read: str, limit: float, entry: str | None, distance: float | None
) -> None:
    f = tmp_path / "residents.txt"
    f.write_text("宁A12345,王先生\n宁B88888\n", encoding="utf-8")
    plates = PlateList.load(f, id="residents", kind="resident", max_distance=limit)
    m = plates.match(read)
    if entry is None:
        assert m is None
    else:
        assert m is not None and (m.entry, m.list_id, m.kind) == (entry, "residents", "resident")
        assert m.distance == pytest.approx(distance)


def test_site_lists_load_relative_to_site_and_blacklist_first(repo_root: Path) -> None:
    refs = [
        PlateListRef(id="residents", kind="resident", path="demo-lists/resident-plates.txt"),
        PlateListRef(id="blacklist", kind="blacklist", path="demo-lists/blacklist-plates.txt"),
    ]
    lists = PlateLists.from_refs(refs, repo_root / "configs")
    assert [m.list_id for m in lists.match("宁B8888B")] == ["blacklist"]
    assert lists.match("宁A1Z345")[0].entry == "宁A12345"
    assert lists.match("粤B00000") == []


def test_missing_list_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(PlateError, match=r"plate list 'vip'.*nope\.txt"):
        PlateList.load(tmp_path / "nope.txt", id="vip", kind="visitor")
