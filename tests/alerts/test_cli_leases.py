"""``shouwang leases show / drain`` through typer's CliRunner against the real test Redis."""

from __future__ import annotations

import pytest
import redis
from typer.testing import CliRunner

from alerts.leases import LeaseManager
from shouwang.cli.main import app

pytestmark = pytest.mark.redis


def test_drain_as_a_pod_s_pre_stop_hands_the_cameras_over(r: redis.Redis, redis_url: str) -> None:
    a = LeaseManager(r, "worker-0", ["gate", "roof"], ttl_ms=60_000)
    a.heartbeat()
    a.tick()
    runner = CliRunner()
    env = {"REDIS_URL": redis_url, "SHOUWANG_WORKER_ID": "worker-0"}
    shown = runner.invoke(app, ["leases", "show"], env=env)
    assert shown.exit_code == 0 and "gate\tworker-0" in shown.output
    res = runner.invoke(app, ["leases", "drain"], env=env)  # the id from the environment
    assert res.exit_code == 0, res.output
    assert "worker-0 drained: 2 camera lease(s) handed over" in res.output
    assert a.tick().released == {"gate", "roof"}  # the worker sees its flag: lets them go
    assert not a.tick().gained and not a.owned()  # and takes none back
    assert "live workers: none" in runner.invoke(app, ["leases", "show"], env=env).output


def test_drain_without_a_worker_id_says_what_is_missing(redis_url: str) -> None:
    res = CliRunner().invoke(app, ["leases", "drain"], env={"REDIS_URL": redis_url})
    assert res.exit_code == 1 and "SHOUWANG_WORKER_ID" in res.output
