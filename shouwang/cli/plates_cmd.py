"""``shouwang eval plates`` and ``shouwang plates read``: measure and try the plate reader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import Progress

from detectors.plates.errors import PlateError
from shouwang.cli.apps import eval_app, plates_app

if TYPE_CHECKING:
    from detectors.plates.reader import PlateReader

_RECOGNISERS = "clp-rec,ppocr-rec,hyperlpr-rec"


def _reader(recognizers: str) -> PlateReader:
    from detectors.plates.reader import PlateReader

    names = tuple(n.strip() for n in recognizers.split(",") if n.strip())
    return PlateReader(recognizers=names)


@eval_app.command("plates")
def eval_plates(
    folder: Annotated[Path, typer.Argument(help="folder holding labels.csv and the images")],
    json_out: Annotated[
        Path | None, typer.Option("--json", help="also write the JSON report to this file")
    ] = None,
    errors: Annotated[
        bool, typer.Option("--errors", help="list every misread with truth and reading")
    ] = False,
    recognizers: Annotated[
        str,
        typer.Option(help="comma-separated recognisers to fuse: clp-rec, ppocr-rec, hyperlpr-rec"),
    ] = _RECOGNISERS,
) -> None:
    """Read every image of a labelled folder and print accuracy as JSON.

    The folder holds `labels.csv` with columns `file,plate_text[,subset][,bbox_x1y1x2y2]
    [,plate_type][,kind]` (the format of ../shared/data/plates). Each image goes through
    the same detect-and-read path as a camera frame; `kind` = `crop` or `scene` says
    whether an image is a tight plate crop, otherwise the reader decides.

    Example: `shouwang eval plates ../shared/data/plates --json plates.json --errors`

    Output keys, overall and under `subsets`: `n` (labelled plates), `accuracy` (exact
    whole-plate match, misses count as wrong), `accuracy_with_type` (exact and the type
    agrees with the label's plate_type), `char_accuracy` (1 - edit distance / length),
    `detection_recall` (plates with a reading at the labelled place), `latency_ms_p50`
    / `latency_ms_p95` (per image). `--errors` adds `errors`: each misread with its truth.
    """
    from detectors.plates.evaluate import evaluate

    try:
        reader = _reader(recognizers)
        with Progress(console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("reading plates", total=None)
            report = evaluate(
                folder,
                reader,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    except PlateError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    text = json.dumps(report.summary(errors=errors), ensure_ascii=False, indent=2)
    typer.echo(text)
    if json_out is not None:
        json_out.write_text(text + "\n", encoding="utf-8")


@plates_app.command("read")
def read(
    image: Annotated[Path, typer.Argument(help="an image file: a camera frame or a plate crop")],
    kind: Annotated[
        str, typer.Option(help="auto (decide), scene (detect plates) or crop (one plate)")
    ] = "auto",
    recognizers: Annotated[
        str,
        typer.Option(help="comma-separated recognisers to fuse: clp-rec, ppocr-rec, hyperlpr-rec"),
    ] = _RECOGNISERS,
) -> None:
    """Detect and read the plates in one image; print them as a JSON list.

    Example: `shouwang plates read gate.jpg`

    Each entry has `text` (e.g. 粤B6R678), `confidence` and `char_confidences` (0-1),
    `plate_type` (blue, yellow_double, green_new_energy_small, black_embassy, ...),
    `colour`, `xyxy` (box in pixels), `corners` (TL, TR, BR, BL), `is_valid` (false for a
    low-confidence reading), `pattern` and `double_row`. Exit code 2 if the image cannot
    be read.
    """
    from detectors.plates.evaluate import load_image

    if kind not in ("auto", "scene", "crop"):
        typer.echo("error: --kind must be auto, scene or crop", err=True)
        raise typer.Exit(2)
    img = load_image(image)
    if img is None:
        typer.echo(f"error: {image}: missing or not a readable image", err=True)
        raise typer.Exit(2)
    try:
        reader = _reader(recognizers)
        readings = reader.read(img, kind=kind)  # type: ignore[arg-type]
    except (PlateError, ValueError) as exc:
        typer.echo(f"error: {image}: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps([r.as_dict() for r in readings], ensure_ascii=False, indent=2))
