"""Compare results with budgets: measured, bound, headroom, verdict.

Example:
    >>> checks = check_budgets(load_budgets().profile("cpu"), load_results(path))
    >>> verdict(checks, require_all=False).ok
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bench.budgets import Budget, Profile, Selector
from bench.results import BenchResult, ResultSet

Status = Literal["pass", "fail", "missing", "error"]


@dataclass(frozen=True)
class Check:
    """The outcome of one budget.

    Attributes:
        budget: the budget checked.
        status: ``pass``/``fail`` against the bound; ``missing`` when its benchmark (or the
            statistic) is not in the results; ``error`` when a selector matches more than
            one benchmark.
        measured: the statistic (or ratio), None unless pass/fail.
        headroom_pct: how far inside the bound, in % of the bound; negative when broken.
        note: why it is missing/error, or which benchmarks were read.
    """

    budget: Budget
    status: Status
    measured: float | None = None
    headroom_pct: float | None = None
    note: str = ""

    def blocks(self, require_all: bool = False) -> bool:
        """True when this check fails the run (only enforced budgets can)."""
        if not self.budget.enforce:
            return False
        return self.status in ("fail", "error") or (require_all and self.status == "missing")


@dataclass(frozen=True)
class Verdict:
    """The run's overall outcome."""

    ok: bool
    counts: dict[str, int]
    blocking: list[str]


def _pick(results: ResultSet, sel: Selector) -> tuple[BenchResult | None, Status, str]:
    """The one benchmark a selector names, else ``missing`` (none) or ``error`` (several)."""
    found = results.select(sel)
    if not found:
        return None, "missing", f"no benchmark matches {sel.describe()}"
    if len(found) > 1:
        names = ", ".join(b.name for b in found[:4]) + (" ..." if len(found) > 4 else "")
        why = f"{sel.describe()} matches {len(found)} benchmarks ({names}); narrow the selector"
        return None, "error", why
    return found[0], "pass", ""


def check_budget(budget: Budget, results: ResultSet) -> Check:
    """Check one budget against a run's results."""
    sels = [budget.benchmark] + ([budget.baseline] if budget.baseline is not None else [])
    values: list[float] = []
    names: list[str] = []
    for sel in sels:
        bench, status, why = _pick(results, sel)
        if bench is None:
            return Check(budget, status, note=why)
        value = bench.value(budget.stat)
        if value is None:
            why = f"{bench.name} has no {budget.stat}"
            if budget.stat in ("p95", "p99"):
                why += " (raw samples not saved)"
            elif budget.stat == "fps":
                why += " (set extra_info items_per_call or throughput_fps)"
            return Check(budget, "missing", note=why)
        values.append(value)
        names.append(bench.name)
    if budget.baseline is not None:
        if values[1] <= 0:
            return Check(budget, "error", note=f"{names[1]}: {budget.stat} is {values[1]}")
        measured = values[0] / values[1]
        note = f"{names[0]} / {names[1]}"
    else:
        measured = values[0]
        note = names[0]
    bound = budget.bound
    if budget.bound_kind == "max":
        ok = measured <= bound
        headroom = (bound - measured) / bound * 100.0
    else:
        ok = measured >= bound
        headroom = (measured - bound) / bound * 100.0
    return Check(budget, "pass" if ok else "fail", measured, headroom, note)


def check_budgets(profile: Profile, results: ResultSet) -> list[Check]:
    """Check every budget of a profile, in file order."""
    return [check_budget(b, results) for b in profile.budgets]


def verdict(checks: list[Check], require_all: bool = False) -> Verdict:
    """Whether the run passes: no enforced budget failed (nor is missing, with require_all)."""
    counts = {s: 0 for s in ("pass", "fail", "missing", "error")}
    for c in checks:
        counts[c.status] += 1
    blocking = [c.budget.id for c in checks if c.blocks(require_all)]
    return Verdict(ok=not blocking, counts=counts, blocking=blocking)
