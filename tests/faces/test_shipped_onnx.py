"""The ONNX embedders that ship as-is in PyPI wheels (InsightFace ArcFace, OpenCV SFace).

Their files are used unconverted, so "parity" here is our preprocessing and runtime
against each model's own reference pipeline on real photos: insightface's
``ArcFaceONNX`` preprocessing (``cv2.dnn.blobFromImages``, scale 1/127.5, mean 127.5,
RGB) run by OpenCV's DNN module for the ArcFace model, and OpenCV's own
``cv2.FaceRecognizerSF`` (its ``alignCrop`` from the five landmarks, then ``feature``)
for SFace. Cosine ≥ 0.999 on every face.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from detectors.faces.align import arcface_crop
from detectors.faces.analyzer import FaceAnalyzer
from detectors.faces.detector import CenterFaceDetector
from detectors.faces.embedder import (
    DEFAULT_EMBEDDER,
    EMBEDDERS,
    OnnxEmbedder,
    OnnxEmbedderConfig,
    make_embedder,
)
from detectors.faces.watchlist import DEFAULT_THRESHOLDS
from detectors.registry import REGISTRY, PackageSource, model_path

SHIPPED = ["arcface-w600k-mbf", "sface"]
Face = tuple[NDArray[np.uint8], NDArray[np.float32]]


@pytest.fixture(scope="module")
def real_faces(
    one_face: NDArray[np.uint8], detector: CenterFaceDetector, shared_data: Path
) -> list[Face]:
    """Real faces with CenterFace landmarks: Zidane, his mirror image and four East-Asian
    development photos (two people)."""
    images = [one_face, np.ascontiguousarray(one_face[:, ::-1])]
    root = shared_data / "faces_asian" / "asian"
    for name in ("yao_ming_02", "yao_ming_03", "zhang_ziyi_01", "zhang_ziyi_02"):
        images.append(np.asarray(cv2.imread(str(root / f"{name}.jpg")), dtype=np.uint8))
    out = []
    for img in images:
        det = detector.detect(img)
        assert len(det), "no face found in a parity photo"
        big = int(np.argmax(det.area))
        out.append((img, det.data["landmarks"][big]))
    return out


def _cos(a: NDArray[np.float32], b: NDArray[np.float32]) -> NDArray[np.float64]:
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    norms = np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1)
    return np.asarray((a64 * b64).sum(1) / norms, dtype=np.float64)


def test_shipped_models_are_registered_with_licence_and_hash() -> None:
    for name in SHIPPED:
        spec = REGISTRY[name]
        assert isinstance(spec.source, PackageSource) and spec.format == "onnx"
        assert spec.sha256 and len(spec.sha256) == 64
        assert spec.research_only and "training data" in spec.license
        assert spec.input_size == (112, 112) and spec.preprocessing
        assert name in EMBEDDERS and name in DEFAULT_THRESHOLDS
        model_path(name)  # installed by set-up, hash verified
    assert DEFAULT_EMBEDDER == "arcface-w600k-mbf"


def test_arcface_matches_insightface_preprocessing_in_opencv_dnn(real_faces: list[Face]) -> None:
    config = EMBEDDERS["arcface-w600k-mbf"]
    assert isinstance(config, OnnxEmbedderConfig)
    emb = OnnxEmbedder(config)
    crops = [arcface_crop(img, lm, 112) for img, lm in real_faces]
    got = np.concatenate([emb.embed(img, lm[None]) for img, lm in real_faces])
    # insightface model_zoo/arcface_onnx.py: blobFromImages(crops, 1/std, size, (mean,)*3,
    # swapRB=True), here run by a second runtime (OpenCV DNN) on the same file.
    net = cv2.dnn.readNetFromONNX(str(model_path("arcface-w600k-mbf")))
    blob = cv2.dnn.blobFromImages(
        crops, 1.0 / 127.5, (112, 112), (127.5, 127.5, 127.5), swapRB=True
    )
    net.setInput(blob)
    want = np.asarray(net.forward(), dtype=np.float32).reshape(len(crops), -1)
    cos = _cos(got, want)
    assert got.shape == (len(crops), 512)
    assert cos.min() >= 0.999, cos


def test_sface_matches_opencv_face_recognizer(real_faces: list[Face]) -> None:
    config = EMBEDDERS["sface"]
    assert isinstance(config, OnnxEmbedderConfig)
    emb = OnnxEmbedder(config)
    rec = cv2.FaceRecognizerSF.create(str(model_path("sface")), "")
    got, want = [], []
    for img, lm in real_faces:
        got.append(emb.embed(img, lm[None])[0])
        # OpenCV's own crop from a YuNet-style row: box, five points, score.
        row = np.zeros((1, 15), dtype=np.float32)
        row[0, 4:14] = lm.reshape(-1)
        aligned = rec.alignCrop(img, row)
        want.append(np.asarray(rec.feature(aligned), dtype=np.float32).reshape(-1))
    cos = _cos(np.stack(got), np.stack(want))
    assert np.stack(got).shape[1] == 128
    assert cos.min() >= 0.999, cos


def test_batch_of_one_model_embeds_several_faces_like_one_at_a_time(
    real_faces: list[Face],
) -> None:
    """SFace's graph takes one face per call; a frame with several faces still works."""
    emb = make_embedder("sface")
    img, lm = real_faces[0]
    flipped, lm2 = real_faces[1]
    both = np.ascontiguousarray(np.hstack([img, flipped]))
    lm2 = lm2 + np.asarray([img.shape[1], 0], dtype=np.float32)
    rows = emb.embed(both, np.stack([lm, lm2]))
    singles = np.concatenate([emb.embed(both, lm[None]), emb.embed(both, lm2[None])])
    assert rows.shape == (2, 128)
    np.testing.assert_allclose(rows, singles, atol=1e-5)


@pytest.mark.parametrize("name", SHIPPED)
def test_same_person_matches_other_person_does_not(name: str, real_faces: list[Face]) -> None:
    """At the embedder's default threshold: Yao Ming's two photos match each other and
    neither matches Zhang Ziyi."""
    analyzer = FaceAnalyzer(embedder=name)
    emb = np.concatenate([analyzer.embedder.embed(img, lm[None]) for img, lm in real_faces[2:]])
    thr = DEFAULT_THRESHOLDS[name]
    assert float(emb[0] @ emb[1]) >= thr
    for yao in (0, 1):
        for zhang in (2, 3):
            assert float(emb[yao] @ emb[zhang]) < thr
