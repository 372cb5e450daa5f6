"""Small types shared by the site models and the rule models (no I/O, no other imports)."""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Identifier = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$",
        description="lower-case letters, digits, '-' and '_'; used in keys, metrics and URLs",
    ),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Schedule(_Model):
    """A daily time window in the site's time zone, e.g. ``"22:00-06:00"`` (wraps midnight)."""

    start: time = Field(description="window start, local time")
    end: time = Field(description="window end, local time (before start: wraps midnight)")

    @classmethod
    def parse(cls, text: str) -> Schedule:
        m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", text)
        if not m:
            raise ValueError(f"schedule {text!r} is not of the form HH:MM-HH:MM, e.g. 22:00-06:00")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
            raise ValueError(f"schedule {text!r} has an hour or minute out of range")
        end = time(23, 59, 59, 999999) if h2 == 24 else time(h2, m2)
        if time(h1, m1) == end:
            raise ValueError(f"schedule {text!r} starts and ends at the same minute")
        return cls(start=time(h1, m1), end=end)

    def active(self, t: time) -> bool:
        """Whether wall-clock time ``t`` falls inside the window."""
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"
