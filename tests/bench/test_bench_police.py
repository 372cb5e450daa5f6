"""Police API under load: token issue and an authenticated alert query under 50
concurrent clients (p50/p95; goal p95 <= 100 ms), and signed pushes per second.

Run for figures:
    .venv/bin/python -m pytest tests/bench/test_bench_police.py --benchmark-enable -s

The web service runs as its own uvicorn process (as ``shouwang serve`` does) on SQLite
and on PostgreSQL; 50 client threads each hold one keep-alive connection and call in a
loop. Latencies are per request, measured by the clients. Without --benchmark-enable a
short smoke run checks that the machinery works (no figures).
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import redis
from pytest_benchmark.fixture import BenchmarkFixture

from alerts.police.clients import SCOPES, add_client
from alerts.police.models import Subscription
from alerts.police.push import Fanout, PushPolicy, Sender, new_secret
from alerts.store.db import open_store, session_factory, transaction
from bench.quick import is_quick
from tests.alerts.factory import TEST_REDIS_URL, make_alert
from tests.police.conftest import store_alerts
from tests.store.conftest import free_port, r, url_for
from tests.store.helpers import xadd

pytestmark = [pytest.mark.bench, pytest.mark.redis]
__all__ = ["r"]  # the Redis fixture (test DB, flushed)
CLIENTS = 50
P = "/api/police/v1"


def _enabled(benchmark: BenchmarkFixture) -> bool:
    return not getattr(benchmark, "disabled", True)


def _serve(db: str, data: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = os.environ | {
        "SHOUWANG_DATABASE_URL": db,
        "REDIS_URL": TEST_REDIS_URL,
        "SHOUWANG_DATA_DIR": str(data),
        # the token endpoint's own per-client limit would stop 50 x n requests a minute
        "SHOUWANG_POLICE__TOKEN_RATE_PER_MINUTE": "100000",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--port", str(port),
         "--log-level", "warning", "--no-access-log"],
        env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the web service did not start")


def _load(
    url: str,
    n: int,
    call: Callable[[httpx.Client], httpx.Response],
    clients: int = CLIENTS,
    every_s: float = 0.0,
) -> list[float]:
    """``n`` calls per client from ``clients`` threads at once; per-request seconds.

    ``every_s`` 0: each client calls again as soon as it has its answer (closed loop,
    the server saturated: latency = clients / throughput). Otherwise each client calls
    once every ``every_s`` seconds (random phase), the way polling systems do.
    """
    lat: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(clients)
    errors: list[str] = []

    def worker() -> None:
        with httpx.Client(base_url=url, timeout=30) as c:
            call(c)  # connect and warm up outside the measurement
            start.wait()
            mine = []
            due = time.perf_counter() + random.uniform(0, every_s)
            for _ in range(n):
                if every_s:
                    time.sleep(max(0.0, due - time.perf_counter()))
                    due += every_s
                t0 = time.perf_counter()
                res = call(c)
                mine.append(time.perf_counter() - t0)
                if res.status_code != 200:
                    errors.append(f"{res.status_code} {res.text[:100]}")
            with lock:
                lat.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    return lat


def _pcts(lat: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(lat, n=100)
    return statistics.median(lat) * 1e3, q[94] * 1e3


@pytest.mark.timeout(900)
@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_bench_token_and_alert_query_under_50_clients(
    benchmark: BenchmarkFixture,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    r: redis.Redis,
    engine: str,
) -> None:
    if not _enabled(benchmark) and engine == "postgresql":
        pytest.skip("the PostgreSQL run gives figures only: use --benchmark-enable")
    if is_quick():  # three minutes of 50 clients for figures no budget enforces
        pytest.skip("not in quick mode: run this file with --benchmark-enable (docs/police-api.md)")
    db = url_for(engine, tmp_path)
    eng = open_store(db)
    factory = session_factory(eng)
    store_alerts(
        factory, r, [make_alert(track_id=i) for i in range(200 if _enabled(benchmark) else 20)]
    )
    with transaction(factory) as s:
        c, secret = add_client(
            s, "bench", scopes=SCOPES, compounds=["lijing"], rate_per_minute=100_000
        )
    eng.dispose()
    proc, url = _serve(db, tmp_path / "data")
    n = 20 if _enabled(benchmark) else 1
    form = {"grant_type": "client_credentials", "client_id": c.id, "client_secret": secret}
    try:
        tok = httpx.post(url + P + "/oauth/token", data=form).json()["access_token"]
        h = {"Authorization": f"Bearer {tok}"}
        results: dict[str, list[float]] = {}

        def run() -> None:
            # One client alone first (the cost of a call), then 50 at once (queueing).
            for k in (1, CLIENTS):
                results[f"token x{k}"] = _load(
                    url,
                    n * CLIENTS // k // (5 if k == 1 else 1) or 1,
                    lambda cl: cl.post(P + "/oauth/token", data=form),
                    k,
                )
                results[f"alerts x{k}"] = _load(
                    url,
                    n * CLIENTS // k // (5 if k == 1 else 1) or 1,
                    lambda cl: cl.get(P + "/alerts", params={"limit": 20}, headers=h),
                    k,
                )
            # 50 clients each polling twice a second (100 calls/s in all).
            results[f"token x{CLIENTS} paced 2/s"] = _load(
                url, n, lambda cl: cl.post(P + "/oauth/token", data=form), CLIENTS, 0.5
            )
            results[f"alerts x{CLIENTS} paced 2/s"] = _load(
                url,
                n,
                lambda cl: cl.get(P + "/alerts", params={"limit": 20}, headers=h),
                CLIENTS,
                0.5,
            )

        benchmark.pedantic(run, rounds=1, iterations=1)  # type: ignore[no-untyped-call]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    if not _enabled(benchmark):
        return
    for name, lat in results.items():
        p50, p95 = _pcts(lat)
        benchmark.extra_info[f"{name}_p50_ms"] = round(p50, 1)
        benchmark.extra_info[f"{name}_p95_ms"] = round(p95, 1)
        print(f"\n{engine} {name}: {len(lat)} requests: p50 {p50:.1f} ms  p95 {p95:.1f} ms")


class _Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    got = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        type(self).got += 1
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


class _SinkServer(ThreadingHTTPServer):
    request_queue_size = 128  # 16 senders connect at once; the default 5 resets some


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_bench_pushes_per_second(
    benchmark: BenchmarkFixture,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    r: redis.Redis,
    engine: str,
) -> None:
    """Alerts on the stream → fan-out → signed POSTs received, end to end."""
    if not _enabled(benchmark) and engine == "postgresql":
        pytest.skip("the PostgreSQL run gives figures only: use --benchmark-enable")
    n = 1000 if _enabled(benchmark) else 20
    eng = open_store(url_for(engine, tmp_path))
    factory = session_factory(eng)
    _Sink.got = 0
    server = _SinkServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with transaction(factory) as s:
        c, _ = add_client(s, "bench", scopes=SCOPES, compounds=["lijing"])
        s.add(
            Subscription(
                id="01JBENCH0000000000000000SB",
                client_id=c.id,
                url=f"http://127.0.0.1:{server.server_address[1]}/hook",
                secret=new_secret(),
                types=[],
                compounds=[],
                min_severity="info",
                active=True,
                created_at=datetime.now(UTC),
            )
        )
    fan = Fanout(factory, r, area_of=lambda cl: frozenset(cl.compounds), start_id="0")
    sender = Sender(factory, PushPolicy(batch=200, parallel=16), rng=random.Random(1))
    for i in range(n):
        xadd(r, make_alert(track_id=i))
    took: list[float] = []

    def run() -> None:
        t0 = time.perf_counter()
        while fan.step(block_ms=10) or sender.step():
            pass
        took.append(time.perf_counter() - t0)

    try:
        benchmark.pedantic(run, rounds=1, iterations=1)  # type: ignore[no-untyped-call]
    finally:
        sender.close()
        server.shutdown()
        server.server_close()
        eng.dispose()
    assert _Sink.got == n
    if _enabled(benchmark):
        rate = n / took[0]
        benchmark.extra_info["pushes_per_s"] = round(rate, 1)
        print(f"\n{engine}: {n} signed pushes delivered in {took[0]:.2f} s: {rate:.0f}/s")
