"""``shouwang models list|check|prepare`` and ``shouwang detect``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import cv2
import numpy as np
import typer
from numpy.typing import NDArray
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from detectors.detections import Detections
from detectors.errors import ModelError
from detectors.inventory import check_models, download, model_status
from detectors.objects import ObjectDetector, ObjectDetectorConfig, load_object_detector
from detectors.onnx_cache import ensure_onnx
from detectors.registry import REGISTRY, ConvertedSource, UrlSource, get_spec
from shouwang.cli.apps import app, models_app

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def _progress() -> Progress:
    """A progress bar on stderr (stdout stays clean for the results)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    )


def _specs(names: list[str] | None) -> list[str]:
    if not names:
        return list(REGISTRY)
    try:
        return [get_spec(n).name for n in names]
    except ModelError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


@models_app.command("list")
def list_models() -> None:
    """List every registered model: name, task, format, source, present?, licence.

    `present` is `yes`, `no`, `not prepared` (converted to ONNX on first use or by
    `shouwang models prepare`) or `not downloaded` (an optional download). This does
    not hash files; use `shouwang models check` for that. Models whose weights were
    trained on research-only data sets (the face embedders) say so first in LICENCE:
    choose knowingly.

    Example: `shouwang models list`
    """
    rows = [("NAME", "TASK", "FORMAT", "SOURCE", "PRESENT", "LICENCE")]
    for spec in REGISTRY.values():
        st = model_status(spec, verify=False)
        lic = ("RESEARCH-ONLY TRAINING DATA; " if spec.research_only else "") + spec.license
        rows.append((spec.name, spec.task, spec.format, spec.source.describe(), st.present, lic))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(r[:5], widths, strict=True)) + "  " + r[5])


@models_app.command("check")
def check(
    names: Annotated[
        list[str] | None, typer.Argument(help="models to check (default: all registered)")
    ] = None,
) -> None:
    """Verify model files against their pinned SHA-256; exit 1 on any problem.

    Prints `OK name: path: sha256 ok` per model, or `FAIL name: why` naming the package to
    install (a missing model) or the file whose hash does not match (a corrupt one).
    Converted models that are not prepared yet are fine: they are built on first use.

    Example: `shouwang models check` or `shouwang models check yolov4-tiny.weights`
    """
    statuses = check_models([REGISTRY[n] for n in _specs(names)])
    for st in statuses:
        typer.echo(f"{'OK  ' if st.ok else 'FAIL'} {st.name}: {st.message}")
    bad = [st.name for st in statuses if not st.ok]
    if bad:
        typer.echo(f"{len(bad)} problem(s): {', '.join(bad)}", err=True)
        raise typer.Exit(1)
    typer.echo(f"all {len(statuses)} model(s) OK", err=True)


@models_app.command("prepare")
def prepare(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="models to prepare (default: every converted model)"),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="rebuild even if up to date")] = False,
) -> None:
    """One-time work before going offline or live: convert and download models.

    Darknet models (yolov4-tiny) are converted to ONNX into the cache
    (`$SHOUWANG_CACHE_DIR/onnx`, default `~/.cache/shouwang/onnx`) next to a JSON file with
    the sources' SHA-256, so a changed source or converter rebuilds it. Download models
    are fetched and verified. Package-shipped files need nothing.

    Example: `shouwang models prepare` then `shouwang models check`
    """
    chosen = (
        _specs(names)
        if names
        else [s.name for s in REGISTRY.values() if isinstance(s.source, ConvertedSource)]
    )
    failed = False
    for name in chosen:
        try:
            typer.echo(_prepare_one(name, force))
        except ModelError as exc:
            typer.echo(f"FAIL {name}: {exc}", err=True)
            failed = True
    if failed:
        raise typer.Exit(1)


