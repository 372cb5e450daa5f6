"""``shouwang leases``: who serves which camera, and handing a worker's cameras over.

``drain`` is what a Kubernetes worker pod's ``preStop`` hook runs: the pod gives its
cameras to the other workers at once (instead of after the lease TTL) while it still
has its grace period to publish what is in its outbox.
"""

from __future__ import annotations

import os
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
