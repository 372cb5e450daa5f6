"""A city on one Redis: many simulated workers sharing thousands of cameras by leases.

Each simulated worker is a real :class:`~alerts.leases.LeaseManager` with its own
connection and tick thread, exactly as in ``shouwang run``, minus the video. The Redis is
a ``redis-server`` of the simulation's own on a free loopback port, so its CPU and
command counters (``INFO``) are the leases' alone.

Phases (times also in lease periods, the goal being 2 for each):

1. cold start: every worker starts at once; time until every camera is held by a live
   worker and every worker holds its fair share (``floor``/``ceil`` of cameras/workers);
2. steady state: for ``steady_s``, Redis commands per second and Redis CPU (percent of
   one core) with no observer polling;
3. takeover: ``kill_fraction`` of the workers stop at once without releasing (as with
   SIGKILL); time until every camera is held again by a survivor, and to a fair share.

``shouwang leases simulate`` runs it and prints JSON; ``--curve`` repeats it for several
worker counts and ``--plot`` draws the curve (docs/k8s.md has the figures).
"""

from __future__ import annotations

import json
import math
import shutil
import socket
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import redis

from alerts import keys
from alerts.connection import connect
from alerts.leases import LeaseManager

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


@dataclass(frozen=True, slots=True)
class SimResult:
    """One run's figures (seconds, and the same in lease periods)."""

    cameras: int
    workers: int
    ttl_s: float
    fair_s: float | None
    takeover_s: float | None
    refair_s: float | None
    commands_per_s: float
    calls_per_s: float
    redis_cpu_pct: float
    killed: int

    @property
    def fair_periods(self) -> float | None:
        return None if self.fair_s is None else self.fair_s / self.ttl_s

    @property
    def takeover_periods(self) -> float | None:
        return None if self.takeover_s is None else self.takeover_s / self.ttl_s

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with the lease-period figures."""
        d = asdict(self)
        d["fair_periods"] = self.fair_periods
        d["takeover_periods"] = self.takeover_periods
        d["refair_periods"] = None if self.refair_s is None else self.refair_s / self.ttl_s
        return d


class OwnRedis:
    """A throw-away ``redis-server`` (no persistence) on a free loopback port."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self._dir = tempfile.TemporaryDirectory(prefix="shouwang-lease-sim-")
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self._dir.name, "--maxclients", "2000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.url = f"redis://127.0.0.1:{self.port}/0"
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        client.close()

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self._dir.cleanup()


def camera_ids(compounds: int, per_compound: int) -> list[str]:
    """``c0001-07``: compound number and camera number, as a city's site files would."""
    return [f"c{c:04d}-{k:02d}" for c in range(compounds) for k in range(per_compound)]


def _fair(client: redis.Redis, cameras: Sequence[str], alive: set[str]) -> tuple[bool, bool]:
    """(every camera held by a live worker, and every live worker at its fair share)."""
    holders = cast("list[str | None]", client.mget([keys.camera_lease(c) for c in cameras]))
    covered = all(h in alive for h in holders)
    counts = Counter(h for h in holders if h in alive)
    lo, hi = len(cameras) // len(alive), math.ceil(len(cameras) / len(alive))
    return covered, covered and all(lo <= counts[w] <= hi for w in alive)


def _wait(
    client: redis.Redis, cameras: Sequence[str], alive: set[str], t0: float, limit_s: float
) -> tuple[float | None, float | None]:
    covered_at: float | None = None
    while time.monotonic() - t0 < limit_s:
        covered, fair = _fair(client, cameras, alive)
        now = time.monotonic() - t0
        if covered and covered_at is None:
            covered_at = now
        if fair:
            return covered_at, now
        time.sleep(0.1)
    return covered_at, None


def _cpu_and_commands(client: redis.Redis) -> tuple[float, int]:
    """Redis CPU seconds and commands processed (those scripts run included)."""
    cpu = client.info("cpu")
    stats = client.info("stats")
    return (
        float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"]),
        int(stats["total_commands_processed"]),
    )


