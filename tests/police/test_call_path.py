"""The fast call path keeps its guarantees: a cached client that is revoked gets 401 on
its next call (and within the cache lifetime when the revocation epoch was lost); an
audit log that cannot be written gives 503 and returns nothing; 50 concurrent callers
are each audited once, in one valid chain (the audit writer's group commit)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import func, select, text

from alerts.police.clients import revoke_client
from alerts.police.config import PoliceSettings
from alerts.store.audit import AuditEntry
from alerts.store.audit import verify as verify_chain
from alerts.store.db import transaction
from api.police.state import PoliceState, police_state
from tests.police.conftest import World, make_world, revoke
from tests.store.conftest import url_for

pytestmark = pytest.mark.redis

P = "/api/police/v1"
TOKEN = P + "/oauth/token"


def _state(w: World) -> PoliceState:
    return police_state(w.live.app.state.services)


def test_a_revoked_client_is_refused_on_its_next_call_though_cached(any_world: World) -> None:
    w = any_world
    h = w.auth("gone")
    assert w.http.get(P + "/alerts", headers=h).status_code == 200
    reads = _state(w).clients.reads
    for _ in range(3):
        assert w.http.get(P + "/alerts", headers=h).status_code == 200
    assert _state(w).clients.reads == reads  # served from the cache, no database read
    revoke(w, "gone")  # as `shouwang clients revoke`: commit, then bump the epoch
    res = w.http.get(P + "/alerts", headers=h)
    assert res.status_code == 401 and "revoked" in res.json()["detail"]
    c = w.clients["gone"]
    form = {"grant_type": "client_credentials", "client_id": c.id, "client_secret": c.secret}
    assert w.http.post(TOKEN, data=form).json()["error"] == "invalid_client"


@pytest.fixture
def short_cache_world(tmp_path: Path, r: redis.Redis) -> Iterator[World]:
    """SQLite world whose API keeps client rows for one second."""
    yield from make_world(
        url_for("sqlite", tmp_path), tmp_path, r, police=PoliceSettings(client_cache_s=1.0)
    )


def test_a_revocation_whose_epoch_bump_was_lost_holds_within_the_cache_lifetime(
    short_cache_world: World,
) -> None:
    w = short_cache_world
    h = w.auth("gone")
    assert w.http.get(P + "/alerts", headers=h).status_code == 200
    with transaction(w.factory) as s:  # revoked in the database, Redis never told
        revoke_client(s, "gone")
    time.sleep(1.05)
    res = w.http.get(P + "/alerts", headers=h)
    assert res.status_code == 401 and "revoked" in res.json()["detail"]


def test_an_audit_log_that_cannot_be_written_gives_503_and_nothing_else(world: World) -> None:
    w = world
    h = w.auth("full")
    narrow = w.auth("narrow")
    c = w.clients["full"]
    form = {"grant_type": "client_credentials", "client_id": c.id, "client_secret": c.secret}
    with transaction(w.factory) as s:
        s.execute(text("ALTER TABLE audit_log RENAME TO audit_log_away"))
    try:
        ok = w.http.get(P + "/alerts", headers=h)
        forbidden = w.http.get(P + "/vehicles", params={"plate": "宁A12345"}, headers=narrow)
        tok = w.http.post(TOKEN, data=form)
    finally:
        with transaction(w.factory) as s:
            s.execute(text("ALTER TABLE audit_log_away RENAME TO audit_log"))
    for res in (ok, forbidden):
        assert res.status_code == 503
        assert res.json() == {"detail": "the audit log is unavailable; nothing was returned"}
    assert tok.status_code == 503 and "access_token" not in tok.json()
    assert tok.json()["error"] == "temporarily_unavailable"
    assert w.http.get(P + "/alerts", headers=h).status_code == 200  # back with the database
    with w.factory() as s:
        assert verify_chain(s).ok


def test_50_concurrent_callers_are_each_audited_once_in_one_chain(any_world: World) -> None:
    w = any_world
    c = w.clients["full"]
    form = {"grant_type": "client_credentials", "client_id": c.id, "client_secret": c.secret}
    h = w.auth("full")
    codes: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(50)

    def caller(i: int) -> None:
        with httpx.Client(base_url=w.live.url, timeout=60) as cl:
            start.wait()
            got = [
                cl.post(TOKEN, data=form).status_code,
                cl.get(
                    P + "/alerts", params={"limit": 5, "camera": f"cam-{i}"}, headers=h
                ).status_code,
                cl.get(P + "/alerts", params={"limit": 5}, headers=h).status_code,
            ]
        with lock:
            codes.extend(got)

    with w.factory() as s:
        before = s.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
    threads = [threading.Thread(target=caller, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [200] * 150
    with w.factory() as s:
        res = verify_chain(s)
        rows = list(s.execute(select(AuditEntry).where(AuditEntry.seq > before)).scalars())
    assert res.ok, res.problem
    assert sorted(e.action for e in rows) == ["police.call"] * 100 + ["police.token"] * 50
    cams = [json.loads(e.detail)["params"].get("camera") for e in rows if e.action == "police.call"]
    assert sorted(x for x in cams if x) == sorted(f"cam-{i}" for i in range(50))
    assert all(e.actor == c.id for e in rows)


def test_the_client_cache_reads_again_on_a_new_epoch_without_redis_and_when_old(
    tmp_path: Path,
) -> None:
    from alerts.police.client_cache import ClientCache
    from alerts.police.clients import SCOPES, add_client
    from alerts.store.db import open_store, read_session_factory, session_factory

    eng = open_store(url_for("sqlite", tmp_path))
    with transaction(session_factory(eng)) as s:
        c, _ = add_client(s, "c1", scopes=SCOPES, compounds=["lijing"])
    now = [100.0]
    cache = ClientCache(read_session_factory(eng), ttl_s=5.0, clock=lambda: now[0])
    steps = [  # (epoch read from Redis, seconds later, database reads so far)
        (0, 0.0, 1),  # first sight: read
        (0, 1.0, 1),  # same epoch, young: cached
        (1, 0.0, 2),  # a revocation somewhere: read again
        (1, 0.0, 2),
        (None, 0.0, 3),  # Redis away: never trust the cache
        (None, 0.0, 4),
        (1, 4.9, 4),  # the entry made at epoch 1 is still young
        (1, 0.2, 5),  # 5.1 s old: read again
    ]
    for epoch, later, reads in steps:
        now[0] += later
        got = cache.get(c.id, epoch)
        assert got is not None and got.id == c.id
        assert cache.reads == reads, (epoch, later)
    assert cache.get("cli_nobody", 1) is None and cache.get("cli_nobody", 1) is None
    assert cache.reads == 7  # unknown ids are not kept
    eng.dispose()


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_shouwang_serve_with_two_workers_keeps_one_audit_chain(
    engine: str, tmp_path: Path, r: redis.Redis
) -> None:
    """`shouwang serve --workers 2`: two processes append to one chain, concurrently."""
    import os
    import subprocess
    import sys

    from alerts.police.clients import SCOPES, add_client
    from alerts.store.db import open_store, session_factory
    from tests.alerts.factory import TEST_REDIS_URL
    from tests.store.conftest import free_port

    repo = Path(__file__).resolve().parents[2]
    db = url_for(engine, tmp_path)
    eng = open_store(db)
    factory = session_factory(eng)
    with transaction(factory) as s:
        c, secret = add_client(s, "w2", scopes=SCOPES, compounds=["lijing"], rate_per_minute=10_000)
    port = free_port()
    env = os.environ | {
        "SHOUWANG_DATABASE_URL": db,
        "REDIS_URL": TEST_REDIS_URL,
        "SHOUWANG_DATA_DIR": str(tmp_path / "data"),
        "SHOUWANG_POLICE__TOKEN_RATE_PER_MINUTE": "10000",
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "shouwang.cli.main", "serve",
             str(repo / "configs" / "demo-site.yaml"), "--port", str(port), "--workers", "2"],
            env=env, cwd=repo, stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    form = {"grant_type": "client_credentials", "client_id": c.id, "client_secret": secret}
    codes: list[int] = []
    lock = threading.Lock()
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        kids = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        assert len(kids) >= 2, kids  # the two workers (uvicorn's processes)

        def caller() -> None:
            with httpx.Client(base_url=url, timeout=60) as cl:  # new connections: both workers
                tok = cl.post(TOKEN, data=form).json()["access_token"]
                got = [cl.post(TOKEN, data=form).status_code]
                got += [
                    cl.get(P + "/alerts", headers={"Authorization": f"Bearer {tok}"}).status_code
                    for _ in range(4)
                ]
            with lock:
                codes.extend(got)

        threads = [threading.Thread(target=caller) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert codes == [200] * 100
    with factory() as s:
        res = verify_chain(s)
        calls = s.execute(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.actor == c.id)
        ).scalar_one()
    assert res.ok, res.problem
    assert calls == 20 * 2 + 20 * 4  # two tokens and four calls per caller, each audited once
    eng.dispose()
