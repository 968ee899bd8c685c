"""Scene guard: is the camera still looking at the scene its zones were drawn for?

A doorbell camera sees people close to the lens: a visitor can fill half the view, a crowd can hide most of the
street. A guard that compares the whole frame with the calibrated one cannot tell that from a moved camera, and a
guard that latches on people masks everything until the homeowner looks. So this guard compares only what should
not change: **landmarks**, small textured patches of the calibrated view (corners of windows, kerbs, signs),
spread over the whole frame. Each frame, every landmark is looked for (pyramidal Lucas-Kanade, on images
normalised for local brightness and contrast, so a change of light or exposure does not matter):

- a landmark **in place** is found within ``IN_PLACE_PIXELS`` of where it was;
- a person standing in front of a landmark hides it: it is not found, or found somewhere random;
- a moved camera moves all landmarks together: those found elsewhere agree on one rotation, shift and scale.

A frame is a **shift** when almost none of the view is where it was (fewer than ``LOST_SHARE`` of the
threshold's share of landmarks in place: the camera was turned away, covered, sprayed, or something fills the
whole view), or when fewer than ``threshold`` of them are in place *and* the others moved together (a knock that
turned the view by a degree or two). People hide landmarks at random and never move them together, so a crowd,
a visitor at the door or a parked car do not make a shift while some of the view stays visible around them.

The reference is the per-pixel median of the first frames (as many as the background model's warm-up, which
masks them anyway), so that landmarks are not put on people walking through the first frame. It follows slow
changes (the sun moving, a plant growing) with a time constant of ``FOLLOW_SECONDS`` from frames that are not
shifts, and its landmarks are picked again every ``RESELECT_SECONDS``; a knock is sudden, and is caught within
``frames`` frames, before it could be learnt. A view with too few landmarks (a blank wall, darkness) falls back
to comparing maps of edge strength, as before.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

from edge_agent.capture.base import Image

FloatImage = npt.NDArray[np.float32]
Points = npt.NDArray[np.float32]

MAP_SIZE = (64, 36)
MIN_EDGE_ENERGY = 2.0  # mean gradient (grey levels per pixel) below which the view is blank or covered
MAX_LANDMARKS = 100
MIN_LANDMARKS = 12  # fewer than this in the reference: the view has too little texture, use the edge maps
IN_PLACE_PIXELS = 2.0  # at the detection size: vibration and wind move the view by a pixel or so
LOST_SHARE = 0.3  # of the threshold: fewer landmarks than this in place is a shift whatever the others do
MOVED_SHARE = 0.25  # landmarks that moved together (of all landmarks) to call it a moved camera
MOVED_MIN = 8
MOVED_SPREAD = 0.4  # ... spread over at least this share of the frame's width and height (people are local)
MIN_CALIBRATION_FRAMES = 3
MAX_TRACK_ERROR = 0.35  # mean absolute difference of the normalised patches for a landmark to count as found
FOLLOW_SECONDS = 60.0
RESELECT_SECONDS = 10.0
LK_WINDOW = (11, 11)
LK_LEVELS = 3  # pyramid levels: a move of up to about 8 window widths at the detection size is followed
LK_STOP = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03)


def _grey(image: Image) -> FloatImage:
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return np.asarray(grey, dtype=np.float32)


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


def normalise(grey: FloatImage) -> Image:
    """Local contrast normalisation, as 8 bits: each pixel's difference from its neighbourhood's mean in units
    of the neighbourhood's spread. Brightness, exposure and contrast changes leave it nearly unchanged."""
    sigma = max(2.0, min(grey.shape) / 40)
    mean = cv2.GaussianBlur(grey, (0, 0), sigma)
    centred = grey - mean
    spread = np.sqrt(cv2.GaussianBlur(centred * centred, (0, 0), sigma)) + 4.0
    return np.asarray(np.clip(centred / spread * 48.0 + 128.0, 0, 255), dtype=np.uint8)


def landmarks(normalised: Image) -> Points:
    """Up to ``MAX_LANDMARKS`` corners of ``normalised``, spread over the frame."""
    h, w = normalised.shape
    spacing = max(6.0, math.sqrt(h * w / MAX_LANDMARKS) * 0.8)
    found = cv2.goodFeaturesToTrack(normalised, MAX_LANDMARKS, qualityLevel=0.05, minDistance=spacing, blockSize=5)
    if found is None:
        return np.empty((0, 1, 2), dtype=np.float32)
    return np.asarray(found, dtype=np.float32)


