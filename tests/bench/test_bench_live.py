"""Live view benchmark: glass-to-glass latency in Chromium, and server CPU per viewer.

The clock-burning test camera (``bench/rtsp_clock_server.py``: the PETS video live,
each frame's send time burned into its corner) → the web service's relay (its own
process, ``uvicorn api.app:create_app``) → Debian's Chromium. The page reads the
burned-in time of every frame it shows (``requestVideoFrameCallback``, the same bit
layout as ``bench/clock.py``) and compares it with its own clock at display time: same
machine, same clock. Then 1, 4 and 16 viewers of the one camera, the server process's
CPU measured over the same window each time, next to the analysis worker's own CPU on
the same camera (``bench.e2e.run_e2e``: decode, detect, track, rules) in the same run.

Run for figures (about 3 minutes)::

    .venv/bin/python -m pytest tests/bench/test_bench_live.py --benchmark-enable -s

Figures go to ``benchmark.extra_info`` and ``out/live-bench.json``. Skipped without
``--benchmark-enable`` (it is a measurement, not a check) and in quick mode
(``shouwang bench --quick``, CI), whose time box it would not fit.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from alerts.store.db import open_store, session_factory
from bench import is_quick
from bench.e2e import BENCH_REDIS_URL, run_e2e
from bench.e2e_media import PETS, ROOT, ClockServer, RawClip, find_clip, prepare_raw
from bench.errors import BenchError
from tests.conftest import SHARED_DATA
from tests.live.conftest import SITE
from tests.live.pages import logged_in_page, playing, tiles, wait_for
from tests.store.conftest import free_port, make_user

pytestmark = [
    pytest.mark.bench,
    pytest.mark.rtsp,
    pytest.mark.redis,
    pytest.mark.browser,
    pytest.mark.slow,
]

VIEWERS = (1, 4, 16)
WINDOW_S = 10.0
SETTLE_S = 3.0
LATENCY_FRAMES = 120

# Reads the burned-in send time of each frame Chromium shows (bench/clock.py's layout:
# 2 x 28 blocks of 16 px, sync 1011, 44 bits of ms, 8 check bits) and returns
# display time - send time per frame, in ms.
GLASS_JS = """async ([n, maxMs]) => {
  const v = window.shouwangLive[0].video;
  const c = document.createElement('canvas'); c.width = 448; c.height = 32;
  const g = c.getContext('2d', { willReadFrequently: true });
  const decode = (bits) => {
    if (bits[0] !== 1 || bits[1] !== 0 || bits[2] !== 1 || bits[3] !== 1) return null;
    let w48 = 0; for (let i = 0; i < 48; i++) w48 = w48 * 2 + bits[i];
    let chk = 0; for (let i = 48; i < 56; i++) chk = chk * 2 + bits[i];
    let x = 0xA5; let t = w48;
    for (let k = 0; k < 6; k++) { x ^= t % 256; t = Math.floor(t / 256); }
    return x === chk ? w48 % 2 ** 44 : null;
  };
  const out = []; let unmarked = 0; const t0 = performance.now();
  await new Promise((resolve) => {
    const step = (now, meta) => {
      g.drawImage(v, 0, 0, 448, 32, 0, 0, 448, 32);
      const d = g.getImageData(0, 0, 448, 32).data;
      const bits = [];
      for (let i = 0; i < 56; i++) {
        const r = Math.floor(i / 28), col = i % 28; let sum = 0;
        for (let y = r * 16 + 4; y < r * 16 + 12; y++)
          for (let x = col * 16 + 4; x < col * 16 + 12; x++) {
            const o = (y * 448 + x) * 4; sum += (d[o] + d[o + 1] + d[o + 2]) / 3;
          }
        bits.push(sum / 64 > 127.5 ? 1 : 0);
      }
      const ms = decode(bits);
      const shown = performance.timeOrigin + (meta.expectedDisplayTime || now);
      if (ms === null) unmarked++; else out.push(shown - ms);
      if (out.length >= n || performance.now() - t0 > maxMs) resolve();
      else v.requestVideoFrameCallback(step);
    };
    v.requestVideoFrameCallback(step);
  });
  return { lat: out, unmarked };
}"""


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(values, dtype=np.float64), q)), 1)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.fixture(scope="module")
def clip() -> RawClip:
    pets = SHARED_DATA / "video" / PETS.name  # SHOUWANG_SHARED_DATA, also from a worktree
    try:
        return prepare_raw(pets if pets.is_file() else find_clip(), ROOT / "out" / "e2e")
    except BenchError as exc:
        pytest.skip(str(exc))


class Service:
    """The web service in its own process (so its CPU is its own), on SQLite."""

    def __init__(self, tmp: Path, camera_url: str) -> None:
        site = tmp / "site.yaml"
        site.write_text(SITE.format(main=camera_url, sub=camera_url), "utf-8")
        db = f"sqlite:///{tmp / 'store.sqlite'}"
        eng = open_store(db)
        make_user(session_factory(eng), "op", "operator", ["lijing"])
        eng.dispose()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "SHOUWANG_DATABASE_URL": db,
            "REDIS_URL": BENCH_REDIS_URL,
            "SHOUWANG_SITE": str(site),
            "SHOUWANG_DATA_DIR": str(tmp / "data"),
        }
        cmd = [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app"]
        cmd += ["--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"]
        self.proc = subprocess.Popen(cmd, env=env, cwd=ROOT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + "/healthz", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.proc.kill()
        raise BenchError("the web service did not start")

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture
def chromium(browser: Any) -> Any:
    """The run's one browser (tests/dashboard/fixtures.py): Playwright's sync API runs one
    instance per thread, and the dashboard's benchmark may have started it already."""
    return browser


