"""Real Redis high availability on loopback: a primary, a replica and three Sentinels."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, cast

import redis

from tests.alerts.conftest import RedisServer, _free_port

REDIS_SENTINEL = shutil.which("redis-sentinel") or "/usr/bin/redis-sentinel"
SERVICE = "shouwang"


class SentinelSet:
    """``redis-server`` primary + replica and three ``redis-sentinel`` processes.

    Sentinels notice a dead primary after ``down_after_ms`` and promote the replica.
    """

    def __init__(self, workdir: Path, down_after_ms: int = 1000) -> None:
        self.workdir = workdir
        self.down_after_ms = down_after_ms
        (workdir / "primary").mkdir(parents=True)
        (workdir / "replica").mkdir()
        self.primary = RedisServer(workdir / "primary", ["--repl-diskless-sync-delay", "0"])
        self.replica = RedisServer(
            workdir / "replica", ["--replicaof", "127.0.0.1", str(self.primary.port)]
        )
        self.sentinel_ports = [_free_port() for _ in range(3)]
        self.sentinels: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{SERVICE}/0"

    def start(self, timeout: float = 20.0) -> None:
        self.primary.start()
        self.replica.start()
        for i, port in enumerate(self.sentinel_ports):
            conf = self.workdir / f"sentinel-{i}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.workdir}\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {self.primary.port} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} {self.down_after_ms}\n"
                f"sentinel failover-timeout {SERVICE} 5000\n"
                f"sentinel parallel-syncs {SERVICE} 1\n",
                encoding="utf-8",
            )
            self.sentinels.append(
                subprocess.Popen(
                    [REDIS_SENTINEL, str(conf)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._ready():
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("Sentinels did not see the replica and each other in time")

    def _ready(self) -> bool:
        replica = redis.Redis(port=self.replica.port, socket_timeout=0.5, decode_responses=True)
        try:
            if replica.info("replication").get("master_link_status") != "up":
                return False  # still in its first sync: it holds nothing yet
        except (redis.RedisError, OSError):
            return False
        finally:
            replica.close()
        for port in self.sentinel_ports:
            s = redis.Redis(port=port, socket_timeout=0.5, decode_responses=True)
            try:
                master = cast("dict[str, Any]", s.sentinel_master(SERVICE))
                if int(master["num-slaves"]) < 1 or int(master["num-other-sentinels"]) < 2:
                    return False
            except (redis.RedisError, OSError):
                return False
            finally:
                s.close()
        return True

    def primary_port(self) -> int:
        """The primary's port as a Sentinel sees it now."""
        s = redis.Redis(port=self.sentinel_ports[0], socket_timeout=0.5, decode_responses=True)
        try:
            addr = cast("tuple[str, int]", s.sentinel_get_master_addr_by_name(SERVICE))
            return int(addr[1])
        finally:
            s.close()

    def stop(self) -> None:
        for p in self.sentinels:
            if p.poll() is None:
                p.terminate()
        for p in self.sentinels:
            p.wait(timeout=10)
        self.sentinels.clear()
        self.replica.stop()
        self.primary.stop()
