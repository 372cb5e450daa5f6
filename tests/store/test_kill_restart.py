"""Must show: workers' alerts in Redis → store → REST, 10,000 alerts, the store killed
mid-way (SIGKILL of a real ``shouwang serve`` process) and restarted: every alert is
present exactly once with its updates, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from alerts import keys
from alerts.store.incidents import IncidentUpdate
from tests.alerts.factory import TEST_REDIS_URL, make_alert
from tests.store.conftest import PASSWORD, free_port, make_user
from tests.store.helpers import update_of

pytestmark = [pytest.mark.redis, pytest.mark.slow]

N_ALERTS = 10_000
REPO = Path(__file__).resolve().parents[2]


def publish(r: redis.Redis) -> set[tuple[str, int]]:
    """10,000 alerts, every fourth with one update, as the publisher writes them."""
    base = make_alert()
    sent: set[tuple[str, int]] = set()
    pipe = r.pipeline(transaction=False)
    for i in range(N_ALERTS):
        a = base.model_copy(update={"id": f"{base.id[:16]}{i:010d}", "dedup_key": f"k{i}"})
        versions = [a, update_of(a, 1)] if i % 4 == 0 else [a]
        for v in versions:
            doc = v.model_dump_json()
            pipe.xadd(
                keys.ALERT_STREAM, {"alert": doc, "id": v.id, "type": v.type, "camera": v.camera}
            )
            sent.add((v.id, v.update_count))
        if i % 500 == 499:
            pipe.execute()
    pipe.execute()
    return sent


def stored(factory: sessionmaker[Session]) -> int:
    with factory() as s:
        return int(s.scalar(select(func.count()).select_from(IncidentUpdate)) or 0)


def serve(db_url: str, data: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SHOUWANG_DATABASE_URL": db_url,
        "REDIS_URL": TEST_REDIS_URL,
        "SHOUWANG_DATA_DIR": str(data),
        "SHOUWANG_CONSUMER_NAME": "store-test",
    }
    with log.open("ab") as err:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "shouwang.cli.main",
                "serve",
                str(REPO / "configs" / "demo-site.yaml"),
                "--port",
                str(port),
            ],
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def wait_for(cond, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_ten_thousand_alerts_survive_a_killed_store_exactly_once(
    db_url: str, factory: sessionmaker[Session], r: redis.Redis, tmp_path: Path
) -> None:
    sent = publish(r)
    make_user(factory, "zhao", "supervisor")
    port = free_port()
    log = tmp_path / "serve.log"
    first = serve(db_url, tmp_path / "data", port, log)
    try:
        wait_for(
            lambda: stored(factory) >= len(sent) // 4 or first.poll() is not None,
            120,
            "the first store to get going",
        )
        assert first.poll() is None, log.read_text()
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    at_kill = stored(factory)
    assert 0 < at_kill < len(sent), "the kill must land mid-way"
    print(f"store killed with {at_kill} of {len(sent)} updates stored")
    second = serve(db_url, tmp_path / "data", port, log)
    try:
        wait_for(lambda: stored(factory) >= len(sent), 240, "the restarted store to catch up")
        with factory() as s:
            pairs = {
                (str(i), int(n))
                for i, n in s.execute(
                    select(IncidentUpdate.incident_id, IncidentUpdate.update_count)
                )
            }
        assert pairs == sent and stored(factory) == len(sent)
        # ... and through REST, as an operator's screen would count them
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            wait_for(lambda: c.get("/healthz").status_code == 200 if _up(c) else False, 60, "REST")
            assert (
                c.post("/api/auth/login", json={"name": "zhao", "password": PASSWORD}).status_code
                == 200
            )
            ids, cursor = set(), None
            while True:
                params: dict[str, str | int] = {"limit": 500}
                if cursor:
                    params["cursor"] = cursor
                page = c.get("/api/incidents", params=params).json()
                ids |= {i["id"] for i in page["items"]}
                assert all(
                    i["update_count"] == (1 if int(i["id"][16:]) % 4 == 0 else 0)
                    for i in page["items"]
                )
                cursor = page["next_cursor"]
                if cursor is None:
                    break
            assert ids == {i for i, _ in sent}
            one = next(iter(sorted(ids)))
            assert [
                u["update_count"] for u in c.get(f"/api/incidents/{one}").json()["updates"]
            ] == [0, 1]
        assert r.xpending(keys.ALERT_STREAM, keys.STORE_GROUP)["pending"] == 0
    finally:
        second.terminate()
        second.wait(timeout=20)


def _up(c: httpx.Client) -> bool:
    try:
        c.get("/healthz")
    except httpx.TransportError:
        return False
    return True
