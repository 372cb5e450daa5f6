"""Engine, sessions and schema for the alert store.

Embedded default: one SQLite file, ``<data dir>/store.sqlite`` (WAL, so the web service
reads while the consumer writes). Production: PostgreSQL through
``SHOUWANG_DATABASE_URL`` (``postgresql+psycopg://user@host/db``; a bare
``postgresql://`` URL is given the psycopg 3 driver).

SQLite transactions start with ``BEGIN IMMEDIATE``: a transaction that reads and then
writes (the audit chain's head, a version check) holds the write lock from its start,
so two writers queue on ``busy_timeout`` instead of failing with "database is locked"
half-way. Sessions of :func:`read_session_factory` only read and start with a deferred
``BEGIN`` instead (they never wait for the writer).

The schema is Alembic's: :func:`open_store` applies the migrations shipped in
``alerts/store/migrations`` before handing out the engine.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from alerts.errors import AlertError

MIGRATIONS = Path(__file__).with_name("migrations")
READ_ONLY = "shouwang_read_only"  # execution option of read_session_factory's engine

# Constraint names Alembic can find again on every engine.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class StoreError(AlertError):
    """The store cannot do what was asked (unreachable database, bad URL, bad state)."""


class Base(DeclarativeBase):
    """Declarative base of every store model."""

    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every engine (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise StoreError(f"naive datetime {value!r}: the store keeps UTC-aware times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def data_dir() -> Path:
    """Where Shouwang keeps durable state (``SHOUWANG_DATA_DIR``, default ``.shouwang``)."""
    return Path(os.environ.get("SHOUWANG_DATA_DIR") or ".shouwang")


def database_url(url: str | None = None, *, data: Path | None = None) -> str:
    """The store's URL: ``url``, else ``SHOUWANG_DATABASE_URL``, else the SQLite file."""
    url = url or os.environ.get("SHOUWANG_DATABASE_URL") or ""
    if not url:
        root = data or data_dir()
        root.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(root / 'store.sqlite').resolve()}"
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def safe_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL: say nothing of it
        return "<unparsable database URL>"


def make_engine(url: str, *, pool_size: int = 5) -> Engine:
    """An engine for ``url`` with the per-engine settings the store relies on."""
    if url.startswith("sqlite"):
        eng = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        _sqlite_pragmas(eng)
        return eng
    if url.startswith("postgresql"):
        return create_engine(
            url,
            pool_size=pool_size,
            max_overflow=10,
            pool_pre_ping=True,
            connect_args={"connect_timeout": 5},
        )
    raise StoreError(
        f"unsupported database URL {safe_url(url)}: use sqlite:///PATH or "
        "postgresql+psycopg://USER@HOST/DB (SHOUWANG_DATABASE_URL)"
    )


def _sqlite_pragmas(eng: Engine) -> None:
    @event.listens_for(eng, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(eng, "begin")
    def _begin(conn: Any) -> None:
        # read-only sessions (read_session_factory): a WAL reader never waits for a writer
        ro = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if ro else "BEGIN IMMEDIATE")


def migrate(engine: Engine) -> None:
    """Bring the schema up to the newest migration (no-op when it is there)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")  # every branch (store, police)


def open_store(url: str | None = None, *, data: Path | None = None) -> Engine:
    """Engine for the configured store, schema migrated.

    Raises:
        StoreError: the database cannot be reached or migrated (URL shown without password).
    """
    from sqlalchemy.exc import SQLAlchemyError

    full = database_url(url, data=data)
    eng = make_engine(full)
    try:
        migrate(eng)
    except SQLAlchemyError as exc:
        eng.dispose()
        raise StoreError(
            f"cannot open the store at {safe_url(full)}: {exc.__class__.__name__}: "
            f"{str(exc).splitlines()[0]}"
        ) from exc
    if eng.url.get_backend_name() == "sqlite" and eng.url.database:
        # Personal data (plates, audit): owner only, WAL and shared-memory files too.
        for suffix in ("", "-wal", "-shm"):
            p = Path(eng.url.database + suffix)
            if p.exists():
                p.chmod(0o600)
    return eng


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


def read_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for transactions that only read (same pool as :func:`session_factory`).

    On SQLite they start with a plain (deferred) ``BEGIN``: under WAL a reader sees the
    last commit and never queues for the write lock that ``BEGIN IMMEDIATE`` takes, so
    a query does not wait behind the audit log's writes. A write in such a session may
    fail with "database is locked" at once; do not write in one. PostgreSQL: as usual.
    """
    return sessionmaker(engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on error."""
    with factory() as session, session.begin():
        yield session
