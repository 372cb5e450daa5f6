"""The converted yolov4-tiny against OpenCV's own Darknet loader, on real images.

Both networks get the very same letterboxed blob. We compare the raw head maps, the
decoded yolo rows (boxes, objectness, class probabilities) and the final boxes after
the detector's post-processing against an independent OpenCV-style post-processing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from detectors.objects import ObjectDetector
from detectors.registry import model_path
from detectors.runtime import create_session
from detectors.yolo import letterbox
from tests.detectors.conftest import read_image

CONF = 0.3


@pytest.fixture(scope="session")
def darknet() -> Any:
    return cv2.dnn.readNetFromDarknet(
        str(model_path("yolov4-tiny.cfg")), str(model_path("yolov4-tiny.weights"))
    )


def _iou(a: NDArray[np.float32], b: NDArray[np.float32]) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union)


def _opencv_boxes(
    rows: NDArray[np.float32], keep_ids: NDArray[np.int64], size: int, meta: Any
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.int64]]:
    """OpenCV's yolo sample post-processing, written independently of detectors.yolo."""
    boxes, scores, ids = [], [], []
    for r in rows:
        s = r[5:][keep_ids]  # OpenCV rows already hold objectness x class probability
        j = int(np.argmax(s))
        if s[j] < CONF:
            continue
        cx, cy, w, h = (float(v) * size for v in r[:4])
        boxes.append([cx - w / 2, cy - h / 2, w, h])
        scores.append(float(s[j]))
        ids.append(int(keep_ids[j]))
    keep = cv2.dnn.NMSBoxesBatched(boxes, scores, ids, CONF, 0.45) if boxes else []
    out = []
    for k in np.asarray(keep, dtype=np.int64).reshape(-1):
        x, y, w, h = boxes[k]
        x1, y1 = (x - meta.left) / meta.scale, (y - meta.top) / meta.scale
        x2, y2 = (x + w - meta.left) / meta.scale, (y + h - meta.top) / meta.scale
        out.append(
            [
                np.clip(x1, 0, meta.width),
                np.clip(y1, 0, meta.height),
                np.clip(x2, 0, meta.width),
                np.clip(y2, 0, meta.height),
            ]
        )
    idx = np.asarray(keep, dtype=np.int64).reshape(-1)
    return (
        np.asarray(out, np.float32).reshape(-1, 4),
        np.asarray(scores, np.float32)[idx] if len(idx) else np.empty(0, np.float32),
        np.asarray(ids, np.int64)[idx] if len(idx) else np.empty(0, np.int64),
    )


def check_parity(
    image: NDArray[np.uint8], yolo_onnx: Path, darknet: Any, detector: ObjectDetector
) -> None:
    blob, metas = letterbox([image], (416, 416))
    darknet.setInput(blob)
    ref_y0, ref_y1, ref_h0, ref_h1 = darknet.forward(["yolo_30", "yolo_37", "conv_29", "conv_36"])
    sess = create_session(yolo_onnx)
    det, h0, h1 = sess.run(["detections", "head_0", "head_1"], {"images": blob})

    # Raw head maps (logits up to ~20): float32 accumulation order differs, nothing more.
    assert np.abs(h0 - ref_h0).max() < 5e-3
    assert np.abs(h1 - ref_h1).max() < 5e-3
    ref = np.concatenate([ref_y0, ref_y1])
    rows = det[0]
    assert rows.shape == ref.shape == (2535, 85)
    assert np.abs(rows[:, :4] - ref[:, :4]).max() < 2e-4  # boxes, normalised to the input
    assert np.abs(rows[:, 4] - ref[:, 4]).max() < 1e-3  # objectness
    probs = rows[:, 4:5] * rows[:, 5:]
    shown = ref[:, 5:] > 0  # OpenCV zeroes objectness x probability below its threshold
    assert shown.any()
    assert np.abs(probs[shown] - ref[:, 5:][shown]).max() < 1e-3
    assert probs[~shown].max() < 0.25

    # Final boxes: the detector's full path against OpenCV's output post-processed apart.
    cfg = detector.cfg.model_copy(update={"conf_threshold": CONF})
    ours = ObjectDetector(cfg, detector.session, detector.source).detect([image])[0]
    xyxy, scores, ids = _opencv_boxes(ref, detector.class_ids, 416, metas[0])
    assert len(ours) == len(xyxy) > 0
    for i in range(len(xyxy)):
        j = int(np.argmax([_iou(xyxy[i], b) for b in ours.xyxy]))
        assert _iou(xyxy[i], ours.xyxy[j]) > 0.99
        assert ours.class_id[j] == ids[i]
        assert abs(ours.confidence[j] - scores[i]) < 1e-3


@pytest.mark.parametrize("name", ["bus.jpg", "zidane.jpg"])
def test_parity_with_opencv_darknet(
    name: str, samples: Path, yolo_onnx: Path, darknet: Any, detector: ObjectDetector
) -> None:
    check_parity(read_image(samples / name), yolo_onnx, darknet, detector)


@pytest.mark.data
def test_parity_on_pets_frame(
    shared_data: Path, yolo_onnx: Path, darknet: Any, detector: ObjectDetector
) -> None:
    videos = sorted((shared_data / "video").glob("*.avi"))
    if not videos:
        pytest.skip("no .avi in ../shared/data/video")
    cap = cv2.VideoCapture(str(videos[0]))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 100)
    ok, frame = cap.read()
    cap.release()
    if not ok:
        pytest.fail(f"{videos[0]}: could not read frame 100")
    check_parity(np.asarray(frame, dtype=np.uint8), yolo_onnx, darknet, detector)