class SceneGuard:
    """Latches ``shifted`` after ``frames`` consecutive shifted frames; only ``calibrate`` clears it."""

    def __init__(
        self,
        threshold: float,
        frames: int,
        *,
        calibration_frames: int = 1,
        calibration_seconds: float = 0.0,
        landmarks: bool = True,
    ) -> None:
        self.threshold = threshold
        self.frames = frames
        self._calibration = (calibration_frames, calibration_seconds)
        self._use_landmarks = landmarks
        self._collected: list[FloatImage] = []
        self._collect_since = 0.0
        self._reference: FloatImage | None = None  # grey, following slow changes
        self._normalised: Image | None = None
        self._points: Points = np.empty((0, 1, 2), dtype=np.float32)
        self._edges: FloatImage | None = None
        self._picked_at = 0.0
        self._last_t: float | None = None
        self._below = 0
        self.shifted = False
        self.last_in_place = 1.0

    def calibrate(self, image: Image, t: float = 0.0) -> None:
        """Take the view from this frame on as the reference (the median of the first few frames)."""
        self._reference = None
        self._collected = [_grey(image)]
        self._collect_since = t
        self._last_t = t
        self._below = 0
        self.shifted = False
        self.last_in_place = 1.0
        self._collect(t)

    def check(self, image: Image, t: float = 0.0) -> bool:
        """True when this frame does not show the calibrated view (whether or not the shift is latched yet)."""
        if self._reference is None and self._collected and self._collected[0].shape == image.shape[:2]:
            self._collected.append(_grey(image))
            self._collect(t)
            return False
        if self._reference is None or self._reference.shape != image.shape[:2]:
            self.calibrate(image, t)
            return False
        grey = _grey(image)
        moved = self._moved(grey, image)
        if moved:
            self._below += 1
            self.shifted = self.shifted or self._below >= self.frames
            return True
        self._below = 0
        if not self.shifted:
            self._follow(grey, t)
        return self.shifted

    def _collect(self, t: float) -> None:
        frames, seconds = self._calibration
        count = len(self._collected)
        if count < frames and not (count >= MIN_CALIBRATION_FRAMES and t - self._collect_since >= seconds):
            return
        stack = np.stack(self._collected)
        self._reference = np.asarray(np.median(stack, axis=0), dtype=np.float32) if count > 2 else stack[-1].copy()
        self._collected = []
        self._refresh(t)

    def _moved(self, grey: FloatImage, image: Image) -> bool:
        if len(self._points) < MIN_LANDMARKS:
            assert self._edges is not None
            self.last_in_place = max(0.0, similarity(edge_map(image), self._edges))
            return self.last_in_place < self.threshold
        assert self._normalised is not None
        current = normalise(grey)
        found, status, error = cv2.calcOpticalFlowPyrLK(
            self._normalised,
            current,
            self._points,
            self._points.copy(),
            winSize=LK_WINDOW,
            maxLevel=LK_LEVELS,
            criteria=LK_STOP,
        )
        start = self._points.reshape(-1, 2)
        end = np.asarray(found, dtype=np.float32).reshape(-1, 2)
        ok = (np.asarray(status).reshape(-1) == 1) & (np.asarray(error).reshape(-1) < MAX_TRACK_ERROR * 255.0)
        shift = np.linalg.norm(end - start, axis=1)
        in_place = ok & (shift <= IN_PLACE_PIXELS)
        self.last_in_place = float(in_place.mean())
        if self.last_in_place < LOST_SHARE * self.threshold:
            return True
        return self.last_in_place < self.threshold and self._moved_together(start[ok & ~in_place], end[ok & ~in_place])

    def _moved_together(self, start: Points, end: Points) -> bool:
        """True when the landmarks found elsewhere agree on one rotation, shift and scale of the whole view."""
        need = max(MOVED_MIN, math.ceil(MOVED_SHARE * len(self._points)))
        if len(start) < need:
            return False
        _, inliers = cv2.estimateAffinePartial2D(start, end, method=cv2.RANSAC, ransacReprojThreshold=IN_PLACE_PIXELS)
        if inliers is None or int(inliers.sum()) < need:
            return False
        agreeing = start[inliers.reshape(-1) == 1]
        assert self._reference is not None
        h, w = self._reference.shape
        spread = agreeing.max(axis=0) - agreeing.min(axis=0)
        return bool(spread[0] >= MOVED_SPREAD * w and spread[1] >= MOVED_SPREAD * h)

    def _follow(self, grey: FloatImage, t: float) -> None:
        assert self._reference is not None
        dt = t - (self._last_t if self._last_t is not None else t)
        self._last_t = t
        if dt > 0:
            cv2.accumulateWeighted(grey, self._reference, 1.0 - math.exp(-dt / FOLLOW_SECONDS))
        if t - self._picked_at >= RESELECT_SECONDS:
            self._refresh(t)

    def _refresh(self, t: float) -> None:
        assert self._reference is not None
        self._normalised = normalise(self._reference)
        self._points = landmarks(self._normalised) if self._use_landmarks else self._points[:0]
        self._edges = edge_map(self._reference.astype(np.uint8))
        self._picked_at = t
