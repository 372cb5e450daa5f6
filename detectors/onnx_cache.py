"""The converted-model cache: ``cache_dir()/onnx/<name>.onnx`` plus a metadata JSON.

The JSON records the converter version, opset, the SHA-256 of every source file and of
the ONNX file itself. Any mismatch (new converter, other weights, a corrupted cache
file) makes the cache stale and :func:`ensure_onnx` rebuilds it. Writes are atomic
(temp file + rename), so two workers starting at once never read half a file.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

import onnx

from detectors.darknet2onnx import CONVERTER_VERSION as DARKNET_VERSION
from detectors.darknet2onnx import OPSET, Progress, convert
from detectors.errors import ModelError
from detectors.registry import (
    ConvertedSource,
    ModelSpec,
    cache_dir,
    get_spec,
    model_path,
    sha256_file,
)
from detectors.yolo import COCO_ALIASES

log = logging.getLogger(__name__)


def _sources(spec: ModelSpec) -> tuple[ConvertedSource, dict[str, str]]:
    src = spec.source
    if not isinstance(src, ConvertedSource):
        raise ModelError(f"model {spec.name!r} is not a converted model")
    return src, {role: get_spec(n).sha256 or "" for role, n in src.inputs.items()}


def _converter_version(src: ConvertedSource) -> int:
    if src.converter == "darknet":
        return DARKNET_VERSION
    from detectors.faces.tf2onnx import CONVERTER_VERSION as TF_VERSION

    return TF_VERSION


def _build(spec: ModelSpec, src: ConvertedSource, progress: Progress | None) -> onnx.ModelProto:
    if src.converter != "darknet":
        # TF.js / frozen TensorFlow face embedders (imported here: faces sit on top of us)
        from detectors.faces.tf2onnx import convert_registered

        return convert_registered(spec, src)
    cfg = model_path(src.inputs["cfg"]).read_text()
    weights = model_path(src.inputs["weights"]).read_bytes()
    names = None
    if "names" in src.inputs:
        names = [n.strip() for n in model_path(src.inputs["names"]).read_text().splitlines()]
        names = [COCO_ALIASES.get(n, n) for n in names if n]
    return convert(cfg, weights, names=names, source=spec.name, progress=progress)


def onnx_cache_path(name: str) -> Path:
    """Where the converted model ``name`` is cached: ``cache_dir()/onnx/<name>.onnx``."""
    return cache_dir() / "onnx" / f"{name}.onnx"


def cache_state(spec: ModelSpec) -> tuple[str, Path]:
    """``("fresh" | "missing" | "stale: why", path)`` for a converted model's cache."""
    src, hashes = _sources(spec)
    path = onnx_cache_path(spec.name)
    meta_path = path.with_suffix(".json")
    if not path.is_file() or not meta_path.is_file():
        return "missing", path
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        return f"stale: unreadable metadata {meta_path} ({exc})", path
    if meta.get("converter_version") != _converter_version(src):
        return f"stale: converter version {meta.get('converter_version')}", path
    if meta.get("sources") != hashes:
        return "stale: the source files changed", path
    if meta.get("onnx_sha256") != sha256_file(path):
        return f"stale: {path} does not match its recorded sha256 (corrupt?)", path
    return "fresh", path


def ensure_onnx(name: str, *, progress: Progress | None = None, force: bool = False) -> Path:
    """The converted ONNX file for a registered model, converting when missing or stale.

    The cache holds ``<name>.onnx`` and ``<name>.json`` (converter version, SHA-256 of
    the sources and of the output); a change of any rebuilds the file.

    Raises:
        ModelError: a source file missing or corrupt, or the cfg not convertible.
    """
    spec = get_spec(name)
    src, hashes = _sources(spec)
    state, path = cache_state(spec)
    if state == "fresh" and not force:
        return path
    log.info("converting %s to ONNX (%s)", name, state)
    model = _build(spec, src, progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = model.SerializeToString()
    _atomic_write(path, data)
    meta = {
        "model": name,
        "converter": src.converter,
        "converter_version": _converter_version(src),
        "opset": OPSET,
        "onnx_version": onnx.__version__,
        "sources": hashes,
        "onnx_sha256": sha256_file(path),
    }
    _atomic_write(path.with_suffix(".json"), json.dumps(meta, indent=2).encode())
    return path


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
