"""Entry point: imports every feature module so its commands register, then runs."""

from __future__ import annotations

import logging
import os

from shouwang.cli import (
    config_cmd,  # noqa: F401  (registers commands)
    tracking_cmd,  # noqa: F401
)
from shouwang.cli.apps import app

__all__ = ["app", "main"]


def main() -> None:
    """Run the ``shouwang`` command."""
    logging.basicConfig(
        level=os.environ.get("SHOUWANG_LOG_LEVEL", "WARNING").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    app()


if __name__ == "__main__":
    main()
