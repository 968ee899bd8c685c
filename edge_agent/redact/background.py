"""The motion gate: a background model on the low-resolution detection copy.

Why not OpenCV's MOG2: MOG2 learns everything into the background at one rate, so a person who stops walking
fades into the background within seconds and the gate loses them. Here the background is updated *selectively*:
pixels that are foreground, or lie inside a box the tracker still holds, learn ``absorb_seconds`` more slowly than
the rest. A person standing still therefore stays foreground for minutes, while lighting drifts and swaying
leaves in empty areas are still followed at the normal rate. Rates are per second of capture time, so the model
behaves the same at 5 or 30 frames per second.

The model starts from the per-pixel median of the warm-up frames (people walking through the first frames do not
end up in the background as ghosts).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from edge_agent.capture.base import Image
from edge_agent.redact.ghosts import GhostFinder

FloatImage = npt.NDArray[np.float32]
U8Mask = npt.NDArray[np.uint8]
# Given boxes (detection pixels) of still regions the model never had confirmed: for each, True when nobody is
# there (a ghost to learn into the background), False when someone may be.
GhostJudge = Callable[[list[tuple[float, float, float, float]]], list[bool]]

BACKGROUND_SECONDS = 2.0  # time constant of the background where nothing moves
MIN_THRESHOLD = 14.0  # grey levels: below this a difference is camera noise on any sensor
NOISE_SIGMAS = 3.5  # above the per-pixel noise level
NOISE_FLOOR = 4.0  # the noise estimate never drops below this (a perfectly still synthetic scene)
GAIN_SAMPLE_STEP = 3  # every n-th row and column is enough to measure the overall brightness
EDGE_COLUMNS = 2  # columns at the left and right edge where foreground is kept as it is (see _clean)
MIN_WARMUP_FRAMES = 5  # the fewest frames a median of the scene is taken from
STACK_GAP = 0.6  # blobs one above the other closer than this share of the taller one's height are one object
LIGHT_BANDS = 16  # bands of background brightness in which the change of light is measured
LIGHT_LEVELS = (np.arange(LIGHT_BANDS, dtype=np.float64) + 0.5) * (256.0 / LIGHT_BANDS)  # their centres
LIGHT_MIN_SAMPLES = 24  # a band with fewer sampled pixels (or fewer than this share of them) takes its shift
LIGHT_MIN_BAND_SHARE = 0.01  # ... from the curve through the others
LIGHT_FIT_ROUNDS = 3
LIGHT_SPAN = 128  # grey levels either way that a change of light is measured over
LIGHT_BASIS = np.vander(LIGHT_LEVELS, 3)
GREY = np.arange(256, dtype=np.float64)
LIGHT_OUTLIER = 4.0  # grey levels: a band further than this (or three typical residuals) from the curve is dropped
LIGHT_MIN_SHIFT = 1.0  # grey levels: a smaller change of light is left to the running average
JUDGE_EVERY_SECONDS = 0.2  # how often still unconfirmed regions are looked for (see _judge_unconfirmed)
LIGHT_MIN_SHARE = 0.25  # when less than this share of the view is outside held boxes, every pixel is sampled


@dataclass(frozen=True, slots=True)
class Blob:
    """A connected foreground region in detection-image pixels (``x1``/``y1`` exclusive)."""

    x0: int
    y0: int
    x1: int
    y1: int
    area: int


def _tone_shift(background: FloatImage, frame: FloatImage, *, curve: bool = True) -> npt.NDArray[np.float64] | None:
    """How far each level of background brightness has moved in ``frame``, at ``LIGHT_LEVELS`` (grey levels);
    None when nothing moved by ``LIGHT_MIN_SHIFT``.

    The median difference is taken per band of brightness, and a smooth curve (a parabola: auto exposure lifts
    the middle and squeezes the highlights) is fitted through the bands, weighted by how many pixels each holds.
    Bands that disagree with the curve are dropped and the curve fitted again: a band can be dominated by one
    object (the spot where someone stood through the warm-up holds their coat's colour in the model, and the
    ground in the frame), and one object must not shift the whole view.
    """
    if not curve:  # one gain for the whole view (for measuring what the curve does)
        valid = background > 16.0
        if int(valid.sum()) < LIGHT_MIN_SAMPLES:
            return None
        shift = (float(np.median(frame[valid] / background[valid])) - 1.0) * LIGHT_LEVELS
        return shift if float(np.abs(shift).max()) >= LIGHT_MIN_SHIFT else None
    # The median per band from a histogram of the differences (one bincount, no sorting): a grey level apart.
    bands = np.clip((background * (LIGHT_BANDS / 256.0)).astype(np.int32), 0, LIGHT_BANDS - 1)
    steps = np.clip(np.rint(frame - background) + LIGHT_SPAN, 0, 2 * LIGHT_SPAN).astype(np.int32)
    width = 2 * LIGHT_SPAN + 1
    hist = np.bincount(bands * width + steps, minlength=LIGHT_BANDS * width).reshape(LIGHT_BANDS, width)
    counts = hist.sum(axis=1)
    middle = (np.cumsum(hist, axis=1) < (counts[:, None] + 1) / 2).sum(axis=1) - LIGHT_SPAN
    known = counts >= max(LIGHT_MIN_SAMPLES, LIGHT_MIN_BAND_SHARE * len(steps))
    if not known.any():
        return None
    levels, shifts, weights = LIGHT_LEVELS[known], middle[known].astype(np.float64), counts[known].astype(np.float64)
    if float(np.abs(shifts).max()) < LIGHT_MIN_SHIFT:
        return None  # the usual frame: the light has not changed
    keep = np.ones(len(levels), dtype=bool)
    fitted = np.full(LIGHT_BANDS, float(np.median(shifts)))
    basis = np.vander(levels, 3)  # a parabola in the band's level
    for _ in range(LIGHT_FIT_ROUNDS):
        if int(keep.sum()) < 3:
            break
        root = np.sqrt(weights[keep])
        coefficients = np.linalg.lstsq(basis[keep] * root[:, None], shifts[keep] * root, rcond=None)[0]
        residual = np.abs(basis @ coefficients - shifts)
        fitted = LIGHT_BASIS @ coefficients
        spread = float(np.median(residual[keep]))
        keep = residual <= max(LIGHT_OUTLIER, 3.0 * spread)
    # The camera's response is monotonic: a brighter part of the background stays at least as bright.
    mapped = np.maximum.accumulate(LIGHT_LEVELS + fitted)
    shift = np.asarray(mapped - LIGHT_LEVELS, dtype=np.float64)
    return shift if float(np.abs(shift).max()) >= LIGHT_MIN_SHIFT else None


def _alpha(dt: float, tau: float) -> float:
    return 1.0 - math.exp(-max(dt, 1e-3) / tau)


class BackgroundModel:
    """Selective running-average background with a per-pixel noise estimate."""

    def __init__(
        self,
        warmup_frames: int,
        absorb_seconds: float,
        min_blob_fraction: float = 2.5e-4,
        *,
        warmup_seconds: float | None = None,
        tone_curve: bool = True,
    ) -> None:
        self._tone_curve = tone_curve
        self._warmup_frames = warmup_frames
        self._warmup_seconds = warmup_seconds
        self._warm_since = 0.0
        self._absorb_seconds = absorb_seconds
        self._min_blob_fraction = min_blob_fraction
        self._warm: list[Image] = []
        self._bg: FloatImage | None = None
        # The background as it was before anything stood in front of it: learnt only where nothing is.
        self._before: FloatImage | None = None
        self._noise: FloatImage | None = None
        self._ghosts = GhostFinder()
        self._components: tuple[U8Mask, npt.NDArray[np.int32]] | None = None  # the last mask and its blobs
        self._last_t: float | None = None
        self._judged_at: float | None = None

    @property
    def ready(self) -> bool:
        return self._bg is not None

    def reset(self) -> None:
        self._warm.clear()
        self._bg = None
        self._before = None
        self._noise = None
        self._ghosts.reset()
        self._components = None
        self._last_t = None
        self._judged_at = None

    def apply(
        self, image: Image, t: float, hold: U8Mask | None = None, judge: GhostJudge | None = None
    ) -> U8Mask | None:
        """Feed one detection image; return its foreground mask (0/255), or None while warming up.

        ``hold`` marks pixels (255) that must not be learnt at the normal rate, such as held track boxes.
        ``judge`` is asked about still regions over pixels the model never had confirmed (ghosts from the
        warm-up, see :mod:`edge_agent.redact.ghosts`): it returns, for each box, whether nobody is there.
        """
        if self._bg is not None and self._bg.shape[:2] != image.shape[:2]:
            self.reset()
        if self._bg is None:
            if not self._warm:
                self._warm_since = t
            self._warm.append(image.copy())
            self._last_t = t
            if not self._warmed(t):
                return None
            self._start(t)
            return None
        dt = t - (self._last_t if self._last_t is not None else t)
        self._last_t = t
        assert self._noise is not None
        frame = image.astype(np.float32)
        self._follow_light(frame, hold)
        diff = cv2.absdiff(frame, self._bg)
        if diff.ndim == 3:
            b, g, r = cv2.split(diff)
            diff = cv2.max(cv2.max(b, g), r)
        dist = np.asarray(diff, dtype=np.float32)
        threshold = np.maximum(self._noise * NOISE_SIGMAS, MIN_THRESHOLD)
        raw = (dist > threshold).astype(np.uint8) * 255
        self._drop_ghosts(frame, raw, threshold)
        fg = self._clean(raw)
        count, found, found_stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
        labels = np.asarray(found, dtype=np.int32)
        stats = np.asarray(found_stats, dtype=np.int32)
        ghosts = self._ghosts.find(frame, self._bg, fg, t, (count, labels, stats))
        for label in ghosts:
            # A ghost is the scene itself: it becomes the background now, and is no longer foreground.
            gone = labels == label
            self._bg[gone] = frame[gone]
            assert self._before is not None
            self._before[gone] = frame[gone]
            fg[gone] = 0
        learnt = judge is not None and self._judge_unconfirmed(frame, fg, threshold, t, judge)
        # blobs() is usually asked for this very mask next: its components are already known (unless a judged
        # region was just learnt out of it).
        self._components = None if learnt else (fg, np.delete(stats, ghosts, axis=0) if ghosts else stats)
        self._learn(image, dist, fg, hold, dt)
        return fg

    def _judge_unconfirmed(
        self, frame: FloatImage, fg: U8Mask, threshold: FloatImage, t: float, judge: GhostJudge
    ) -> bool:
        """Learn the still unconfirmed regions the judge has long found nobody in; True if any was learnt. (At most
        every ``JUDGE_EVERY_SECONDS``: a region must be found empty for much longer than that anyway.)"""
        if self._judged_at is not None and 0.0 <= t - self._judged_at < JUDGE_EVERY_SECONDS:
            return False
        self._judged_at = t
        assert self._bg is not None
        regions = self._ghosts.unconfirmed(frame, self._bg, fg, threshold, t)
        verdicts = judge([box for box, _ in regions]) if regions else []
        gone = self._ghosts.judged([region for _, region in regions], verdicts, t)
        if gone is None:
            return False
        assert self._bg is not None and self._before is not None
        self._bg[gone] = frame[gone]
        self._before[gone] = frame[gone]
        fg[gone] = 0
        self._ghosts.learnt(gone)
        return True

    def _warmed(self, t: float) -> bool:
        """Enough warm-up frames for the median: ``warmup_frames``, or at least ``MIN_WARMUP_FRAMES`` once they
        span ``warmup_seconds`` (at 5 frames a second, 15 frames would mask everything for 3 s)."""
        count = len(self._warm)
        if count >= self._warmup_frames:
            return True
        spanned = self._warmup_seconds is not None and t - self._warm_since >= self._warmup_seconds
        return spanned and count >= MIN_WARMUP_FRAMES

    def _drop_ghosts(self, frame: FloatImage, raw: U8Mask, threshold: FloatImage) -> None:
        """Foreground where the frame shows again what was there before anything stood in front of it is a
        ghost: someone stood still long enough to be partly learnt, and has left. Those pixels go back to the
        background from before, instead of staying foreground (masked) for minutes. A person still standing
        there differs from that earlier background, so stays foreground."""
        assert self._bg is not None and self._before is not None
        if not raw.any():
            return
        diff = cv2.absdiff(frame, self._before)
        if diff.ndim == 3:
            b, g, r = cv2.split(diff)
            diff = cv2.max(cv2.max(b, g), r)
        ghost = (raw > 0) & (np.asarray(diff, dtype=np.float32) <= threshold)
        if ghost.any():
            raw[ghost] = 0
            self._bg[ghost] = self._before[ghost]

    def _follow_light(self, frame: FloatImage, hold: U8Mask | None) -> None:
        """Map the whole background through the change of the camera's tone curve (clouds, auto exposure).

        Without this, a change of light turns large areas into foreground, and the selective update would then
        keep them so for minutes. Auto exposure is not a plain gain: when a dark coat fills part of the view the
        camera lifts dark and bright areas by similar amounts of grey, so dark floors change by a third while a
        white wall changes by a few percent. The change is measured per channel and per band of background
        brightness (the median difference of the frame from the background in each band) over pixels outside
        held boxes, so people do not bias it; where boxes hold most of the view, over every pixel (a median is
        not moved by anything covering less than half). A mapping from background level to frame level is the
        same everywhere in the view, so it cannot erase a person standing on a background of another colour.
        """
        assert self._bg is not None and self._before is not None
        step = GAIN_SAMPLE_STEP
        channels = frame.shape[2] if frame.ndim == 3 else 1
        f = frame[::step, ::step].reshape(-1, channels)
        b = self._bg[::step, ::step].reshape(-1, channels)
        if hold is not None:
            valid = hold[::step, ::step].reshape(-1) == 0
            if int(valid.sum()) >= LIGHT_MIN_SHARE * len(valid):
                f, b = f[valid], b[valid]
        # Channel-major copies: each channel's samples contiguous.
        fc, bc = np.ascontiguousarray(f.T), np.ascontiguousarray(b.T)
        curves = [_tone_shift(bc[c], fc[c], curve=self._tone_curve) for c in range(channels)]
        if all(curve is None for curve in curves):
            return
        # One table per channel of the shift at each whole grey level, looked up by the model's own levels.
        zero = np.zeros(LIGHT_BANDS)
        table = np.stack([np.interp(GREY, LIGHT_LEVELS, zero if c is None else c) for c in curves], axis=-1)
        lut = table.astype(np.float32).reshape(256, 1, channels)
        for image in (self._bg, self._before):
            levels = np.asarray(cv2.convertScaleAbs(image), dtype=np.uint8)
            shift = np.asarray(cv2.LUT(levels, lut), dtype=np.float32).reshape(image.shape)
            cv2.add(image, shift, dst=image)
            np.clip(image, 0.0, 255.0, out=image)  # a model never holds a level no camera can give

    def _start(self, t: float) -> None:
        stack = np.stack(self._warm)
        middle = len(self._warm) // 2
        median = np.partition(stack, middle, axis=0)[middle].astype(np.float32)
        # The noise starts at the floor and is learnt from the quiet pixels as frames come in; starting low errs
        # on the side of more foreground, which is the safe side.
        self._noise = np.full(median.shape[:2], NOISE_FLOOR * 2, dtype=np.float32)
        self._bg = median
        self._before = median.copy()
        self._warm.clear()
        self._last_t = t

    def _clean(self, raw: U8Mask) -> U8Mask:
        h, w = raw.shape
        unit = max(1, round(min(h, w) / 90))
        opened = cv2.morphologyEx(raw, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
        # Someone stepping into the frame shows first as a sliver one or two pixels wide at the left or right
        # edge, which the opening would erase: keep the raw foreground there.
        for edge in (slice(0, EDGE_COLUMNS), slice(-EDGE_COLUMNS, None)):
            opened[:, edge] = np.maximum(opened[:, edge], raw[:, edge])
        # A tall closing joins a head, a torso and legs that differ from the background by different amounts.
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * unit + 1, 4 * unit + 1))
        return np.asarray(cv2.morphologyEx(opened, cv2.MORPH_CLOSE, kernel), dtype=np.uint8)

    def _learn(self, image: Image, dist: FloatImage, fg: U8Mask, hold: U8Mask | None, dt: float) -> None:
        assert self._bg is not None and self._noise is not None
        grown = cv2.dilate(fg, np.ones((5, 5), np.uint8))
        busy = grown if hold is None else cv2.bitwise_or(grown, hold)
        quiet = cv2.bitwise_not(busy)
        # The model is confirmed where the frame matched it with nothing in front: not foreground, nor near it,
        # nor in a box the tracker holds. (Right after the warm-up, someone the median holds may still be
        # standing where it holds them: matching, but not confirming anything.)
        self._ghosts.confirm(quiet > 0)
        frame = image.astype(np.float32)
        a_bg = _alpha(dt, BACKGROUND_SECONDS)
        a_fg = _alpha(dt, self._absorb_seconds)
        cv2.accumulateWeighted(frame, self._bg, a_bg, mask=quiet)
        cv2.accumulateWeighted(frame, self._bg, a_fg, mask=busy)
        assert self._before is not None
        cv2.accumulateWeighted(frame, self._before, a_bg, mask=quiet)
        cv2.accumulateWeighted(np.minimum(dist, 4 * MIN_THRESHOLD), self._noise, a_bg, mask=quiet)
        np.maximum(self._noise, NOISE_FLOOR, out=self._noise)

    def blobs(self, fg: U8Mask, fits: Callable[[Blob], bool] | None = None) -> list[Blob]:
        """The foreground's blobs, stacked parts joined where the joined blob ``fits`` (one person's size)."""
        h, w = fg.shape
        if self._components is not None and self._components[0] is fg:
            stats = self._components[1]
        else:
            stats = np.asarray(cv2.connectedComponentsWithStats(fg, connectivity=8)[2], dtype=np.int32)
        found = [Blob(int(x), int(y), int(x + bw), int(y + bh), int(a)) for x, y, bw, bh, a in stats[1:]]
        found = merge_stacked(found, fits)
        min_area = max(4, round(self._min_blob_fraction * h * w))
        return [b for b in found if b.area >= min_area]


def _stacked(a: Blob, b: Blob) -> bool:
    """True when ``a`` and ``b`` look like parts of one upright object split by something in front of it."""
    overlap = min(a.x1, b.x1) - max(a.x0, b.x0)
    if overlap < 0.5 * min(a.x1 - a.x0, b.x1 - b.x0):
        return False
    gap = max(a.y0, b.y0) - min(a.y1, b.y1)
    return gap < STACK_GAP * max(a.y1 - a.y0, b.y1 - b.y0)


def merge_stacked(blobs: list[Blob], fits: Callable[[Blob], bool] | None = None) -> list[Blob]:
    """Join blobs stacked on top of each other: a sign, a pole or a railing cuts a person into a head part
    and a legs part, and the head part alone is easy to lose. ``fits`` rejects a join too tall to be one
    person (a near person below a far one), which would make one box over both and the grass between."""
    merged = list(blobs)
    changed = True
    while changed:
        changed = False
        for i in range(len(merged)):
            for j in range(i + 1, len(merged)):
                a, b = merged[i], merged[j]
                joined = Blob(min(a.x0, b.x0), min(a.y0, b.y0), max(a.x1, b.x1), max(a.y1, b.y1), a.area + b.area)
                if _stacked(a, b) and (fits is None or fits(joined)):
                    merged[i] = joined
                    del merged[j]
                    changed = True
                    break
            if changed:
                break
    return merged
