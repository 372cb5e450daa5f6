"""The one place the plate reader opens ONNX Runtime sessions.

Sessions come from the project's one factory (``detectors.runtime``), so the provider
follows ``SHOUWANG_PROVIDER``; this module only caches them per model and thread count.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from detectors.errors import ModelError
from detectors.plates.errors import PlateError
from detectors.registry import model_path
from detectors.runtime import configured_provider, create_session


@lru_cache(maxsize=8)
def session(name: str, threads: int = 0) -> Any:
    """A session for the registered model ``name``, shared by every reader.

    Args:
        name: a registry name such as ``"clp-rec"``.
        threads: intra-op threads; 0 lets ONNX Runtime choose.

    Raises:
        PlateError: the file exists but ONNX Runtime cannot load it.
    """
    path = model_path(name)
    try:
        return create_session(path, provider=configured_provider(), threads=threads)
    except ModelError as exc:
        raise PlateError(f"cannot load model {name!r} from {path}: {exc}") from exc
