"""``shouwang leases``: who serves which camera, and handing a worker's cameras over.

``drain`` is what a Kubernetes worker pod's ``preStop`` hook runs: the pod gives its
cameras to the other workers at once (instead of after the lease TTL) while it still
has its grace period to publish what is in its outbox.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, cast

import redis
import typer

from alerts import keys
from alerts.connection import DEFAULT_REDIS_URL, connect
from alerts.leases import drain
from shouwang.cli.apps import app
from streams.redact import redact_url

leases_app = typer.Typer(
    help="Camera leases among workers: `show` who serves what, `drain` a worker (preStop).",
    no_args_is_help=True,
)
app.add_typer(leases_app, name="leases")


def _client() -> tuple[redis.Redis, str]:
    url = os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)
    return connect(url, timeout_s=5.0), url


def _unreachable(url: str, exc: Exception) -> typer.Exit:
    typer.echo(f"error: cannot reach Redis at {redact_url(url)} (REDIS_URL): {exc}", err=True)
    return typer.Exit(2)


@leases_app.command("drain")
def drain_cmd(
    worker_id: Annotated[
        str,
        typer.Argument(
            help="the worker's id (SHOUWANG_WORKER_ID; in Kubernetes the pod name)",
            show_default=False,
        ),
    ] = "",
) -> None:
    """Make a worker give up its cameras now and take no more; the others take them.

    The worker keeps running (it still publishes its outbox) but serves nothing until
    it restarts. Without an argument, drains `SHOUWANG_WORKER_ID` (what a pod's
    `preStop` hook runs). Prints how many leases were handed over.

    Example: `REDIS_URL=redis://redis:6379/0 shouwang leases drain worker-3`
    """
    worker_id = worker_id or os.environ.get("SHOUWANG_WORKER_ID", "")
    if not worker_id:
        typer.echo("error: give a WORKER_ID or set SHOUWANG_WORKER_ID", err=True)
        raise typer.Exit(1)
    client, url = _client()
    ttl = int(os.environ.get("SHOUWANG_LEASE_TTL_MS") or 10_000)
    try:
        freed = drain(client, worker_id, ttl_ms=ttl)
    except (redis.RedisError, OSError) as exc:
        raise _unreachable(url, exc) from None
    finally:
        client.close()
    typer.echo(f"worker {worker_id} drained: {freed} camera lease(s) handed over")


@leases_app.command("show")
def show_cmd() -> None:
    """List every camera lease (camera, owning worker) and the live workers."""
    client, url = _client()
    try:
        lease_keys = sorted(client.scan_iter(match=keys.camera_lease("*"), count=1000))
        owners = cast("list[str | None]", client.mget(lease_keys)) if lease_keys else []
        workers = cast("list[str]", client.zrange(keys.WORKERS, 0, -1))
    except (redis.RedisError, OSError) as exc:
        raise _unreachable(url, exc) from None
    finally:
        client.close()
    prefix = len(keys.camera_lease(""))
    for key, owner in zip(lease_keys, owners, strict=True):
        typer.echo(f"{str(key)[prefix:]}\t{owner or '-'}")
    typer.echo(f"live workers: {', '.join(workers) or 'none'}")


@leases_app.command("simulate")
def simulate_cmd(
    compounds: Annotated[int, typer.Option(min=1, help="compounds in the city")] = 432,
    per_compound: Annotated[int, typer.Option(min=1, help="cameras per compound")] = 20,
    workers: Annotated[int, typer.Option(min=1, max=1000, help="simulated workers")] = 100,
    ttl_ms: Annotated[int, typer.Option(min=100, help="lease TTL (ms), as in production")] = 10_000,
    steady_s: Annotated[float, typer.Option(min=1, help="steady-state measuring window (s)")] = 30,
    kill: Annotated[float, typer.Option(min=0, max=0.9, help="share of workers killed")] = 0.1,
    curve: Annotated[
        str, typer.Option(help="comma-separated worker counts to run one after the other")
    ] = "",
    plot: Annotated[Path | None, typer.Option(help="write the curve as a PNG here")] = None,
) -> None:
    """Simulate a city's workers sharing its cameras on one real Redis; print JSON.

    Starts a `redis-server` of its own on loopback, then real lease managers (one
    connection and tick thread each, no video): time from a cold start to a fair share,
    Redis commands/s and CPU in steady state, and the takeover time when `--kill` of
    the workers stop at once without releasing. Times are also given in lease periods
    (the goal: 2 each; Redis under 10 % of one core). A run takes about a minute.

    Example: `shouwang leases simulate --curve 10,25,50,100 --plot docs/img/lease-curve.png`
    """
    from bench.lease_sim import plot_curve, simulate

    counts = [int(x) for x in curve.split(",") if x.strip()] or [workers]
    results = []
    for n in counts:
        res = simulate(
            compounds=compounds,
            per_compound=per_compound,
            workers=n,
            ttl_ms=ttl_ms,
            steady_s=steady_s,
            kill_fraction=kill,
        )
        results.append(res)
        typer.echo(json.dumps(res.as_dict()))
    if plot is not None:
        typer.echo(f"plot: {plot_curve(results, plot)}", err=True)