@pytest.mark.timeout(600)
def test_live_glass_to_glass_and_cpu_per_viewer(
    benchmark: Any, clip: RawClip, chromium: Any, tmp_path: Path, model_cache: Path
) -> None:
    if benchmark.disabled:
        pytest.skip("a measurement: run with --benchmark-enable")
    if is_quick():  # four minutes of Chromium and a worker: too long for CI's time box
        pytest.skip("not in quick mode: run this file with --benchmark-enable (docs/live.md)")
    from detectors.objects import ObjectDetectorConfig, load_object_detector

    info = benchmark.extra_info
    info.update({"stage": "live", "clip": Path(clip.source).name, "clip_fps": clip.fps})
    info.update({"camera": f"{clip.width}x{clip.height}"})
    results: dict[str, Any] = {}

    def run() -> None:
        with ClockServer(clip, 1) as cam:
            # the analysis worker's own cost on this camera (decode, detect, track, rules)
            res = run_e2e(cam, load_object_detector(ObjectDetectorConfig()), seconds=10, warmup_s=3)
            results["worker_cores"] = round(res.cpu_ms_per_frame * res.throughput_fps / 1000, 3)
            results["worker_fps"] = round(res.throughput_fps, 2)
            svc = Service(tmp_path, cam.url(0))
            try:
                measure(svc, cam, chromium, clip, results)
            finally:
                svc.close()

    benchmark.pedantic(run, rounds=1, iterations=1)
    info.update(results)
    out = ROOT / "out" / "live-bench.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(info, indent=2))
    print(json.dumps(info, indent=2))
    assert results["latency_frames"] >= LATENCY_FRAMES // 2


def measure(
    svc: Service, cam: ClockServer, browser: Any, clip: RawClip, out: dict[str, Any]
) -> None:
    # server alone, no viewer: the idle baseline
    c0, t0 = svc.cpu(), time.monotonic()
    time.sleep(WINDOW_S / 2)
    out["server_cores_0"] = round((svc.cpu() - c0) / (time.monotonic() - t0), 4)

    page = logged_in_page(browser, svc.url, "op")
    opened = time.time()
    page.goto("/live/gate")
    t = wait_for(page, lambda ts: playing(ts[0]), timeout=40, what="the first viewer")[0]
    assert (t["width"], t["height"]) == (clip.width, clip.height)
    first_at = page.evaluate("() => window.shouwangLive[0].firstFrameAt")
    out["first_frame_ms_from_open"] = round(first_at - opened * 1000, 1)
    out["first_frame_ms_from_script"] = round(float(t["firstFrameMs"]), 1)
    page.wait_for_timeout(2000)
    got = page.evaluate(GLASS_JS, [LATENCY_FRAMES, 60_000])
    lat = [float(x) for x in got["lat"]]
    out.update(
        {
            "latency_frames": len(lat),
            "latency_unmarked": got["unmarked"],
            "glass_to_glass_p50_ms": pct(lat, 50) if lat else None,
            "glass_to_glass_p95_ms": pct(lat, 95) if lat else None,
            "glass_to_glass_max_ms": round(max(lat), 1) if lat else None,
        }
    )

    pages = [page]
    per: dict[int, float] = {}
    cam_cpu: dict[int, float] = {}
    for n in VIEWERS:
        while len(pages) < n:  # each viewer its own browser profile, as operators are
            p = logged_in_page(browser, svc.url, "op")
            p.goto("/live/gate")
            pages.append(p)
        for p in pages:
            wait_for(p, lambda ts: playing(ts[0]), timeout=60, what=f"viewer of {n}")
        time.sleep(SETTLE_S)
        before = [tiles(p)[0]["time"] for p in pages]
        c0, k0, t0 = svc.cpu(), cam.cpu_seconds(), time.monotonic()
        time.sleep(WINDOW_S)
        dt = time.monotonic() - t0
        per[n] = round((svc.cpu() - c0) / dt, 4)
        cam_cpu[n] = round((cam.cpu_seconds() - k0) / dt, 4)
        after = [tiles(p)[0]["time"] for p in pages]
        out[f"viewers_{n}_advancing"] = sum(a > b for a, b in zip(after, before, strict=True))
    out["server_cores"] = {str(n): v for n, v in per.items()}
    out["camera_server_cores"] = {str(n): v for n, v in cam_cpu.items()}
    n_hi, n_lo = VIEWERS[-1], VIEWERS[0]
    out["server_cores_per_viewer"] = round((per[n_hi] - per[n_lo]) / (n_hi - n_lo), 4)
    out["server_cores_first_viewer"] = round(per[n_lo] - out["server_cores_0"], 4)
    out["median_viewer_cores_1_4_16"] = statistics.median(per.values())
    for p in pages:
        p.context.close()
