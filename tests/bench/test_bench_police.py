"""Police API under load: token issue and an authenticated alert query under 50
concurrent clients (p50/p95; goal p95 <= 100 ms), and signed pushes per second.

Run for figures:
    .venv/bin/python -m pytest tests/bench/test_bench_police.py --benchmark-enable -s

The web service runs as its own uvicorn process (as ``shouwang serve`` does) on SQLite
and on PostgreSQL; 50 clients each hold one keep-alive connection and call in a loop,
all on one asyncio thread (:mod:`bench.http_load`: a cheap load generator, so that it
does not take the CPU the server needs). Latencies are per request, measured by the
clients; each phase also reports the CPU the server and the load generator spent per
request, and the load average. Without --benchmark-enable a short smoke run checks that
the machinery works (no figures).

Side by side in one run: ``SHOUWANG_BENCH_POLICE_BASELINE=<git rev>`` serves that
revision first, on the same database; ``SHOUWANG_BENCH_POLICE_WORKERS=1,2`` also
measures two uvicorn workers.
"""

from __future__ import annotations

import os
import random
import resource
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
import redis
from pytest_benchmark.fixture import BenchmarkFixture

from alerts.police.clients import SCOPES, add_client
from alerts.police.models import Subscription
from alerts.police.push import Fanout, PushPolicy, Sender, new_secret
from alerts.store.db import open_store, session_factory, transaction
from bench.http_load import request_bytes, run_load
from bench.quick import is_quick
from tests.alerts.factory import TEST_REDIS_URL, make_alert
from tests.police.conftest import store_alerts
from tests.store.conftest import free_port, r, url_for
from tests.store.helpers import xadd

pytestmark = [pytest.mark.bench, pytest.mark.redis]
__all__ = ["r"]  # the Redis fixture (test DB, flushed)
CLIENTS = 50
P = "/api/police/v1"


BASELINE_ENV = "SHOUWANG_BENCH_POLICE_BASELINE"  # a git revision to measure beside this tree
WORKERS_ENV = "SHOUWANG_BENCH_POLICE_WORKERS"  # uvicorn worker counts to measure, e.g. "1,2"


def _enabled(benchmark: BenchmarkFixture) -> bool:
    return not getattr(benchmark, "disabled", True)


