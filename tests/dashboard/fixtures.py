"""Fixtures for the dashboard (a plugin loaded by tests/conftest.py, so the dashboard tests
and the dashboard benchmark share one server and one browser per session): a real ``shouwang serve`` (uvicorn on a free port, real
Redis, SQLite or PostgreSQL), the test site, users, and Debian's Chromium via Playwright.

Browser tests save a screenshot of every open page when they fail
(``.cache/test-artifacts/dashboard/<test>-<n>.png``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from alerts.store.db import open_store, session_factory, transaction
from alerts.store.users import add_user
from tests.alerts.factory import TEST_REDIS_URL
from tests.dashboard.scene import ROOT, Scene, write_site
from tests.store.conftest import PASSWORD, free_port, reset_postgres


def _own_db(url: str) -> str:
    """``url`` with the database number next to it (15 → 14), for a server of its own."""
    base, _, db = url.rpartition("/")
    n = int(db) if db.isdigit() else 15
    return f"{base}/{n - 1 if n > 0 else 1}"


# The dashboard's session-long server gets a Redis database of its own: in the shared test
# database its store consumer (group ``store``) would take entries other tests' consumers
# wait for, and their per-test flushes would wipe its state.
DASH_REDIS_URL = os.environ.get("SHOUWANG_TEST_DASH_REDIS_URL", _own_db(TEST_REDIS_URL))

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / ".cache" / "test-artifacts" / "dashboard"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: name → (role, compounds)
USERS = {
    "admin": ("admin", []),
    "wang": ("operator", ["lijing"]),
    "li": ("operator", ["lijing"]),
    "zhao": ("operator", ["yuhua"]),
}


class Server:
    """``shouwang serve`` as a child process; :meth:`restart` keeps port, data and Redis."""

    def __init__(self, workdir: Path, database_url: str = "") -> None:
        self.workdir = workdir
        self.site = write_site(workdir / "site")
        self.data = workdir / "data"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "SHOUWANG_DATA_DIR": str(self.data),
            "REDIS_URL": DASH_REDIS_URL,
            "SHOUWANG_DATABASE_URL": database_url,
        }
        self.database_url = database_url or f"sqlite:///{self.data / 'store.sqlite'}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "serve.log"

    def add_users(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        engine = open_store(self.database_url, data=self.data)
        try:
            with transaction(session_factory(engine)) as s:
                for name, (role, comps) in USERS.items():
                    add_user(s, name, PASSWORD, role=role, compounds=comps or None)
        finally:
            engine.dispose()

    def start(self) -> None:
        exe = Path(sys.executable).with_name("shouwang")
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(exe), "serve", str(self.site), "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"shouwang serve exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"shouwang serve did not answer: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def client(self, user: str) -> httpx.Client:
        """An API client logged in as ``user`` (CSRF header set)."""
        c = httpx.Client(base_url=self.url, timeout=20)
        res = c.post("/api/auth/login", json={"name": user, "password": PASSWORD})
        res.raise_for_status()
        c.headers["X-CSRF-Token"] = c.cookies["csrf"]
        return c


@pytest.fixture(scope="session")
def rclient() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(DASH_REDIS_URL, decode_responses=True)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        pytest.skip(f"no Redis at {DASH_REDIS_URL} ({exc}); run scripts/ensure-redis")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def _server(tmp: Path, url: str) -> Iterator[Server]:
    srv = Server(tmp, url)
    srv.add_users()
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, rclient: redis.Redis) -> Iterator[Server]:
    """One real server on SQLite for every dashboard test (starting one takes seconds)."""
    yield from _server(tmp_path_factory.mktemp("dash"), "")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def any_server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    rclient: redis.Redis,
    server: Server,
) -> Iterator[Server]:
    """The SQLite server, then one on PostgreSQL (same Redis: they must not both consume
    the alert stream, so the SQLite one is stopped meanwhile)."""
    if request.param == "sqlite":
        yield server
        return
    server.stop()
    try:
        yield from _server(tmp_path_factory.mktemp("dash-pg"), reset_postgres())
    finally:
        server.start()


@pytest.fixture(scope="session")
def scene(server: Server, rclient: redis.Redis) -> Scene:
    return Scene(server.site, rclient, server.data / "evidence")


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not CHROMIUM.is_file():
        pytest.skip("no /usr/bin/chromium; run `bash scripts/setup` (installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True)
        yield b
        b.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    rep = yield
    if rep.when == "call":  # type: ignore[attr-defined]
        item.stash[_FAILED] = rep.failed  # type: ignore[attr-defined]
    return rep


_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def contexts(
    browser: object, request: pytest.FixtureRequest, _clean_artifacts: None
) -> Iterator[list[object]]:
    """Browser contexts the test opens (one per operator); screenshots on failure."""
    opened: list[object] = []
    yield opened
    if request.node.stash.get(_FAILED, False):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        n = 0
        for ctx in opened:
            for page in ctx.pages:  # type: ignore[attr-defined]
                n += 1
                page.screenshot(
                    path=str(ARTIFACTS / f"{request.node.name}-{n}.png"), full_page=True
                )
    for ctx in opened:
        ctx.close()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def _clean_artifacts() -> None:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
