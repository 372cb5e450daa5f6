"""Person and vehicle detection: YOLO models on ONNX Runtime, frames in, Detections out.

Two model families, one code path:

- ``yolov4`` (default ``yolov4-tiny``): converted from darknet by
  :mod:`detectors.darknet2onnx`, on first use or by ``shouwang models prepare``;
- ``ultralytics``: a YOLOv8/YOLO11 ``.onnx`` exported by ultralytics
  (``yolo export format=onnx``), output ``(B, 4 + C, N)``; ``dynamic=True`` exports get
  true batching, fixed-batch ones are fed one padded batch at a time.

Example:
    >>> det = load_object_detector(ObjectDetectorConfig(input_size=608))  # doctest: +SKIP
    >>> [d.summary(det.names) for d in det.detect([frame_a, frame_b])]  # doctest: +SKIP
    ['3 person, 1 car', 'nothing']
"""

from __future__ import annotations

import ast
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, field_validator

from detectors.detections import Detections
from detectors.errors import ModelError
from detectors.registry import REGISTRY, cache_dir, get_spec, model_path
from detectors.runtime import Provider, create_session
from detectors.yolo import (
    COCO_ALIASES,
    Layout,
    candidates,
    check_images,
    letterbox,
    nms_per_class,
    to_detections,
)

log = logging.getLogger(__name__)

DEFAULT_CLASSES = ["person", "bicycle", "car", "motorcycle", "bus", "truck"]


