"""The city simulation at CI size: 400 cameras, 10 workers, one real Redis of its own.

The full size (8,640 cameras, 100 workers) is the benchmark command
``shouwang leases simulate``; its figures are in docs/k8s.md. Here: the phases end in a
fair share, a dead tenth's cameras are all taken over, and the figures are printed (no
timing is asserted on a shared machine).
"""

from __future__ import annotations

import os

import pytest

from bench.lease_sim import REDIS_SERVER, simulate

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def test_a_small_city_reaches_a_fair_share_and_survives_losing_a_tenth() -> None:
    if not os.access(REDIS_SERVER, os.X_OK):
        pytest.skip(f"{REDIS_SERVER} not found")
    res = simulate(compounds=20, per_compound=20, workers=10, ttl_ms=1000, steady_s=2)
    print(res.as_dict())
    assert res.cameras == 400 and res.killed == 1
    assert res.fair_s is not None, "no fair share from a cold start"
    assert res.takeover_s is not None, "a dead worker's cameras were not all taken over"
    assert res.refair_s is not None, "no fair share among the survivors"
    assert res.commands_per_s > 0 and res.calls_per_s > 0
