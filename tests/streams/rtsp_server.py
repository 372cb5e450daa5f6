"""A real RTSP server on loopback for the ingest tests (GStreamer's gst-rtsp-server).

Run with the *system* Python, which has the GObject bindings (``python3-gi``)::

    /usr/bin/python3 tests/streams/rtsp_server.py --port 8554 --mount /cam=clip.mp4

Each ``--mount PATH=FILE`` serves one H.264 MP4 file at ``rtsp://127.0.0.1:PORT/PATH``,
paced in real time; every client gets its own pipeline from the start of the file, and
the end of the file ends that client's session (as a camera reboot would). The server
prints ``READY <port>`` on stdout once it listens, and stops on SIGTERM or SIGINT; tests
also SIGKILL it (a crashed camera) and SIGSTOP it (a frozen one).
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Serve the mounts until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--mount", action="append", required=True, help="PATH=FILE (mp4, H.264)")
    args = parser.parse_args(argv)

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.address)
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    for spec in args.mount:
        path, _, clip = spec.partition("=")
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(
            f'( filesrc location="{clip}" ! qtdemux ! h264parse config-interval=-1 '
            "! rtph264pay name=pay0 pt=96 )"
        )
        factory.set_shared(False)
        mounts.add_factory("/" + path.strip("/"), factory)
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
