"""The one place this package creates ONNX Runtime sessions.

It goes through the project's one session factory (``detectors.runtime``), so the
execution provider follows ``SHOUWANG_PROVIDER`` like every other model.
"""

from __future__ import annotations

import os
from typing import Any

from detectors.errors import ModelError
from detectors.runtime import configured_provider, create_session


def open_session(model: bytes | str, *, name: str) -> Any:
    """An ``onnxruntime.InferenceSession`` for a model file or serialised bytes.

    Args:
        model: path to an ``.onnx`` file or the serialised model.
        name: the registry name, used in error messages.

    Raises:
        ModelError: the file is not a model ONNX Runtime can load.
    """
    threads = int(os.environ.get("SHOUWANG_ORT_THREADS", "0"))
    try:
        return create_session(model, provider=configured_provider(), threads=threads)
    except ModelError as exc:
        raise ModelError(f"model {name!r}: {exc}") from exc
