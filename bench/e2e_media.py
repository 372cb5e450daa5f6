"""Media for the e2e benchmark: the clip, its raw I420 copy, and the clock RTSP server.

The clock server (``bench/rtsp_clock_server.py``) runs under the system Python with
GStreamer; :class:`ClockServer` starts it as a subprocess on a free loopback port and
stops it on exit.
"""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import numpy as np
from numpy.typing import NDArray

from bench.errors import BenchError

ROOT = Path(__file__).resolve().parent.parent
SERVER_SCRIPT = Path(__file__).with_name("rtsp_clock_server.py")
SYSTEM_PYTHON = os.environ.get("SHOUWANG_GI_PYTHON", "/usr/bin/python3")
SHARED_DATA = Path(os.environ.get("SHOUWANG_SHARED_DATA", ROOT.parent / "shared" / "data"))
PETS = SHARED_DATA / "video" / "vtest_opencv_pets2009_s2l1_view001.avi"


def find_clip() -> Path:
    """The PETS 2009 video from ../shared/data, else the composed demo clip.

    Raises:
        BenchError: neither is there (run ``shouwang demo prepare``).
    """
    if PETS.is_file():
        return PETS
    demo = sorted((ROOT / ".cache" / "demo").glob("*.mp4"))
    if demo:
        return demo[0]
    raise BenchError(
        f"no clip for the e2e benchmark: {PETS} is absent and .cache/demo has no mp4 "
        "(run `.venv/bin/shouwang demo prepare`)"
    )


@dataclass(frozen=True)
class RawClip:
    """Decoded frames as concatenated I420, what the clock server streams."""

    path: Path
    width: int
    height: int
    fps: float
    frames: int
    source: str


def prepare_raw(video: Path, out_dir: Path, max_frames: int = 800) -> RawClip:
    """Decode ``video`` once into ``out_dir`` as raw I420 (cached by name and length)."""
    import av

    out_dir.mkdir(parents=True, exist_ok=True)
    meta_path = out_dir / f"{video.stem}-{max_frames}.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        raw = Path(meta["path"])
        if raw.is_file() and raw.stat().st_size == meta["bytes"]:
            return RawClip(
                raw, meta["width"], meta["height"], meta["fps"], meta["frames"], str(video)
            )
    raw = out_dir / f"{video.stem}-{max_frames}.i420"
    n = 0
    with av.open(str(video)) as container, open(raw, "wb") as f:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 25)
        width = height = 0
        for frame in container.decode(stream):
            width, height = frame.width // 2 * 2, frame.height // 2 * 2
            img = frame.reformat(width=width, height=height, format="yuv420p")
            f.write(img.to_ndarray().tobytes())
            n += 1
            if n >= max_frames:
                break
    if n == 0:
        raise BenchError(f"{video}: no frame could be decoded")
    meta = {"path": str(raw), "bytes": raw.stat().st_size, "width": width, "height": height}
    meta_path.write_text(json.dumps({**meta, "fps": fps, "frames": n}))
    return RawClip(raw, width, height, fps, n, str(video))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ClockServer:
    """The clock server as a subprocess: ``cameras`` mounts of the clip, killed on exit."""

    def __init__(self, clip: RawClip, cameras: int, *, stride: int | None = None) -> None:
        self.clip = clip
        self.cameras = cameras
        self.stride = stride if stride is not None else max(1, clip.frames // max(1, cameras))
        self.port = _free_port()
        self.proc: subprocess.Popen[str] | None = None
        self._log: IO[bytes] | None = None

    def url(self, i: int) -> str:
        """The RTSP URL of camera ``i``."""
        return f"rtsp://127.0.0.1:{self.port}/cam{i}"

    def __enter__(self) -> Self:
        c = self.clip
        cmd = [SYSTEM_PYTHON, str(SERVER_SCRIPT), "--port", str(self.port), "--raw", str(c.path)]
        cmd += ["--width", str(c.width), "--height", str(c.height), "--fps", str(c.fps)]
        cmd += ["--cameras", str(self.cameras), "--stride", str(self.stride)]
        self._log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._log, text=True)
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 20)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith("READY"):
            self._log.seek(0)
            err = self._log.read().decode(errors="replace")[-2000:]
            self.__exit__(None, None, None)
            raise BenchError(f"clock RTSP server did not start: {err.strip() or 'no output'}")
        return self

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far."""
        if self.proc is None:
            return 0.0
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None


def first_frame(clip: RawClip) -> NDArray[np.uint8]:
    """Frame 0 of the raw clip as BGR (the raw baseline's input)."""
    import cv2

    size = clip.width * clip.height * 3 // 2
    with open(clip.path, "rb") as f:
        yuv = np.frombuffer(f.read(size), np.uint8).reshape(clip.height * 3 // 2, clip.width)
    return np.asarray(cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR_I420), dtype=np.uint8)
