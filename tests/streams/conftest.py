"""Fixtures for the ingest tests: H.264 clips made at test time and a real RTSP server.

The server is GStreamer's gst-rtsp-server run by the system Python (``python3-gi``,
installed by ``scripts/setup``) as a subprocess on a free loopback port, so tests can
kill it (a crashed camera), restart it on the same port (the camera comes back) and
SIGSTOP it (a frozen camera).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import av
import numpy as np
import pytest
from prometheus_client import CollectorRegistry

SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")
SYSTEM_PYTHON = os.environ.get("SHOUWANG_GI_PYTHON", "/usr/bin/python3")
CLIP_FPS = 25


def make_clip(path: Path, seconds: float, width: int = 320, height: int = 180) -> Path:
    """Write an H.264 MP4 of moving gradients (libx264, one keyframe a second)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream(
            "libx264",
            rate=CLIP_FPS,
            options={"preset": "ultrafast", "tune": "zerolatency", "g": str(CLIP_FPS)},
        )
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        yy, xx = np.mgrid[0:height, 0:width]
        for i in range(round(seconds * CLIP_FPS)):
            img = np.empty((height, width, 3), np.uint8)
            img[..., 0] = (xx + 4 * i) % 256
            img[..., 1] = (yy + 2 * i) % 256
            img[..., 2] = (3 * i) % 256
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``long`` (60 s, outlives any test) and ``short`` (1 s, ends a session quickly)."""
    d = tmp_path_factory.mktemp("clips")
    return {"long": make_clip(d / "long.mp4", 60), "short": make_clip(d / "short.mp4", 1)}


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RtspServer:
    """One gst-rtsp-server process: ``/cam`` plays the long clip, ``/short`` the short one."""

    def __init__(self, clips: dict[str, Path], port: int | None = None) -> None:
        self.clips = clips
        self.port = port or free_port()
        self.proc: subprocess.Popen[str] | None = None

    def url(self, path: str = "cam", userinfo: str = "") -> str:
        """``rtsp://[userinfo@]127.0.0.1:PORT/path``."""
        at = f"{userinfo}@" if userinfo else ""
        return f"rtsp://{at}127.0.0.1:{self.port}/{path}"

    def start(self, timeout: float = 10.0) -> float:
        """Start (or restart, on the same port) and wait until it listens; returns the time.

        Its stderr goes to a file beside the clips (a pipe nobody reads could fill and
        block the server); the file is quoted if the server does not come up.
        """
        cmd = [SYSTEM_PYTHON, str(SERVER_SCRIPT), "--port", str(self.port)]
        for name in ("cam", "short"):
            cmd += ["--mount", f"{name}={self.clips_for(name)}"]
        log_path = self.clips["long"].with_name(f"rtsp-server-{self.port}.log")
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
        assert self.proc.stdout is not None
        with self.proc.stdout:
            ready = _readline(self.proc.stdout, timeout)
        if not ready.startswith("READY"):
            self.kill()
            err = log_path.read_text(errors="replace")[-2000:]
            pytest.fail(f"RTSP server did not start on port {self.port}: {err.strip()}")
        return time.monotonic()

    def clips_for(self, name: str) -> Path:
        return self.clips["long" if name == "cam" else name]

    def kill(self) -> None:
        """SIGKILL: the camera crashes; its TCP connections are reset by the kernel."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGCONT)  # a stopped process cannot die
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    @contextlib.contextmanager
    def frozen(self) -> Iterator[float]:
        """SIGSTOP for the duration of the block (connections stay open, no data)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)
        try:
            yield time.monotonic()
        finally:
            self.proc.send_signal(signal.SIGCONT)


def _readline(stream: IO[str], timeout: float) -> str:
    """One line from a child's stdout, or "" if none comes within ``timeout``."""
    ready, _, _ = select.select([stream], [], [], timeout)
    return stream.readline() if ready else ""


def _gi_missing() -> str | None:
    probe = (
        "import gi; gi.require_version('GstRtspServer', '1.0'); "
        "from gi.repository import GstRtspServer"
    )
    try:
        subprocess.run([SYSTEM_PYTHON, "-c", probe], check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{SYSTEM_PYTHON} cannot load gst-rtsp-server ({type(exc).__name__})"
    return None


@pytest.fixture(scope="session")
def _rtsp_available() -> None:
    problem = _gi_missing()
    if problem:
        pytest.fail(
            f"{problem}: run `bash scripts/setup` as root (it installs python3-gi, "
            "gir1.2-gst-rtsp-server-1.0 and the GStreamer plugins)"
        )


@pytest.fixture(scope="session")
def rtsp_server(clips: dict[str, Path], _rtsp_available: None) -> Iterator[RtspServer]:
    """One server for the whole session, for tests that leave it running as it is."""
    server = RtspServer(clips)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def own_rtsp_server(clips: dict[str, Path], _rtsp_available: None) -> Iterator[RtspServer]:
    """A server of the test's own, for tests that kill or freeze it."""
    server = RtspServer(clips)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def registry() -> CollectorRegistry:
    """A fresh Prometheus registry, so metric values belong to this test alone."""
    return CollectorRegistry()
