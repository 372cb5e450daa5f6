"""Fixtures for the store and web-service tests: both engines, Redis, an app, users.

``db_url`` runs a test on SQLite (a file in tmp_path) and on PostgreSQL
(``SHOUWANG_TEST_DATABASE_URL``, default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``,
its ``public`` schema emptied first).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

import alerts.store.models  # noqa: F401  (every table on Base.metadata)
from alerts.store.audit import GENESIS
from alerts.store.db import Base, open_store, session_factory, transaction
from alerts.store.users import User, add_user
from api.app import create_app
from api.deps import CSRF_COOKIE, CSRF_HEADER
from api.settings import Settings
from tests.alerts.conftest import _free_port as free_port
from tests.alerts.conftest import r, redis_url
from tests.alerts.factory import TEST_REDIS_URL

__all__ = ["free_port", "r", "redis_url"]  # the shared Redis fixtures, reused here

PG_URL = os.environ.get(
    "SHOUWANG_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ENGINES = ["sqlite", "postgresql"]
PASSWORD = "correct horse battery"


_PG_MIGRATED: set[str] = set()


def reset_postgres(url: str = PG_URL) -> str:
    """An empty store in the test database; fail saying how to get PostgreSQL.

    The first time in a run the ``public`` schema is dropped and migrated afresh; later
    tests only empty the tables (much faster than migrating again).
    """
    eng = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with eng.begin() as c:
            if url in _PG_MIGRATED:
                tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
                c.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
                c.execute(
                    sa.text(f"INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '{GENESIS}')")
                )
            else:
                c.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
                c.execute(sa.text("CREATE SCHEMA public"))
    except sa.exc.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL at SHOUWANG_TEST_DATABASE_URL does not answer ({exc.orig}); "
            "run `bash scripts/ensure-postgres` (scripts/test does)"
        )
    finally:
        eng.dispose()
    if url not in _PG_MIGRATED:
        open_store(url).dispose()
        _PG_MIGRATED.add(url)
    return url


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id with small parameters in tests (the real ones cost ~0.1-0.5 s a hash)."""
    from argon2 import PasswordHasher

    from alerts.store import users

    monkeypatch.setattr(
        users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


def url_for(kind: str, tmp_path: Path) -> str:
    """A fresh database of this kind."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite'}"
    return reset_postgres()


@pytest.fixture(params=ENGINES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database URL, once per engine."""
    return url_for(str(request.param), tmp_path)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """The store's engine, schema migrated."""
    eng = open_store(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


def make_user(
    factory: sessionmaker[Session], name: str, role: str, compounds: list[str] | None = None
) -> User:
    with transaction(factory) as s:
        return add_user(s, name, PASSWORD, role=role, compounds=compounds)


def settings_for(db_url: str, tmp_path: Path, **extra: object) -> Settings:
    from alerts.police.config import PoliceSettings

    # the tests' push receivers listen on loopback, which pushes may reach only when listed
    extra.setdefault("police", PoliceSettings(push_hosts=["127.0.0.1"]))
    return Settings(
        database_url=db_url,
        redis_url=TEST_REDIS_URL,
        data_dir=tmp_path / "data",
        **extra,  # type: ignore[arg-type]
    )


class LiveServer:
    """A real app served by uvicorn on a free loopback port, in a thread."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(cfg)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.clients: list[httpx.Client] = []

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the app did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        for c in self.clients:
            c.close()
        self.server.should_exit = True
        self.thread.join(timeout=15)

    def client(self) -> httpx.Client:
        """A fresh client (its own cookies) of this server, closed with the server."""
        c = httpx.Client(base_url=self.url, timeout=30)
        self.clients.append(c)
        return c


@pytest.fixture
def live(db_url: str, tmp_path: Path, r: redis.Redis) -> Iterator[LiveServer]:
    """A real app on the test database and Redis (no background threads)."""
    with LiveServer(create_app(settings_for(db_url, tmp_path))) as server:
        yield server


@pytest.fixture
def app_client(live: LiveServer) -> Iterator[httpx.Client]:
    """A client of :func:`live`, not logged in."""
    yield live.client()


def login(client: httpx.Client, name: str, password: str = PASSWORD) -> httpx.Client:
    """Log in and send the CSRF header from then on."""
    res = client.post("/api/auth/login", json={"name": name, "password": password})
    assert res.status_code == 200, res.text
    client.headers[CSRF_HEADER] = client.cookies[CSRF_COOKIE]
    return client