def _client_calls(client: redis.Redis) -> int:
    """Calls only clients make: script calls (EVALSHA), lease reads (MGET), grabs (SET).

    ``total_commands_processed`` also counts what the scripts run inside (GET and
    PEXPIRE per renewed lease, ...), which is the cost; this is the traffic.
    """
    per = client.info("commandstats")
    return sum(int(per.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("evalsha", "mget", "set"))


def simulate(
    *,
    compounds: int = 432,
    per_compound: int = 20,
    workers: int = 100,
    ttl_ms: int = 10_000,
    steady_s: float = 30.0,
    kill_fraction: float = 0.1,
    redis_url: str | None = None,
    limit_periods: float = 10.0,
) -> SimResult:
    """Run the three phases once; a fresh own Redis unless ``redis_url`` is given."""
    own = None if redis_url else OwnRedis()
    url = redis_url or (own.url if own else "")
    cameras = camera_ids(compounds, per_compound)
    observer = connect(url, timeout_s=5.0)
    observer.flushdb()
    ttl_s = ttl_ms / 1000
    fleet = [
        LeaseManager(connect(url, timeout_s=5.0), f"sim-{i:03d}", cameras, ttl_ms=ttl_ms)
        for i in range(workers)
    ]
    try:
        t0 = time.monotonic()
        for m in fleet:
            m.start(lambda change: None)
        alive = {m.worker_id for m in fleet}
        _, fair_s = _wait(observer, cameras, alive, t0, limit_periods * ttl_s)
        cpu0, cmd0 = _cpu_and_commands(observer)
        calls0 = _client_calls(observer)
        s0 = time.monotonic()
        time.sleep(steady_s)
        cpu1, cmd1 = _cpu_and_commands(observer)
        calls1 = _client_calls(observer)
        span = time.monotonic() - s0
        victims = fleet[: round(workers * kill_fraction)]
        t1 = time.monotonic()
        for m in victims:
            m.stop(release=False)  # as SIGKILL: the leases stay until they expire
        alive -= {m.worker_id for m in victims}
        takeover_s, refair_s = (
            _wait(observer, cameras, alive, t1, limit_periods * ttl_s) if victims else (0.0, 0.0)
        )
        return SimResult(
            cameras=len(cameras),
            workers=workers,
            ttl_s=ttl_s,
            fair_s=fair_s,
            takeover_s=takeover_s,
            refair_s=refair_s,
            commands_per_s=(cmd1 - cmd0 - 2) / span,  # less the observer's two INFO calls
            calls_per_s=(calls1 - calls0) / span,
            redis_cpu_pct=100 * (cpu1 - cpu0) / span,
            killed=len(victims),
        )
    finally:
        for m in fleet:
            m.stop(release=False)
            m.redis.close()
        observer.close()
        if own is not None:
            own.close()


def curve(worker_counts: Iterable[int], **kwargs: Any) -> list[SimResult]:
    """:func:`simulate` once per worker count (same cameras)."""
    return [simulate(workers=n, **kwargs) for n in worker_counts]


def load_results(lines: Iterable[str]) -> list[SimResult]:
    """Results printed by ``shouwang leases simulate`` (one JSON object a line)."""
    names = set(SimResult.__dataclass_fields__)
    out = []
    for line in lines:
        if line.strip():
            doc = json.loads(line)
            out.append(SimResult(**{k: v for k, v in doc.items() if k in names}))
    return out


def plot_curve(results: Sequence[SimResult], path: Path) -> Path:
    """Fair share and takeover (lease periods), Redis CPU and commands/s vs workers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [r.workers for r in results]
    fig, (ax_t, ax_r) = plt.subplots(1, 2, figsize=(10, 4))
    ax_t.plot(xs, [r.fair_periods or math.nan for r in results], "o-", label="cold start → fair")
    ax_t.plot(
        xs, [r.takeover_periods or math.nan for r in results], "s-", label="10 % die → taken over"
    )
    ax_t.axhline(2.0, color="grey", linestyle="--", label="goal: 2 lease periods")
    ax_t.set_xlabel("workers")
    ax_t.set_ylabel("lease periods")
    ax_t.set_title(f"{results[0].cameras} cameras, lease {results[0].ttl_s:g} s")
    ax_t.legend()
    ax_r.plot(xs, [r.redis_cpu_pct for r in results], "o-", color="tab:red", label="Redis CPU %")
    ax_r.axhline(10.0, color="tab:red", linestyle="--", label="goal: 10 % of a core")
    ax_r.set_xlabel("workers")
    ax_r.set_ylabel("% of one core (steady state)")
    ax_c = ax_r.twinx()
    ax_c.plot(xs, [r.commands_per_s for r in results], "s-", color="tab:blue", label="commands/s")
    ax_c.set_ylabel("Redis commands/s (script-internal included)")
    ax_c.set_ylim(0, 1.4 * max(r.commands_per_s for r in results))
    ax_r.set_ylim(bottom=0, top=12)
    lines = ax_r.get_legend_handles_labels()
    more = ax_c.get_legend_handles_labels()
    ax_r.legend(lines[0] + more[0], lines[1] + more[1], loc="center right")
    ax_r.set_title("Redis in steady state")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
