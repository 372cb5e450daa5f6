"""``shouwang serve``, ``users``, ``audit``, ``privacy``, ``retention``: service and store."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shouwang.cli.apps import app, audit_app, demo_app, privacy_app, retention_app, users_app

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from api.settings import Settings

ROLES_HELP = "operator, supervisor, admin or auditor"


def _settings(**overrides: Any) -> Settings:
    from pydantic import ValidationError

    from api.settings import Settings

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        typer.echo(f"error: bad settings (environment SHOUWANG_*): {exc}", err=True)
        raise typer.Exit(2) from None


@app.command("serve")
def serve(
    site: Annotated[Path, typer.Argument(help="site file (cameras, compounds, lists)")],
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port to listen on")] = 8080,
    consumer: Annotated[
        bool, typer.Option(help="also run the store consumer (alert stream → database)")
    ] = True,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=32,
            help="web worker processes; the consumer, scheduler and pushes run once, here",
        ),
    ] = 1,
) -> None:
    """Run the web service (operator API, /healthz, /metrics) and the store consumer.

    The store is SQLite in SHOUWANG_DATA_DIR (default .shouwang/store.sqlite) unless
    SHOUWANG_DATABASE_URL names PostgreSQL; Redis comes from REDIS_URL. The schema is
    migrated on start. Create the first user with `shouwang users add`.

    Example:

        shouwang users add admin --role admin < password.txt

        shouwang serve configs/demo-site.yaml --port 8080
    """
    import uvicorn

    from alerts.store.db import StoreError
    from api.app import create_app
    from shouwang.config import ConfigError

    if not site.is_file():
        typer.echo(f"error: site file {site} not found", err=True)
        raise typer.Exit(2)
    settings = _settings(site=site, run_consumer=consumer, run_scheduler=True)
    if workers > 1:
        _serve_workers(settings, host, port, workers)
        return
    try:
        application = create_app(settings)
    except (StoreError, ConfigError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"Shouwang security centre on http://{host}:{port}/")
    uvicorn.run(application, host=host, port=port, log_level="warning")


def _serve_workers(settings: Settings, host: str, port: int, workers: int) -> None:
    """The web service in ``workers`` processes (uvicorn's), the background threads once.

    This process migrates the store and runs the store consumer, the scheduler and the
    police pushes (one of each, as with one process); the workers serve requests only.
    Each worker builds its app from the environment (``SHOUWANG_*``), told to run no
    background thread. The audit log stays one chain across them: every append, and
    every batch of a worker's audit writer, locks the chain's head row.
    """
    import os

    import uvicorn

    from alerts.store.db import StoreError
    from api.services import Services
    from shouwang.config import ConfigError

    try:
        background = Services(settings)
    except (StoreError, ConfigError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if settings.site is not None:
        os.environ["SHOUWANG_SITE"] = str(settings.site.resolve())
    os.environ["SHOUWANG_RUN_CONSUMER"] = "false"
    os.environ["SHOUWANG_RUN_SCHEDULER"] = "false"
    background.start()
    typer.echo(f"Shouwang security centre on http://{host}:{port}/ ({workers} workers)")
    try:
        uvicorn.run(
            "api.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
        )
    finally:
        background.close()


def _open_store() -> Engine:
    """The configured store, or exit 2 with the reason (URL without its password)."""
    from alerts.store.db import StoreError, open_store

    try:
        return open_store()
    except StoreError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            typer.echo("error: the two passwords differ", err=True)
            raise typer.Exit(2)
        return first
    return sys.stdin.readline().rstrip("\r\n")


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="login name")],
    role: Annotated[str, typer.Option(help=ROLES_HELP)],
    compounds: Annotated[
        str, typer.Option(help="comma-separated compound ids (operators need at least one)")
    ] = "",
) -> None:
    """Create a user; the password is read from standard input (asked twice on a terminal).

    Example:

        printf '%s\\n' "$PASSWORD" | shouwang users add wang --role operator --compounds lijing
    """
    from alerts.store import audit
    from alerts.store.db import session_factory, transaction
    from alerts.store.users import AccountError, add_user

    password = _read_password()
    engine = _open_store()
    try:
        with transaction(session_factory(engine)) as s:
            u = add_user(s, name, password, role=role, compounds=compounds.split(","))
            audit.append(
                s,
                actor="cli",
                action="user.add",
                target=u.name,
                detail={"role": u.role, "compounds": u.compounds},
                source="localhost",
            )
    except AccountError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    typer.echo(
        f"user {u.name} ({u.role}) created"
        + (f" for {', '.join(u.compounds)}" if u.compounds else "")
    )


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit log's hash chain; report the first entry changed or removed.

    Exit status 0 when the chain is intact, 1 when it is broken, 2 when the store
    cannot be opened.
    """
    from alerts.store import audit
    from alerts.store.db import session_factory

    engine = _open_store()
    try:
        with session_factory(engine)() as s:
            res = audit.verify(s)
    finally:
        engine.dispose()
    if res.ok:
        typer.echo(f"audit log intact: {res.checked} entries verified")
        return
    typer.echo(
        f"audit log BROKEN at entry {res.first_bad}: {res.problem} "
        f"({res.checked} entries before it verified)"
    )
    raise typer.Exit(1)


@privacy_app.command("erase")
def privacy_erase(
    person: Annotated[
        str, typer.Option("--person", help="watchlist entry id (an alert's person_id) or name")
    ],
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
) -> None:
    """Erase a person: every watchlist entry (embeddings, photos, cached indices), the
    face crops and snapshots of their incidents, and their label in stored alerts.

    The erasure is recorded in the audit log without any biometric data. Incidents on
    legal hold keep their evidence and are listed.

    Example:

        shouwang privacy erase --person 17 --yes
    """
    from alerts.store.db import data_dir, session_factory, transaction
    from alerts.store.erasure import erase_person

    if not yes and not typer.confirm(f"erase every trace of person {person!r}?"):
        raise typer.Exit(1)
    engine = _open_store()
    root = data_dir()
    try:
        with transaction(session_factory(engine)) as s:
            res = erase_person(
                s,
                person,
                data_dir=root,
                evidence_root=root / "evidence",
                actor="cli",
                source="localhost",
            )
    finally:
        engine.dispose()
    lists = sorted({lst for lst, _ in res.entries})
    typer.echo(
        f"erased person {person}: {len(res.entries)} watchlist entries"
        + (f" ({', '.join(lists)})" if lists else "")
        + f", evidence of {len(res.incidents)} incidents ({res.files} files)"
    )
    if res.held:
        typer.echo(f"kept (legal hold): {', '.join(res.held)}")


@retention_app.command("purge")
def retention_purge() -> None:
    """Delete now what the retention policy says is due (``shouwang serve`` does this on
    a schedule); prints what was removed, which the audit log also records."""
    from alerts.store import retention
    from alerts.store.db import StoreError, open_store, session_factory, transaction

    settings = _settings()
    try:
        engine = open_store(settings.database_url or None, data=settings.data_dir)
    except StoreError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        with transaction(session_factory(engine)) as s:
            res = retention.purge(s, settings.retention, settings.evidence_dir, actor="cli")
    finally:
        engine.dispose()
    typer.echo(
        f"purged {len(res.incidents)} incidents, {res.reads} access-log reads, "
        f"{res.files} evidence files; {res.held} due but on legal hold"
    )


@demo_app.command("operator")
def demo_operator(
    site: Annotated[Path, typer.Argument(help="the demo site file")] = Path(
        "configs/demo-site.yaml"
    ),
    name: Annotated[str, typer.Option(help="the demo operator's login name")] = "demo",
) -> None:
    """Make sure the demo operator exists (every compound of the site) and print its login.

    The password is random, made once and kept in `<data dir>/demo-operator.txt` (owner
    only), so the demo prints the same login every time. For the demo only: real users
    are created with `shouwang users add`.
    """
    import secrets

    from sqlalchemy import select

    from alerts.store import audit
    from alerts.store.db import StoreError, data_dir, open_store, session_factory, transaction
    from alerts.store.users import User, add_user, set_password
    from shouwang.config import ConfigError, load_site

    try:
        compounds = [c.id for c in load_site(site).compounds]
        engine = open_store()
    except (ConfigError, StoreError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    secret = data_dir() / "demo-operator.txt"
    password = secret.read_text().strip() if secret.is_file() else ""
    try:
        with transaction(session_factory(engine)) as s:
            user = s.execute(select(User).where(User.name == name)).scalar()
            if user is None or not password:
                password = password or secrets.token_urlsafe(9)
                if user is None:
                    add_user(s, name, password, role="operator", compounds=compounds)
                else:
                    set_password(user, password)
                audit.append(
                    s,
                    actor="demo",
                    action="user.add",
                    target=name,
                    detail={"role": "operator", "compounds": compounds},
                )
    finally:
        engine.dispose()
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.touch(mode=0o600)
    secret.write_text(password + "\n")
    typer.echo(f"demo operator login: {name} / {password}")
