"""Where push subscriptions may point: not back into this host, and only to the listed
push hosts when the operator lists them (SSRF: a client chooses the URL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select

from alerts.police.config import PoliceSettings
from alerts.police.models import Subscription
from alerts.police.targets import push_target_problem
from tests.police.conftest import World, make_world
from tests.store.conftest import url_for

P = "/api/police/v1"

REFUSED = [
    ("http://127.0.0.1:6379/", "loopback"),
    ("http://127.9.9.9/", "loopback"),
    ("http://[::1]:8080/hook", "loopback"),
    ("http://[::ffff:127.0.0.1]/hook", "loopback"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),  # cloud metadata
    ("http://0.0.0.0:5432/", "unspecified"),
    ("http://224.0.0.1/", "multicast"),
    ("http://240.0.0.1/", "reserved"),
    ("http://localhost:8000/hook", "loopback"),  # a name is judged by what it resolves to
]


@pytest.mark.parametrize(("url", "kind"), REFUSED, ids=[u for u, _ in REFUSED])
def test_without_a_list_no_push_goes_back_into_this_host(url: str, kind: str) -> None:
    problem = push_target_problem(url, [])
    assert problem is not None and f"a {kind} address" in problem
    assert "SHOUWANG_POLICE__PUSH_HOSTS" in problem


@pytest.mark.parametrize(
    "url", ["https://10.20.1.5/hook", "https://172.16.0.9/", "http://192.168.3.4:8443/viid"]
)
def test_without_a_list_private_networks_are_allowed(url: str) -> None:
    """A public-security network is a private one."""
    assert push_target_problem(url, []) is None


def test_a_name_that_does_not_resolve_is_refused() -> None:
    problem = push_target_problem("https://no-such-host.invalid/hook", [])
    assert problem == "host no-such-host.invalid does not resolve from this platform"


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://10.20.1.5/hook", True),  # inside 10.20.0.0/16
        ("https://10.21.1.5/hook", False),
        ("https://viid.police.example/hook", True),  # the exact name
        ("https://VIID.police.example./hook", True),  # case and the root dot do not matter
        ("https://evil.example/hook", False),
        ("https://a.gaj.example/hook", True),  # *.gaj.example
        ("https://gaj.example.evil.example/hook", False),
        ("http://127.0.0.1:9/hook", True),  # loopback, because the operator listed it
        ("http://127.0.0.2:9/hook", False),
    ],
)
def test_with_a_list_only_the_listed_hosts(url: str, ok: bool) -> None:
    allowed = ["10.20.0.0/16", "viid.police.example", "*.gaj.example", "127.0.0.1"]
    problem = push_target_problem(url, allowed)
    assert (problem is None) is ok, problem
    if not ok:
        assert "is not one of the push hosts this platform allows" in str(problem)


@pytest.fixture
def open_world(tmp_path: Path, r: redis.Redis) -> Iterator[World]:
    """No push hosts listed: the default rule."""
    yield from make_world(url_for("sqlite", tmp_path), tmp_path, r, police=PoliceSettings())


def _subscriptions(w: World) -> int:
    with w.factory() as s:
        return int(s.scalar(select(func.count()).select_from(Subscription)) or 0)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://169.254.169.254/latest/meta-data/", "a link-local address"),
        ("http://127.0.0.1:6379/", "a loopback address"),
    ],
)
def test_the_api_refuses_such_a_url_naming_the_field(
    open_world: World, url: str, says: str
) -> None:
    w = open_world
    res = w.http.post(P + "/subscriptions", json={"url": url}, headers=w.auth("full"))
    assert res.status_code == 422, res.text
    (err,) = res.json()["detail"]
    assert err["loc"] == ["body", "url"] and says in err["msg"]
    assert _subscriptions(w) == 0


def test_the_api_takes_a_listed_host(world: World) -> None:
    """The default test world lists 127.0.0.1 (where its receivers listen)."""
    w = world
    ok = w.http.post(
        P + "/subscriptions", json={"url": "http://127.0.0.1:9/hook"}, headers=w.auth("full")
    )
    assert ok.status_code == 201, ok.text
    no = w.http.post(
        P + "/subscriptions", json={"url": "http://10.0.0.1/hook"}, headers=w.auth("full")
    )
    assert no.status_code == 422
    assert "is not one of the push hosts" in no.json()["detail"][0]["msg"]
    assert _subscriptions(w) == 1
