"""Capture timestamps burned into the picture, and read back after H.264 and decoding.

Glass-to-alert must start when the frame leaves the camera, not when our decoder
finishes it (``Frame.captured_at``): the encoder, the network, the RTSP jitter buffer
and the decoder are part of the latency a guard waits for. The benchmark's RTSP server
(``bench/rtsp_clock_server.py``) writes the wall-clock send time of every frame into the
frame itself; the harness reads it back from the decoded image (same machine, same clock).

Layout (top-left corner, aligned to H.264's 16x16 macroblocks so that a block is either
all black or all white inside one macroblock): 2 rows of 28 blocks of 16x16 pixels,
56 bits, row-major, most significant bit first:

- 4 sync bits ``1011``;
- 44 bits: milliseconds since the UNIX epoch (good until the year 2527);
- 8 check bits: the XOR of the 6 bytes of the 48-bit (sync + ms) word, XOR ``0xA5``.

Black is luma 16, white 235 (video range); the decoder thresholds the mean of each
block's inner 8x8 pixels at mid-grey, so blocking, ringing and chroma subsampling at the
edges never flip a bit. A picture without a valid mark (a frame before the server began
marking, a camera that does not) reads as ``None``.

The I420 writer is pure Python (the server runs under the system Python, without
numpy); the reader takes the BGR ``Frame.image`` the worker sees.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

BLOCK = 16
COLS = 28
ROWS = 2
SYNC = (1, 0, 1, 1)
MS_BITS = 44
CHECK_BITS = 8
NBITS = len(SYNC) + MS_BITS + CHECK_BITS  # 56 = ROWS * COLS
WIDTH = COLS * BLOCK  # 448: the smallest picture that can carry the mark
HEIGHT = ROWS * BLOCK  # 32
BLACK, WHITE = 16, 235


class ClockError(ValueError):
    """A picture too small for the mark, or a time outside the 44-bit range."""


def _check(word48: int) -> int:
    c = 0xA5
    for shift in range(0, 48, 8):
        c ^= (word48 >> shift) & 0xFF
    return c


def encode_bits(ms: int) -> list[int]:
    """The 56 bits that carry ``ms`` (milliseconds since the epoch)."""
    if not 0 <= ms < 1 << MS_BITS:
        raise ClockError(f"ms: expected 0 <= ms < 2**{MS_BITS}, got {ms}")
    word48 = (0b1011 << MS_BITS) | ms
    word = (word48 << CHECK_BITS) | _check(word48)
    return [(word >> (NBITS - 1 - i)) & 1 for i in range(NBITS)]


def decode_bits(bits: list[int]) -> int | None:
    """Milliseconds from 56 bits, or None when sync or check do not match."""
    if len(bits) != NBITS or tuple(bits[: len(SYNC)]) != SYNC:
        return None
    word = 0
    for b in bits:
        word = (word << 1) | (b & 1)
    word48 = word >> CHECK_BITS
    if word & 0xFF != _check(word48):
        return None
    return word48 & ((1 << MS_BITS) - 1)


def burn_i420(buf: bytearray, width: int, height: int, ms: int) -> None:
    """Write the mark for ``ms`` into an I420 (YUV 4:2:0 planar) picture, in place.

    Luma blocks become black or white; the chroma under them neutral grey, so the
    colour conversion on the other side gives pure black and white too.
    """
    if width < WIDTH or height < HEIGHT or width % 2 or height % 2:
        raise ClockError(
            f"picture {width}x{height}: expected even sides of at least {WIDTH}x{HEIGHT}"
        )
    if len(buf) < width * height * 3 // 2:
        raise ClockError(f"buffer of {len(buf)} bytes is short for I420 {width}x{height}")
    bits = encode_bits(ms)
    cw, half = width // 2, BLOCK // 2
    u0 = width * height
    v0 = u0 + cw * (height // 2)
    grey = bytes([128]) * half
    for i, bit in enumerate(bits):
        r, c = divmod(i, COLS)
        run = bytes([WHITE if bit else BLACK]) * BLOCK
        x, y = c * BLOCK, r * BLOCK
        for yy in range(y, y + BLOCK):
            buf[yy * width + x : yy * width + x + BLOCK] = run
        for yy in range(y // 2, y // 2 + half):
            o = yy * cw + x // 2
            buf[u0 + o : u0 + o + half] = grey
            buf[v0 + o : v0 + o + half] = grey


def burn_bgr(image: NDArray[np.uint8], ms: int) -> None:
    """Write the mark into a BGR picture in place (tests and in-process sources)."""
    h, w = image.shape[:2]
    if w < WIDTH or h < HEIGHT:
        raise ClockError(f"picture {w}x{h}: expected at least {WIDTH}x{HEIGHT}")
    for i, bit in enumerate(encode_bits(ms)):
        r, c = divmod(i, COLS)
        image[r * BLOCK : (r + 1) * BLOCK, c * BLOCK : (c + 1) * BLOCK] = 255 if bit else 0


def read_ms(image: NDArray[np.uint8]) -> int | None:
    """The burned-in time in milliseconds, or None when the picture carries no mark."""
    import numpy as np

    h, w = image.shape[:2]
    if w < WIDTH or h < HEIGHT:
        return None
    corner = image[:HEIGHT, :WIDTH].astype(np.float32)
    grey = corner.mean(axis=2) if corner.ndim == 3 else corner
    q = BLOCK // 4
    cells = grey.reshape(ROWS, BLOCK, COLS, BLOCK)[:, q : BLOCK - q, :, q : BLOCK - q]
    means = cells.mean(axis=(1, 3)).reshape(-1)
    return decode_bits([int(m > 127.5) for m in means])


def read_time(image: NDArray[np.uint8]) -> float | None:
    """The burned-in time in seconds since the epoch (``time.time()`` scale), or None."""
    ms = read_ms(image)
    return None if ms is None else ms / 1000.0
