"""Reading photos given by people: checked before decoding, errors name the file."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from detectors.faces.errors import PhotoError

MAX_PHOTO_BYTES = 50_000_000  # 50 MB
MAX_PHOTO_PIXELS = 50_000_000  # 50 megapixels, e.g. 8660 x 5773


def read_photo(
    path: Path, *, max_bytes: int = MAX_PHOTO_BYTES, max_pixels: int = MAX_PHOTO_PIXELS
) -> tuple[NDArray[np.uint8], bytes]:
    """Decode a photo to BGR, refusing huge, corrupt or non-image files.

    The size is read from the header before any pixel is decoded, so a 20000x20000
    image (or a decompression bomb) is refused without allocating 1.2 GB.

    Returns:
        The BGR image and the file's bytes (kept for lists that store photos).

    Raises:
        PhotoError: naming the file and what is wrong with it.
    """
    if not path.is_file():
        raise PhotoError(f"{path}: no such file")
    size = path.stat().st_size
    if size > max_bytes:
        raise PhotoError(
            f"{path}: file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit; "
            "resize the photo"
        )
    data = path.read_bytes()
    return decode_photo(data, str(path), max_pixels=max_pixels), data


def decode_photo(
    data: bytes, path: str, *, max_pixels: int = MAX_PHOTO_PIXELS
) -> NDArray[np.uint8]:
    """Decode photo bytes (``path`` names them in errors) to BGR, with the same checks."""
    try:
        with warnings.catch_warnings():
            # Our own pixel limit below is lower than PIL's warning level; say it once.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
        with im:
            w, h = im.size
            if w * h > max_pixels:
                raise PhotoError(
                    f"{path}: image is {w}x{h} pixels, over the {max_pixels / 1e6:.0f} "
                    "megapixel limit; resize the photo"
                )
            upright = ImageOps.exif_transpose(im).convert("RGB")  # decodes: finds truncation
    except PhotoError:
        raise
    except Image.DecompressionBombError:
        raise PhotoError(
            f"{path}: image has far too many pixels (over the {max_pixels / 1e6:.0f} "
            "megapixel limit); resize the photo"
        ) from None
    except UnidentifiedImageError:
        raise PhotoError(f"{path}: not an image file, or its data is corrupt") from None
    except (OSError, ValueError) as exc:
        raise PhotoError(f"{path}: corrupt or truncated image data ({exc})") from None
    rgb = np.asarray(upright, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.size == 0:
        raise PhotoError(f"{path}: image has no pixels")
    return np.ascontiguousarray(rgb[:, :, ::-1])
