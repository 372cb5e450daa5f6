"""The ONNX Runtime session factory: provider choice, fallback and load errors."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from detectors.errors import ModelError
from detectors.runtime import available_providers, create_session


def _identity_model() -> bytes:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n"])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "id", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


@pytest.mark.parametrize("provider", ["cpu", "cuda", "tensorrt"])
def test_every_provider_runs_with_fallback_logged(
    provider: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="detectors.runtime")
    sess = create_session(_identity_model(), provider=provider, threads=1)  # type: ignore[arg-type]
    out = sess.run(["y"], {"x": np.arange(3, dtype=np.float32)})[0]
    assert out.tolist() == [0.0, 1.0, 2.0]
    if provider in available_providers():
        assert not [r for r in caplog.records if "not available" in r.message]
    else:
        warned = [r.getMessage() for r in caplog.records if "not available" in r.getMessage()]
        assert warned and repr(provider) in warned[0]
        assert sess.get_providers()[-1] == "CPUExecutionProvider"


@pytest.mark.parametrize(
    ("model", "kwargs", "message"),
    [
        (b"not an onnx file", {}, "onnxruntime could not load <bytes>"),
        (Path("/nonexistent/model.onnx"), {}, "could not load /nonexistent/model.onnx"),
        (b"", {"provider": "rocm"}, "provider: expected one of"),
        (b"", {"threads": -1}, "threads: expected >= 0"),
    ],
)
def test_load_errors(model: bytes | Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ModelError, match=message):
        create_session(model, **kwargs)  # type: ignore[arg-type]


def test_session_runs_a_file(tmp_path: Path) -> None:
    path = tmp_path / "id.onnx"
    onnx.save(onnx.load_from_string(_identity_model()), path)
    sess = create_session(path)
    assert sess.get_providers() == ["CPUExecutionProvider"]
