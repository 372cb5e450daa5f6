"""``shouwang config``: check a site file before it reaches a worker."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from shouwang.cli.apps import config_app
from shouwang.config import ConfigError, Site, load_site
from streams import State, StreamError, SurplusFrames, open_site_sources


@config_app.command("check")
def check(
    file: Annotated[Path, typer.Argument(help="site YAML file, e.g. configs/demo-site.yaml")],
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="print only problems")] = False,
    probe: Annotated[
        float,
        typer.Option(
            "--probe",
            min=0,
            max=120,
            help="also open every camera for this many seconds and say which send more "
            "frames per second than their analysis fps needs (0: do not open cameras)",
        ),
    ] = 0.0,
) -> None:
    """Validate a site file and print every problem with its location.

    Each problem is printed as `location: message`, for example
    `cameras[2].calibration.points: need at least 4 pairs, got 3`, so it can be found in
    the file. Exit code 0 when the file is valid, 1 when it is not.

    For each fall or abandoned-object rule a note says whether it measures in metres
    (the camera has a calibration) or falls back to pixels / box aspect (it has none).

    Environment references such as `${GATE_PASS}` are checked for form only: secrets are
    read when a stream opens, never printed.

    With `--probe 6` every enabled camera is opened for 6 seconds and a camera that sends
    more frames than its `fps` (the analysis rate) needs is named, with the cheapest fix
    (set the camera's sub-stream to that rate): every frame sent is decoded, used or not.
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
    if probe > 0:
        _probe(site, file.parent, probe)


def _probe(site: Site, site_dir: Path, seconds: float) -> None:
    """Open the cameras for ``seconds`` and print surplus-frame notes and dead cameras."""
    try:
        sources = open_site_sources(site, site_dir)
    except StreamError as exc:
        typer.echo(f"probe: {exc}", err=True)
        return
    advice = SurplusFrames({c.id: c.fps for c in site.cameras if c.enabled})
    notes: list[str] = []
    with sources:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            time.sleep(0.5)
            notes += advice.check(sources.health())
        health = sources.health()
    for note in notes:
        typer.echo(f"note: {note}")
    for cid, h in health.items():
        if h.state is not State.STREAMING:
            typer.echo(f"camera {cid}: {h.state.value} ({h.last_error or 'no frame yet'})")
        elif cid not in {n.split()[1] for n in notes}:
            want = advice.analysis_fps.get(cid, 0.0)
            typer.echo(f"camera {cid}: {h.fps_decoded:.1f} fps sent, analysed at {want:g}")
