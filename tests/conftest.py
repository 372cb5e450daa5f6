"""Shared fixtures: paths to the labelled media and to the repository."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SHOUWANG_SHARED_DATA", REPO.parent / "shared" / "data"))


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
