"""Entry point: imports every feature module so its commands register, then runs."""

from __future__ import annotations

import importlib
import logging
import os

from shouwang.cli.apps import app

__all__ = ["app", "main"]

# Every feature's command module; importing one registers its commands on the groups.
COMMAND_MODULES = (
    "config_cmd",
    "alerts_cmd",
    "bench_cmd",
    "faces_cmd",
    "models_cmd",
    "demo_cmd",
    "run_cmd",
    "leases_cmd",
    "streams_cmd",
    "anomaly_cmd",
    "plates_cmd",
    "tracking_cmd",
    "store_cmd",
    "police_cmd",
    "gat1400_cmd",
)
for _name in COMMAND_MODULES:
    importlib.import_module(f"shouwang.cli.{_name}")


def main() -> None:
    """Run the ``shouwang`` command."""
    logging.basicConfig(
        level=os.environ.get("SHOUWANG_LOG_LEVEL", "WARNING").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    app()


if __name__ == "__main__":
    main()
