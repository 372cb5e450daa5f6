"""The darknet converter on small synthetic networks (random weights) and bad inputs.

Each synthetic cfg exercises one set of sections; OpenCV's Darknet loader is the
reference, so the test needs no stored expected numbers.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from detectors.darknet2onnx import convert, parse_cfg
from detectors.errors import ModelError
from detectors.onnx_cache import cache_state, ensure_onnx
from detectors.registry import get_spec

NET = "[net]\nwidth=64\nheight=64\nchannels=3\n"
CONV = (
    "[convolutional]\nbatch_normalize={bn}\nfilters={f}\nsize={k}\nstride={s}\npad=1\n"
    "activation={a}\n"
)
YOLO = (
    "[yolo]\nmask={mask}\nanchors=10,14, 23,27, 37,58, 81,82, 135,169, 344,319\n"
    "classes=2\nnum=6\nscale_x_y={sxy}\n"
)


def conv(f: int, k: int = 3, s: int = 1, a: str = "leaky", bn: int = 1) -> str:
    return CONV.format(f=f, k=k, s=s, a=a, bn=bn)


# Tiny-YOLO-like: stride-2 conv, route groups, concat, maxpool 2/2 and 2/1 (darknet's
# asymmetric padding), shortcut, mish and linear activations, upsample, two yolo heads.
CFG_FULL = (
    NET
    + conv(8, s=2)
    + conv(16)
    + "[route]\nlayers=-1\ngroups=2\ngroup_id=1\n"
    + conv(8, a="mish")
    + "[route]\nlayers=-1,-2\n"
    + "[maxpool]\nsize=2\nstride=2\n"
    + conv(16, k=1)
    + "[shortcut]\nfrom=-2\nactivation=linear\n"
    + "[maxpool]\nsize=2\nstride=1\n"
    + conv(16, s=2)
    + conv(21, k=1, a="linear", bn=0)
    + YOLO.format(mask="3,4,5", sxy=1.05)
    + "[route]\nlayers=-4\n"
    + conv(8, k=1)
    + "[upsample]\nstride=2\n"
    + "[route]\nlayers=-1,-11\n"
    + conv(21, k=1, a="linear", bn=0)
    + YOLO.format(mask="0,1,2", sxy=1.2)
)


def weights_for(cfg: str, rng: np.random.Generator, extra: int = 0, short: int = 0) -> bytes:
    """A random .weights file that fits ``cfg`` (plus/minus some floats)."""
    floats: list[np.ndarray[Any, Any]] = []
    outs: list[int] = []
    for s in parse_cfg(cfg)[1:]:
        c = outs[-1] if outs else 3
        if s.kind == "convolutional":
            f, k = s.get_int("filters"), s.get_int("size")
            floats.append(rng.normal(0, 0.1, f))
            if s.get_int("batch_normalize", 0):
                floats += [rng.uniform(0.5, 1.5, f), rng.normal(0, 0.1, f), rng.uniform(0.5, 2, f)]
            floats.append(rng.normal(0, 1.0 / np.sqrt(c * k * k), f * c * k * k))
            c = f
        elif s.kind == "route":
            idx = len(outs)
            layers = [i if i >= 0 else idx + i for i in s.get_ints("layers")]
            c = sum(outs[i] for i in layers if 0 <= i < idx) // s.get_int("groups", 1)
        outs.append(c)
    body = np.concatenate(floats).astype(np.float32)
    body = np.concatenate([body, np.zeros(extra, np.float32)])[: len(body) + extra - short]
    header = np.array([0, 2, 5], np.int32).tobytes() + np.array([0], np.int64).tobytes()
    return header + body.tobytes()


@pytest.mark.parametrize(("width", "height"), [(64, 64), (96, 64)])
def test_synthetic_network_matches_opencv(tmp_path: Path, width: int, height: int) -> None:
    rng = np.random.default_rng(7)
    weights = weights_for(CFG_FULL, rng)
    (tmp_path / "n.cfg").write_text(CFG_FULL)
    (tmp_path / "n.weights").write_bytes(weights)
    net = cv2.dnn.readNetFromDarknet(str(tmp_path / "n.cfg"), str(tmp_path / "n.weights"))
    blob = rng.uniform(0, 1, (1, 3, height, width)).astype(np.float32)
    net.setInput(blob)
    ref = np.concatenate(net.forward(list(net.getUnconnectedOutLayersNames())))

    model = convert(CFG_FULL, weights, names=["a", "b"])
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    batch = np.concatenate([blob, blob[:, :, ::-1]])  # batch of 2, second differs
    rows = sess.run(["detections"], {"images": batch})[0]
    assert rows.shape[0] == 2
    got = rows[0]
    assert got.shape == ref.shape
    assert np.abs(got[:, :5] - ref[:, :5]).max() < 1e-4
    probs = got[:, 4:5] * got[:, 5:]
    shown = ref[:, 5:] > 0
    assert np.abs(probs[shown] - ref[:, 5:][shown]).max() < 1e-4
    assert not np.allclose(rows[0], rows[1])
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["names"]) == {"0": "a", "1": "b"}


BAD = [
    ("no net", "[convolutional]\nfilters=2\n", 0, 0, "first section must be [net]"),
    ("junk line", NET + "filters\n", 0, 0, "expected key=value"),
    ("unsupported", NET + "[crop]\ncrop_width=3\n", 0, 0, "[crop] is not supported"),
    ("activation", NET + conv(4, a="hardtan"), 0, 0, "activation 'hardtan'"),
    ("short weights", NET + conv(4), 0, 5, "weights file too short"),
    ("extra weights", NET + conv(4), 7, 0, "7 weights left over"),
    ("route range", NET + conv(4) + "[route]\nlayers=-3\n", 0, 0, "points outside"),
    ("yolo channels", NET + conv(20, k=1) + YOLO.format(mask="0,1,2", sxy=1), 0, 0, "3 anchors"),
    ("no yolo", NET + conv(4), 0, 0, "no [yolo] layer"),
    ("missing key", NET + "[convolutional]\nsize=3\n", 0, 0, "needs 'filters='"),
    (
        "new coords",
        NET + conv(21, k=1) + YOLO.format(mask="0,1,2", sxy=1) + "new_coords=1\n",
        0,
        0,
        "new_coords=1",
    ),
]


@pytest.mark.parametrize(("case", "cfg", "extra", "short", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_cfg_or_weights(case: str, cfg: str, extra: int, short: int, message: str) -> None:
    try:
        weights = weights_for(cfg, np.random.default_rng(0), extra, short)
    except (ModelError, IndexError, ValueError):  # the cfg is too broken to size weights for
        weights = np.zeros(5, np.int32).tobytes()
    with pytest.raises(ModelError, match=message.replace("[", r"\[").replace("(", r"\(")):
        convert(cfg, weights)


@pytest.mark.slow
def test_cache_is_rebuilt_when_stale_or_corrupt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOUWANG_CACHE_DIR", str(tmp_path))
    spec = get_spec("yolov4-tiny")
    assert cache_state(spec)[0] == "missing"
    path = ensure_onnx("yolov4-tiny")
    assert path == tmp_path / "onnx" / "yolov4-tiny.onnx"
    meta = json.loads(path.with_suffix(".json").read_text())
    assert set(meta["sources"]) == {"cfg", "weights", "names"}
    assert cache_state(spec)[0] == "fresh"
    stamp = path.stat().st_mtime_ns
    assert ensure_onnx("yolov4-tiny") == path and path.stat().st_mtime_ns == stamp

    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert "does not match its recorded sha256" in cache_state(spec)[0]
    ensure_onnx("yolov4-tiny")
    assert cache_state(spec)[0] == "fresh"

    meta["converter_version"] = -1
    path.with_suffix(".json").write_text(json.dumps(meta))
    assert cache_state(spec)[0].startswith("stale: converter version")
    meta["converter_version"] = json.loads(path.with_suffix(".json").read_text())["sources"]
    ensure_onnx("yolov4-tiny")
    assert cache_state(spec)[0] == "fresh"
    assert not [p for p in os.listdir(path.parent) if p.endswith(".tmp")]
