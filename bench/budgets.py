"""The budget file: what each stage may cost, per hardware profile.

One YAML file (``bench/budgets.yaml``) declares, for each profile (``cpu``, ``gpu``), a
list of budgets. A budget reads one statistic of one benchmark (or the ratio of that
statistic between two benchmarks measured side by side) and bounds it from above
(``max``, latencies and ratios) or below (``min``, throughput). Only budgets with
``enforce: true`` can fail a run; the rest are reported.

Example:
    >>> from bench.budgets import load_budgets
    >>> budgets = load_budgets()              # the packaged bench/budgets.yaml
    >>> [b.id for b in budgets.profile("cpu").budgets][:1]
    ['core.letterbox_vs_resize']
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bench.errors import BenchError

DEFAULT_BUDGETS = Path(__file__).with_name("budgets.yaml")

#: Statistics over the timed samples, in milliseconds.
LATENCY_STATS = ("p50", "p95", "p99", "median", "mean", "min", "max", "stddev")
#: ``ops``: calls per second (``1 / mean``); ``fps``: items per second, from the
#: benchmark's ``extra_info`` (``throughput_fps``, else ``items_per_call / mean``).
RATE_STATS = ("ops", "fps")
#: Prefix of a figure a benchmark reports itself in ``benchmark.extra_info``.
EXTRA_PREFIX = "extra."

_EXTRA_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

ExtraValue = str | int | float | bool


def describe_stats() -> str:
    """The statistics a budget may name, for error messages and ``--help``."""
    return ", ".join((*LATENCY_STATS, *RATE_STATS)) + f", or {EXTRA_PREFIX}<extra_info key>"


def stat_unit(stat: str, declared: str | None = None) -> str:
    """The unit a statistic is measured in: ``ms`` for latencies, ``1/s`` for ops."""
    if stat in LATENCY_STATS:
        return "ms"
    if stat == "ops":
        return "1/s"
    if stat == "fps":
        return "items/s"
    return declared or ""


class Selector(BaseModel):
    """Which benchmark a budget reads; every given field must match.

    In YAML a bare string is shorthand for ``{name: <string>}``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(
        default=None,
        description=(
            "pytest-benchmark's `name`: the test function name with its parameters, e.g. "
            "`test_detect[batch8]`; shell-style wildcards (`*`, `?`, `[seq]`) allowed"
        ),
    )
    group: str | None = Field(
        default=None, description="the benchmark group (`@pytest.mark.benchmark(group=...)`)"
    )
    extra: dict[str, ExtraValue] = Field(
        default_factory=dict,
        description="keys that must equal the benchmark's `extra_info`, e.g. {stage: detect}",
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"name": value}
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> Selector:
        if self.name is None and self.group is None and not self.extra:
            raise ValueError("a benchmark selector needs at least one of name, group, extra")
        return self

    def describe(self) -> str:
        """A short human-readable form, e.g. ``test_x`` or ``{stage=detect, batch=8}``."""
        parts = []
        if self.name is not None:
            parts.append(self.name)
        if self.group is not None:
            parts.append(f"group={self.group}")
        parts.extend(f"{k}={v}" for k, v in self.extra.items())
        return (
            parts[0] if len(parts) == 1 and self.name is not None else "{" + ", ".join(parts) + "}"
        )


class Budget(BaseModel):
    """One bound on one statistic of one benchmark (or of a side-by-side ratio)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.\-]*$", max_length=80)] = Field(
        description="unique within the profile, e.g. `detect.batch1_vs_ort`"
    )
    description: str = Field(min_length=1, description="what is bounded and why, one line")
    benchmark: Selector = Field(description="the benchmark measured")
    stat: str = Field(description=f"the statistic read: {describe_stats()}")
    baseline: Selector | None = Field(
        default=None,
        description=(
            "when set, the budget bounds the RATIO stat(benchmark) / stat(baseline) of two "
            "benchmarks run side by side in the same session (noise cancels out)"
        ),
    )
    max: float | None = Field(default=None, gt=0, description="upper bound (latency, ratio)")
    min: float | None = Field(default=None, gt=0, description="lower bound (throughput)")
    unit: str | None = Field(
        default=None, max_length=16, description="unit of an `extra.*` statistic, e.g. fps"
    )
    enforce: bool = Field(
        default=False,
        description="true: a broken bound fails `shouwang bench` (and CI); false: reported",
    )

    @field_validator("stat")
    @classmethod
    def _known_stat(cls, value: str) -> str:
        if value in LATENCY_STATS or value in RATE_STATS:
            return value
        if value.startswith(EXTRA_PREFIX) and _EXTRA_KEY.match(value[len(EXTRA_PREFIX) :]):
            return value
        raise ValueError(f"unknown statistic {value!r}; expected one of {describe_stats()}")

    @model_validator(mode="after")
    def _one_bound(self) -> Budget:
        if (self.max is None) == (self.min is None):
            raise ValueError(f"budget {self.id!r}: give exactly one of `max` or `min`")
        if self.unit is not None and not self.stat.startswith(EXTRA_PREFIX):
            raise ValueError(
                f"budget {self.id!r}: `unit` is only for extra.* statistics; "
                f"{self.stat} is in {stat_unit(self.stat)}"
            )
        return self

    @property
    def is_ratio(self) -> bool:
        """True when the budget bounds stat(benchmark) / stat(baseline)."""
        return self.baseline is not None

    @property
    def bound(self) -> float:
        """The bound's value, whichever side it is on."""
        value = self.max if self.max is not None else self.min
        if value is None:  # excluded by _one_bound
            raise BenchError(f"budget {self.id!r} has no bound")
        return value

    @property
    def bound_kind(self) -> Literal["max", "min"]:
        """``max`` for an upper bound, ``min`` for a lower bound."""
        return "max" if self.max is not None else "min"

    @property
    def unit_label(self) -> str:
        """``x`` for ratios, else the statistic's unit."""
        return "x" if self.is_ratio else stat_unit(self.stat, self.unit)


class Profile(BaseModel):
    """The budgets of one kind of machine."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = Field(min_length=1, description="the machine the bounds are for")
    budgets: list[Budget] = Field(description="the budgets, checked in this order")

    @model_validator(mode="after")
    def _unique_ids(self) -> Profile:
        seen: set[str] = set()
        for b in self.budgets:
            if b.id in seen:
                raise ValueError(f"budget id {b.id!r} appears twice")
            seen.add(b.id)
        return self


class BudgetFile(BaseModel):
    """The whole budget file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = Field(description="file format version")
    profiles: dict[str, Profile] = Field(min_length=1, description="profile name -> budgets")

    def profile(self, name: str) -> Profile:
        """The named profile; :class:`BenchError` listing the known ones otherwise."""
        try:
            return self.profiles[name]
        except KeyError:
            known = ", ".join(sorted(self.profiles))
            raise BenchError(f"unknown profile {name!r}; the budget file has: {known}") from None


def parse_budgets(data: Any, source: str = "<budgets>") -> BudgetFile:
    """Validate already-parsed YAML; every problem is listed with its location."""
    try:
        return BudgetFile.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"  {loc}: {msg}" if loc else f"  {msg}")
        raise BenchError(f"{source}: invalid budget file\n" + "\n".join(lines)) from None


def load_budgets(path: Path | None = None) -> BudgetFile:
    """Read and validate a budget file (default: the packaged ``bench/budgets.yaml``)."""
    path = path or DEFAULT_BUDGETS
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BenchError(f"{path}: cannot read budget file: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise BenchError(f"{path}: not valid YAML: {exc}") from None
    return parse_budgets(data, str(path))
