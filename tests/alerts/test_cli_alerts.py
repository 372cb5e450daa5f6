"""``shouwang alerts tail`` through typer's CliRunner against the real test Redis."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import redis
from typer.testing import CliRunner

from alerts.model import FaceSubject, PlateSubject
from alerts.publisher import AlertPublisher
from shouwang.cli.main import app
from tests.alerts.factory import make_alert

runner = CliRunner()


def _seed(redis_url: str, tmp_path: Path) -> list[str]:
    base = make_alert()
    plate = base.model_copy(
        update={
            "type": "plate.blacklist",
            "subject": PlateSubject(
                plate="宁A12345", confidence=0.9, list_id="bl", list_kind="blacklist"
            ),
            "dedup_key": "plate",
        }
    )
    face = base.model_copy(
        update={
            "type": "face.watchlist",
            "subject": FaceSubject(
                watchlist_id="poi", person_id="p1", similarity=0.8, threshold=0.5
            ),
            "dedup_key": "face",
        }
    )
    with AlertPublisher(redis_url, outbox_path=tmp_path / "o.sqlite") as pub:
        return [pub.publish(a).stream_id or "" for a in (plate, face, make_alert(track_id=9))]


@pytest.mark.redis
@pytest.mark.parametrize(
    ("args", "expected_types"),
    [
        (["--json"], ["plate.blacklist", "face.watchlist", "zone.intrusion"]),
        (["--json", "--limit", "2"], ["face.watchlist", "zone.intrusion"]),
        (["--json", "--since", "FIRST"], ["face.watchlist", "zone.intrusion"]),
        (["--json", "--since", "FIRST", "--limit", "1"], ["face.watchlist"]),
    ],
)
def test_tail_json(
    r: redis.Redis, redis_url: str, tmp_path: Path, args: list[str], expected_types: list[str]
) -> None:
    ids = _seed(redis_url, tmp_path)
    args = [ids[0] if a == "FIRST" else a for a in args]
    res = runner.invoke(app, ["alerts", "tail", *args], env={"REDIS_URL": redis_url})
    assert res.exit_code == 0, res.output
    docs = [json.loads(line) for line in res.stdout.splitlines()]
    assert [d["type"] for d in docs] == expected_types
    for d in docs:
        assert isinstance(d["location"]["lat"], float) and isinstance(d["location"]["lon"], float)
        assert d["stream_id"] in ids


@pytest.mark.redis
def test_tail_human_lines(r: redis.Redis, redis_url: str, tmp_path: Path) -> None:
    _seed(redis_url, tmp_path)
    res = runner.invoke(app, ["alerts", "tail"], env={"REDIS_URL": redis_url})
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert len(lines) == 3
    assert "plate.blacklist" in lines[0] and "宁A12345 (blacklist bl)" in lines[0]
    assert "丽景湾小区 / 3号楼 / north gate" in lines[0]
    assert "38.4872" in lines[0] and "106.2309" in lines[0] and "±" in lines[0]
    assert "face p1 on poi" in lines[1]
    assert "person #9 intrusion zone roof" in lines[2]


@pytest.mark.redis
def test_tail_follow_prints_new_alerts(r: redis.Redis, redis_url: str, tmp_path: Path) -> None:
    """--follow keeps reading; a publisher thread adds one alert while it waits."""
    import signal

    def late_publish() -> None:
        time.sleep(0.5)
        with AlertPublisher(redis_url, outbox_path=tmp_path / "late.sqlite") as pub:
            pub.publish(make_alert(track_id=42))
        time.sleep(1.5)
        signal.raise_signal(signal.SIGINT)  # Ctrl-C ends --follow

    t = threading.Thread(target=late_publish)
    t.start()
    res = runner.invoke(app, ["alerts", "tail", "--json", "--follow"], env={"REDIS_URL": redis_url})
    t.join()
    assert res.exit_code == 0, res.output
    docs = [json.loads(line) for line in res.stdout.splitlines()]
    assert [d["subject"]["track_id"] for d in docs] == [42]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        ([], 2, "cannot reach Redis at redis://:***@127.0.0.1:1/0 (REDIS_URL)"),
        (["--since", "yesterday"], 2, "neither a stream entry id"),
    ],
)
def test_tail_errors(args: list[str], code: int, message: str) -> None:
    res = runner.invoke(
        app, ["alerts", "tail", *args], env={"REDIS_URL": "redis://:secret@127.0.0.1:1/0"}
    )
    assert res.exit_code == code
    assert message in res.output
    assert "secret" not in res.output
