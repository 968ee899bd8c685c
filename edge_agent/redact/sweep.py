"""A face sweep over the full-resolution frame, one tile at a time.

The motion gate cannot see a person who stands perfectly still from before the background was learnt (someone
waiting at the door when the camera starts), and the regular face detector runs on the low-resolution copy, where
a face a few metres away is only a few pixels. The sweep looks at the full-resolution frame in tiles the size of
the detection copy: the whole frame once at the end of every warm-up (before the first frame that is not masked
wide), then one tile per call, round-robin, so that its cost per frame stays that of one small detection.
"""

from __future__ import annotations

import math

from edge_agent.capture.base import Image
from edge_agent.redact.faces import FaceDetector
from edge_agent.redact.tracker import Box

OVERLAP = 0.5  # of the tile height: a face up to this size always lies whole inside some tile


def tile_grid(width: int, height: int, tile_width: int, tile_height: int) -> list[tuple[int, int, int, int]]:
    """Overlapping tiles (x0, y0, x1, y1) covering a ``width`` x ``height`` frame, about the given tile size."""
    overlap = math.ceil(OVERLAP * tile_height)
    cols, rows = math.ceil(width / tile_width), math.ceil(height / tile_height)
    tw = min(width, math.ceil(width / cols) + overlap)
    th = min(height, math.ceil(height / rows) + overlap)
    xs = [round(i * (width - tw) / (cols - 1)) if cols > 1 else 0 for i in range(cols)]
    ys = [round(j * (height - th) / (rows - 1)) if rows > 1 else 0 for j in range(rows)]
    return [(x, y, x + tw, y + th) for y in ys for x in xs]


class FaceSweep:
    """Runs ``detector`` on tiles of full-resolution frames; boxes come back in full-resolution pixels."""

    def __init__(self, detector: FaceDetector) -> None:
        self._detector = detector
        self._tiles: list[tuple[int, int, int, int]] = []
        self._key: tuple[int, int, int, int] | None = None
        self._next = 0

    def tiles(self, image: Image, tile_size: tuple[int, int]) -> int:
        """How many tiles a full sweep of ``image`` takes (the grid is kept per frame and tile size)."""
        self._grid(image, tile_size)
        return len(self._tiles)

    def step(self, image: Image, tile_size: tuple[int, int]) -> list[Box]:
        """Scan the next tile of ``image``."""
        self._grid(image, tile_size)
        tile = self._tiles[self._next % len(self._tiles)]
        self._next = (self._next + 1) % len(self._tiles)
        return self._scan(image, tile)

    def full(self, image: Image, tile_size: tuple[int, int]) -> list[Box]:
        """Scan every tile of ``image`` now."""
        self._grid(image, tile_size)
        return [box for tile in self._tiles for box in self._scan(image, tile)]

    def _grid(self, image: Image, tile_size: tuple[int, int]) -> None:
        key = (image.shape[1], image.shape[0], *tile_size)
        if key != self._key:
            self._tiles = tile_grid(*key)
            self._key = key
            self._next = 0

    def _scan(self, image: Image, tile: tuple[int, int, int, int]) -> list[Box]:
        x0, y0, x1, y1 = tile
        found = self._detector.detect(image[y0:y1, x0:x1])
        return [(b[0] + x0, b[1] + y0, b[2] + x0, b[3] + y0) for b in found]
