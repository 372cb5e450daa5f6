"""A camera's stream follows its lease: idle until gained, decoding while owned, closed after."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

import pytest

from alerts.leases import LeaseChange
from shouwang.ownership import LeasedSource, Ownership
from streams import FileSource, SourceOptions, State, StreamEnded
from tests.streams.conftest import make_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("own") / "c.mp4", 3)


def leased(cam: str, clip: Path) -> LeasedSource:
    opts = SourceOptions(realtime=True, loop=True)
    return LeasedSource(cam, lambda: FileSource(cam, str(clip), opts), str(clip))


def frames_within(src: LeasedSource, seconds: float) -> int:
    n, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        n += src.read(0.1) is not None
    return n


def test_a_leased_camera_decodes_only_while_open(clip: Path) -> None:
    src = leased("gate", clip)
    src.start()  # the site's group starts it: still nothing opened
    assert not src.is_open and src.health().state is State.STOPPED
    assert frames_within(src, 0.5) == 0 and src.health().frames_decoded == 0
    src.open()
    assert frames_within(src, 1.5) > 0
    src.close()
    decoded = src.health().frames_decoded
    assert decoded > 0 and src.health().state is State.STOPPED  # last counters kept
    time.sleep(0.5)
    assert src.read(0.2) is None and src.health().frames_decoded == decoded
    src.open()  # the lease comes back: a fresh source
    assert src.opened == 2 and frames_within(src, 1.5) > 0
    assert src.stop(timeout=5)
    with pytest.raises(StreamEnded):
        src.read(0.1)
    src.open()  # stopped for good: stays closed
    assert not src.is_open


def is_open(src: LeasedSource) -> bool:
    return src.is_open  # a call, so each check reads the property anew


class Served:
    def __init__(self) -> None:
        self.calls: list[frozenset[str]] = []

    def set_active(self, camera_ids: Iterable[str]) -> None:
        self.calls.append(frozenset(camera_ids))


def test_ownership_closes_lost_cameras_and_opens_gained_ones_with_their_extras(
    clip: Path,
) -> None:
    sources = {c: leased(c, clip) for c in ("a", "b", "c")}
    worker = Served()
    events: list[str] = []
    owner = Ownership(
        sources,
        worker,
        open_extra=lambda cam: events.append(f"main+{cam}"),
        close_extra=lambda cam: events.append(f"main-{cam}"),
    )
    try:
        owner.apply(LeaseChange(gained=frozenset({"a", "b"}), owned=frozenset({"a", "b"})))
        assert is_open(sources["a"]) and is_open(sources["b"]) and not is_open(sources["c"])
        assert worker.calls[-1] == {"a", "b"} and events == ["main+a", "main+b"]
        owner.apply(
            LeaseChange(gained=frozenset({"c"}), lost=frozenset({"a"}), owned=frozenset({"b", "c"}))
        )
        assert not is_open(sources["a"]) and is_open(sources["c"])
        assert events[2:] == ["main-a", "main+c"]  # the lost one closes before the new opens
        assert worker.calls[-2] == {"b"} and worker.calls[-1] == {"b", "c"}
        owner.apply(  # lost and gained in one tick (after an outage): restarted clean
            LeaseChange(gained=frozenset({"b"}), lost=frozenset({"b"}), owned=frozenset({"b", "c"}))
        )
        assert sources["b"].opened == 2 and is_open(sources["b"])
    finally:
        owner.close_all()
    assert not any(s.is_open for s in sources.values()) and worker.calls[-1] == frozenset()
