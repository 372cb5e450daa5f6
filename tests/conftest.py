"""Shared fixtures: paths to the labelled media and to the repository."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SHOUWANG_SHARED_DATA", REPO.parent / "shared" / "data"))


# The dashboard's real server and browser, shared by tests/dashboard and tests/bench.
pytest_plugins = ["tests.dashboard.fixtures"]

# The shared test Redis (``redis_url``, and ``r``: a client flushed around each test), for
# every folder: the store, police, GA/T 1400 and live-view tests all stand on it.
from tests.alerts.conftest import r, redis_url  # noqa: E402, F401


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository's root folder."""
    return REPO


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; tests that need it skip cleanly on a user's machine."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"labelled media not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One fresh ``SHOUWANG_CACHE_DIR`` for the whole run: tests never touch ~/.cache, and
    yolov4-tiny is converted to ONNX once per session, not once per test module."""
    path = tmp_path_factory.mktemp("shouwang-cache")
    old = os.environ.get("SHOUWANG_CACHE_DIR")
    os.environ["SHOUWANG_CACHE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("SHOUWANG_CACHE_DIR", None)
    else:
        os.environ["SHOUWANG_CACHE_DIR"] = old


@pytest.fixture(autouse=True)
def _restore_model_registry() -> Iterator[None]:
    """Models a test registers (a user's own ONNX file, say) never leak into the next test."""
    from detectors.registry import REGISTRY

    saved = dict(REGISTRY)
    yield
    REGISTRY.clear()
    REGISTRY.update(saved)
