"""Decode only what this worker owns: a camera's streams follow its lease.

With several workers on one site, a worker that opened every camera would decode them
all and analyse a share, so adding workers would add no capacity. Here a camera's
analysis stream (and its main stream, when recognition uses one) is opened when this
worker gains the camera's lease and closed when the lease is lost or released:

* :class:`LeasedSource` stands in for a camera in the site's :class:`SourceGroup`:
  nothing is connected until :meth:`~LeasedSource.open`; each open builds a fresh
  source (a stopped one cannot restart), each close stops it without waiting;
* :class:`Ownership` turns a :class:`~alerts.leases.LeaseChange` into closes (lost and
  released first), opens (gained) and the worker's new set of served cameras.

Example:
    >>> sources = open_owned_sources(site, site_dir)  # doctest: +SKIP
    >>> owner = Ownership(sources, worker)  # doctest: +SKIP
    >>> leases.start(owner.apply)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from prometheus_client import Gauge

from alerts.leases import LeaseChange
from shouwang.config.site import Site
from streams import Health, Source, SourceGroup, SourceOptions, State, StreamEnded, open_source
from streams.factory import site_stream_specs
from streams.frame import Frame
from streams.redact import redact_url

log = logging.getLogger(__name__)

# What KEDA scales the workers on (k8s/base/keda.yaml): every worker of a site reports
# the same number of enabled cameras; the fleet size is that over cameras per worker.
CAMERAS_ENABLED = Gauge(
    "shouwang_site_cameras_enabled", "Enabled cameras of the site this worker runs"
)
CAMERAS_SERVED = Gauge(
    "shouwang_worker_cameras_served", "Cameras this worker holds a lease on and decodes"
)


class LeasedSource:
    """A camera opened on demand: idle (no connection, no decoding) until :meth:`open`.

    Implements the :class:`~streams.Source` contract, so the run command's health table
    and the worker see it like any source; ``read`` returns None while closed.
    """

    def __init__(self, camera_id: str, factory: Callable[[], Source], url: str) -> None:
        self._camera_id = camera_id
        self._factory = factory
        self.url = redact_url(url)
        self._inner: Source | None = None
        self._last: Health | None = None
        self._stopped = False
        self._lock = threading.Lock()
        self.opened = 0  # times opened (a lease gained)

    @property
    def camera_id(self) -> str:
        """The site's camera id."""
        return self._camera_id

    @property
    def is_open(self) -> bool:
        """Whether the camera is connected (or connecting) and decoding."""
        return self._inner is not None

    def open(self) -> None:
        """Connect and decode from now on (a fresh source each time); idempotent."""
        with self._lock:
            if self._inner is not None or self._stopped:
                return
            self._inner = self._factory()
            self._inner.start()
            self.opened += 1
        log.info("camera %s: opened (lease gained)", self._camera_id)

    def close(self) -> None:
        """Stop decoding; returns at once (the decoding thread ends by itself)."""
        with self._lock:
            inner, self._inner = self._inner, None
            if inner is None:
                return
            self._last = inner.health()
            inner.stop(timeout=0)
        log.info("camera %s: closed (lease lost or released)", self._camera_id)

    # -- the Source contract ---------------------------------------------------------

    def start(self) -> None:
        """Nothing to do: a leased camera starts when its lease is gained."""

    def stop(self, timeout: float | None = None) -> bool:
        """Close for good (the site is shutting down); True when the thread ended."""
        with self._lock:
            self._stopped = True
            inner, self._inner = self._inner, None
        if inner is None:
            return True
        self._last = inner.health()
        return inner.stop(timeout)

    def read(self, timeout: float) -> Frame | None:
        """The newest frame while open; None while closed (another worker owns it)."""
        inner = self._inner
        if inner is None:
            if self._stopped:
                raise StreamEnded(f"camera {self._camera_id}: source stopped ({self.url})")
            return None
        return inner.read(timeout)

    def health(self) -> Health:
        """The open source's health; while closed: stopped, with the last counters."""
        inner = self._inner
        if inner is not None:
            return inner.health()
        last = self._last
        return Health(
            camera_id=self._camera_id,
            url=self.url,
            state=State.STOPPED,
            fps_received=0.0,
            fps_decoded=0.0,
            frames_decoded=last.frames_decoded if last else 0,
            frames_delivered=last.frames_delivered if last else 0,
            frames_dropped=last.frames_dropped if last else 0,
            reconnects=last.reconnects if last else 0,
            last_error=None,
            last_frame_at=last.last_frame_at if last else None,
            width=last.width if last else 0,
            height=last.height if last else 0,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def open_owned_sources(
    site: Site, site_dir: Path, *, env: Mapping[str, str] | None = None
) -> SourceGroup:
    """The site's cameras as :class:`LeasedSource` s: validated now, connected on lease.

    Raises:
        StreamError: as :func:`streams.open_site_sources` (unresolvable URL, bad scheme).
    """
    specs = site_stream_specs(site, site_dir, env=env)

    def factory(cam: str, url: str, opts: SourceOptions) -> Callable[[], Source]:
        return lambda: open_source(cam, url, opts)

    return SourceGroup(
        {cam: LeasedSource(cam, factory(cam, url, opts), url) for cam, (url, opts) in specs.items()}
    )


class Served(Protocol):
    """What :class:`Ownership` drives: the worker's set of served cameras."""

    def set_active(self, camera_ids: Iterable[str]) -> None: ...


class Ownership:
    """Keeps opened streams equal to owned leases, and the worker serving exactly those.

    Args:
        sources: the site's sources; :class:`LeasedSource` entries are opened and
            closed, others (already running) are only served or not.
        worker: gets ``set_active(owned)`` after every change.
        open_extra: called per gained camera before the worker serves it (the runtime
            opens the camera's main stream here, so its stages are built with it).
        close_extra: called per lost or released camera after the worker let it go.
    """

    def __init__(
        self,
        sources: Mapping[str, object],
        worker: Served,
        *,
        open_extra: Callable[[str], None] | None = None,
        close_extra: Callable[[str], None] | None = None,
    ) -> None:
        self._leased = {c: s for c, s in sources.items() if isinstance(s, LeasedSource)}
        self._worker = worker
        self._open_extra = open_extra or (lambda cam: None)
        self._close_extra = close_extra or (lambda cam: None)
        self._lock = threading.Lock()
        self.served: frozenset[str] = frozenset()
        CAMERAS_ENABLED.set(len(sources))
        CAMERAS_SERVED.set(0)

    def serve(self, cameras: Iterable[str]) -> None:
        """Open, serve and close so that exactly ``cameras`` are served."""
        wanted = frozenset(cameras)
        with self._lock:
            gone, new = self.served - wanted, wanted - self.served
            self._worker.set_active(self.served & wanted)  # stop serving, then close
            for cam in sorted(gone):
                self._close(cam)
            for cam in sorted(new):
                self._open(cam)
            self._worker.set_active(wanted)
            self.served = wanted
            CAMERAS_SERVED.set(len(wanted))

    def apply(self, change: LeaseChange) -> None:
        """The ``on_change`` of :meth:`LeaseManager.start`: lost/released, then gained."""
        log.info(
            "serving %s (gained %s, lost %s, released %s)",
            sorted(change.owned),
            sorted(change.gained),
            sorted(change.lost),
            sorted(change.released),
        )
        with self._lock:  # a camera lost and gained in one tick (outage) restarts clean
            for cam in sorted((change.lost | change.released) & change.gained):
                self._close(cam)
                self.served -= {cam}
        self.serve(change.owned)

    def close_all(self) -> None:
        """Stop everything (shutdown)."""
        self.serve(())

    def _open(self, cam: str) -> None:
        try:
            self._open_extra(cam)
        except Exception:  # the main stream is an extra: the camera runs without it
            log.exception("camera %s: extra stream not opened", cam)
        src = self._leased.get(cam)
        if src is not None:
            src.open()

    def _close(self, cam: str) -> None:
        src = self._leased.get(cam)
        if src is not None:
            src.close()
        try:
            self._close_extra(cam)
        except Exception:
            log.exception("camera %s: extra stream not closed", cam)
