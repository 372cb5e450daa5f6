"""``shouwang eval tracking``: CLEAR-MOT and IDF1 of detector + tracker on a labelled video."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from detectors.errors import ModelError
from pipeline.detector import BACKENDS, make_detector
from pipeline.errors import PipelineError
from pipeline.eval_mot import evaluate_tracking, video_info
from pipeline.motion import MotionConfig
from pipeline.tracking import TrackerConfig
from shouwang.cli.apps import eval_app


@eval_app.command("tracking")
def eval_tracking(
    video: Annotated[Path, typer.Argument(help="video file (e.g. .avi, .mp4)", exists=True)],
    gt: Annotated[Path, typer.Argument(help="MOTChallenge 2D ground truth (gt.txt)", exists=True)],
    json_out: Annotated[
        Path | None, typer.Option("--json", help="also write the figures to this JSON file")
    ] = None,
    backend: Annotated[
        str, typer.Option(help=f"detector backend: {' | '.join(BACKENDS)}")
    ] = "onnx",
    input_size: Annotated[
        int, typer.Option(help="detector input width = height (multiple of 32)")
    ] = 640,
    conf_threshold: Annotated[
        float, typer.Option(help="detector score threshold; boxes below are never seen")
    ] = 0.4,
    track_threshold: Annotated[
        float, typer.Option(help="score a detection needs to start a track")
    ] = 0.5,
    lost_seconds: Annotated[float, typer.Option(help="seconds a lost track may be re-found")] = 1.5,
    fps: Annotated[float | None, typer.Option(help="frame rate; default: the video's own")] = None,
    motion_gating: Annotated[
        bool, typer.Option("--motion-gating", help="run the detector only on frames with motion")
    ] = False,
    keyframe_seconds: Annotated[
        float, typer.Option(help="with --motion-gating: detect at least this often")
    ] = 2.0,
    max_frames: Annotated[
        int | None, typer.Option(min=1, help="score only the first N frames")
    ] = None,
) -> None:
    """Track people through VIDEO and score them against GT (CLEAR-MOT, IDF1 at IoU 0.5).

    yolov4-tiny finds people in every frame (or only in frames with motion, with
    --motion-gating), ByteTrack links them into tracks, and py-motmetrics compares the
    tracks with the MOTChallenge ground truth (frame 1 of GT is the first video frame).

    Example:

    ```
    shouwang eval tracking ../shared/data/video/vtest_opencv_pets2009_s2l1_view001.avi \
        ../shared/data/video/gt/PETS09-S2L1_gt.txt --json mot.json
    ```

    Output (stdout and --json): `mota` (1 - (misses + false positives + id switches) /
    ground-truth boxes; 1 is perfect, it can go below 0), `idf1` (how long each person
    keeps one id), `recall`, `precision`, `frames` scored, `fps` processed on this
    machine, the raw counts (`num_misses`, `num_false_positives`, `id_switches`,
    `mostly_tracked`...), `detector_runs`, and `config`, the settings used.
    """
    video_fps, total = video_info(video)
    frame_rate = fps or video_fps or 25.0
    try:
        tracker_cfg = TrackerConfig(
            frame_rate=frame_rate,
            track_activation_threshold=track_threshold,
            lost_track_seconds=lost_seconds,
            class_groups=[[0]],
        )
        motion = MotionConfig(keyframe_seconds=keyframe_seconds) if motion_gating else None
        detector = make_detector(backend, input_size=input_size, conf_threshold=conf_threshold)
        todo = min(total, max_frames) if total and max_frames else (max_frames or total or None)
        progress = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        with progress:
            task = progress.add_task("tracking", total=todo)
            result: dict[str, Any] = evaluate_tracking(
                video,
                gt,
                detector,
                tracker_cfg,
                motion=motion,
                max_frames=max_frames,
                on_frame=lambda: progress.advance(task),
            )
    except ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: "
            + str(e["msg"]).removeprefix("Value error, ").removeprefix(f"{e['loc'][-1]}: ")
            for e in exc.errors()
        )
        typer.echo(f"error: {reasons}", err=True)
        raise typer.Exit(1) from exc
    except (ModelError, PipelineError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    result["config"] = {
        "video": str(video),
        "gt": str(gt),
        "backend": backend,
        "input_size": input_size,
        "conf_threshold": conf_threshold,
        "classes": ["person"],
        "iou_match": 0.5,
        "tracker": tracker_cfg.model_dump(),
        "motion": motion.model_dump() if motion else None,
    }
    text = json.dumps(result, indent=2)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(text + "\n", encoding="utf-8")
    typer.echo(text)
