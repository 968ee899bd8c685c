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

**Ghosts the outline cannot show.** Close to the lens, people are wide and walk only a body width or two in the
warm-up, so the median holds smeared people; other passers-by keep walking through their ghosts, and the blob
that holds a ghost holds a walker's outline too. These ghosts are known by their history instead: a pixel of
the model is *confirmed* once the frame has matched it since the warm-up with nothing in front of it (no
foreground near it, no held box over it) for ``CONFIRM_FRAMES`` frames. A real person who stops in front of the
camera covers confirmed pixels (the scene was seen there before they came); a ghost from the warm-up is
foreground from the first frames on, so its pixels never were. Unconfirmed pixels that have been foreground
since the warm-up ended (within ``WARMUP_GRACE_SECONDS``: the median's walker may still be leaving), and that
look the same as half a second ago, form regions. A region whose outline *where it borders the scene* (the part
along other foreground, a walker crossing it, is left out) is at least as strong in the frame as in the model
has something standing in it, and is kept. Any other is offered to a judge that knows what people look like:
the person and face detectors, and the tracker (nobody who walked in is a ghost). What the judge has found no
one in for ``EMPTY_SECONDS`` in a row (several runs of the person detector) is learnt into the background.
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
OUTLINED = 1.0  # an unconfirmed region whose outline is this strong in the frame (relative to the model) is kept
MIN_EDGE = 12.0  # ... and the model's outline at least this strong (mean gradient, grey levels per pixel)
RING = np.ones((5, 5), np.uint8)  # the outline: two pixels either side of the blob's edge
MARGIN = 3  # pixels around a blob's box that its outline and the gradients along it need

Components = tuple[int, npt.NDArray[np.int32], npt.NDArray[np.int32]]  # count, labels, stats (OpenCV's)
Box = tuple[float, float, float, float]
SAMPLE_SECONDS = 0.5  # an unconfirmed pixel must look the same as a frame this old (a walker's pixels do not)
CONFIRM_FRAMES = 3  # frames in a row a pixel must be quiet to confirm the model there
WARMUP_GRACE_SECONDS = 1.0  # ... foreground since no later than this after the warm-up ended
EMPTY_SECONDS = 1.5  # a region is learnt once the judge has found nobody in it for this long, in every frame
MIN_REGION_PIXELS = 12
MIN_REGION_SHARE = 2.5e-4  # of the frame, like the smallest blob


def _gray(image: FloatImage) -> FloatImage:
    image = np.ascontiguousarray(image)
    if image.ndim == 2:
        return image
    return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), dtype=np.float32)


def _gradient(gray: FloatImage) -> FloatImage:
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    return np.asarray(cv2.magnitude(gx, gy), dtype=np.float32)


def _ghostly(frame: FloatImage, background: FloatImage, ring: npt.NDArray[np.bool_]) -> bool:
    """True when the outline ``ring`` is clearly in the model and much weaker in the frame."""
    if not ring.any():  # a blob at the frame's edge can have no outline inside the frame
        return False
    model_edge = float(_gradient(_gray(background))[ring].mean())
    frame_edge = float(_gradient(_gray(frame))[ring].mean())
    return model_edge >= MIN_EDGE and frame_edge < EDGE_RATIO * model_edge


def _outlined(frame: FloatImage, background: FloatImage, ring: npt.NDArray[np.bool_]) -> bool:
    """True when the outline ``ring`` is at least as strong in the frame as in the model: something stands there
    with an outline of its own (a ghost's outline is in the model; the frame shows the scene running through)."""
    model_edge = float(_gradient(_gray(background))[ring].mean())
    frame_edge = float(_gradient(_gray(frame))[ring].mean())
    return frame_edge >= OUTLINED * model_edge


