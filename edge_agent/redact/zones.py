"""Zones: named polygons in relative coordinates, rasterised once per frame size into boolean masks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
import numpy.typing as npt

from edge_agent.config.models import Zone

Mask = npt.NDArray[np.bool_]
U8Mask = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class ZoneMasks:
    """Boolean masks for one frame size. ``public`` is everything that is neither own nor neighbour.

    With no zones configured the whole frame is public. Where zones overlap, the stricter kind wins:
    neighbour over public over own.
    """

    width: int
    height: int
    neighbour: Mask
    public: Mask
    own: Mask
    # The same masks as 0/255 bytes, for OpenCV's bitwise operations (computed once per frame size).
    public_u8: U8Mask
    own_u8: U8Mask


def _polygon_mask(zone: Zone, width: int, height: int) -> Mask:
    canvas = np.zeros((height, width), dtype=np.uint8)
    pts = np.array([[round(x * width), round(y * height)] for x, y in zone.coordinates], dtype=np.int32)
    cv2.fillPoly(canvas, [pts], 1)
    return canvas.astype(bool)


def rasterise(zones: Sequence[Zone], width: int, height: int) -> ZoneMasks:
    return _rasterise_cached(tuple(zones), width, height)


@lru_cache(maxsize=16)
def _rasterise_cached(zones: tuple[Zone, ...], width: int, height: int) -> ZoneMasks:
    neighbour = np.zeros((height, width), dtype=bool)
    own = np.zeros((height, width), dtype=bool)
    for zone in zones:
        if zone.kind == "neighbour":
            neighbour |= _polygon_mask(zone, width, height)
        elif zone.kind == "own":
            own |= _polygon_mask(zone, width, height)
    own &= ~neighbour
    # Anything not explicitly the homeowner's or the neighbour's is public: unzoned pixels fail closed.
    public = ~(neighbour | own)
    public_u8 = public.astype(np.uint8) * np.uint8(255)
    own_u8 = own.astype(np.uint8) * np.uint8(255)
    for mask in (neighbour, own, public, public_u8, own_u8):
        mask.setflags(write=False)
    return ZoneMasks(width, height, neighbour, public, own, public_u8, own_u8)
