"""``shouwang run``: run a site — open every camera, serve metrics, show live health.

The command is built from small parts the pipeline reuses:

* :func:`open_site_sources` (``streams``) opens the cameras;
* a **worker** — any callable ``worker(sources, stop)`` that consumes frames until the
  ``stop`` event is set — runs in a thread of its own. Until the pipeline exists the
  worker is :func:`drain_frames`; the pipeline will pass its own to :func:`run_site`;
* :func:`run_site` ties them together with signal handling, the metrics server and the
  health display, and shuts everything down on SIGINT, SIGTERM or ``--for``.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
from prometheus_client import start_http_server
from rich import box
from rich.console import Console
from rich.live import Live
from rich.table import Table

from shouwang.cli.apps import app
from shouwang.config import ConfigError, Site, load_site
from streams import Health, Source, SourceGroup, State, StreamEnded, StreamError, SurplusFrames
from streams import open_site_sources as open_site_sources

log = logging.getLogger(__name__)

Worker = Callable[[SourceGroup, threading.Event], None]
# Per-camera pipeline figures for the table (see shouwang.runtime.Runtime.rows).
Rows = Callable[[], Mapping[str, Mapping[str, Any]]]


def drain_frames(sources: SourceGroup, stop: threading.Event) -> None:
    """The stand-in worker: take every camera's newest frame and let it go.

    One reader thread per camera, so a stalled camera never holds up another.
    """

    def reader(src: Source) -> None:
        while not stop.is_set():
            try:
                src.read(timeout=0.5)
            except (StreamEnded, StreamError):
                return  # stopped or failed: health shows why

    threads = [
        threading.Thread(target=reader, args=(s,), name=f"drain-{cam}", daemon=True)
        for cam, s in sources.items()
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Set ``stop`` on SIGINT/SIGTERM (a second SIGINT aborts at once); restore after."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        log.info("signal %s: shutting down", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}"


def pipeline_table(health: Mapping[str, Health], rows: Mapping[str, Mapping[str, Any]]) -> Table:
    """One row per camera with the worker's figures: what `shouwang run` shows.

    Columns: stream state, frames/s analysed, frames processed (done), drops (stale
    frames the worker skipped plus frames the stream dropped because the worker was
    busy), faults (flt: read errors, stage errors, resolution changes), alerts
    published (alrt) and glass-to-alert p50/p95 in ms (frame captured → alert handed
    to Redis or the outbox).
    """
    table = Table(title="cameras", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("camera", "state", "fps", "done", "drop", "flt", "alrt", "g2a ms"):
        left = col in ("camera", "state")
        table.add_column(col, justify="left" if left else "right", no_wrap=True)
    table.add_column("last fault", overflow="fold", ratio=1)
    colours = {State.STREAMING: "green", State.FAILED: "red", State.RECONNECTING: "yellow"}
    for cam, h in health.items():
        r = rows.get(cam)
        if r is None:
            why = "not served here" + (f"; {h.last_error}" if h.last_error else "")
            table.add_row(cam, f"[dim]{h.state.value}[/]", *["-"] * 6, why)
            continue
        drops = int(r["dropped_stale"]) + h.frames_dropped
        table.add_row(
            cam,
            f"[{colours.get(h.state, 'white')}]{h.state.value}[/]",
            f"{r['fps']:.1f}",
            str(r["processed"]),
            str(drops),
            str(r["faults"]),
            str(r["alerts"]),
            f"{_ms(r['alert_ms_p50'])}/{_ms(r['alert_ms_p95'])}",
            r["last_fault"] or h.last_error or "",
        )
    return table


def pipeline_lines(
    health: Mapping[str, Health], rows: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    """The same figures as :func:`pipeline_table`, one plain line per camera (for logs)."""
    out = []
    for cam, h in health.items():
        r = rows.get(cam)
        if r is None:
            why = f" ({h.last_error})" if h.last_error else ""
            out.append(f"{cam}: {h.state.value}, not served by this worker{why}")
            continue
        out.append(
            f"{cam}: {h.state.value} fps={r['fps']:.1f} processed={r['processed']} "
            f"drops={int(r['dropped_stale']) + h.frames_dropped} faults={r['faults']} "
            f"alerts={r['alerts']} g2a_p50_ms={_ms(r['alert_ms_p50'])} "
            f"g2a_p95_ms={_ms(r['alert_ms_p95'])} frame_p50_ms={_ms(r['latency_ms_p50'])} "
            f"frame_p95_ms={_ms(r['latency_ms_p95'])}"
            + (f" last_fault={r['last_fault']!r}" if r["last_fault"] else "")
        )
    return out


def health_table(health: Mapping[str, Health]) -> Table:
    """One row per camera: what `shouwang run` shows while it runs."""
    table = Table(title="cameras", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("camera", "state", "size", "rx/s", "dec/s", "read", "drops", "reconn"):
        left = col in ("camera", "state")
        table.add_column(col, justify="left" if left else "right", no_wrap=True)
    table.add_column("last error", overflow="fold", ratio=1)
    colours = {State.STREAMING: "green", State.FAILED: "red", State.RECONNECTING: "yellow"}
    for cam, h in health.items():
        table.add_row(
            cam,
            f"[{colours.get(h.state, 'white')}]{h.state.value}[/]",
            f"{h.width}x{h.height}" if h.width else "-",
            f"{h.fps_received:.1f}",
            f"{h.fps_decoded:.1f}",
            str(h.frames_delivered),
            str(h.frames_dropped),
            str(h.reconnects),
            h.last_error or "",
        )
    return table


def run_site(
    site: Site,
    site_dir: Path,
    *,
    duration: float | None = None,
    metrics_port: int = 9108,
    worker: Worker = drain_frames,
    console: Console | None = None,
    rows: Rows | None = None,
    open_sources: Callable[[Site, Path], SourceGroup] = open_site_sources,
) -> dict[str, Health]:
    """Run ``site`` until SIGINT/SIGTERM or ``duration`` seconds; return the final health.

    ``open_sources`` builds the cameras (``shouwang.ownership.open_owned_sources``
    connects each only while this worker holds its lease).

    Raises:
        StreamError: a camera URL cannot be resolved (a missing environment variable).
        OSError: the metrics port cannot be bound.
    """
    console = console or Console(stderr=True)
    stop = threading.Event()
    sources = open_sources(site, site_dir)
    if not sources:
        console.print("no enabled cameras in the site: nothing to run")
        return {}
    if metrics_port:
        start_http_server(metrics_port)
        console.print(f"metrics on http://0.0.0.0:{metrics_port}/metrics")
    with stop_on_signals(stop), sources:
        thread = threading.Thread(target=worker, args=(sources, stop), name="worker", daemon=True)
        thread.start()
        deadline = None if duration is None else time.monotonic() + duration
        advice = SurplusFrames({c.id: c.fps for c in site.cameras if c.enabled})
        _watch(sources, stop, deadline, console, rows, advice)
        stop.set()
        final = sources.health()  # as it ran, before the sources stop
        thread.join(timeout=10.0)
    if rows is not None:
        table_rows = rows()
        if console.is_terminal:
            console.print(pipeline_table(final, table_rows))
        else:
            for line in pipeline_lines(final, table_rows):
                console.print(line, highlight=False, soft_wrap=True)
    elif console.is_terminal:
        console.print(health_table(final))
    else:
        for h in final.values():
            console.print(h.line(), highlight=False, soft_wrap=True)
    return final


def _advise(advice: SurplusFrames | None, sources: SourceGroup, console: Console) -> None:
    """Print and log the surplus-frame notes that are new."""
    if advice is None:
        return
    for note in advice.check(sources.health()):
        log.warning("%s", note)
        console.print(f"note: {note}", highlight=False, soft_wrap=True)


def _watch(
    sources: SourceGroup,
    stop: threading.Event,
    deadline: float | None,
    console: Console,
    rows: Rows | None = None,
    advice: SurplusFrames | None = None,
) -> None:
    """Show the health table until ``stop`` or the deadline; live on a terminal.

    ``advice`` notes (once per camera, logged and printed) a camera that sends more
    frames than its analysis rate needs.
    """

    def advise() -> None:
        _advise(advice, sources, console)

    def table() -> Table:
        if rows is None:
            return health_table(sources.health())
        return pipeline_table(sources.health(), rows())

    def done() -> bool:
        if stop.is_set() or (deadline is not None and time.monotonic() >= deadline):
            return True
        # nothing left to watch: every camera gave up (files that cannot be read)
        return all(h.state is State.FAILED for h in sources.health().values())

    if console.is_terminal:
        with Live(table(), console=console, auto_refresh=False) as live:
            while not done():
                stop.wait(0.5)
                live.update(table(), refresh=True)
                advise()
        return
    last = 0.0
    while not done():
        stop.wait(0.5)
        advise()
        if time.monotonic() - last >= 5.0:
            last = time.monotonic()
            if rows is not None:
                lines = pipeline_lines(sources.health(), rows())
            else:
                lines = [h.line() for h in sources.health().values()]
            for line in lines:
                console.print(line, highlight=False, soft_wrap=True)


@app.command("run")
def run(
    site_file: Annotated[
        Path, typer.Argument(help="site YAML file, e.g. configs/demo-site.yaml", show_default=False)
    ],
    for_: Annotated[
        float | None,
        typer.Option(
            "--for", min=0.1, help="stop after this many seconds (default: run until Ctrl-C)"
        ),
    ] = None,
    metrics_port: Annotated[
        int,
        typer.Option(
            "--metrics-port", min=0, max=65535, help="Prometheus /metrics port; 0 turns it off"
        ),
    ] = 9108,
    leases: Annotated[
        bool,
        typer.Option(
            "--leases/--no-leases",
            help="share the cameras with other workers through Redis leases (default on)",
        ),
    ] = True,
    streams_only: Annotated[
        bool,
        typer.Option(
            "--streams-only", help="only open the cameras and show stream health (no models)"
        ),
    ] = False,
) -> None:
    """Run a site's worker: cameras → detection → tracking → stages → alerts in Redis.

    Every enabled camera's analysis stream (`detect_url`, else `url`) is opened with
    credentials from the environment (`${VAR}` in the site file). One worker batches
    the newest frame of every camera it serves through the object detector, tracks per
    camera, runs the stages the site asks for (anomaly `rules`, face `watchlists`,
    `plate_lists`) and publishes alerts to Redis (`shouwang alerts tail` shows them).

    Environment: `REDIS_URL` (default redis://127.0.0.1:6379/0; when Redis is down
    alerts wait in the outbox), `SHOUWANG_DATA_DIR` (state: outbox, evidence,
    watchlists; default .shouwang/), `SHOUWANG_PROVIDER` (cpu, cuda, tensorrt),
    `SHOUWANG_WORKER_ID` (lease owner name; host-pid by default). `REDIS_URL` may
    name Sentinels: `redis+sentinel://s1:26379,s2:26379,s3:26379/shouwang/0`.

    Scale-out: start several `shouwang run` on the same site and Redis; each connects
    to and decodes only the cameras it holds a lease on (main streams too), and takes
    over a dead worker's cameras when its leases expire (10 s).
    `shouwang leases drain WORKER_ID` hands a worker's cameras to the others at once.

    The table shows per camera: stream state, frames/s analysed, frames processed,
    drops, faults (read errors, stage errors, resolution changes), alerts published and
    glass-to-alert p50/p95 in ms. Stops cleanly on Ctrl-C or SIGTERM (alerts in flight
    are published or kept in the outbox), or after `--for`. Exit code 1 if the site
    file is invalid or every camera failed.

    Example: `REDIS_URL=redis://127.0.0.1:6379/0 shouwang run configs/demo-site.yaml --for 60`
    """
    try:
        site = load_site(site_file)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    worker: Worker = drain_frames
    rows: Rows | None = None
    open_sources: Callable[[Site, Path], SourceGroup] = open_site_sources
    if not streams_only:
        from detectors.errors import ModelError
        from pipeline.anomaly import AnomalyError
        from shouwang.runtime import Runtime, RuntimeConfig

        try:
            runtime = Runtime(site, site_file.parent, RuntimeConfig.from_env(leases=leases))
        except (ModelError, AnomalyError, ValueError) as exc:  # ValueError: bad env values
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        worker, rows = runtime.run, runtime.rows
        if leases:  # decode only the cameras this worker holds a lease on
            from shouwang.ownership import open_owned_sources

            open_sources = open_owned_sources
    try:
        final = run_site(
            site,
            site_file.parent,
            duration=for_,
            metrics_port=metrics_port,
            worker=worker,
            rows=rows,
            open_sources=open_sources,
        )
    except StreamError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        typer.echo(f"error: cannot serve metrics on port {metrics_port}: {exc.strerror}", err=True)
        raise typer.Exit(1) from None
    if final and all(h.state is State.FAILED for h in final.values()):
        raise typer.Exit(1)
    sys.stderr.flush()
