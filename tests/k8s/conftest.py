"""Rendering the kustomize overlays offline, and checking them like CI does."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
OVERLAYS = sorted(p.parent.name for p in (K8S / "overlays").glob("*/kustomization.yaml"))
BROKEN = Path(__file__).with_name("broken")
VALIDATE = Path(sys.executable).with_name("kubernetes-validate")


def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        pytest.fail("kubectl not found: run `bash scripts/setup` as root (kubernetes-client)")
    return found


def render(folder: Path) -> str:
    """``kubectl kustomize FOLDER``: the manifests as applied."""
    res = subprocess.run(
        [kubectl(), "kustomize", str(folder)], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stderr
    return res.stdout


def validate(manifests: str) -> subprocess.CompletedProcess[str]:
    """``... | kubernetes-validate --strict -`` (its schemas ship in the package)."""
    return subprocess.run(
        [str(VALIDATE), "--strict", "--quiet", "-"],
        input=manifests,
        capture_output=True,
        text=True,
        timeout=120,
    )


def documents(manifests: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(manifests) if d]


def unknown_fields(model: BaseModel, raw: Any, path: str = "") -> list[str]:
    """Keys of ``raw`` that ``model`` (validated from it) has no field for.

    KEDA's pydantic models ignore unknown keys; a misspelled field must fail instead,
    so walk the document beside the model, key by key, as ``--strict`` does.
    """
    if not isinstance(raw, dict):
        return []
    fields = type(model).model_fields
    by_key = {(f.alias or name): name for name, f in fields.items()}
    out: list[str] = []
    for key, value in raw.items():
        name = by_key.get(key)
        if name is None:
            out.append(f"{path}{key}")
            continue
        sub = getattr(model, name)
        if isinstance(sub, BaseModel):
            out += unknown_fields(sub, value, f"{path}{key}.")
        elif isinstance(sub, list) and isinstance(value, list):
            for i, (m, v) in enumerate(zip(sub, value, strict=False)):
                if isinstance(m, BaseModel):
                    out += unknown_fields(m, v, f"{path}{key}[{i}].")
    return out
