"""``shouwang eval anomaly``: the scene anomaly score against frame and pixel labels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from shouwang.cli.apps import eval_app


@eval_app.command("anomaly")
def anomaly(
    folder: Annotated[
        Path,
        typer.Argument(
            help="folder in the ucsd_ped2 format, e.g. ../shared/data/anomaly/ucsd_ped2"
        ),
    ],
    json_out: Annotated[
        Path | None, typer.Option("--json", help="also write the JSON report to this file")
    ] = None,
    clip: Annotated[
        list[str] | None, typer.Option("--clip", help="score only this clip (repeatable)")
    ] = None,
    threshold: Annotated[
        float | None, typer.Option(help="score for events and the TPR/FPR figures (default 2.0)")
    ] = None,
    grid: Annotated[
        str | None, typer.Option(help="cells across x down, e.g. 12x8 (the default)")
    ] = None,
    alpha: Annotated[
        float | None, typer.Option(help="learning rate of the typical speed (default 0.02)")
    ] = None,
    detector: Annotated[
        bool,
        typer.Option(
            help="run the object detector for the object-speed and odd-class cues "
            "(--no-detector: motion and region size only)"
        ),
    ] = True,
    cache: Annotated[
        Path | None,
        typer.Option(
            help="keep the detector's outputs per clip in this folder (reused on the next run)"
        ),
    ] = None,
    progress: Annotated[bool, typer.Option(help="progress bar on stderr")] = True,
) -> None:
    """Score every frame with the scene anomaly score and print ROC AUCs as JSON.

    Each clip is a fresh stream: the scorer calibrates itself from nothing on the
    clip's own motion and never sees a label. Example:

        shouwang eval anomaly ../shared/data/anomaly/ucsd_ped2 --json /tmp/anomaly.json \
            --cache /tmp/anomaly-dets

    With three clips or more the report also holds `leave_one_clip_out`: for each clip
    the setting (grid, cue weights, smoothing; 108 candidates) with the best pooled AUC
    on the *other* clips and the Youden threshold on their frames score that clip; its
    `pooled_frame_auc` is the figure for footage the method was not tuned on, and
    `alerts_at_operating_threshold` gives the share of incidents caught and the false
    alarms per hour of normal footage at those thresholds.

    `--grid` and `--alpha` exist to measure how sensitive the figure is to the method's
    parameters; the defaults are what the product runs.

    Output: `frame_auc` (ROC AUC of the per-frame score against `anomalous`, all clips
    pooled), `pixel_auc` (per-pixel ROC AUC of the cell score map against the masks,
    over frames that have one), `pixel_auc_ucsd40` (the UCSD criterion: an anomalous
    frame is a hit only when 40% of its mask scores above the threshold), the frame
    TPR/FPR at the event threshold, per-clip AUC and mean scores, and the cost in ms per
    frame. A per-clip AUC is null when the clip
    has only one kind of frame. Exit code 1 when the folder cannot be read.
    """
    from pipeline.anomaly.evaluate import evaluate
    from pipeline.anomaly.events import AnomalyError
    from pipeline.anomaly.scene import SceneConfig

    overrides: dict[str, object] = {}
    if threshold is not None:
        overrides["threshold"] = threshold
    if alpha is not None:
        overrides["alpha"] = alpha
    if grid is not None:
        try:
            cols, rows = (int(v) for v in grid.lower().split("x"))
        except ValueError:
            typer.echo(f"error: --grid {grid!r} is not COLSxROWS, e.g. 15x10", err=True)
            raise typer.Exit(2) from None
        overrides["grid"] = (cols, rows)
    try:
        config = SceneConfig.model_validate(overrides)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        report = evaluate(
            folder, config, clips=clip or None, progress=progress, detector=detector, cache=cache
        )
    except AnomalyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    text = json.dumps(report, indent=2, ensure_ascii=False)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(text + "\n", encoding="utf-8")
    typer.echo(text)
