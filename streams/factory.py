"""Opening sources by URL, and every camera of a site at once."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

from prometheus_client import CollectorRegistry

from shouwang.config.loader import resolve_url
from shouwang.config.site import Site
from streams.contract import Source
from streams.errors import StreamError
from streams.file import FileSource
from streams.health import Health
from streams.options import SourceOptions
from streams.redact import redact_url
from streams.rtsp import RtspSource


def open_source(
    camera_id: str,
    url: str,
    options: SourceOptions | None = None,
    *,
    registry: CollectorRegistry | None = None,
) -> Source:
    """A source for ``url``, chosen by scheme; not started yet (``start()`` or ``with``).

    ``rtsp://`` and ``rtsps://`` give an :class:`RtspSource`; ``file://`` or a plain path
    a :class:`FileSource`. ``url`` must already be resolved (no ``${VAR}``): see
    :func:`open_site_sources` or ``shouwang.config.loader.resolve_url``.

    Args:
        camera_id: the site's camera id; labels health, logs and metrics.
        url: the stream URL, credentials included; they never leave this object.
        options: timeouts, backoff, pacing; defaults suit a live camera.
        registry: Prometheus registry for the ``shouwang_stream_*`` metrics (default:
            the global one).

    Raises:
        StreamError: an unsupported scheme or a leftover ``${VAR}`` reference.

    Example:
        >>> with open_source("gate", "clip.mp4", SourceOptions(loop=True)) as src:  # doctest: +SKIP
        ...     frame = src.read(timeout=1.0)
    """
    if "${" in url:
        raise StreamError(
            f"camera {camera_id}: unresolved ${{VAR}} reference in {redact_url(url)}; "
            "resolve it with shouwang.config.loader.resolve_url"
        )
    if _scheme(camera_id, url) in ("rtsp", "rtsps"):
        return RtspSource(camera_id, url, options, registry=registry)
    return FileSource(camera_id, url, options, registry=registry)


def _scheme(camera_id: str, url: str) -> str:
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in ("rtsp", "rtsps", "file", ""):
        raise StreamError(
            f"camera {camera_id}: unsupported scheme {scheme!r} in {redact_url(url)}; "
            "use rtsp://, rtsps://, file:// or a file path"
        )
    return scheme


class SourceGroup(Mapping[str, Source]):
    """The sources of one site by camera id, started and stopped together.

    Example:
        >>> with open_site_sources(site, Path("configs")) as sources:  # doctest: +SKIP
        ...     frame = sources["north-gate"].read(timeout=1.0)
    """

    def __init__(self, sources: Mapping[str, Source]) -> None:
        self._sources = dict(sources)

    def __getitem__(self, camera_id: str) -> Source:
        return self._sources[camera_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._sources)

    def __len__(self) -> int:
        return len(self._sources)

    def start(self) -> None:
        """Start every source (each connects in its own thread)."""
        for src in self._sources.values():
            src.start()

    def stop(self, timeout: float | None = None) -> bool:
        """Stop every source in parallel; True when all threads ended within ``timeout``."""
        for src in self._sources.values():
            src.stop(timeout=0)  # ask all first, so the waits overlap
        deadline = None if timeout is None else time.monotonic() + timeout
        ok = True
        for src in self._sources.values():
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ok = src.stop(timeout=left) and ok
        return ok

    def health(self) -> dict[str, Health]:
        """A snapshot per camera."""
        return {cam: src.health() for cam, src in self._sources.items()}

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def configured_hwaccel() -> Literal["none", "cuda"]:
    """``SHOUWANG_HWACCEL`` (``none`` or ``cuda``, default ``none``): decode on NVDEC.

    Raises:
        StreamError: any other value, naming the variable.
    """
    value = os.environ.get("SHOUWANG_HWACCEL", "none").strip().lower()
    if value == "cuda":
        return "cuda"
    if value in ("", "none"):
        return "none"
    raise StreamError(f"SHOUWANG_HWACCEL: expected none or cuda, got {value!r}")


def site_stream_specs(
    site: Site,
    site_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    options: SourceOptions | None = None,
) -> dict[str, tuple[str, SourceOptions]]:
    """Per enabled camera: its resolved analysis URL and the options to open it with.

    What :func:`open_site_sources` opens; also for callers that open a camera later,
    or again (a worker opens a camera when it gains the camera's lease).

    Raises:
        StreamError: one message listing every camera whose URL cannot be resolved
            (naming the missing variable, never a value) or has an unsupported scheme.
    """
    specs: dict[str, tuple[str, SourceOptions]] = {}
    problems: list[str] = []
    hw = configured_hwaccel()
    for cam in site.cameras:
        if not cam.enabled:
            continue
        try:
            url = resolve_url(cam.analysis_url, env, base=site_dir)
        except KeyError as exc:
            problems.append(f"camera {cam.id}: {exc.args[0]}")
            continue
        is_rtsp = url.lower().startswith(("rtsp://", "rtsps://"))
        if options is not None:
            opts = options.model_copy(update={"max_fps": cam.fps})
        elif is_rtsp:
            opts = SourceOptions(transport=cam.transport, max_fps=cam.fps, hwaccel=hw)
        else:
            opts = SourceOptions(realtime=True, loop=True, max_fps=cam.fps, hwaccel=hw)
        try:
            _scheme(cam.id, url)
        except StreamError as exc:
            problems.append(str(exc))
            continue
        specs[cam.id] = (url, opts)
    if problems:
        raise StreamError("cannot open the site's cameras:\n  " + "\n  ".join(problems))
    return specs


def open_site_sources(
    site: Site,
    site_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    options: SourceOptions | None = None,
    registry: CollectorRegistry | None = None,
) -> SourceGroup:
    """A source for every enabled camera of a site, on its analysis (detection) stream.

    Credentials are filled from ``${VAR}`` references in the environment, relative file
    paths are taken from ``site_dir``. Unless ``options`` is given, RTSP cameras use the
    camera's ``transport`` and files play in real time in a loop (a file stands in for a
    camera). Either way ``max_fps`` is the camera's analysis ``fps``, so frames the
    pipeline would never look at are skipped before colour conversion, and ``drops``
    in health mean the pipeline fell behind. Not started yet: use ``with`` or ``start()``.

    Raises:
        StreamError: one message listing every camera whose URL cannot be resolved
            (naming the missing variable, never a value) or has an unsupported scheme.
    """
    specs = site_stream_specs(site, site_dir, env=env, options=options)
    return SourceGroup(
        {cam: open_source(cam, url, opts, registry=registry) for cam, (url, opts) in specs.items()}
    )
