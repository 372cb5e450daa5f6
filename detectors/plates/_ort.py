"""The one place the plate reader opens ONNX Runtime sessions.

Kept apart so the project-wide session factory (``detectors/runtime.py``) can replace it
in one edit: threads, providers and graph optimisation are chosen here only.
"""

from __future__ import annotations

from functools import lru_cache

import onnxruntime as ort

from detectors.plates.errors import PlateError
from detectors.registry import model_path


@lru_cache(maxsize=8)
def session(name: str, threads: int = 0) -> ort.InferenceSession:
    """A CPU session for the registered model ``name``, shared by every reader.

    Args:
        name: a registry name such as ``"clp-rec"``.
        threads: intra-op threads; 0 lets ONNX Runtime choose.

    Raises:
        PlateError: the file exists but ONNX Runtime cannot load it.
    """
    path = model_path(name)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(
            str(path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise PlateError(f"cannot load model {name!r} from {path}: {exc}") from exc
