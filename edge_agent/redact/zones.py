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
    has_own: bool
    has_neighbour: bool


ZoneKey = tuple[str, tuple[tuple[float, float], ...]]  # kind and corners: hashable, unlike the pydantic model


def _polygon_mask(corners: tuple[tuple[float, float], ...], width: int, height: int) -> Mask:
    canvas = np.zeros((height, width), dtype=np.uint8)
    pts = np.array([[round(x * width), round(y * height)] for x, y in corners], dtype=np.int32)
    cv2.fillPoly(canvas, [pts], 1)
    return canvas.astype(bool)


def rasterise(zones: Sequence[Zone], width: int, height: int) -> ZoneMasks:
    key = tuple((zone.kind, tuple((float(x), float(y)) for x, y in zone.coordinates)) for zone in zones)
    return _rasterise_cached(key, width, height)


@lru_cache(maxsize=16)
def _rasterise_cached(zones: tuple[ZoneKey, ...], width: int, height: int) -> ZoneMasks:
    neighbour = np.zeros((height, width), dtype=bool)
    own = np.zeros((height, width), dtype=bool)
    for kind, corners in zones:
        if kind == "neighbour":
            neighbour |= _polygon_mask(corners, width, height)
        elif kind == "own":
            own |= _polygon_mask(corners, width, height)
    own &= ~neighbour
    # Anything not explicitly the homeowner's or the neighbour's is public: unzoned pixels fail closed.
    public = ~(neighbour | own)
    public_u8 = public.astype(np.uint8) * np.uint8(255)
    own_u8 = own.astype(np.uint8) * np.uint8(255)
    for mask in (neighbour, own, public, public_u8, own_u8):
        mask.setflags(write=False)
    return ZoneMasks(width, height, neighbour, public, own, public_u8, own_u8, bool(own.any()), bool(neighbour.any()))
