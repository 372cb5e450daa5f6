"""Benchmarks and latency budgets.

* :mod:`bench.budgets`: the budget file (``bench/budgets.yaml``), validated with pydantic.
* :mod:`bench.results`: pytest-benchmark JSON in, percentiles out.
* :mod:`bench.check`: results against budgets (pass / fail / missing / error).
* :mod:`bench.report`, :mod:`bench.plots`: the table, ``results.json`` and PNG plots.
* :mod:`bench.runner`: runs ``tests/bench`` with pytest-benchmark, time-boxed.
* :func:`pick` / :func:`is_quick`: what benchmark files use to shrink work in quick mode.

``shouwang bench`` ties them together; docs/bench.md has the conventions.
"""

from bench.errors import BenchError
from bench.quick import QUICK_ENV, is_quick, pick

__all__ = ["QUICK_ENV", "BenchError", "is_quick", "pick"]
