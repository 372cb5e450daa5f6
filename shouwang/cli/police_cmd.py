"""``shouwang clients`` (police API clients, signing keys) and ``shouwang evidence verify``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shouwang.cli.apps import app

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from api.settings import Settings

clients_app = typer.Typer(
    help=(
        "Police liaison API clients (OAuth2 client credentials): add one (prints its id "
        "and secret once), revoke, list; rotate the platform's signing key."
    ),
    no_args_is_help=True,
)
evidence_app = typer.Typer(
    help="Evidence packages exported through the police API: verify one offline.",
    no_args_is_help=True,
)
app.add_typer(clients_app, name="clients")
app.add_typer(evidence_app, name="evidence")


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


@contextmanager
def _store() -> Iterator[tuple[Settings, sessionmaker[Session]]]:
    from alerts.store.db import StoreError, open_store, session_factory
    from api.settings import Settings

    settings = Settings()
    try:
        eng = open_store(settings.database_url or None, data=settings.data_dir)
    except StoreError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        yield settings, session_factory(eng)
    finally:
        eng.dispose()


@clients_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="a name for the police platform, e.g. psb-xingqing")],
    scopes: Annotated[
        str,
        typer.Option(
            help="comma-separated: alerts:read, vehicles:read, faces:read, evidence:export, "
            "dispositions:write, subscriptions:write, audit:read"
        ),
    ],
    compounds: Annotated[str, typer.Option(help="comma-separated compound ids")] = "",
    division: Annotated[
        str | None, typer.Option(help="GB/T 2260 code covering compounds, e.g. 640104")
    ] = None,
    organisation: Annotated[str, typer.Option(help="the bureau, for evidence manifests")] = "",
    rate: Annotated[int, typer.Option(help="calls per minute before 429")] = 600,
) -> None:
    """Create a client; prints its client id and secret ONCE (only a hash is kept).

    Example:

        shouwang clients add psb-xingqing --scopes alerts:read,evidence:export --compounds lijing
    """
    from alerts.police.clients import ClientError, add_client
    from alerts.store.db import transaction

    try:
        with _store() as (_, factory), transaction(factory) as s:
            c, secret = add_client(
                s,
                name,
                scopes=_csv(scopes),
                compounds=_csv(compounds),
                division=division,
                organisation=organisation,
                rate_per_minute=rate,
            )
    except ClientError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"client_id:     {c.id}")
    typer.echo(f"client_secret: {secret}")
    typer.echo("Store the secret now: it is not shown again (only its hash is kept).")


@clients_app.command("revoke")
def revoke(name: Annotated[str, typer.Argument(help="the client's name")]) -> None:
    """Revoke a client: every token it holds stops working at once."""
    from alerts.police.client_cache import announce_revocation
    from alerts.police.clients import ClientError, revoke_client
    from alerts.publisher import connect
    from alerts.store.db import transaction

    try:
        with _store() as (settings, factory):
            with transaction(factory) as s:
                c = revoke_client(s, name)
            live = connect(settings.redis_url, timeout_s=5.0)
            try:
                told = announce_revocation(live)
            finally:
                live.close()
    except ClientError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"revoked {c.name} ({c.id})")
    if not told:
        typer.echo(
            "warning: Redis (REDIS_URL) did not answer: running API "
            f"processes refuse this client within {settings.police.client_cache_s:g} s "
            "(their client cache lifetime) instead of at once",
            err=True,
        )


@clients_app.command("list")
def list_() -> None:
    """Every client: id, scopes, jurisdiction, revoked or not."""
    from alerts.police.clients import list_clients
    from alerts.store.db import transaction

    with _store() as (_, factory), transaction(factory) as s:
        rows = [
            {
                "name": c.name,
                "client_id": c.id,
                "scopes": c.scopes,
                "compounds": c.compounds,
                "division": c.division,
                "revoked": c.revoked_at.isoformat() if c.revoked_at else None,
            }
            for c in list_clients(s)
        ]
    typer.echo(json.dumps(rows, ensure_ascii=False, indent=1))


@clients_app.command("rotate-key")
def rotate_key() -> None:
    """Add a new signing key: in the JWKS at once, signing after the publish delay
    (SHOUWANG_POLICE__KEY_PUBLISH_AHEAD_S); old tokens keep working until they expire."""
    from alerts.police.signing import KeyRing

    with _store() as (settings, _):
        pass
    cfg = settings.police
    ring = KeyRing(
        settings.data_dir / "police" / "keys",
        max_token_ttl_s=cfg.token_ttl_s,
        publish_ahead_s=cfg.key_publish_ahead_s,
    )
    k = ring.rotate()
    pruned = ring.prune()
    typer.echo(f"new key {k.kid}: signs in {cfg.key_publish_ahead_s:.0f} s")
    for kid in pruned:
        typer.echo(f"retired key {kid} (public half kept for evidence packages)")


@evidence_app.command("verify")
def verify(
    package: Annotated[Path, typer.Argument(help="the evidence ZIP")],
    keys: Annotated[
        Path | None,
        typer.Option(help="the platform's key folder (<data dir>/police/keys) to check the key"),
    ] = None,
) -> None:
    """Check every file's SHA-256 and size and the Ed25519 signature of the manifest,
    offline. Prints what fails, file by file; exit status 1 when anything does.

    Example:

        shouwang evidence verify evidence-2026-123.zip --keys /var/lib/shouwang/police/keys
    """
    from alerts.police.package import verify_package
    from alerts.police.signing import KeyRing

    try:
        data = package.read_bytes()
    except OSError as exc:
        typer.echo(f"error: cannot read {package}: {exc.strerror}", err=True)
        raise typer.Exit(2) from None
    known = None
    if keys is not None:
        if not (keys / "ring.json").exists() and not (keys / "public").exists():
            typer.echo(f"error: {keys} holds no key ring", err=True)
            raise typer.Exit(2)
        known = KeyRing(keys, create=False).all_public()
    rep = verify_package(data, known_keys=known)
    typer.echo(f"package: {package}")
    typer.echo(f"signing key: {rep.kid} (SHA-256 fingerprint {rep.fingerprint})")
    if rep.key_known is None:
        typer.echo("  compare the fingerprint with the platform's, or pass --keys")
    typer.echo(f"files checked: {rep.files_checked}")
    if rep.ok:
        typer.echo("OK: every hash and the signature match")
        return
    for p in rep.problems:
        typer.echo(f"FAIL {p}")
    raise typer.Exit(1)
