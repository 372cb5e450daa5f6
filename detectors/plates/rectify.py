"""Rectification of plate crops and the plate's background colour.

A skewed plate is warped from its four corners to the plate's own aspect (440x140 for
single-row plates, 440x220 for double-row ones, the GA 36 dimensions in millimetres), so
the recogniser sees upright, evenly spaced characters. Double-row plates are then cut
into their two rows, each read on its own; the decoder joins the rows' outputs.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
from numpy.typing import NDArray

SINGLE_SIZE = (440, 140)
DOUBLE_SIZE = (440, 220)
#: below this width/height ratio (corner-measured) a plate may be double-row.
DOUBLE_ROW_MAX_ASPECT = 2.6

Colour = Literal["blue", "yellow", "green", "white", "black", "unknown"]


def corner_aspect(corners: NDArray[np.float32]) -> float:
    """Width over height of the quadrilateral (mean of opposite sides)."""
    tl, tr, br, bl = np.asarray(corners, dtype=np.float64).reshape(4, 2)
    width = float(np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)) / 2
    height = float(np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2
    return width / max(height, 1e-6)


def warp(
    image: NDArray[np.uint8],
    corners: NDArray[np.float32],
    size: tuple[int, int] = SINGLE_SIZE,
    *,
    margin: float = 0.04,
) -> NDArray[np.uint8]:
    """The plate inside ``corners`` (TL, TR, BR, BL), warped upright to ``size``.

    ``margin`` widens the quadrilateral by that fraction on each side first: detector
    corners sit on the plate edge and recognisers read the first character better with a
    little room.
    """
    pts = np.asarray(corners, dtype=np.float32).reshape(4, 2)
    tl, tr, br, bl = pts
    ux = ((tr - tl) + (br - bl)) / 2
    uy = ((bl - tl) + (br - tr)) / 2
    grow = np.array([-ux - uy, ux - uy, ux + uy, -ux + uy], dtype=np.float32) * margin
    src = (pts + grow).astype(np.float32)
    w, h = size
    dst = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    out = cv2.warpPerspective(image, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(out, dtype=np.uint8)


def pad_crop(crop: NDArray[np.uint8], fx: float = 0.05, fy: float = 0.1) -> NDArray[np.uint8]:
    """A tight crop with a replicated border, so edge characters are not cut."""
    h, w = crop.shape[:2]
    px, py = round(w * fx), round(h * fy)
    return np.asarray(
        cv2.copyMakeBorder(crop, py, py, px, px, cv2.BORDER_REPLICATE), dtype=np.uint8
    )


def split_rows(plate: NDArray[np.uint8]) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """Top and bottom rows of a rectified double-row plate (440x220 layout).

    On GA 36 double-row plates the top row (province + letter) takes about the upper
    third, centred; the bottom row the lower two thirds. The cut overlaps a little.
    """
    h, w = plate.shape[:2]
    top = plate[0 : round(h * 0.38), round(w * 0.18) : round(w * 0.82)]
    bottom = plate[round(h * 0.30) : h]
    return np.ascontiguousarray(top), np.ascontiguousarray(bottom)


def background_colour(plate: NDArray[np.uint8]) -> tuple[Colour, dict[str, float]]:
    """The plate's background colour from its text polarity and background HSV.

    Hue alone fails under sodium lamps and camera white balance (a blue plate turns
    olive), so the decision starts from the polarity, which lighting does not flip:
    blue and black plates carry light characters on a dark background, yellow, white
    and green plates dark characters on a light one. Otsu's threshold splits characters
    (the minority) from background; the background's median hue and saturation then
    choose within each family.

    Returns:
        The colour and the measurements behind it (background hue/sat/val, polarity).
    """
    h, w = plate.shape[:2]
    inner = plate[round(h * 0.12) : round(h * 0.88), round(w * 0.06) : round(w * 0.94)]
    if inner.size == 0 or min(inner.shape[:2]) < 2:
        return "unknown", {}
    gray = cv2.cvtColor(inner, cv2.COLOR_BGR2GRAY)
    _, mask = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    light = mask > 0
    background = ~light if light.mean() < 0.5 else light
    if background.all() or not background.any():
        return "unknown", {}
    text_light = bool(gray[~background].mean() > gray[background].mean())
    hsv = cv2.cvtColor(inner, cv2.COLOR_BGR2HSV)[background].astype(np.float64)
    hue, sat, val = (float(np.median(hsv[:, i])) for i in range(3))
    stats = {"hue": hue, "sat": sat, "val": val, "text_light": float(text_light)}
    colour: Colour
    if text_light:  # blue, black, or the rarer green plates with white text (民航, 农用)
        if sat < 60 and val < 100:
            colour = "black"
        elif 60 <= hue < 90 and sat >= 80 and val >= 60:
            colour = "green"
        else:
            colour = "blue"
    elif sat < 40:
        colour = "white"
    elif 8 <= hue < 35:
        colour = "yellow"
    elif 35 <= hue < 100:
        colour = "green"
    else:
        colour = "white"
    return colour, stats
