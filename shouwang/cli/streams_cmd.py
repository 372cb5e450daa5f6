"""``shouwang streams``: look at one camera stream before it goes into a site file."""

from __future__ import annotations

import sys
import time
from typing import Annotated, Literal

import typer

from shouwang.cli.apps import streams_app
from shouwang.config.loader import resolve_url
from streams import SourceOptions, StreamEnded, StreamError, open_source, redact_url


@streams_app.command("probe")
def probe(
    url: Annotated[
        str,
        typer.Argument(
            help=(
                "rtsp://, rtsps://, file:// or a file path; ${VAR} references are filled "
                "from the environment, e.g. 'rtsp://${GATE_USER}:${GATE_PASS}@10.0.0.5/101'"
            ),
            show_default=False,
        ),
    ],
    seconds: Annotated[
        float, typer.Option("--seconds", "-s", min=0.5, help="how long to watch")
    ] = 10.0,
    transport: Annotated[
        str, typer.Option("--transport", "-t", help="RTSP transport: tcp or udp")
    ] = "tcp",
    read_timeout: Annotated[
        float, typer.Option("--read-timeout", min=0.1, help="seconds without data = stalled")
    ] = 3.0,
) -> None:
    """Connect to one stream and show its health, updated live.

    The line reads: state (connecting, streaming, reconnecting, stopped, failed),
    resolution, packets per second received and frames per second decoded, frames dropped
    (decoded but replaced before they were read; the probe reads every frame, so drops
    here mean this machine cannot keep up), reconnects, and the last error. Credentials
    are never printed: the URL shows as `rtsp://***@host/...`.

    A lost or stalled stream is reopened with backoff, as the platform does, so you can
    unplug a camera and watch it come back. Files play at their own frame rate.
    Exit code 0 if frames were decoded, 1 if the stream never delivered a frame.

    Example: `shouwang streams probe 'rtsp://${CAM_USER}:${CAM_PASS}@10.20.0.11/101' -s 20`
    """
    if transport not in ("tcp", "udp"):
        raise typer.BadParameter("use tcp or udp", param_hint="--transport")
    try:
        resolved = resolve_url(url)
    except KeyError as exc:
        typer.echo(f"error: {exc.args[0]} (needed by {redact_url(url)})", err=True)
        raise typer.Exit(2) from None
    mode: Literal["tcp", "udp"] = "udp" if transport == "udp" else "tcp"
    options = SourceOptions(
        transport=mode,
        read_timeout_s=read_timeout,
        open_timeout_s=max(5.0, read_timeout),
        realtime=True,
    )
    try:
        src = open_source("probe", resolved, options)
    except StreamError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    live = sys.stderr.isatty()
    typer.echo(f"probing {src.health().url} for {seconds:g} s (Ctrl-C stops)", err=True)
    last_shown = 0.0
    src.start()
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                src.read(timeout=0.2)
            except StreamEnded:
                break
            except StreamError:
                break  # failed for good; the health line says why
            now = time.monotonic()
            if now - last_shown >= (0.5 if live else 2.0):
                last_shown = now
                line = src.health().line()
                if live:
                    sys.stderr.write("\r\033[K" + line)
                    sys.stderr.flush()
                else:
                    typer.echo(line, err=True)
    except KeyboardInterrupt:
        pass
    finally:
        health = src.health()  # the state as probed, before stopping
        src.stop(timeout=1.0)
    if live:
        sys.stderr.write("\r\033[K")
    typer.echo(health.line())
    if health.frames_decoded == 0:
        raise typer.Exit(1)
