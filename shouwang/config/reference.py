"""Generate the configuration reference (docs/configuration.md) from the models.

The reference is made from the same pydantic models that validate site files, so the
documentation cannot drift from what the code accepts; a test compares the two.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from shouwang.config import common, gat1400, plan, rules, site

MODELS: list[type[BaseModel]] = [
    site.Site,
    site.Compound,
    plan.SitePlan,
    plan.PlanPoint,
    site.Camera,
    site.Placement,
    site.Calibration,
    site.CalibrationPoint,
    site.Zone,
    common.Schedule,
    site.PlateListRef,
    site.WatchlistRef,
    rules.IntrusionRule,
    rules.LineCrossingRule,
    rules.LoiteringRule,
    rules.CrowdingRule,
    rules.RunningRule,
    rules.FallRule,
    rules.AbandonedObjectRule,
    rules.VehicleInZoneRule,
    rules.NoParkingRule,
    gat1400.Gat1400Site,
    gat1400.CameraCodes,
]


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _type_name(typing.get_args(tp)[0])
    if origin is typing.Literal:
        return " \\| ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(tp))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def _constraints(info: FieldInfo) -> str:
    out = []
    for meta in info.metadata:
        for attr, sym in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            val = getattr(meta, attr, None)
            if val is not None:
                out.append(f"{sym} {val}")
        if getattr(meta, "min_length", None):
            out.append(f"at least {meta.min_length}")
        if getattr(meta, "pattern", None):
            out.append("id: a-z 0-9 - _")
    return ", ".join(out)


def _default(info: FieldInfo) -> str:
    if info.default is not PydanticUndefined:
        return "" if info.default is None else f"`{info.default!r}`"
    if info.default_factory is not None:
        return "empty" if info.default_factory in (list, dict) else "default"
    return "**required**"


def render() -> str:
    """The whole reference as Markdown."""
    lines = [
        "# Site file reference",
        "",
        "Generated from the pydantic models in `shouwang/config/` by",
        "`python -m shouwang.config.reference > docs/configuration.md`. Unknown keys are",
        "errors. Check a file with `shouwang config check FILE`.",
        "",
    ]
    for model in MODELS:
        doc = (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        lines += [
            f"## `{model.__name__}`",
            "",
            doc,
            "",
            "| key | type | default | limits | meaning |",
        ]
        lines.append("|---|---|---|---|---|")
        for name, info in model.model_fields.items():
            tp = _type_name(info.annotation)
            desc = (info.description or "").replace("|", "\\|")
            lines.append(f"| `{name}` | {tp} | {_default(info)} | {_constraints(info)} | {desc} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