def _tree(rev: str, into: Path) -> Path:
    """The source tree of git revision ``rev`` (to serve it beside this one)."""
    root = Path(__file__).resolve().parents[2]
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(root), "archive", rev], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def _serve(
    db: str, data: Path, *, tree: Path | None = None, workers: int = 1
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = os.environ | {
        "SHOUWANG_DATABASE_URL": db,
        "REDIS_URL": TEST_REDIS_URL,
        "SHOUWANG_DATA_DIR": str(data),
        # the token endpoint's own per-client limit would stop 50 x n requests a minute
        "SHOUWANG_POLICE__TOKEN_RATE_PER_MINUTE": "100000",
    }
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--port", str(port),
         "--log-level", "warning", "--no-access-log", "--workers", str(workers)],
        env=env,
        cwd=tree,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                time.sleep(2.0 if workers > 1 else 0.0)  # every worker up, not just one
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the web service did not start")


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process and its children (uvicorn's workers)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            stat = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(stat[11]) + int(stat[12])) / tick
            for t in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (t / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


@dataclass
class Phase:
    """One measured phase: latencies and the CPU each side spent per request."""

    lat: list[float]
    rps: float
    server_ms: float  # server CPU per request
    client_ms: float  # load generator CPU per request
    load: float  # 1-minute load average at the end


def _load(url: str, req: bytes, pid: int, clients: int, calls: int, every_s: float = 0.0) -> Phase:
    host, port = url.removeprefix("http://").split(":")
    c0, s0 = resource.getrusage(resource.RUSAGE_SELF), _cpu_s(pid)
    res = run_load(host, int(port), req, clients=clients, calls=calls, every_s=every_s)
    c1, s1 = resource.getrusage(resource.RUSAGE_SELF), _cpu_s(pid)
    assert not res.errors, res.errors[:3]
    n = len(res.latencies_s)
    client = (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)
    return Phase(
        res.latencies_s, n / res.wall_s, (s1 - s0) / n * 1e3, client / n * 1e3, os.getloadavg()[0]
    )


def _pcts(lat: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(lat, n=100)
    return statistics.median(lat) * 1e3, q[94] * 1e3


def _servers(tmp_path: Path) -> list[tuple[str, Path | None, int]]:
    """(label, source tree or None for this one, workers) to measure, in order."""
    workers = [int(w) for w in os.environ.get(WORKERS_ENV, "1").split(",") if w.strip()]
    out: list[tuple[str, Path | None, int]] = []
    rev = os.environ.get(BASELINE_ENV, "").strip()
    if rev:
        out.append((f"baseline {rev}", _tree(rev, tmp_path / "baseline"), 1))
    out += [("this" if w == 1 else f"this, {w} workers", None, w) for w in workers]
    return out


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_bench_token_and_alert_query_under_50_clients(
    benchmark: BenchmarkFixture,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    r: redis.Redis,
    engine: str,
) -> None:
    """50 concurrent keep-alive clients (one asyncio thread, :mod:`bench.http_load`).

    Set ``SHOUWANG_BENCH_POLICE_BASELINE=<git rev>`` to serve that revision first, on the
    same database, and ``SHOUWANG_BENCH_POLICE_WORKERS=1,2`` for more uvicorn workers.
    """
    if not _enabled(benchmark) and engine == "postgresql":
        pytest.skip("the PostgreSQL run gives figures only: use --benchmark-enable")
    if is_quick():  # minutes of 50 clients for figures no budget enforces
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
    n = 20 if _enabled(benchmark) else 1
    form = urlencode(
        {"grant_type": "client_credentials", "client_id": c.id, "client_secret": secret}
    )
    results: dict[str, Phase] = {}
    servers = _servers(tmp_path) if _enabled(benchmark) else [("this", None, 1)]

    def run() -> None:
        for label, tree, workers in servers:
            proc, url = _serve(db, tmp_path / "data", tree=tree, workers=workers)
            try:
                host = url.removeprefix("http://")
                tok = httpx.post(url + P + "/oauth/token", data=dict(parse_qsl(form)))
                auth = {"Authorization": f"Bearer {tok.json()['access_token']}"}
                ctype = {"Content-Type": "application/x-www-form-urlencoded"}
                calls = {
                    "token": request_bytes(
                        "POST", P + "/oauth/token", host=host, headers=ctype, body=form.encode()
                    ),
                    "alerts": request_bytes("GET", P + "/alerts?limit=20", host=host, headers=auth),
                }
                # One client alone (the cost of a call), 50 at once (queueing), then 50
                # each polling twice a second (100 calls/s in all).
                for k in (1, CLIENTS):
                    for name, req in calls.items():
                        each = n * CLIENTS // k // (5 if k == 1 else 1) or 1
                        results[f"{label}: {name} x{k}"] = _load(url, req, proc.pid, k, each)
                for name, req in calls.items():
                    results[f"{label}: {name} x{CLIENTS} paced 2/s"] = _load(
                        url, req, proc.pid, CLIENTS, n, 0.5
                    )
            finally:
                proc.terminate()
                proc.wait(timeout=20)

    benchmark.pedantic(run, rounds=1, iterations=1)  # type: ignore[no-untyped-call]
    if not _enabled(benchmark):
        return
    for name, ph in results.items():
        p50, p95 = _pcts(ph.lat)
        key = name.replace(": ", "_").replace(" ", "_")
        benchmark.extra_info[f"{key}_p50_ms"] = round(p50, 1)
        benchmark.extra_info[f"{key}_p95_ms"] = round(p95, 1)
        benchmark.extra_info[f"{key}_rps"] = round(ph.rps, 1)
        print(
            f"\n{engine} {name}: {len(ph.lat)} requests: p50 {p50:.1f} ms  p95 {p95:.1f} ms  "
            f"{ph.rps:.0f}/s  cpu/request server {ph.server_ms:.2f} ms  "
            f"load generator {ph.client_ms:.2f} ms  load average {ph.load:.1f}"
        )


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