class GhostFinder:
    """Remembers since when each pixel has been foreground and finds the blobs that are ghosts."""

    def __init__(self) -> None:
        self._since: FloatImage | None = None  # when each pixel became foreground (NaN: it is not)
        self._ghostly: FloatImage | None = None  # since when each pixel's blob has passed the edge test
        self._confirmed: npt.NDArray[np.bool_] | None = None  # the frame has matched the model here
        self._quiet_run: U8Mask | None = None  # frames in a row each pixel has been quiet
        self._sample: FloatImage | None = None  # a frame from at least SAMPLE_SECONDS ago, to see what is still
        self._sampled_at = 0.0
        self._warm_since: float | None = None  # the first frame after the warm-up
        self._empty_since: FloatImage | None = None  # since when the judge has found nobody at each pixel
        self._done = False  # no pixel is left that has been foreground since the warm-up

    def reset(self) -> None:
        self._since = self._ghostly = self._confirmed = self._sample = None
        self._quiet_run = None
        self._warm_since = None
        self._empty_since = None
        self._done = False

    def confirm(self, quiet: npt.NDArray[np.bool_]) -> None:
        """Confirm the pixels where the frame has matched the model with nothing in front of it in
        ``CONFIRM_FRAMES`` frames in a row. (On the first frame after the warm-up there are no tracks yet: parts
        of someone still standing where the median holds them look quiet for that frame.)"""
        if self._confirmed is None or self._quiet_run is None or self._confirmed.shape != quiet.shape:
            self._confirmed = np.zeros(quiet.shape, dtype=bool)
            self._quiet_run = np.zeros(quiet.shape, dtype=np.uint8)
        run = self._quiet_run
        np.add(run, 1, out=run, where=quiet & (run < CONFIRM_FRAMES))
        run[~quiet] = 0
        self._confirmed |= run >= CONFIRM_FRAMES

    def unconfirmed(
        self, frame: FloatImage, background: FloatImage, fg: U8Mask, threshold: FloatImage, t: float
    ) -> list[tuple[Box, U8Mask]]:
        """Regions of still, unchanging foreground over pixels the model never had confirmed, whose outline
        where it borders the scene (not other foreground) is in the model and not in the frame: (box, region
        mask) pairs for the judge. Call after :meth:`find` in the same frame."""
        if self._done or self._confirmed is None or self._since is None or self._confirmed.shape != fg.shape:
            return []
        assert self._warm_since is not None
        with np.errstate(invalid="ignore"):
            from_warmup = self._since <= self._warm_since + WARMUP_GRACE_SECONDS  # NaN (not foreground): False
        if t - self._warm_since > WARMUP_GRACE_SECONDS and not from_warmup.any():
            self._done = True  # every pixel foreground since the warm-up has been cleared: none can come back
            return []
        sample = self._sample
        if sample is None or sample.shape != frame.shape or t - self._sampled_at > 2 * SAMPLE_SECONDS:
            self._sample, self._sampled_at = frame.copy(), t
            return []
        pending = (fg > 0) & ~self._confirmed & from_warmup
        if t - self._sampled_at >= SAMPLE_SECONDS:
            self._sample, self._sampled_at = frame.copy(), t
        if t - self._warm_since < STILL_SECONDS or not pending.any():
            return []
        diff = cv2.absdiff(frame, sample)
        if diff.ndim == 3:
            b, g, r = cv2.split(diff)
            diff = cv2.max(cv2.max(b, g), r)
        candidates = (pending & (np.asarray(diff, dtype=np.float32) <= threshold)).astype(np.uint8)
        if not candidates.any():
            return []
        candidates = np.asarray(cv2.morphologyEx(candidates, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)), np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(candidates, connectivity=8)
        least = max(MIN_REGION_PIXELS, MIN_REGION_SHARE * fg.size)
        found = []
        for label in range(1, count):
            x, y, w, h, area = (int(v) for v in stats[label])
            if area < least:
                continue
            region = (labels == label).astype(np.uint8)
            window = (slice(max(0, y - MARGIN), y + h + MARGIN), slice(max(0, x - MARGIN), x + w + MARGIN))
            # Only where the region borders the scene: a walker crossing it has an outline of their own.
            ring = cv2.morphologyEx(region[window], cv2.MORPH_GRADIENT, RING) > 0
            ring &= (fg[window] == 0) | (region[window] > 0)
            if ring.any() and not _outlined(frame[window], background[window], ring):
                found.append(((float(x), float(y), float(x + w), float(y + h)), region))
        return found

    def judged(self, regions: list[U8Mask], empty: list[bool], t: float) -> npt.NDArray[np.bool_] | None:
        """Record the judge's verdicts on ``regions``; the pixels found empty for ``EMPTY_SECONDS`` in a row."""
        if self._since is None:
            return None
        if self._empty_since is None or self._empty_since.shape != self._since.shape:
            self._empty_since = np.full(self._since.shape, np.nan, dtype=np.float32)
        votes = np.zeros(self._since.shape, dtype=bool)
        for region, verdict in zip(regions, empty, strict=True):
            if verdict:
                votes |= region > 0
        since = self._empty_since
        since[~votes] = np.nan
        since[votes & np.isnan(since)] = t
        ready = votes & (t - np.nan_to_num(since, nan=t) >= EMPTY_SECONDS)
        return ready if ready.any() else None

    def learnt(self, region: npt.NDArray[np.bool_]) -> None:
        """``region`` became background: its pixels are confirmed and no longer foreground."""
        if self._confirmed is not None:
            self._confirmed[region] = True
        if self._since is not None:
            self._since[region] = np.nan
        if self._empty_since is not None:
            self._empty_since[region] = np.nan

    def find(
        self, frame: FloatImage, background: FloatImage, fg: U8Mask, t: float, components: Components
    ) -> list[int]:
        """The labels of the blobs of ``fg`` (``components``: OpenCV's connected components of it) that are
        ghosts of ``frame`` against ``background``."""
        if self._since is None or self._ghostly is None or self._since.shape != fg.shape:
            self._since = np.full(fg.shape, np.nan, dtype=np.float32)
            self._ghostly = np.full(fg.shape, np.nan, dtype=np.float32)
            self._warm_since = t
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
            if not _ghostly(frame[window], background[window], ring):
                marks[inside] = np.nan
                continue
            marks[inside & np.isnan(marks)] = t
            if t - float(np.nanmax(marks[inside])) >= CONFIRM_SECONDS:
                ghosts.append(label)
                since[window][inside] = np.nan
                marks[inside] = np.nan
        return ghosts
