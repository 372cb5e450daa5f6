"""The ONNX Runtime session factory: provider choice, fallback and load errors."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from detectors.errors import ModelError
from detectors.runtime import _dynamic_input, available_providers, create_session, provider_options


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
        assert len(warned) == 1 and repr(provider) in warned[0]  # one line, naming why
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


def _image_model(batch: str | int) -> bytes:
    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, 416, 416])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 3, 416, 416])
    graph = helper.make_graph([helper.make_node("Identity", ["images"], ["y"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


@pytest.mark.parametrize(
    ("batch", "expected"), [("n", ("images", (3, 416, 416))), (1, None), (8, None)]
)
def test_tensorrt_profile_only_for_a_dynamic_batch(
    batch: str | int, expected: tuple[str, tuple[int, int, int]] | None
) -> None:
    assert _dynamic_input(_image_model(batch)) == expected


def test_tensorrt_options_fp16_caches_and_batch_profile(tmp_path: Path) -> None:
    chain = ["tensorrt", "cuda", "cpu"]
    opts = provider_options(
        chain, cache_dir=tmp_path, input_name="images", input_chw=(3, 416, 416), max_batch=64
    )
    (trt, t), (cuda, c), cpu = opts
    assert (trt, cuda, cpu) == (
        "TensorrtExecutionProvider",
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    )
    assert t["trt_fp16_enable"] == "True"
    assert t["trt_engine_cache_path"] == str(tmp_path / "engines")
    assert t["trt_timing_cache_path"] == str(tmp_path / "timing")
    assert (tmp_path / "engines").is_dir() and (tmp_path / "timing").is_dir()
    assert t["trt_profile_min_shapes"] == "images:1x3x416x416"
    assert t["trt_profile_opt_shapes"] == "images:8x3x416x416"
    assert t["trt_profile_max_shapes"] == "images:64x3x416x416"
    assert c["device_id"] == "0"
