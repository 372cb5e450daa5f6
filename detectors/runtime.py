"""The one way Shouwang opens an ONNX model: an ONNX Runtime session factory.

Every detector (objects, plates, faces) calls :func:`create_session`, so choosing the
execution provider is configuration, not code: ``cpu`` here, ``cuda`` or ``tensorrt`` on
GPU nodes with the ``onnxruntime-gpu`` extra (``pip install shouwang[gpu]``). When the
asked-for provider is not in this onnxruntime build, the session falls back along
``tensorrt → cuda → cpu`` and logs a warning naming the provider that was missing.

On GPU nodes (:func:`provider_options`): TensorRT first, in FP16, with its engine and
timing caches under the cache dir (the first session builds the engine, later ones load
it in seconds) and an optimisation profile for batches 1 to ``max_batch`` (64), CUDA
behind it for nodes without TensorRT's libraries, then the CPU. Every fallback is one
logged line naming the provider and why.
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


#: Batch sizes the TensorRT optimisation profile is built for: min, opt, max.
TRT_PROFILE_BATCH = (1, 8, 64)


def provider_options(
    chain: list[str],
    *,
    cache_dir: Path | None,
    input_name: str | None = None,
    input_chw: tuple[int, int, int] | None = None,
    max_batch: int = TRT_PROFILE_BATCH[2],
) -> list[Any]:
    """onnxruntime's ``providers`` argument for ``chain`` (our names, best first).

    TensorRT: FP16, engine + timing caches in ``cache_dir`` (``engines/``, ``timing/``),
    and, for a model with a dynamic batch (``input_name`` and its (C, H, W) given), a
    profile from batch 1 to ``max_batch`` optimised for 8. CUDA: device 0, heuristic
    cuDNN algorithm search (an exhaustive one costs seconds at every new batch size).

    Example:
        >>> provider_options(["cpu"], cache_dir=None)
        ['CPUExecutionProvider']
    """
    out: list[Any] = []
    for p in chain:
        if p == "tensorrt":
            opts: dict[str, str] = {"trt_fp16_enable": "True"}
            if cache_dir is not None:
                for sub in ("engines", "timing"):
                    (cache_dir / sub).mkdir(parents=True, exist_ok=True)
                opts |= {
                    "trt_engine_cache_enable": "True",
                    "trt_engine_cache_path": str(cache_dir / "engines"),
                    "trt_timing_cache_enable": "True",
                    "trt_timing_cache_path": str(cache_dir / "timing"),
                }
            if input_name is not None and input_chw is not None:
                c, h, w = input_chw
                lo, mid, _ = TRT_PROFILE_BATCH
                shape = {b: f"{input_name}:{b}x{c}x{h}x{w}" for b in (lo, min(mid, max_batch))}
                opts |= {
                    "trt_profile_min_shapes": shape[lo],
                    "trt_profile_opt_shapes": shape[min(mid, max_batch)],
                    "trt_profile_max_shapes": f"{input_name}:{max_batch}x{c}x{h}x{w}",
                }
            out.append((PROVIDERS[p], opts))
        elif p == "cuda":
            cuda = {"device_id": "0", "cudnn_conv_algo_search": "HEURISTIC"}
            out.append((PROVIDERS[p], cuda))
        else:
            out.append(PROVIDERS[p])
    return out


def _dynamic_input(model: Path | str | bytes) -> tuple[str, tuple[int, int, int]] | None:
    """The first input's name and (C, H, W) when its batch is dynamic (TensorRT only)."""
    import onnx

    try:
        m = (
            onnx.load_model_from_string(model)
            if isinstance(model, bytes)
            else onnx.load(str(model), load_external_data=False)
        )
    except Exception:  # an unreadable model fails below, in onnxruntime, with its message
        return None
    inp = m.graph.input[0]
    dims = inp.type.tensor_type.shape.dim
    if len(dims) != 4 or dims[0].dim_value > 0 or not all(d.dim_value for d in dims[1:]):
        return None
    return inp.name, (dims[1].dim_value, dims[2].dim_value, dims[3].dim_value)


def create_session(
    model: Path | str | bytes,
    *,
    provider: Provider = "cpu",
    threads: int = 0,
    cache_dir: Path | None = None,
    max_batch: int = TRT_PROFILE_BATCH[2],
) -> Any:
    """Open an ONNX model on the configured execution provider.

    Args:
        model: a path to an ``.onnx`` file, or its bytes.
        provider: ``cpu``, ``cuda`` or ``tensorrt``; a missing one falls back (logged).
        threads: intra-op threads; 0 lets onnxruntime use every core.
        cache_dir: where TensorRT keeps its engine and timing caches (TensorRT only).
        max_batch: the largest batch of TensorRT's optimisation profile.

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
    dynamic = _dynamic_input(model) if "tensorrt" in chain else None
    providers = provider_options(
        chain,
        cache_dir=cache_dir,
        input_name=dynamic[0] if dynamic else None,
        input_chw=dynamic[1] if dynamic else None,
        max_batch=max_batch,
    )
    so = ort.SessionOptions()
    so.log_severity_level = 3  # errors only: some shipped models warn about unused initialisers
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # ONNX Runtime's pool threads spin after each call waiting for the next one: on a
    # busy or shared CPU that burns cores the decoders and trackers need. Measured with
    # `python -m bench.e2e probe 4 8`: 13-18 % less CPU per processed frame without it
    # (docs/e2e-bench.md). SHOUWANG_ORT_SPIN=1 brings it back.
    spin = os.environ.get("SHOUWANG_ORT_SPIN", "0") == "1"
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
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
