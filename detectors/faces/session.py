"""The one place this package creates ONNX Runtime sessions.

Kept tiny on purpose: when the shared session factory (``detectors/runtime.py``) lands,
the lead swaps the body of :func:`open_session` and nothing else changes.
"""

from __future__ import annotations

import os
from typing import Any

import onnxruntime as ort

from detectors.errors import ModelError


def open_session(model: bytes | str, *, name: str) -> Any:
    """An ``onnxruntime.InferenceSession`` on the CPU for a model file or serialised bytes.

    Args:
        model: path to an ``.onnx`` file or the serialised model.
        name: the registry name, used in error messages.

    Raises:
        ModelError: the file is not a model ONNX Runtime can load.
    """
    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # CenterFace's stray BN initialisers warn on every load
    threads = int(os.environ.get("SHOUWANG_ORT_THREADS", "0"))
    if threads > 0:
        opts.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own untyped exceptions
        raise ModelError(f"model {name!r}: ONNX Runtime cannot load it: {exc}") from exc
