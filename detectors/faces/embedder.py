"""Face embedders: dlib's ResNet (128-d, CPU) and any ArcFace/SFace-style ONNX model.

Every embedder returns L2-normalised float32 rows, so cosine similarity is a dot
product and galleries from different runs compare directly.
"""

from __future__ import annotations

from typing import Literal, Protocol

import dlib
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from detectors.errors import ModelError
from detectors.faces.align import DlibAligner, arcface_crop
from detectors.faces.session import open_session
from detectors.registry import get_spec, model_path


class FaceEmbedder(Protocol):
    """Turns aligned faces into unit vectors."""

    name: str
    dim: int

    def embed(
        self, image_bgr: NDArray[np.uint8], landmarks: NDArray[np.float32]
    ) -> NDArray[np.float32]:
        """(n, dim) unit rows for the n faces whose (n, 5, 2) landmarks are given."""
        ...


def l2_normalise(x: NDArray[np.floating]) -> NDArray[np.float32]:
    """Rows scaled to unit length (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.maximum(norm, 1e-12), dtype=np.float32)


class DlibConfig(BaseModel):
    """dlib's face_recognition ResNet."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["dlib"] = "dlib"
    model: str = Field(default="dlib-resnet-128", description="registry name of the .dat")
    landmarks_model: str = Field(default="dlib-landmarks-5", description="5-point predictor")
    jitters: int = Field(default=0, ge=0, le=100, description="dlib re-sampling per face")


class DlibEmbedder:
    """dlib ResNet 128-d on the CPU."""

    def __init__(self, config: DlibConfig | None = None) -> None:
        self.config = config or DlibConfig()
        self.name = self.config.model
        self.dim = 128
        self._aligner = DlibAligner(self.config.landmarks_model)
        self._net = dlib.face_recognition_model_v1(str(model_path(self.config.model)))

    def embed(
        self, image_bgr: NDArray[np.uint8], landmarks: NDArray[np.float32]
    ) -> NDArray[np.float32]:
        """(n, 128) unit rows."""
        if not len(landmarks):
            return np.empty((0, self.dim), dtype=np.float32)
        rgb = np.ascontiguousarray(image_bgr[:, :, ::-1])
        return self.embed_chips(self._aligner.chips(rgb, landmarks))

    def embed_chips(self, chips: list[NDArray[np.uint8]]) -> NDArray[np.float32]:
        """(n, 128) unit rows for already aligned 150x150 RGB chips."""
        if not chips:
            return np.empty((0, self.dim), dtype=np.float32)
        vecs = self._net.compute_face_descriptor(chips, self.config.jitters)
        return l2_normalise(np.asarray([np.asarray(v) for v in vecs]))


class OnnxEmbedderConfig(BaseModel):
    """An ArcFace/SFace-style ONNX embedder registered in the model registry.

    Defaults follow insightface's ArcFace exports: 112x112 RGB, ``(x - 127.5) / 127.5``,
    NCHW. OpenCV's SFace wants ``mean=0, std=1``.
    """

    model_config = ConfigDict(extra="forbid")

    type: Literal["onnx"] = "onnx"
    model: str = Field(description="registry name of the ONNX file (task face_embedding)")
    size: int = Field(default=112, ge=32, le=512, description="square input side in pixels")
    mean: float = Field(default=127.5, ge=0, le=255, description="subtracted from each pixel")
    std: float = Field(default=127.5, gt=0, le=255, description="pixels are divided by this")
    rgb: bool = Field(default=True, description="feed RGB (True) or BGR (False)")


class OnnxEmbedder:
    """ArcFace-template alignment, normalisation, NCHW, one batched run, L2 norm."""

    def __init__(self, config: OnnxEmbedderConfig) -> None:
        self.config = config
        spec = get_spec(config.model)
        if spec.format != "onnx" or spec.task != "face_embedding":
            raise ModelError(
                f"model {config.model!r}: expected an ONNX face_embedding model, "
                f"registered as {spec.format} {spec.task}"
            )
        self.name = config.model
        self._session = open_session(str(model_path(config.model)), name=config.model)
        inp = self._session.get_inputs()[0]
        self._input = inp.name
        out_shape = self._session.get_outputs()[0].shape
        last = out_shape[-1] if out_shape else None
        self.dim = int(last) if isinstance(last, int) else 0

    def preprocess(self, crops: list[NDArray[np.uint8]]) -> NDArray[np.float32]:
        """(n, 3, size, size) float32 input from aligned BGR crops."""
        batch = np.stack(crops).astype(np.float32)
        if self.config.rgb:
            batch = batch[..., ::-1]
        batch = (batch - self.config.mean) / self.config.std
        return np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32)

    def embed(
        self, image_bgr: NDArray[np.uint8], landmarks: NDArray[np.float32]
    ) -> NDArray[np.float32]:
        """(n, dim) unit rows."""
        if not len(landmarks):
            return np.empty((0, self.dim), dtype=np.float32)
        crops = [arcface_crop(image_bgr, lm, self.config.size) for lm in landmarks]
        (out,) = self._session.run(None, {self._input: self.preprocess(crops)})[:1]
        vecs = np.asarray(out, dtype=np.float32).reshape(len(crops), -1)
        self.dim = vecs.shape[1]
        return l2_normalise(vecs)


EmbedderConfig = DlibConfig | OnnxEmbedderConfig


def make_embedder(config: EmbedderConfig | None = None) -> FaceEmbedder:
    """The embedder a config describes (dlib by default)."""
    if config is None or isinstance(config, DlibConfig):
        return DlibEmbedder(config)
    return OnnxEmbedder(config)
