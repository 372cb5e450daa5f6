"""Face embedders: dlib's ResNet, ONNX models (converted or the operator's own), fusions.

Every embedder returns L2-normalised float32 rows, so cosine similarity is a dot
product and galleries from different runs compare directly. :data:`EMBEDDERS` names
every built-in configuration; :data:`DEFAULT_EMBEDDER` is the one the face stage and
the watchlist commands use (chosen on East-Asian faces: docs/faces.md).
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
    layout: Literal["nchw", "nhwc"] = Field(
        default="nchw", description="input layout: nchw (PyTorch/MXNet exports) or nhwc (TF)"
    )


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
        shape = inp.shape
        side = shape[2] if config.layout == "nhwc" else shape[3]
        channels = shape[3] if config.layout == "nhwc" else shape[1]
        if len(shape) != 4 or (isinstance(side, int) and side != config.size) or channels != 3:
            raise ModelError(
                f"model {config.model!r} ({model_path(config.model)}): input shape {shape} "
                f"does not take {config.size}x{config.size} RGB faces in {config.layout.upper()}"
            )
        out_shape = self._session.get_outputs()[0].shape
        last = out_shape[-1] if out_shape else None
        self.dim = int(last) if isinstance(last, int) else 0
        # Exports with a fixed batch of one (OpenCV zoo's SFace, many mobile models) are
        # run face by face; the others take the whole batch in one call.
        self._batch_one = shape[0] == 1

    def preprocess(self, crops: list[NDArray[np.uint8]]) -> NDArray[np.float32]:
        """(n, 3, size, size) float32 input from aligned BGR crops."""
        batch = np.stack(crops).astype(np.float32)
        if self.config.rgb:
            batch = batch[..., ::-1]
        batch = (batch - self.config.mean) / self.config.std
        if self.config.layout == "nhwc":
            return np.ascontiguousarray(batch, dtype=np.float32)
        return np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32)

    def embed(
        self, image_bgr: NDArray[np.uint8], landmarks: NDArray[np.float32]
    ) -> NDArray[np.float32]:
        """(n, dim) unit rows."""
        if not len(landmarks):
            return np.empty((0, self.dim), dtype=np.float32)
        crops = [arcface_crop(image_bgr, lm, self.config.size) for lm in landmarks]
        batch = self.preprocess(crops)
        if self._batch_one:
            outs = [self._session.run(None, {self._input: row[None]})[0] for row in batch]
            out = np.concatenate([np.asarray(o).reshape(1, -1) for o in outs])
        else:
            out = self._session.run(None, {self._input: batch})[0]
        vecs = np.asarray(out, dtype=np.float32).reshape(len(crops), -1)
        self.dim = vecs.shape[1]
        return l2_normalise(vecs)


class FusionConfig(BaseModel):
    """Score-level fusion of several embedders: the weighted mean of their cosines.

    Implemented as one vector, the concatenation of each member's unit vector scaled by
    the square root of its weight (weights sum to one), so the dot product of two fused
    vectors *is* the weighted mean of the members' cosine similarities and the
    watchlist, search index and thresholds work unchanged.
    """

    model_config = ConfigDict(extra="forbid")

    type: Literal["fusion"] = "fusion"
    name: str = Field(description="name stored with the embeddings (identifies the recipe)")
    members: list[str] = Field(min_length=2, description="names in EMBEDDERS")
    weights: list[float] = Field(min_length=2, description="one positive weight per member")


class FusionEmbedder:
    """Runs every member on the same faces and concatenates the weighted unit vectors."""

    def __init__(self, config: FusionConfig) -> None:
        if len(config.weights) != len(config.members) or min(config.weights) <= 0:
            raise ModelError(
                f"fusion {config.name!r}: need one positive weight per member "
                f"({len(config.members)} members, weights {config.weights})"
            )
        self.config = config
        self.name = config.name
        self._members = [make_embedder(embedder_config(m)) for m in config.members]
        w = np.asarray(config.weights, dtype=np.float64)
        self._scale = np.sqrt(w / w.sum()).astype(np.float32)
        self.dim = sum(m.dim for m in self._members)

    def embed(
        self, image_bgr: NDArray[np.uint8], landmarks: NDArray[np.float32]
    ) -> NDArray[np.float32]:
        """(n, sum of member dims) unit rows."""
        parts = [
            m.embed(image_bgr, landmarks) * s
            for m, s in zip(self._members, self._scale, strict=True)
        ]
        self.dim = sum(p.shape[1] for p in parts)
        return l2_normalise(np.concatenate(parts, axis=1))


EmbedderConfig = DlibConfig | OnnxEmbedderConfig | FusionConfig


def _converted(model: str, size: int, mean: float, std: float) -> OnnxEmbedderConfig:
    return OnnxEmbedderConfig(model=model, size=size, mean=mean, std=std, layout="nhwc")


# Every built-in embedder by the name stored with its embeddings. Preprocessing of the
# converted models is their registry entry's (detectors/registry.py, `preprocessing`).
# Fusion weights: the inverse of each member's impostor-score spread (standard deviation
# of cosines between different people), measured on the Western set `faces/` — a
# property of the model that is the same on East-Asian faces (docs/faces.md), not fitted
# to the East-Asian figures.
EMBEDDERS: dict[str, EmbedderConfig] = {
    "dlib-resnet-128": DlibConfig(),
    "facenet-casia": _converted("facenet-casia", 160, 127.5, 127.5),
    "human-faceres": _converted("human-faceres", 224, 0.0, 1.0),
    "human-faceres-deep": _converted("human-faceres-deep", 224, 0.0, 1.0),
    "human-mobileface": _converted("human-mobileface", 112, 0.0, 1.0),
    "human-mobilefacenet": _converted("human-mobilefacenet", 112, 127.5, 127.5),
    "fusion-4": FusionConfig(
        name="fusion-4",
        members=["dlib-resnet-128", "facenet-casia", "human-faceres", "human-mobileface"],
        weights=[1 / 0.0298, 1 / 0.1381, 1 / 0.0659, 1 / 0.1089],
    ),
    # ONNX files used as shipped (insightface's and OpenCV's own preprocessing).
    "arcface-w600k-mbf": OnnxEmbedderConfig(model="arcface-w600k-mbf"),
    "sface": OnnxEmbedderConfig(model="sface", mean=0.0, std=1.0),
}
DEFAULT_EMBEDDER = "arcface-w600k-mbf"


def embedder_config(name: str) -> EmbedderConfig:
    """The built-in configuration called ``name``; :class:`ModelError` listing them."""
    try:
        return EMBEDDERS[name]
    except KeyError:
        raise ModelError(
            f"unknown face embedder {name!r}; built in: {', '.join(EMBEDDERS)}"
        ) from None


def make_embedder(config: EmbedderConfig | str | None = None) -> FaceEmbedder:
    """The embedder a config (or built-in name) describes; the default when ``None``."""
    if config is None:
        config = DEFAULT_EMBEDDER
    if isinstance(config, str):
        config = embedder_config(config)
    if isinstance(config, DlibConfig):
        return DlibEmbedder(config)
    if isinstance(config, FusionConfig):
        return FusionEmbedder(config)
    return OnnxEmbedder(config)
