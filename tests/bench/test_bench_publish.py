"""Alert publishing cost: per-alert latency (p50/p95) and throughput, side by side.

Run for figures:
    .venv/bin/python -m pytest tests/bench/test_bench_publish.py --benchmark-enable \
        --benchmark-columns=min,median,mean,max,ops -s

Rows, all in one run against the same Redis:
* ``raw``: XADD + PUBLISH of a prepared JSON document in one pipeline: the floor.
* ``publish``: ``AlertPublisher.publish`` of a new alert (dedup lookup, stamping,
  JSON, XADD + PUBLISH + dedup hash in one MULTI/EXEC).
* ``outbox``: ``publish`` while Redis is unreachable (SQLite insert + fsync).
* ``drain``: publishing 500 alerts from the outbox once Redis is back (batches of 200).
p95 comes from the per-round timings (printed with -s and stored in extra_info).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from pytest_benchmark.fixture import BenchmarkFixture

from alerts import keys
from alerts.model import Alert
from alerts.publisher import AlertPublisher
from tests.alerts.factory import TEST_REDIS_URL, make_alert

pytestmark = [pytest.mark.bench, pytest.mark.redis]

ROUNDS = 2000


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(TEST_REDIS_URL, decode_responses=True, socket_connect_timeout=1)
    try:
        c.ping()
    except redis.ConnectionError as exc:
        pytest.skip(f"no Redis at {TEST_REDIS_URL}: {exc}")
    c.flushdb()
    yield c
    c.flushdb()
    c.close()


def _alerts(n: int) -> Iterator[Alert]:
    base = make_alert()
    for i in range(n):
        yield base.model_copy(update={"id": f"{base.id[:-6]}{i:06d}", "dedup_key": f"bench:{i}"})


def _report(benchmark: BenchmarkFixture, name: str) -> None:
    stats = getattr(benchmark, "stats", None)
    data: list[float] = list(getattr(getattr(stats, "stats", None), "data", []) or [])
    if len(data) < 20:
        return  # --benchmark-disable: a single smoke run
    q = statistics.quantiles(data, n=100)
    p50, p95 = statistics.median(data) * 1e3, q[94] * 1e3
    benchmark.extra_info.update({"p50_ms": round(p50, 4), "p95_ms": round(p95, 4)})
    print(f"\n{name}: p50 {p50:.3f} ms  p95 {p95:.3f} ms  ({1e3 / p50:.0f} alerts/s at p50)")


def _run(benchmark: BenchmarkFixture, fn: Any, args: Iterator[tuple[Any, ...]]) -> None:
    benchmark.pedantic(fn, setup=lambda: (next(args), {}), rounds=ROUNDS, iterations=1)  # type: ignore[no-untyped-call]


def test_bench_raw_xadd_publish(benchmark: BenchmarkFixture, client: redis.Redis) -> None:
    docs = ((a.model_dump_json(),) for a in _alerts(ROUNDS + 10))

    def raw(doc: str) -> None:
        pipe = client.pipeline(transaction=True)
        pipe.xadd(keys.ALERT_STREAM, {"alert": doc}, maxlen=keys.STREAM_MAXLEN, approximate=True)
        pipe.publish(keys.ALERT_CHANNEL, doc)
        pipe.execute()

    benchmark.extra_info.update(stage="publish", impl="raw")
    _run(benchmark, raw, docs)
    _report(benchmark, "raw XADD+PUBLISH")
    assert client.xlen(keys.ALERT_STREAM) >= 1


def test_bench_publish(benchmark: BenchmarkFixture, client: redis.Redis, tmp_path: Path) -> None:
    pub = AlertPublisher(TEST_REDIS_URL, outbox_path=tmp_path / "o.sqlite")
    benchmark.extra_info.update(stage="publish", impl="shouwang")
    _run(benchmark, pub.publish, ((a,) for a in _alerts(ROUNDS + 10)))
    _report(benchmark, "AlertPublisher.publish")
    assert pub.close() == 0
    assert pub.stats.queued == 0 and pub.stats.sent >= 1


def test_bench_publish_to_outbox(benchmark: BenchmarkFixture, tmp_path: Path) -> None:
    pub = AlertPublisher("redis://127.0.0.1:1/0", outbox_path=tmp_path / "o.sqlite")
    _run(benchmark, pub.publish, ((a,) for a in _alerts(ROUNDS + 10)))
    _report(benchmark, "publish with Redis down (outbox)")
    assert pub.close(timeout_s=0.1) >= 1


def test_bench_outbox_drain(
    benchmark: BenchmarkFixture, client: redis.Redis, tmp_path: Path
) -> None:
    n = 500

    def setup() -> tuple[tuple[AlertPublisher], dict[str, Any]]:
        down = AlertPublisher("redis://127.0.0.1:1/0", outbox_path=tmp_path / "o.sqlite")
        for a in _alerts(n):
            down.publish(a)
        down.close(timeout_s=0.1)
        up = AlertPublisher(TEST_REDIS_URL, outbox_path=tmp_path / "o.sqlite")
        return (up,), {}

    def drain(pub: AlertPublisher) -> None:
        if not pub.flush(timeout_s=30):
            raise RuntimeError("outbox did not drain")
        pub.close()

    benchmark.pedantic(drain, setup=setup, rounds=3, iterations=1)  # type: ignore[no-untyped-call]
    stats = getattr(benchmark, "stats", None)
    mean = stats.stats.mean if stats is not None else None
    if mean:
        print(f"\noutbox drain: {n / mean:.0f} alerts/s ({n} alerts in {mean * 1e3:.0f} ms)")
    assert client.xlen(keys.ALERT_STREAM) >= n
