"""Hardware decoding through PyAV's CUDA hwaccel, when this machine has it.

``SourceOptions(hwaccel="cuda")`` asks for NVDEC. Whether it works is known only by
trying: the PyAV wheel must be built with CUDA (``av.codec.hwaccel.hwdevices_available()``)
and a device must open. :func:`cuda_hwaccel` tries once per process and caches the
answer; when it fails every source decodes on the CPU and one line says why. Frames
come back in host memory (PyAV transfers them; ``nv12``), so the rest of the path is
the same.
"""

from __future__ import annotations

import logging
import threading

import av
from av.codec.hwaccel import HWAccel, hwdevices_available

log = logging.getLogger(__name__)

_lock = threading.Lock()
_probed = False
_cuda: HWAccel | None = None
#: Why CUDA decoding is off (None while it works or was never asked for).
reason: str | None = None


def cuda_hwaccel() -> HWAccel | None:
    """PyAV's CUDA hwaccel, or None (logged once, with the reason) when it cannot run."""
    global _probed, _cuda, reason
    with _lock:
        if _probed:
            return _cuda
        _probed = True
        why: str | None = None
        if "cuda" not in hwdevices_available():
            why = (
                f"this PyAV build has no CUDA hwaccel (it has: {', '.join(hwdevices_available())})"
            )
        else:
            hw = HWAccel(device_type="cuda", allow_software_fallback=True)
            try:
                av.CodecContext.create("h264", "r", hwaccel=hw)
            except Exception as exc:  # PyAV raises OSError subclasses for a missing device
                why = f"no CUDA device could be opened ({type(exc).__name__}: {exc})"
            else:
                _cuda = hw
        if why is not None:
            reason = why
            log.warning("hardware decoding off: %s; decoding on the CPU", why)
        return _cuda
