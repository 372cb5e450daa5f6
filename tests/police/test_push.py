"""Signed pushes: verified by the ``standardwebhooks`` package, tampering and replay
rejected, a receiver down for ten minutes misses nothing and gets nothing twice,
dead letters replayed through the API.

Time: the sender's scheduling clock is a :class:`Clock` the test moves forward, so
"ten minutes down" is ten steps of one minute with no real waiting; the signed
``webhook-timestamp`` is always the real time of each try (receivers check it).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import WebhookVerificationError

from alerts.model import Alert
from alerts.police.models import PushDelivery
from alerts.police.push import Fanout, PushPolicy, Sender, backoff, sign
from tests.alerts.factory import make_alert
from tests.police.conftest import World, in_compound
from tests.police.receiver import Receiver, verify_with_package
from tests.store.helpers import xadd

pytestmark = pytest.mark.redis
P = "/api/police/v1"


class Clock:
    """A scheduling clock the test moves."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, s: float) -> None:
        self.now += timedelta(seconds=s)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rc = Receiver().start()
    yield rc
    rc.stop()


def subscribe(w: World, rc: Receiver, **filters: object) -> str:
    res = w.http.post(P + "/subscriptions", json={"url": rc.url, **filters}, headers=w.auth("full"))
    assert res.status_code == 201, res.text
    rc.secret = res.json()["secret"]
    return str(res.json()["id"])


def parts(w: World, clock: Clock, policy: PushPolicy) -> tuple[Fanout, Sender]:
    fan = Fanout(
        w.factory, w.redis, area_of=lambda c: frozenset(c.compounds), start_id="$", clock=clock
    )
    return fan, Sender(w.factory, policy, clock=clock, rng=random.Random(7))


def run(fan: Fanout, sender: Sender) -> None:
    while fan.step(block_ms=20):
        pass
    while sender.step():
        pass


def test_push_verifies_with_standardwebhooks_and_tampering_is_rejected(
    any_world: World, receiver: Receiver
) -> None:
    world = any_world
    subscribe(world, receiver, min_severity="medium")
    clock = Clock()
    fan, sender = parts(world, clock, PushPolicy())
    try:
        high = make_alert(severity="high")
        low = make_alert(severity="low", track_id=8)
        far = in_compound(make_alert(severity="critical", track_id=9), "other")
        for a in (high, low, far):
            xadd(world.redis, a)
        run(fan, sender)
    finally:
        sender.close()
    # Only the alert that passes the filter and the jurisdiction, verified by the package.
    assert receiver.alert_ids() == [high.id] and not receiver.rejected
    body, headers = receiver.raw[0]
    doc = verify_with_package(receiver.secret, body, headers)
    assert doc["type"] == "alert.created" and "uri" not in str(doc["data"]["evidence"])
    tampered = body.replace(b'"high"', b'"info"')
    with pytest.raises(WebhookVerificationError):
        verify_with_package(receiver.secret, tampered, headers)
    # A replay of an old message, correctly signed for its old timestamp, is too old.
    old = int(time.time()) - 600
    replayed = headers | {
        "webhook-timestamp": str(old),
        "webhook-signature": sign(receiver.secret, headers["webhook-id"], old, body.decode()),
    }
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify_with_package(receiver.secret, body, replayed)
    # and the same body with a fresh signature from the wrong secret is rejected.
    wrong = headers | {
        "webhook-signature": sign(
            "whsec_" + "A" * 43 + "=",
            headers["webhook-id"],
            int(headers["webhook-timestamp"]),
            body.decode(),
        )
    }
    with pytest.raises(WebhookVerificationError):
        verify_with_package(receiver.secret, body, wrong)


def test_receiver_down_for_ten_minutes_gets_everything_once(
    any_world: World, receiver: Receiver
) -> None:
    world = any_world
    subscribe(world, receiver)
    clock = Clock()
    fan, sender = parts(world, clock, PushPolicy(base_s=20, max_delay_s=300, max_attempts=30))
    sent: list[Alert] = []
    try:
        first = make_alert(track_id=100)
        xadd(world.redis, first)
        sent.append(first)
        run(fan, sender)
        assert receiver.alert_ids() == [first.id]
        receiver.stop()
        for minute in range(10):  # ten minutes down, an alert every minute
            a = make_alert(track_id=200 + minute)
            xadd(world.redis, a)
            sent.append(a)
            if minute == 3:  # the same publication twice on the stream: one push
                xadd(world.redis, a)
            run(fan, sender)
            clock.advance(60)
        with world.factory() as s:
            rows = s.execute(select(PushDelivery)).scalars().all()
            assert {d.status for d in rows} == {"sent", "pending"}
            assert max(d.attempts for d in rows) >= 3  # it kept trying while down
        receiver.start()  # back on the same port
        clock.advance(301)  # past the longest backoff
        run(fan, sender)
    finally:
        sender.close()
    ids = receiver.ids()
    assert len(ids) == len(set(ids)) == len(sent)  # none twice by webhook-id
    assert sorted(receiver.alert_ids()) == sorted(a.id for a in sent)
    assert not receiver.rejected


def test_last_try_dead_letters_and_replay_resends_with_the_same_id(
    world: World, receiver: Receiver
) -> None:
    sub = subscribe(world, receiver)
    clock = Clock()
    fan, sender = parts(world, clock, PushPolicy(base_s=1, max_delay_s=2, max_attempts=3))
    h = world.auth("full")
    try:
        receiver.stop()
        a = make_alert(track_id=300)
        xadd(world.redis, a)
        for _ in range(4):
            run(fan, sender)
            clock.advance(3)
        dead = world.http.get(f"{P}/subscriptions/{sub}/deliveries?status=dead", headers=h)
        assert dead.status_code == 200 and [d["alert_id"] for d in dead.json()] == [a.id]
        assert dead.json()[0]["attempts"] == 3 and dead.json()[0]["last_error"]
        receiver.start()
        res = world.http.post(f"{P}/subscriptions/{sub}/replay", json={"ids": []}, headers=h)
        assert res.json() == {"queued": 1}
        clock.advance(1)
        run(fan, sender)
    finally:
        sender.close()
    assert receiver.ids() == [dead.json()[0]["id"]]


@pytest.mark.parametrize(
    ("attempt", "low", "high"),
    [(1, 5.0, 10.0), (2, 10.0, 20.0), (5, 80.0, 160.0), (12, 1800.0, 3600.0), (40, 1800.0, 3600.0)],
)
def test_backoff_is_exponential_with_jitter_and_capped(
    attempt: int, low: float, high: float
) -> None:
    policy = PushPolicy()
    rng = random.Random(1)
    got = [backoff(attempt, policy, rng) for _ in range(50)]
    assert all(low <= g <= high for g in got) and len(set(got)) > 1


def test_default_retries_span_hours() -> None:
    policy = PushPolicy()
    ceilings = [
        min(policy.max_delay_s, policy.base_s * 2 ** (n - 1)) for n in range(1, policy.max_attempts)
    ]
    assert sum(c / 2 for c in ceilings) > 3 * 3600  # even the shortest jitter: over 3 hours
