"""Quick mode, as benchmark files see it.

``shouwang bench --quick`` (and CI) sets ``SHOUWANG_BENCH_QUICK=1`` in the environment of
the pytest run; benchmark files shrink their work with :func:`pick` so that the whole
quick suite fits CI's time box. Outside ``shouwang bench`` the variable is unset and
benchmarks do their full work.

Example:
    >>> from bench import pick
    >>> frames = pick(full=250, quick=25)        # frames decoded per round
    >>> streams = pick(full=[1, 2, 4, 8, 16], quick=[1, 2, 4])
"""

from __future__ import annotations

import os
from typing import TypeVar

QUICK_ENV = "SHOUWANG_BENCH_QUICK"

T = TypeVar("T")


def is_quick() -> bool:
    """True when the benchmarks run in quick mode (``SHOUWANG_BENCH_QUICK=1``)."""
    return os.environ.get(QUICK_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def pick(full: T, quick: T) -> T:
    """``quick`` in quick mode, ``full`` otherwise (rounds, clip lengths, stream counts)."""
    return quick if is_quick() else full
