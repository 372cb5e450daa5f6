"""An RTSP test camera that burns its send time into every frame (for glass-to-alert).

Run with the *system* Python, which has the GObject bindings (``python3-gi``)::

    /usr/bin/python3 bench/rtsp_clock_server.py --port 8560 --raw pets.i420 \
        --width 768 --height 576 --fps 7 --cameras 4 --stride 97

``--raw`` is a file of concatenated I420 frames (``bench.e2e.prepare_raw`` writes it from
the PETS video or any clip). ``--cameras N`` mounts ``/cam0`` .. ``/cam{N-1}``; camera
``i`` starts ``i * stride`` frames into the clip, so the streams show different moments
and loop at the end. Every client gets its own live pipeline
(``appsrc → x264enc zerolatency → RTP``): a feeding thread pushes one frame every
``1/fps`` seconds of wall-clock time and, just before the push, writes ``time.time()``
in milliseconds into the frame (layout in ``bench/clock.py``). That push is the "glass"
moment: everything after it — encoding, RTP, the client's jitter buffer and decoder,
the worker — counts into glass-to-alert, as it would for a real camera. A late push is
not made up with a burst (a camera does not send the past).

Prints ``READY <port>`` once it listens; stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import mmap
import signal
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

from bench.clock import burn_i420  # noqa: E402


class Clip:
    """The raw frames, memory-mapped once and shared by every client."""

    def __init__(self, path: str, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.size = width * height * 3 // 2
        with open(path, "rb") as f:
            self.mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        self.frames = len(self.mm) // self.size
        if self.frames == 0:
            raise SystemExit(f"{path}: no whole {width}x{height} I420 frame in it")

    def marked(self, index: int) -> bytes:
        """Frame ``index`` (modulo the clip) with the current time burned in."""
        i = index % self.frames
        buf = bytearray(self.mm[i * self.size : (i + 1) * self.size])
        burn_i420(buf, self.width, self.height, int(time.time() * 1000))
        return bytes(buf)


def feed(src: Any, clip: Clip, fps: float, offset: int, stop: threading.Event) -> None:
    """Push frames at ``fps`` of wall-clock time until the client goes away."""
    period = 1.0 / fps
    t0 = time.monotonic()
    k = 0
    while not stop.is_set():
        buf = Gst.Buffer.new_wrapped(clip.marked(offset + k))
        if src.emit("push-buffer", buf) != Gst.FlowReturn.OK:
            break  # flushing or stopped: the client tore the session down
        k += 1
        delay = t0 + k * period - time.monotonic()
        if delay < -period:  # fell behind (a busy machine): restart the schedule from now
            offset += k
            t0, k = time.monotonic(), 0
        elif delay > 0:
            stop.wait(delay)


def main(argv: list[str] | None = None) -> int:
    """Serve ``--cameras`` marked streams until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--raw", required=True, help="concatenated I420 frames")
    parser.add_argument("--width", type=int, required=True)
    parser.add_argument("--height", type=int, required=True)
    parser.add_argument("--fps", type=float, required=True, help="native frame rate")
    parser.add_argument("--cameras", type=int, default=1, help="mounts /cam0 .. /camN-1")
    parser.add_argument("--stride", type=int, default=97, help="frames between cameras")
    parser.add_argument("--bitrate", type=int, default=2500, help="x264 kbit/s")
    args = parser.parse_args(argv)

    Gst.init(None)
    clip = Clip(args.raw, args.width, args.height)
    rate = Fraction(args.fps).limit_denominator(1001)
    gop = max(1, round(args.fps * 2))
    caps = (
        f"video/x-raw,format=I420,width={args.width},height={args.height},"
        f"framerate={rate.numerator}/{rate.denominator}"
    )
    launch = (
        f'( appsrc name=src is-live=true do-timestamp=true format=time caps="{caps}" '
        "max-buffers=2 leaky-type=downstream "
        f"! x264enc tune=zerolatency speed-preset=ultrafast threads=1 key-int-max={gop} "
        f"bitrate={args.bitrate} ! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 )"
    )
    server = GstRtspServer.RTSPServer()
    server.set_address(args.address)
    server.set_service(str(args.port))
    mounts = server.get_mount_points()

    def configure(_factory: Any, media: Any, offset: int) -> None:
        src = media.get_element().get_by_name("src")
        stop = threading.Event()
        media.connect("unprepared", lambda *_: stop.set())
        threading.Thread(target=feed, args=(src, clip, args.fps, offset, stop), daemon=True).start()

    for i in range(args.cameras):
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch)
        factory.set_shared(False)
        factory.connect("media-configure", configure, i * args.stride)
        mounts.add_factory(f"/cam{i}", factory)
    if server.attach(None) == 0:
        print(f"cannot listen on {args.address}:{args.port}", file=sys.stderr, flush=True)
        return 2

    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    print(f"READY {args.port}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
