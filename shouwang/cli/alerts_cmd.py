"""``shouwang alerts ...``: read the alert stream from the command line."""

from __future__ import annotations

import json
import os
import re
import sys
from datetime import UTC
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

import redis
import typer
from ulid import ULID

from alerts import keys
from alerts.consumer import parse_entry
from alerts.errors import AlertError
from alerts.model import Alert
from alerts.publisher import DEFAULT_REDIS_URL, connect
from shouwang.cli.apps import alerts_app

_STREAM_ID = re.compile(r"^\d+(-\d+)?$")
_ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$", re.IGNORECASE)


def _safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password:
        host = parts.hostname or ""
        netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def _start(since: str) -> tuple[str, bool]:
    """Stream position for ``--since``: (id, exclusive?)."""
    if _STREAM_ID.match(since):
        return since, True
    if _ULID.match(since):
        return f"{ULID.from_str(since.upper()).milliseconds}-0", False
    raise typer.BadParameter(
        f"{since!r} is neither a stream entry id (e.g. 1732480000000-0) nor an alert ULID",
        param_hint="--since",
    )


def format_line(stream_id: str, alert: Alert) -> str:
    """One human-readable line per alert."""
    loc = alert.location
    when = alert.times.detected.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    where = f"{loc.lat:.6f},{loc.lon:.6f} ±{loc.error_m:.1f}m"
    if loc.source != "calibration":
        where += " (camera position)"
    upd = f" [update {alert.update_count}, seen {alert.occurrences}x]" if alert.update_count else ""
    return (
        f"{stream_id}  {when}  {alert.severity:<8} {alert.type:<18} {alert.camera:<14} "
        f"{loc.place.label()}  {where}  {alert.summary()}{upd}"
    )


def _emit(entries: list[Any], as_json: bool) -> str | None:
    last = None
    for stream_id, fields in entries:
        last = str(stream_id)
        try:
            alert = parse_entry(fields or {})
        except AlertError as exc:
            typer.echo(f"skipping entry {stream_id}: {exc}", err=True)
            continue
        if as_json:
            doc = {"stream_id": last, **json.loads(alert.model_dump_json())}
            typer.echo(json.dumps(doc, ensure_ascii=False))
        else:
            typer.echo(format_line(last, alert))
    sys.stdout.flush()
    return last


def _stored(client: redis.Redis, since: str | None, limit: int) -> list[Any]:
    if since is None:
        rows: list[Any] = client.xrevrange(keys.ALERT_STREAM, "+", "-", count=limit)  # type: ignore[assignment]
        return list(reversed(rows or []))
    start, exclusive = _start(since)
    lo = f"({start}" if exclusive else start
    return list(client.xrange(keys.ALERT_STREAM, lo, "+", count=limit) or [])


@alerts_app.command("tail")
def tail(
    as_json: Annotated[
        bool, typer.Option("--json", help="one JSON object a line (the alert plus stream_id)")
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(
            help="start after this stream entry id (as printed first on each line), or from "
            "this alert ULID's creation time on"
        ),
    ] = None,
    limit: Annotated[
        int,
        typer.Option(min=1, help="at most this many stored alerts (the newest, or after --since)"),
    ] = 20,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="keep printing new alerts until Ctrl-C")
    ] = False,
) -> None:
    """Print alerts from the Redis alert stream, with their locations.

    Without --follow it prints what is stored (the newest --limit alerts, oldest first)
    and exits; with --follow it then waits for new ones. Redis is found through REDIS_URL
    (default redis://127.0.0.1:6379/0).

    Each line reads: stream entry id, detection time (UTC), severity, type, camera,
    place (compound / building / gate / zones), WGS-84 lat,lon ± estimated error in
    metres ("camera position" when the camera has no calibration), then the subject
    (plate and list hit, face match, or track and rule). Updates of an ongoing incident
    say "[update N, seen M x]".

    Example:

        shouwang alerts tail --limit 5

        shouwang alerts tail --json --follow | jq '.location.lat'
    """
    url = os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)
    client = connect(url, timeout_s=5.0)
    try:
        last = _emit(_stored(client, since, limit), as_json)
        if not follow:
            return
        if last is None:
            newest: list[Any] = client.xrevrange(keys.ALERT_STREAM, "+", "-", count=1)  # type: ignore[assignment]
            last = str(newest[0][0]) if newest else "0-0"
        while True:
            res: list[Any] | None = client.xread({keys.ALERT_STREAM: last}, block=1000, count=100)  # type: ignore[assignment]
            for _stream, entries in res or []:
                last = _emit(entries, as_json) or last
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        typer.echo(
            f"error: cannot reach Redis at {_safe_url(url)} (REDIS_URL): {str(exc).rstrip('.')}. "
            "Is it running? `bash scripts/ensure-redis` starts a local one.",
            err=True,
        )
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
    finally:
        client.close()
