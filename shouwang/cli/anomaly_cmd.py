"""``shouwang eval anomaly``: the scene anomaly score against frame and pixel labels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, TaskID

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

    With three clips or more the report also holds `leave_one_clip_out`: for each
    clip, the setting (grid, cue weights, smoothing, per-cell typical speed; 216
    candidates) with the best pooled AUC on the *other* clips and the Youden threshold
    on their frames score that clip. Its `pooled_frame_auc` is the figure for footage
    the method was not tuned on; `alerts_at_operating_threshold` gives the share of
    incidents caught and the false alarms per hour of normal footage at those thresholds.

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


@eval_app.command("false-alarms")
def false_alarms(
    site_file: Annotated[
        Path,
        typer.Argument(help="site YAML with the zones and rules, e.g. configs/eval/pets09.yaml"),
    ],
    footage: Annotated[
        list[str],
        typer.Option(
            "--footage",
            help="CAMERA_ID=VIDEO: play this video as that camera (repeatable); footage with "
            "no incident in it",
        ),
    ],
    json_out: Annotated[
        Path | None, typer.Option("--json", help="also write the JSON report to this file")
    ] = None,
    start: Annotated[
        str, typer.Option(help="local time of the first frame, HH:MM (schedules use it)")
    ] = "12:00",
    scene: Annotated[bool, typer.Option(help="run the scene anomaly score too")] = True,
    tamper: Annotated[bool, typer.Option(help="run the camera tamper check too")] = True,
    cache: Annotated[
        Path | None,
        typer.Option(help="keep the detector's outputs per video here (reused next run)"),
    ] = None,
    max_seconds: Annotated[
        float | None, typer.Option(min=0.1, help="play only this much of each video")
    ] = None,
    progress: Annotated[bool, typer.Option(help="progress bar on stderr")] = True,
) -> None:
    """Run every configured rule over incident-free footage; print alarms per camera-hour.

    Each `--footage CAMERA=VIDEO` plays a video file as one camera of the site file:
    the object detector (yolov4-tiny), the tracker, the camera's rules, the scene score
    and the tamper check, at the camera's `fps`. On footage where nothing happens that
    a guard should see, every event is a false alarm. Example:

        shouwang eval false-alarms configs/eval/pets09.yaml \\
            --footage pets09=../shared/data/video/vtest_opencv_pets2009_s2l1_view001.avi

    Output: per camera and rule the events and events per camera-hour (with every event's
    time, track and measured value, so each one can be looked at), and per rule type the
    totals over all footage. Exit code 1 on an unreadable site file or video.
    """
    from datetime import time
    from functools import partial

    import numpy as np
    from numpy.typing import NDArray
    from rich.console import Console

    from detectors.detections import Detections
    from detectors.objects import ObjectDetector, ObjectDetectorConfig, load_object_detector
    from pipeline.anomaly.events import AnomalyError
    from pipeline.anomaly.false_alarms import CachedDetector, run_footage, summarise
    from pipeline.anomaly.scene import SceneConfig
    from shouwang.config import ConfigError, load_site

    try:
        hh, mm = (int(v) for v in start.split(":"))
        start_at = time(hh, mm)
    except ValueError:
        typer.echo(f"error: --start {start!r} is not HH:MM", err=True)
        raise typer.Exit(2) from None
    pairs: list[tuple[str, Path]] = []
    for item in footage:
        cam_id, sep, file = item.partition("=")
        if not sep or not cam_id or not file:
            typer.echo(f"error: --footage {item!r} is not CAMERA_ID=VIDEO", err=True)
            raise typer.Exit(2)
        pairs.append((cam_id, Path(file)))
    try:
        site = load_site(site_file)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    model: list[ObjectDetector] = []

    def detect(image: NDArray[np.uint8]) -> Detections:
        if not model:
            model.append(load_object_detector(ObjectDetectorConfig(classes=None)))
        return model[0].detect([image])[0]

    runs = []
    try:
        with Progress(console=Console(stderr=True), disable=not progress) as bar:
            for cam, video in pairs:
                task = bar.add_task(f"{cam}: {video.name}", total=None)
                fps = next((c.fps for c in site.cameras if c.id == cam), 0)
                path = cache / f"{video.stem}-{fps:g}fps.npz" if cache is not None else None
                cached = CachedDetector(detect, path)
                runs.append(
                    run_footage(
                        site, cam, video, cached, start=start_at,
                        scene=SceneConfig() if scene else None, tamper=tamper,
                        max_seconds=max_seconds,
                        progress=partial(_advance, bar, task),
                    )
                )  # fmt: skip
                cached.save()
    except AnomalyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    report = {"site": str(site_file), "footage": runs, "per_rule_type": summarise(runs)}
    text = json.dumps(report, indent=2, ensure_ascii=False)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(text + "\n", encoding="utf-8")
    typer.echo(text)


def _advance(bar: Progress, task: TaskID, done: int, total: int) -> None:
    bar.update(task, completed=done, total=total or None)
