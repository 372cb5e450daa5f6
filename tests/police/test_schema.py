"""The police API contract: schemathesis with a valid token (no server error, every
answer matches its schema), and the published spec in docs/ is the one served.

Examples per operation are few for CI time; ``SHOUWANG_SCHEMA_EXAMPLES`` raises them.
Regenerate the published spec with ``python -m api.police.openapi > docs/police-openapi.json``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import requests

from alerts.police.models import PoliceClient
from alerts.store.db import transaction
from api.police.openapi import police_openapi
from tests.police.conftest import LEGAL, World
from tests.schema_check import check_every_operation

pytestmark = [pytest.mark.redis, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("SHOUWANG_SCHEMA_EXAMPLES", "8"))


def test_every_police_route_answers_without_server_error_and_to_its_schema(
    shared_world: World,
) -> None:
    w = shared_world
    with transaction(w.factory) as s:
        c = s.get(PoliceClient, w.clients["full"].id)
        assert c is not None
        c.rate_per_minute = 100_000  # the run itself must not meet the rate limit
    sess = requests.Session()
    sess.headers.update(LEGAL | {"Authorization": f"Bearer {w.token('full')}"})
    tested, failures = check_every_operation(
        police_openapi(w.live.app),
        w.live.url,
        sess,
        examples=EXAMPLES,
        # a push URL must not lead back into this host and must be a listed push host
        # (alerts/police/targets.py): a 422 no schema can foresee
        semantic=frozenset({("POST", "/api/police/v1/subscriptions")}),
    )
    sess.close()
    assert tested >= 16
    assert not failures, "\n\n".join(failures)


def test_the_published_spec_is_current(shared_world: World) -> None:
    published = json.loads((REPO / "docs" / "police-openapi.json").read_text(encoding="utf-8"))
    assert published == police_openapi(shared_world.live.app), (
        "docs/police-openapi.json is stale: run "
        "`.venv/bin/python -m api.police.openapi > docs/police-openapi.json`"
    )
