"""Scene-shift guard: is the camera still looking at the scene its zones were drawn for?

The view is reduced to a small map of edge strength (blurred gradient magnitude), which survives changes of
light and exposure but not a moved or covered camera. Each frame's map is compared with the map taken at
calibration by normalised cross-correlation. A covered lens has almost no edges at all and counts as shifted.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from edge_agent.capture.base import Image

FloatImage = npt.NDArray[np.float32]

MAP_SIZE = (64, 36)
MIN_EDGE_ENERGY = 2.0  # mean gradient (grey levels per pixel) below which the view is blank or covered


def edge_map(image: Image) -> FloatImage:
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    small = cv2.resize(grey, (MAP_SIZE[0] * 2, MAP_SIZE[1] * 2), interpolation=cv2.INTER_AREA)
    small_f = small.astype(np.float32)
    gx = cv2.Sobel(small_f, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(small_f, cv2.CV_32F, 0, 1, ksize=3)
    magnitude = cv2.magnitude(gx, gy)
    # Blur before shrinking so that a shift of a pixel or two (vibration, wind) does not count as a move.
    magnitude = cv2.GaussianBlur(magnitude, (5, 5), 0)
    return np.asarray(cv2.resize(magnitude, MAP_SIZE, interpolation=cv2.INTER_AREA), dtype=np.float32)


def similarity(a: FloatImage, b: FloatImage) -> float:
    """Normalised cross-correlation of two edge maps in [-1, 1]; 0 when either is blank (covered lens)."""
    if float(a.mean()) < MIN_EDGE_ENERGY or float(b.mean()) < MIN_EDGE_ENERGY:
        return 0.0
    da = a - a.mean()
    db = b - b.mean()
    denom = float(np.sqrt((da * da).sum() * (db * db).sum()))
    if denom <= 1e-6:
        return 0.0
    return float((da * db).sum() / denom)


class SceneGuard:
    """Latches ``shifted`` after ``frames`` consecutive frames below ``threshold``; only ``calibrate`` clears it."""

    def __init__(self, threshold: float, frames: int) -> None:
        self.threshold = threshold
        self.frames = frames
        self._reference: FloatImage | None = None
        self._below = 0
        self.shifted = False
        self.last_similarity = 1.0

    @property
    def calibrated(self) -> bool:
        return self._reference is not None

    def calibrate(self, image: Image) -> None:
        self._reference = edge_map(image)
        self._below = 0
        self.shifted = False
        self.last_similarity = 1.0

    def check(self, image: Image) -> bool:
        """True when this frame does not match the calibrated view (whether or not the shift is latched yet)."""
        if self._reference is None:
            self.calibrate(image)
            return False
        self.last_similarity = similarity(edge_map(image), self._reference)
        if self.last_similarity >= self.threshold:
            self._below = 0
            return self.shifted
        self._below += 1
        if self._below >= self.frames:
            self.shifted = True
        return True
