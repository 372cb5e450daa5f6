"""The police API contract: schemathesis with a valid token (no server error, every
answer matches its schema), and the published spec in docs/ is the one served.

Examples per operation are few for CI time; ``SHOUWANG_SCHEMA_EXAMPLES`` raises them.
Regenerate the published spec with ``python -m api.police.openapi > docs/police-openapi.json``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Ok

from alerts.police.models import PoliceClient
from alerts.store.db import transaction
from api.police.openapi import police_openapi
from tests.police.conftest import LEGAL, World

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
    api = schemathesis.openapi.from_dict(police_openapi(w.live.app))
    failures: list[str] = []
    tested = 0
    for result in api.get_all_operations():
        if not isinstance(result, Ok):
            failures.append(f"an operation schemathesis cannot load: {result}")
            continue
        op = result.ok()
        tested += 1

        @given(case=op.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            case.call_and_validate(base_url=w.live.url, session=sess)

        try:
            check()
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{op.method.upper()} {op.path}: {str(exc)[:1500]}")
    sess.close()
    assert tested >= 16
    assert not failures, "\n\n".join(failures)


def test_the_published_spec_is_current(shared_world: World) -> None:
    published = json.loads((REPO / "docs" / "police-openapi.json").read_text(encoding="utf-8"))
    assert published == police_openapi(shared_world.live.app), (
        "docs/police-openapi.json is stale: run "
        "`.venv/bin/python -m api.police.openapi > docs/police-openapi.json`"
    )
