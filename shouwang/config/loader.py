"""Reading a site file and reporting its problems by location.

Errors are reported the way an installer fixing the file needs them:
``cameras[2].calibration.points: need at least 4 pairs, got 3`` — every problem at
once, each with the path to the offending value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from shouwang.config.site import ENV_REF, Site, reference_problems

Loc = tuple[str | int, ...]


class ConfigError(Exception):
    """A site file that cannot be used; ``problems`` lists (location, message) pairs."""

    def __init__(self, source: str, problems: Sequence[tuple[str, str]]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  {loc}: {msg}" if loc else f"  {msg}" for loc, msg in self.problems)
        n = len(self.problems)
        super().__init__(f"{source}: {n} problem{'s' if n != 1 else ''}\n{lines}")


class LocatedProblems(ValueError):
    """Several cross-reference problems found in one validator, each with its own location."""

    def __init__(self, problems: Sequence[tuple[Loc, str]]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(msg for _, msg in self.problems))


def format_loc(loc: Sequence[str | int]) -> str:
    """``("cameras", 2, "calibration")`` → ``cameras[2].calibration``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def format_errors(exc: ValidationError) -> list[tuple[str, str]]:
    """Flatten a pydantic error into (location, plain message) pairs."""
    out: list[tuple[str, str]] = []
    for err in exc.errors(include_url=False):
        loc: Loc = tuple(p for p in err["loc"] if not _is_union_tag(p))
        ctx = err.get("ctx") or {}
        inner = ctx.get("error")
        if isinstance(inner, LocatedProblems):
            out.extend((format_loc(loc + sub), msg) for sub, msg in inner.problems)
            continue
        msg = str(err["msg"])
        for prefix in ("Value error, ", "Assertion failed, "):
            msg = msg.removeprefix(prefix)
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see the configuration reference)"
        elif err["type"] == "missing":
            msg = "required but missing"
        out.append((format_loc(loc), msg))
    return out


def _is_union_tag(part: str | int) -> bool:
    # pydantic inserts the member type name for unions and tagged unions ("function-after[...]")
    return isinstance(part, str) and ("[" in part or part in {"tuple[float, float]"})


def parse_site(data: Any, source: str = "<site>") -> Site:
    """Validate already-parsed YAML data; raise :class:`ConfigError` with every problem."""
    if not isinstance(data, Mapping):
        raise ConfigError(source, [("", "the file must hold a mapping with compounds and cameras")])
    try:
        return Site.model_validate(data)
    except ValidationError as exc:
        problems = format_errors(exc)
        # Field errors stop pydantic before the whole-site checks; run those on the raw
        # data too so one pass reports everything.
        seen = set(problems)
        for loc, msg in reference_problems(data):
            item = (format_loc(loc), msg)
            if item not in seen:
                problems.append(item)
        raise ConfigError(source, problems) from None


def load_site(path: str | Path) -> Site:
    """Read and validate a site file.

    Raises:
        ConfigError: the file is missing, is not YAML, or fails validation.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(p), [("", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(p), [("", f"cannot read: {exc}")]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f"line {mark.line + 1}, column {mark.column + 1}"
        raise ConfigError(
            str(p), [(where, f"not valid YAML: {getattr(exc, 'problem', exc)}")]
        ) from None
    return parse_site(data, str(p))


def resolve_url(
    template: str, env: Mapping[str, str] | None = None, *, base: Path | None = None
) -> str:
    """Fill ``${VAR}`` / ``${VAR:-default}`` references from the environment.

    Relative file paths are taken relative to ``base`` (the site file's folder).

    Raises:
        KeyError: a referenced variable is unset and has no default; the message names it
            but never any value.
    """
    env = os.environ if env is None else env

    def sub(m: Any) -> str:
        name, default = m.group(1), m.group(2)
        if name in env:
            return str(env[name])
        if default is not None:
            return str(default)
        raise KeyError(f"environment variable {name} is not set")

    url = ENV_REF.sub(sub, template)
    if base is not None and "://" not in url and not Path(url).is_absolute():
        url = str((base / url).resolve())
    elif base is not None and url.startswith("file://") and not url.startswith("file:///"):
        url = "file://" + str((base / url[len("file://") :]).resolve())
    return url
