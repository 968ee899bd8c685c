"""Ghosts: foreground that is a hole in the background model, not something in front of the camera.

The background starts from the median of the warm-up frames. Someone who walked slowly through the warm-up, or
stood in it and then left, is in that median; once they have gone, the spot where they were differs from the
model and shows as foreground, and the selective update (which learns foreground slowly so that people who stop
stay masked) would keep it so for minutes.

What tells a ghost from a person standing still is where the edges are. Along the outline of a real object the
*current* frame has an edge: the object ends there and the scene behind it begins. Along the outline of a ghost
the edge is in the *background model* (it holds the image of whoever was there), while the current frame shows
the ground running smoothly through. So a foreground blob that has not changed for a while, whose outline is
much weaker in the frame than in the model in every frame for a second, is taken for a ghost and learnt into
the background.

A person standing still keeps their outline in the frame, however long they stand: the test never passes for
them, whatever their colours, because it compares the two images' edges and not their colours.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

FloatImage = npt.NDArray[np.float32]
U8Mask = npt.NDArray[np.uint8]

STILL_SECONDS = 1.0  # a blob must have been foreground this long (its median pixel) before it is tested
CONFIRM_SECONDS = 1.0  # ... and have looked like a ghost this long, frame after frame, before it is learnt
EDGE_RATIO = 0.5  # a ghost's outline is at most this strong in the frame, relative to the model
MIN_EDGE = 12.0  # ... and the model's outline at least this strong (mean gradient, grey levels per pixel)
RING = np.ones((5, 5), np.uint8)  # the outline: two pixels either side of the blob's edge
MARGIN = 3  # pixels around a blob's box that its outline and the gradients along it need

Components = tuple[int, npt.NDArray[np.int32], npt.NDArray[np.int32]]  # count, labels, stats (OpenCV's)


def _gray(image: FloatImage) -> FloatImage:
    image = np.ascontiguousarray(image)
    if image.ndim == 2:
        return image
    return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), dtype=np.float32)


def _gradient(gray: FloatImage) -> FloatImage:
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    return np.asarray(cv2.magnitude(gx, gy), dtype=np.float32)


class GhostFinder:
    """Remembers since when each pixel has been foreground and finds the blobs that are ghosts."""

    def __init__(self) -> None:
        self._since: FloatImage | None = None  # when each pixel became foreground (NaN: it is not)
        self._ghostly: FloatImage | None = None  # since when each pixel's blob has passed the edge test

    def reset(self) -> None:
        self._since = self._ghostly = None

    def find(
        self, frame: FloatImage, background: FloatImage, fg: U8Mask, t: float, components: Components
    ) -> list[int]:
        """The labels of the blobs of ``fg`` (``components``: OpenCV's connected components of it) that are
        ghosts of ``frame`` against ``background``."""
        if self._since is None or self._ghostly is None or self._since.shape != fg.shape:
            self._since = np.full(fg.shape, np.nan, dtype=np.float32)
            self._ghostly = np.full(fg.shape, np.nan, dtype=np.float32)
        since, ghostly = self._since, self._ghostly
        on = fg > 0
        since[~on] = np.nan
        since[on & np.isnan(since)] = t
        ghostly[~on] = np.nan
        count, labels, stats = components
        ghosts: list[int] = []
        for label in range(1, count):
            x, y, w, h = (int(v) for v in stats[label, :4])
            window = (slice(max(0, y - MARGIN), y + h + MARGIN), slice(max(0, x - MARGIN), x + w + MARGIN))
            blob = (labels[window] == label).astype(np.uint8)
            inside = blob > 0
            marks = ghostly[window]
            if t - float(np.median(since[window][inside])) < STILL_SECONDS:
                marks[inside] = np.nan
                continue
            ring = cv2.morphologyEx(blob, cv2.MORPH_GRADIENT, RING) > 0
            model_edge = float(_gradient(_gray(background[window]))[ring].mean())
            frame_edge = float(_gradient(_gray(frame[window]))[ring].mean())
            if not (model_edge >= MIN_EDGE and frame_edge < EDGE_RATIO * model_edge):
                marks[inside] = np.nan
                continue
            marks[inside & np.isnan(marks)] = t
            if t - float(np.nanmax(marks[inside])) >= CONFIRM_SECONDS:
                ghosts.append(label)
                since[window][inside] = np.nan
                marks[inside] = np.nan
        return ghosts
