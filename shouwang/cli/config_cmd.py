"""``shouwang config``: check a site file before it reaches a worker."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shouwang.cli.apps import config_app
from shouwang.config import ConfigError, load_site


@config_app.command("check")
def check(
    file: Annotated[Path, typer.Argument(help="site YAML file, e.g. configs/demo-site.yaml")],
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="print only problems")] = False,
) -> None:
    """Validate a site file and print every problem with its location.

    Each problem is printed as `location: message`, for example
    `cameras[2].calibration.points: need at least 4 pairs, got 3`, so it can be found in
    the file. Exit code 0 when the file is valid, 1 when it is not.

    For each fall or abandoned-object rule a note says whether it measures in metres
    (the camera has a calibration) or falls back to pixels / box aspect (it has none).

    Environment references such as `${GATE_PASS}` are checked for form only: secrets are
    read when a stream opens, never printed.
    """
    try:
        site = load_site(file)
    except ConfigError as exc:
        typer.echo(f"{exc.source}: {len(exc.problems)} problem(s)", err=True)
        for loc, msg in exc.problems:
            typer.echo(f"{loc}: {msg}" if loc else msg, err=True)
        raise typer.Exit(1) from None
    if not quiet:
        n_zones = sum(len(c.zones) for c in site.cameras)
        n_cal = sum(1 for c in site.cameras if c.calibration is not None)
        typer.echo(
            f"{file}: OK — site {site.name!r}: {len(site.compounds)} compound(s), "
            f"{len(site.cameras)} camera(s) ({n_cal} calibrated), {n_zones} zone(s), "
            f"{len(site.plate_lists)} plate list(s), {len(site.watchlists)} watchlist(s)"
        )
        for cam in site.cameras:
            for note in cam.rule_notes():
                typer.echo(f"  note: {note}")
