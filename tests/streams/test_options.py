"""SourceOptions: bounded, described, unknown keys refused, backoff consistent."""

from __future__ import annotations

import random
from typing import Any

import pytest
from pydantic import ValidationError

from streams.options import SourceOptions
from streams.source import backoff_delay


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({}, None),
        ({"transport": "udp", "read_timeout_s": 0.5, "max_fps": 5}, None),
        ({"transport": "http"}, "transport"),
        ({"read_timeout_s": 0}, "read_timeout_s"),
        ({"open_timeout_s": -1}, "open_timeout_s"),
        ({"backoff_initial_s": 5, "backoff_max_s": 1}, "must not exceed backoff_max_s"),
        ({"connect_retries": -1}, "connect_retries"),
        ({"max_fps": 0}, "max_fps"),
        ({"read_timeout": 3}, "read_timeout"),  # a typo is an error, not ignored
    ],
)
def test_source_options_validation(kwargs: dict[str, Any], error: str | None) -> None:
    if error is None:
        SourceOptions(**kwargs)
        return
    with pytest.raises(ValidationError, match=error):
        SourceOptions(**kwargs)


def test_every_option_is_described() -> None:
    for name, field in SourceOptions.model_fields.items():
        assert field.description, name


@pytest.mark.parametrize(
    ("attempt", "low", "high"),
    [(0, 0.125, 0.25), (1, 0.25, 0.5), (2, 0.5, 1.0), (3, 0.5, 1.0), (40, 0.5, 1.0)],
)
def test_backoff_doubles_caps_and_jitters(attempt: int, low: float, high: float) -> None:
    rng = random.Random(7)
    delays = [backoff_delay(attempt, 0.25, 1.0, rng) for _ in range(200)]
    assert all(low <= d <= high for d in delays)
    assert len({round(d, 6) for d in delays}) > 100  # jittered, not one fixed value
