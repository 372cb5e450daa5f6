"""Every operation of an OpenAPI contract called by schemathesis: no server error, every
answer matches its schema.

Driven by hand with hypothesis: schemathesis' pytest plugin does not run under pytest 9
(it reads a private attribute pytest removed). Shared by the store's and the police API's
contract tests.
"""

from __future__ import annotations

from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import positive_data_acceptance


def check_every_operation(
    spec: dict[str, Any],
    base_url: str,
    session: requests.Session,
    *,
    examples: int,
    skip: frozenset[tuple[str, str]] = frozenset(),
    semantic: frozenset[tuple[str, str]] = frozenset(),
) -> tuple[int, list[str]]:
    """Call each operation of ``spec`` (but ``skip``'s (METHOD, path) pairs) with
    ``examples`` generated requests.

    ``semantic`` operations may refuse a schema-valid request with 422 for a rule no
    schema can state (a URL that resolves to loopback): every other check still runs.

    Returns:
        How many operations were tested, and one message per failing operation (all of
        them, not only the first).
    """
    api = schemathesis.openapi.from_dict(spec)
    failures: list[str] = []
    tested = 0
    for result in api.get_all_operations():
        if not isinstance(result, Ok):
            failures.append(f"an operation schemathesis cannot load: {result}")
            continue
        op = result.ok()
        if (op.method.upper(), op.path) in skip:
            continue
        tested += 1
        excluded = [positive_data_acceptance] if (op.method.upper(), op.path) in semantic else []
        try:
            _check(op, base_url, session, examples, excluded)
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{op.method.upper()} {op.path}: {str(exc)[:1500]}")
    return tested, failures


def _check(
    op: Any, base_url: str, session: requests.Session, examples: int, excluded: list[Any]
) -> None:
    @given(case=op.as_strategy())
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        case.call_and_validate(base_url=base_url, session=session, excluded_checks=excluded)

    check()
