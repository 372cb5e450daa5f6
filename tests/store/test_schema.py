"""schemathesis against the contract: no server error, every answer matches its schema.

A real app on a real port (SQLite, seeded with incidents, reads and evidence), called by
schemathesis as a logged-in admin (admins reach every route) with the CSRF header. The
example count is kept small for CI time; ``SHOUWANG_SCHEMA_EXAMPLES`` raises it.
Logout and changing users are left out: they would end the session under test.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import requests

from alerts.evidence import EvidenceStore
from alerts.store.consumer import read_row
from alerts.store.db import open_store, session_factory, transaction
from api.app import create_app
from api.deps import CSRF_COOKIE, CSRF_HEADER
from tests.alerts.factory import TEST_REDIS_URL, make_alert
from tests.schema_check import check_every_operation
from tests.store.conftest import PASSWORD, LiveServer, make_user, settings_for
from tests.store.helpers import plate_alert, plate_read, store

pytestmark = [pytest.mark.redis, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("SHOUWANG_SCHEMA_EXAMPLES", "10"))


@dataclass
class Served:
    server: LiveServer
    session: requests.Session


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("schema")
    shutil.copytree(REPO / "configs", tmp / "configs")  # list edits stay out of the repo
    r = redis.Redis.from_url(TEST_REDIS_URL, decode_responses=True)
    r.flushdb()
    url = f"sqlite:///{tmp / 'store.sqlite'}"
    engine = open_store(url)
    factory = session_factory(engine)
    make_user(factory, "root", "admin")
    make_user(factory, "wang", "operator", ["lijing"])
    ev = EvidenceStore(tmp / "data" / "evidence")
    refs = [ev.put(b"\xff\xd8 snapshot", kind="snapshot"), ev.put(b"\xff\xd8 crop", kind="crop")]
    store(
        factory,
        *[make_alert(track_id=i) for i in range(5)],
        plate_alert().model_copy(update={"evidence": refs}),
    )
    with transaction(factory) as s:
        for p in ("宁A12345", "宁A1Z345", "京B88888"):
            s.add(read_row(plate_read(p, crop=refs[1].sha256)))
    app = create_app(settings_for(url, tmp, site=tmp / "configs" / "demo-site.yaml"))
    with LiveServer(app) as server:
        sess = requests.Session()
        res = sess.post(server.url + "/api/auth/login", json={"name": "root", "password": PASSWORD})
        assert res.status_code == 200, res.text
        sess.headers[CSRF_HEADER] = sess.cookies.get(CSRF_COOKIE) or ""
        yield Served(server, sess)
        sess.close()
    engine.dispose()
    r.flushdb()
    r.close()


SKIP = frozenset({("POST", "/api/auth/logout"), ("PATCH", "/api/users/{name}")})


def test_every_route_answers_without_server_error_and_to_its_schema(served: Served) -> None:
    doc = served.session.get(served.server.url + "/openapi.json")
    assert doc.status_code == 200
    tested, failures = check_every_operation(
        doc.json(), served.server.url, served.session, examples=EXAMPLES, skip=SKIP
    )
    assert tested >= 20
    assert not failures, "\n\n".join(failures)