class ObjectDetectorConfig(BaseModel):
    """How to run the object detector; every key can sit in a site YAML file."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        "yolov4-tiny",
        description="a registry name (see `shouwang models list`) or a path to an .onnx file",
    )
    kind: Literal["auto", "yolov4", "ultralytics"] = Field(
        "auto", description="output layout; auto reads the model's metadata and output shape"
    )
    provider: Provider = Field("cpu", description="ONNX Runtime execution provider")
    threads: int = Field(0, ge=0, le=256, description="intra-op threads; 0 = all cores")
    input_size: int | None = Field(
        None,
        ge=32,
        le=1920,
        description="square network input in pixels, a multiple of 32 (416, 608, 640); "
        "None = the model's own (416 for yolov4-tiny, the export size for ultralytics)",
    )
    conf_threshold: float = Field(0.25, gt=0, le=1, description="minimum box score")
    iou_threshold: float = Field(0.45, gt=0, le=1, description="per-class NMS IoU threshold")
    classes: list[str] | None = Field(
        default_factory=lambda: list(DEFAULT_CLASSES),
        description="class names to keep; None keeps every class of the model",
    )
    max_batch: int = Field(8, ge=1, le=64, description="frames per ONNX Runtime call")
    max_detections: int = Field(300, ge=1, le=10000, description="boxes kept per frame")

    @field_validator("input_size")
    @classmethod
    def _multiple_of_32(cls, v: int | None) -> int | None:
        if v is not None and v % 32:
            raise ValueError(f"input_size must be a multiple of 32 (e.g. 416, 608, 640), got {v}")
        return v


class ObjectDetector:
    """A YOLO model on one ONNX Runtime session; :meth:`detect` is its one verb.

    Attributes:
        names: the kept classes, model class id → name (COCO ids for COCO models:
            0 person, 1 bicycle, 2 car, 3 motorcycle, 5 bus, 7 truck).
        model_names: every class the model knows.
        layout: ``"yolov4"`` or ``"ultralytics"``.
        input_size: network input (width, height).
        batch: frames per ONNX Runtime call.
        session: the ``onnxruntime.InferenceSession`` (for benchmarks).
    """

    def __init__(self, cfg: ObjectDetectorConfig, session: Any, source: str) -> None:
        self.cfg = cfg
        self.session = session
        self.source = source
        inp = session.get_inputs()[0]
        self.input_name: str = inp.name
        meta = dict(session.get_modelmeta().custom_metadata_map)
        self.layout, self.output_name, n_classes = _layout(cfg, session, meta, source)
        self.model_names = _names(meta, n_classes)
        self.input_size = _input_size(cfg, inp.shape, meta, source)
        static_batch = inp.shape[0] if isinstance(inp.shape[0], int) else None
        self._pad_batch = static_batch
        self.batch = static_batch or cfg.max_batch
        gpu = {"CUDAExecutionProvider", "TensorrtExecutionProvider"}
        first = (session.get_providers() or [""])[0]
        self._bind_device: str | None = "cuda" if first in gpu else None
        wanted = cfg.classes if cfg.classes is not None else list(self.model_names.values())
        by_name = {n: i for i, n in self.model_names.items()}
        wanted = [COCO_ALIASES.get(c, c) for c in wanted]
        unknown = [c for c in wanted if c not in by_name]
        if unknown:
            known = list(self.model_names.values())
            more = f" and {len(known) - 20} more" if len(known) > 20 else ""
            raise ModelError(
                f"classes: {unknown} are not classes of {source}; it knows "
                f"{', '.join(known[:20])}{more}"
            )
        self.class_ids = np.array(sorted(by_name[c] for c in wanted), np.int64)
        self.names = {int(i): self.model_names[int(i)] for i in self.class_ids}

    def preprocess(
        self, images: Sequence[NDArray[np.uint8]]
    ) -> tuple[NDArray[np.float32], list[Any]]:
        """Check and letterbox at most ``batch`` frames into one NCHW blob."""
        check_images(images)
        return letterbox(images, self.input_size, self._pad_batch)

    def infer(self, blob: NDArray[np.float32]) -> NDArray[np.float32]:
        """One ONNX Runtime call on a preprocessed blob; the raw model output.

        On a GPU provider the input is copied to the device once and bound there (I/O
        binding), the output bound to host memory for NMS; if binding fails the reason
        is logged once and plain ``session.run`` is used from then on.
        """
        if self._bind_device:
            try:
                return self._infer_bound(blob)
            except Exception as exc:  # onnxruntime raises its own pybind types
                log.warning(
                    "I/O binding on %s failed (%s); using session.run", self._bind_device, exc
                )
                self._bind_device = None
        out: NDArray[np.float32] = self.session.run([self.output_name], {self.input_name: blob})[0]
        return out

    def _infer_bound(self, blob: NDArray[np.float32]) -> NDArray[np.float32]:
        import onnxruntime as ort

        binding = self.session.io_binding()
        x = ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(blob), "cuda", 0)
        binding.bind_ortvalue_input(self.input_name, x)
        binding.bind_output(self.output_name, "cpu")
        self.session.run_with_iobinding(binding)
        out: NDArray[np.float32] = binding.copy_outputs_to_cpu()[0]
        return out

    def detect(self, images: Sequence[NDArray[np.uint8]]) -> list[Detections]:
        """Detect objects in BGR frames; one :class:`Detections` per frame, in order.

        Frames may differ in size; they go to ONNX Runtime ``batch`` at a time. Boxes are
        in each frame's own pixels, clipped to it, with model class ids (COCO ids).

        Raises:
            ValueError: a frame that is not a non-empty (h, w, 3) uint8 array, naming it.
        """
        check_images(images)
        results: list[Detections] = []
        for start in range(0, len(images), self.batch):
            chunk = images[start : start + self.batch]
            blob, metas = letterbox(chunk, self.input_size, self._pad_batch)
            results.extend(self.postprocess(self.infer(blob), metas))
        return results

    def postprocess(self, out: NDArray[np.float32], metas: list[Any]) -> list[Detections]:
        """Raw model output for a batch → one :class:`Detections` per frame."""
        cfg = self.cfg
        results = []
        for b, meta in enumerate(metas):
            xyxy, conf, cls = candidates(
                out[b], self.layout, self.class_ids, cfg.conf_threshold, self.input_size
            )
            keep = nms_per_class(xyxy, conf, cls, cfg.iou_threshold, cfg.max_detections)
            results.append(to_detections(xyxy[keep], conf[keep], cls[keep], meta))
        return results


def load_object_detector(cfg: ObjectDetectorConfig | None = None) -> ObjectDetector:
    """Resolve the model (converting yolov4-tiny on first use) and open its session.

    Raises:
        ModelError: unknown or missing model, a corrupt file, an unreadable layout, or
            classes the model does not know.
    """
    cfg = cfg or ObjectDetectorConfig()
    path = _resolve(cfg.model)
    session = create_session(
        path,
        provider=cfg.provider,
        threads=cfg.threads,
        cache_dir=cache_dir() / "tensorrt",
        max_batch=max(cfg.max_batch, 64),
    )
    return ObjectDetector(cfg, session, str(path))


def _resolve(model: str) -> Path:
    if model in REGISTRY:
        spec = get_spec(model)
        if spec.format != "onnx" or spec.task != "object_detection":
            raise ModelError(f"model {model!r} is a {spec.task} {spec.format} file, not a detector")
        return model_path(model)
    path = Path(model)
    if path.suffix == ".onnx" or path.exists():
        if not path.is_file():
            raise ModelError(f"model: file not found: {path}")
        return path
    raise ModelError(
        f"model: {model!r} is neither a registered model ({', '.join(sorted(REGISTRY))}) "
        "nor an existing .onnx file"
    )


def _layout(
    cfg: ObjectDetectorConfig, session: Any, meta: dict[str, str], source: str
) -> tuple[Layout, str, int | None]:
    """Which output to read, its layout and (when known) the number of classes."""
    outputs = session.get_outputs()
    names = [o.name for o in outputs]
    kind = cfg.kind
    if kind == "auto":
        if meta.get("shouwang.kind") == "yolov4" and "detections" in names:
            kind = "yolov4"
        else:
            kind = "ultralytics"
    out = next((o for o in outputs if o.name == "detections"), outputs[0])
    shape = list(out.shape)
    if len(shape) != 3:
        raise ModelError(
            f"{source}: cannot read output {out.name!r} of shape {shape}: expected "
            "(batch, 4 + classes, boxes) (ultralytics) or (batch, rows, 5 + classes) (yolov4)"
        )
    if kind == "yolov4":
        return "yolov4", out.name, shape[2] - 5 if isinstance(shape[2], int) else None
    n_names = len(_names(meta, None))
    if n_names and isinstance(shape[1], int) and shape[1] != 4 + n_names:
        raise ModelError(
            f"{source}: output {out.name!r} has shape {shape} but the model names {n_names} "
            f"classes; expected ultralytics' (batch, 4 + {n_names}, boxes)"
        )
    return "ultralytics", out.name, shape[1] - 4 if isinstance(shape[1], int) else None


def _names(meta: dict[str, str], n_classes: int | None) -> dict[int, str]:
    raw = meta.get("names")
    if raw:
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = ast.literal_eval(raw)  # ultralytics writes a Python dict literal
        if isinstance(parsed, dict):
            return {int(k): str(v) for k, v in parsed.items()}
        return dict(enumerate(str(v) for v in parsed))
    if n_classes == 80:
        try:
            lines = model_path("coco.names").read_text().splitlines()
            names = [COCO_ALIASES.get(n.strip(), n.strip()) for n in lines if n.strip()]
            return dict(enumerate(names))
        except ModelError:
            log.warning("no class names in the model and coco.names is missing; using ids")
    return {i: str(i) for i in range(n_classes or 0)}


def _input_size(
    cfg: ObjectDetectorConfig, shape: list[Any], meta: dict[str, str], source: str
) -> tuple[int, int]:
    h, w = (shape[2], shape[3]) if len(shape) == 4 else (None, None)
    if isinstance(h, int) and isinstance(w, int):
        if cfg.input_size is not None and (w, h) != (cfg.input_size, cfg.input_size):
            raise ModelError(
                f"input_size: {source} was exported for a fixed {w}x{h} input, got "
                f"{cfg.input_size}; leave input_size unset or re-export with dynamic=True"
            )
        return w, h
    if cfg.input_size is not None:
        return cfg.input_size, cfg.input_size
    for key in ("shouwang.input_size", "imgsz"):
        if key in meta:
            size = ast.literal_eval(meta[key])
            if isinstance(size, list | tuple) and len(size) == 2:
                if key == "imgsz":  # ultralytics stores (height, width)
                    return int(size[1]), int(size[0])
                return int(size[0]), int(size[1])
    return 640, 640
