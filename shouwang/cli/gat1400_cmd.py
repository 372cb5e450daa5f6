"""``shouwang gat1400``: Shouwang as the lower platform of a GA/T 1400 view library."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shouwang.cli.apps import app

if TYPE_CHECKING:
    from shouwang.config import Site
    from shouwang.config.gat1400 import Gat1400Site

gat_app = typer.Typer(
    help=(
        "GA/T 1400 (视图库): register with the upper platform named in the site file's "
        "gat1400 section (password from the variable its password_env names), keep "
        "alive, and push plate reads, face hits and disposition hits through the outbox. "
        "The upper platform's watch orders arrive at the web service's /VIID/Dispositions."
    ),
    no_args_is_help=True,
)
app.add_typer(gat_app, name="gat1400")

SiteOpt = Annotated[Path, typer.Option("--site", help="site file with a gat1400 section")]


def _site(path: Path) -> tuple[Site, Gat1400Site]:
    from shouwang.config import ConfigError, load_site

    try:
        site = load_site(path)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if site.gat1400 is None:
        typer.echo(f"error: {path} has no gat1400 section (see docs/gat1400.md)", err=True)
        raise typer.Exit(2)
    return site, site.gat1400


@gat_app.command("run")
def run(
    site_file: SiteOpt,
    start: Annotated[
        str, typer.Option(help="where a new collector starts: 'now' or 'oldest' entry kept")
    ] = "now",
) -> None:
    """Run the lower platform until Ctrl-C (SIGTERM): collect, register, push."""
    from alerts.gat1400.client import LowerPlatform, UpperError, password
    from alerts.gat1400.dispositions import disposition_of
    from alerts.gat1400.outbox import Collector
    from alerts.gat1400.records import evidence_loader
    from alerts.publisher import connect
    from alerts.store.db import open_store, session_factory
    from api.settings import Settings

    site, cfg = _site(site_file)
    try:
        password(cfg)
    except UpperError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    settings = Settings()
    engine = open_store(settings.database_url or None, data=settings.data_dir)
    factory = session_factory(engine)
    r = connect(settings.redis_url, timeout_s=5.0)

    def disp(compound: str, plate: str) -> tuple[str, str] | None:
        with factory() as s:
            return disposition_of(s, compound, plate)

    col = Collector(
        site, r, evidence_loader(settings.evidence_dir), disposition_of=disp,
        start_id="$" if start == "now" else "0",
    )  # fmt: skip
    lower = LowerPlatform(cfg, r, factory, collector=col, timezone=site.timezone)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    typer.echo(f"gat1400: lower platform {cfg.platform_id} → {cfg.upper_url}")
    try:
        lower.run(stop)
    except KeyboardInterrupt:
        stop.set()
    finally:
        engine.dispose()


@gat_app.command("status")
def status(site_file: SiteOpt) -> None:
    """Print the outbox backlog and the dead letters as JSON."""
    from alerts import keys
    from alerts.gat1400.outbox import backlog
    from alerts.publisher import connect
    from api.settings import Settings

    site, cfg = _site(site_file)
    r = connect(Settings().redis_url, timeout_s=5.0)
    doc = {
        "platform_id": cfg.platform_id,
        "upper_url": cfg.upper_url,
        "backlog": backlog(r),
        "dead": r.xlen(keys.GAT1400_DEAD),
        "cameras": {c.id: c.gat1400.model_dump() for c in site.cameras if c.gat1400 is not None},
    }
    typer.echo(json.dumps(doc, ensure_ascii=False, indent=2))