def _prepare_one(name: str, force: bool) -> str:
    spec = REGISTRY[name]
    if isinstance(spec.source, ConvertedSource):
        with _progress() as bar:
            task = bar.add_task(f"convert {name} (layers)", total=None)

            def step(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            return f"{name}: {ensure_onnx(name, progress=step, force=force)}"
    if isinstance(spec.source, UrlSource):
        with _progress() as bar:
            task = bar.add_task(f"download {name} (bytes)", total=None)

            def got(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total or None)

            return f"{name}: {download(spec, progress=got)}"
    return f"{name}: nothing to prepare ({spec.source.describe()})"


def draw(image: NDArray[np.uint8], dets: Detections, names: dict[int, str]) -> None:
    """Draw boxes and ``name score`` labels on a BGR image, in place."""
    for i in dets:
        x1, y1, x2, y2 = (round(float(v)) for v in dets.xyxy[i])
        cid = int(dets.class_id[i])
        hue = (cid * 47) % 180
        hsv = np.array([[[hue, 200, 255]]], dtype=np.uint8)
        colour = tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])
        cv2.rectangle(image, (x1, y1), (x2, y2), colour, 2)
        label = f"{names.get(cid, str(cid))} {dets.confidence[i]:.2f}"
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
        top = max(y1 - th - base - 2, 0)
        cv2.rectangle(image, (x1, top), (x1 + tw + 2, top + th + base + 2), colour, -1)
        cv2.putText(
            image, label, (x1 + 1, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1
        )


@app.command("detect")
def detect(
    source: Annotated[Path, typer.Argument(help="an image (.jpg, .png, ...) or a video file")],
    out: Annotated[Path, typer.Option("--out", "-o", help="annotated image or .mp4 to write")],
    conf: Annotated[float, typer.Option(help="minimum box score", min=0.01, max=1.0)] = 0.25,
    model: Annotated[str, typer.Option(help="registry name or .onnx path")] = "yolov4-tiny",
    input_size: Annotated[
        int | None, typer.Option(help="network input, a multiple of 32 (416, 608, 640)")
    ] = None,
    classes: Annotated[
        str, typer.Option(help="comma-separated class names to keep; 'all' for every class")
    ] = "person,bicycle,car,motorcycle,bus,truck",
    provider: Annotated[str, typer.Option(help="cpu, cuda or tensorrt")] = "cpu",
    max_frames: Annotated[
        int | None, typer.Option(help="stop a video after this many frames", min=1)
    ] = None,
) -> None:
    """Detect people and vehicles and write an annotated copy.

    An image gives an image with boxes and `class score` labels; a video gives an mp4
    (mp4v) with every frame annotated, at the source's frame rate. Prints the objects
    found (per image, or a per-class total for a video).

    Example: `shouwang detect street.jpg --out street-boxes.jpg --conf 0.4`
    """
    try:
        cfg = ObjectDetectorConfig(
            model=model,
            conf_threshold=conf,
            input_size=input_size,
            classes=None if classes == "all" else [c.strip() for c in classes.split(",")],
            provider=provider,  # pydantic checks the value
        )
        detector = load_object_detector(cfg)
    except (ModelError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if not source.is_file():
        typer.echo(f"error: {source}: no such file", err=True)
        raise typer.Exit(2)
    if source.suffix.lower() in IMAGE_SUFFIXES:
        raw = cv2.imread(str(source), cv2.IMREAD_COLOR)
        if raw is None:
            typer.echo(f"error: {source}: not a readable image", err=True)
            raise typer.Exit(2)
        image = np.asarray(raw, dtype=np.uint8)
        dets = detector.detect([image])[0]
        draw(image, dets, detector.model_names)
        out.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(out), image):
            typer.echo(f"error: {out}: cannot write (unknown image extension?)", err=True)
            raise typer.Exit(2)
        typer.echo(f"{source}: {dets.summary(detector.model_names)} -> {out}")
        return
    _detect_video(detector, source, out, max_frames)


def _detect_video(
    detector: ObjectDetector, source: Path, out: Path, max_frames: int | None
) -> None:
    cap = cv2.VideoCapture(str(source))
    if not cap.isOpened():
        typer.echo(f"error: {source}: not a readable image or video", err=True)
        raise typer.Exit(2)
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    if max_frames:
        total = min(total or max_frames, max_frames)
    writer: cv2.VideoWriter | None = None
    counts: dict[str, int] = {}
    frames = 0
    with _progress() as bar:
        task = bar.add_task(f"detect {source.name} (frames)", total=total)
        while max_frames is None or frames < max_frames:
            batch: list[NDArray[np.uint8]] = []
            while len(batch) < detector.batch and (
                max_frames is None or frames + len(batch) < max_frames
            ):
                ok, frame = cap.read()
                if not ok:
                    break
                batch.append(np.asarray(frame, dtype=np.uint8))
            if not batch:
                break
            for frame, dets in zip(batch, detector.detect(batch), strict=True):
                draw(frame, dets, detector.model_names)
                for cid in dets.class_id:
                    name = detector.model_names.get(int(cid), str(cid))
                    counts[name] = counts.get(name, 0) + 1
                if writer is None:
                    out.parent.mkdir(parents=True, exist_ok=True)
                    h, w = frame.shape[:2]
                    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"mp4v"), fps, (w, h))
                    if not writer.isOpened():
                        typer.echo(f"error: {out}: cannot open a video writer", err=True)
                        raise typer.Exit(2)
                writer.write(frame)
            frames += len(batch)
            bar.update(task, advance=len(batch))
    cap.release()
    if writer is None:
        typer.echo(f"error: {source}: no frames could be read", err=True)
        raise typer.Exit(2)
    writer.release()
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "nothing"
    typer.echo(f"{source}: {frames} frame(s), boxes: {summary} -> {out}")
