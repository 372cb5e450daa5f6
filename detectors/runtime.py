"""The one way Shouwang opens an ONNX model: an ONNX Runtime session factory.

Every detector (objects, plates, faces) calls :func:`create_session`, so choosing the
execution provider is configuration, not code: ``cpu`` here, ``cuda`` or ``tensorrt`` on
GPU nodes with the ``onnxruntime-gpu`` extra (``pip install shouwang[gpu]``). When the
asked-for provider is not in this onnxruntime build, the session falls back along
``tensorrt → cuda → cpu`` and logs a warning naming the provider that was missing.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Literal, cast, get_args

import onnxruntime as ort

from detectors.errors import ModelError

log = logging.getLogger(__name__)

Provider = Literal["cpu", "cuda", "tensorrt"]

#: Our names for onnxruntime's execution providers.
PROVIDERS: dict[str, str] = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}
_CHAIN: dict[str, list[str]] = {
    "tensorrt": ["tensorrt", "cuda", "cpu"],
    "cuda": ["cuda", "cpu"],
    "cpu": ["cpu"],
}


def configured_provider() -> Provider:
    """The provider named by ``SHOUWANG_PROVIDER`` (default ``cpu``).

    Raises:
        ModelError: the variable names no known provider.
    """
    value = os.environ.get("SHOUWANG_PROVIDER", "cpu").strip().lower()
    for known in get_args(Provider):
        if value == known:
            return cast(Provider, known)
    raise ModelError(f"SHOUWANG_PROVIDER: expected one of cpu, cuda, tensorrt, got {value!r}")


def available_providers() -> list[str]:
    """Our names of the providers this onnxruntime build offers, e.g. ``["cpu"]``."""
    have = set(ort.get_available_providers())
    return [k for k, v in PROVIDERS.items() if v in have]


def create_session(
    model: Path | str | bytes,
    *,
    provider: Provider = "cpu",
    threads: int = 0,
    cache_dir: Path | None = None,
) -> Any:
    """Open an ONNX model on the configured execution provider.

    Args:
        model: a path to an ``.onnx`` file, or its bytes.
        provider: ``cpu``, ``cuda`` or ``tensorrt``; a missing one falls back (logged).
        threads: intra-op threads; 0 lets onnxruntime use every core.
        cache_dir: where TensorRT keeps its engine cache (ignored for other providers).

    Returns:
        An ``onnxruntime.InferenceSession``.

    Raises:
        ModelError: unknown provider, or a file onnxruntime cannot load (naming it).

    Example:
        >>> sess = create_session("yolov4-tiny.onnx", provider="cuda")  # doctest: +SKIP
        >>> sess.get_providers()[0]  # doctest: +SKIP
        'CUDAExecutionProvider'
    """
    if provider not in _CHAIN:
        raise ModelError(f"provider: expected one of {sorted(_CHAIN)}, got {provider!r}")
    if threads < 0:
        raise ModelError(f"threads: expected >= 0, got {threads}")
    have = set(available_providers())
    chain = [p for p in _CHAIN[provider] if p in have]
    if provider not in have:
        log.warning(
            "execution provider %r (%s) is not available in this onnxruntime build "
            "(available: %s); falling back to %r. Install the gpu extra "
            "(onnxruntime-gpu) on GPU nodes.",
            provider,
            PROVIDERS[provider],
            ", ".join(sorted(have)),
            chain[0],
        )
    providers: list[Any] = []
    for p in chain:
        if p == "tensorrt" and cache_dir is not None:
            cache_dir.mkdir(parents=True, exist_ok=True)
            opts = {"trt_engine_cache_enable": "True", "trt_engine_cache_path": str(cache_dir)}
            providers.append((PROVIDERS[p], opts))
        else:
            providers.append(PROVIDERS[p])
    so = ort.SessionOptions()
    so.log_severity_level = 3  # errors only: some shipped models warn about unused initialisers
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    source = model if isinstance(model, bytes) else str(model)
    what = "<bytes>" if isinstance(model, bytes) else str(model)
    try:
        session = ort.InferenceSession(source, sess_options=so, providers=providers)
    except Exception as exc:  # onnxruntime raises its own pybind exception types
        raise ModelError(f"onnxruntime could not load {what}: {exc}") from exc
    used = session.get_providers()
    if used and used[0] != PROVIDERS[chain[0]]:
        log.warning(
            "execution provider %r failed to start for %s; running on %s", chain[0], what, used[0]
        )
    return session
