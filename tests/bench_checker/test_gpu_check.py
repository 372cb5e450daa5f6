"""``bench.gpu_check``: the streams-per-GPU estimate from measured parts (no GPU needed)."""

from __future__ import annotations

from typing import Any

import pytest

from bench.gpu_check import streams_per_gpu


def fig(ms: float, batch: int) -> dict[str, Any]:
    fps = 1000 * batch / ms
    return {"infer_ms": ms, "infer_fps": fps, "detect_ms": ms * 1.1, "detect_fps": fps / 1.1}


@pytest.mark.parametrize(
    ("parts", "decode_fps", "expected"),
    [
        # 64 frames in 40 ms: 1454 fps after NMS, 145 cameras at 10 fps; latency 180 ms
        ({"batch_1": fig(2, 1), "batch_64": fig(40, 64)}, None, (145, "detector")),
        ({"batch_1": fig(2, 1), "batch_64": fig(40, 64)}, 600.0, (60, "decode")),
        # batch 64 too slow for the 500 ms budget (2 x 260 + 100): batch 8 decides
        ({"batch_8": fig(20, 8), "batch_64": fig(260, 64)}, None, (36, "detector")),
        # the CPU: nothing fills a batch of 8 within budget
        ({"batch_8": fig(190, 8)}, None, (0, "detector")),
    ],
)
def test_streams_per_gpu(
    parts: dict[str, Any], decode_fps: float | None, expected: tuple[int, str]
) -> None:
    got = streams_per_gpu(parts, decode_fps, analysis_fps=10.0, budget_ms=500.0)
    assert (got["streams"], got["limited_by"]) == expected
    assert got["estimate"] == "from measured parts"
