"""The test cameras' load without the pipeline: N RTSP clients that read and drop packets.

The clock server encodes H.264 live for each connected client on the same cores as the
pipeline. To compare the pipeline with the bare model *like with like*, the model is
measured while :class:`CameraLoad` keeps the same N cameras encoding and sending: each
client is the RTP path's own RTSP session (:class:`streams.rtsp_tcp.RtspTcpSession`)
reading packets off the socket and dropping them, which costs well under a percent of
a core, so what the model competes with is the cameras, not a decoder.

Example:
    >>> with ClockServer(clip, 8) as server, CameraLoad(server) as load:  # doctest: +SKIP
    ...     figures = raw_detector_fps(detector, image, 8, 3.0)
    ...     load.cores()  # the cameras' CPU meanwhile
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Self

from bench.e2e_media import ClockServer
from bench.errors import BenchError
from streams.errors import StreamError
from streams.rtsp_tcp import RtspTcpSession


class CameraLoad:
    """Keep every camera of ``server`` streaming to a packet-dropping client."""

    def __init__(self, server: ClockServer, warmup_s: float = 1.0) -> None:
        self.server = server
        self.warmup_s = warmup_s
        self.packets = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._errors: list[str] = []
        self._t0 = self._cpu0 = 0.0

    def _client(self, i: int) -> None:
        url = self.server.url(i)
        session = RtspTcpSession(url, url, f"load{i}", 10.0, 5.0)
        try:
            session.open()
            for _ in session.packets(self._stop):
                self.packets += 1
        except StreamError as exc:
            self._errors.append(str(exc))
        finally:
            session.close()

    def __enter__(self) -> Self:
        for i in range(self.server.cameras):
            t = threading.Thread(target=self._client, args=(i,), daemon=True, name=f"load{i}")
            t.start()
            self._threads.append(t)
        deadline = time.monotonic() + 20
        while self.packets == 0 and time.monotonic() < deadline and not self._errors:
            time.sleep(0.05)
        if self._errors or self.packets == 0:
            self.__exit__(None, None, None)
            raise BenchError(f"camera load did not start: {self._errors or 'no packet'}")
        time.sleep(self.warmup_s)
        self._t0, self._cpu0 = time.time(), self.server.cpu_seconds()
        return self

    def cores(self) -> float:
        """The cameras' (the server process's) CPU in cores since the load started."""
        return (self.server.cpu_seconds() - self._cpu0) / max(1e-6, time.time() - self._t0)

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
