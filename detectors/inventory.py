"""What the registry's models look like on this machine: present, verified, prepared.

Backs ``shouwang models list`` and ``shouwang models check``; kept apart from the CLI so
the same answers are available to the API's health endpoint and to tests.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from detectors.darknet2onnx import Progress
from detectors.errors import ModelError
from detectors.onnx_cache import cache_state
from detectors.registry import (
    REGISTRY,
    ConvertedSource,
    ModelSpec,
    UrlSource,
    locate,
    spec_path,
)


@dataclass(frozen=True, slots=True)
class ModelStatus:
    """One model's state.

    Attributes:
        name: registry name.
        present: ``"yes"``, ``"no"`` or ``"not prepared"`` (a converted model not built yet).
        ok: False when something needs fixing (missing, corrupt, stale).
        message: what was checked, or what is wrong and how to fix it.
    """

    name: str
    present: str
    ok: bool
    message: str


def model_status(spec: ModelSpec, *, verify: bool = True) -> ModelStatus:
    """Look at one model; with ``verify`` the file's SHA-256 is checked too."""
    if isinstance(spec.source, ConvertedSource):
        state, path = cache_state(spec)
        if state == "fresh":
            return ModelStatus(spec.name, "yes", True, f"{path} (converted, hashes match)")
        if state == "missing":
            return ModelStatus(
                spec.name,
                "not prepared",
                True,
                "converted on first use, or now with `shouwang models prepare`",
            )
        return ModelStatus(
            spec.name, "no", False, f"{state}; rebuild with `shouwang models prepare`"
        )
    if not verify:
        try:
            present = locate(spec).is_file()
        except ModelError as exc:
            return ModelStatus(spec.name, "no", False, str(exc))
        return ModelStatus(spec.name, "yes" if present else "no", present, "")
    if isinstance(spec.source, UrlSource) and not locate(spec).is_file():
        # Downloads are optional extras for sites with internet access; offline
        # installations run on the package-shipped models.
        return ModelStatus(
            spec.name,
            "not downloaded",
            True,
            f"optional: `shouwang models prepare {spec.name}` with internet access",
        )
    try:
        path = spec_path(spec, verify=True, rehash=True)
    except ModelError as exc:
        return ModelStatus(spec.name, "no", False, str(exc))
    what = "sha256 ok" if spec.sha256 else "present (no sha256 pinned)"
    return ModelStatus(spec.name, "yes", True, f"{path}: {what}")


def check_models(specs: Iterable[ModelSpec] | None = None) -> list[ModelStatus]:
    """Verify every given model (default: the whole registry)."""
    return [model_status(s) for s in (REGISTRY.values() if specs is None else specs)]


def download(spec: ModelSpec, *, progress: Progress | None = None) -> Path:
    """Fetch a ``url`` model into the cache, verifying its pinned SHA-256.

    Raises:
        ModelError: no network (saying where to put the file instead) or a hash mismatch.
    """
    src = spec.source
    if not isinstance(src, UrlSource):
        raise ModelError(f"model {spec.name!r} is not a download ({src.describe()})")
    path = locate(spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    h = hashlib.sha256()
    try:
        with urllib.request.urlopen(src.url, timeout=30) as resp, tmp.open("wb") as fh:
            total = int(resp.headers.get("Content-Length") or 0)
            done = 0
            while block := resp.read(1 << 20):
                fh.write(block)
                h.update(block)
                done += len(block)
                if progress:
                    progress(done, total)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ModelError(
            f"model {spec.name!r}: could not download {src.url} ({exc}); without internet "
            f"access, copy the file to {path}"
        ) from exc
    if spec.sha256 and h.hexdigest() != spec.sha256:
        tmp.unlink(missing_ok=True)
        raise ModelError(
            f"model {spec.name!r}: hash mismatch for the download of {src.url}: expected "
            f"sha256 {spec.sha256}, got {h.hexdigest()}; not installed"
        )
    os.replace(tmp, path)
    return path
