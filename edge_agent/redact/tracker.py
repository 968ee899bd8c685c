"""A small box tracker that errs on the side of masking.

Each track keeps masking its person for ``hold_seconds`` after the last detection that supported it; while held,
its box also stretches along the last seen velocity, so someone who walks behind a post or stops being detected
is still covered where they are most likely to be. A track also remembers the size it has had recently, so a
person whose torso briefly matches the background (only the legs move) keeps a full-height box.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in detection-image pixels

SIZE_MEMORY = 0.8  # share of the recent size a track keeps when its detection shrinks
WIDTH_MEMORY = 0.8  # the same for the width (a person's width flickers with each step)
MAX_SPEED_BOXES = 1.0  # a held box stretches by at most this many box widths per second
EDGE = 1.0  # detection pixels from the left or right edge where a track counts as at the edge
MIN_HOLD_SECONDS = 0.5  # a track seen for less than the hold time is held for as long as it was seen, at least this


def _intersection(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return ix * iy


def iou(a: Box, b: Box) -> float:
    inter = _intersection(a, b)
    if inter <= 0.0:
        return 0.0
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def union_box(a: Box, b: Box) -> Box:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def pad_box(box: Box, left_right: float, top: float, bottom: float) -> Box:
    w = box[2] - box[0]
    h = box[3] - box[1]
    return (box[0] - w * left_right, box[1] - h * top, box[2] + w * left_right, box[3] + h * bottom)


@dataclass(slots=True)
class Track:
    box: Box
    last_seen: float
    first_seen: float = -1.0
    vx: float = 0.0
    vy: float = 0.0
    width: float = field(default=0.0)
    height: float = field(default=0.0)
    seen: Box = field(default=(0.0, 0.0, 0.0, 0.0))  # the last detection itself, before sizes were restored
    origin: Box = field(default=(0.0, 0.0, 0.0, 0.0))  # the first detection

    def __post_init__(self) -> None:
        self.seen = self.origin = self.box
        if self.first_seen < 0:
            self.first_seen = self.last_seen
        self.width = self.box[2] - self.box[0]
        self.height = self.box[3] - self.box[1]

    def update(self, detected: Box, t: float) -> None:
        dt = max(t - self.last_seen, 1e-3)
        cx, cy = (detected[0] + detected[2]) / 2, (detected[1] + detected[3]) / 2
        ox, oy = (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2
        self.vx = 0.5 * self.vx + 0.5 * (cx - ox) / dt
        self.vy = 0.5 * self.vy + 0.5 * (cy - oy) / dt
        w, h = detected[2] - detected[0], detected[3] - detected[1]
        # Keep most of the recent height: a shorter detection is more often a partial one (a torso that matches
        # the background) than a shrinking person. The width follows the detection, so that a box that covered
        # a passing group does not stay group-sized around the one person it follows afterwards.
        self.width = max(w, WIDTH_MEMORY * self.width + (1 - WIDTH_MEMORY) * w)
        self.height = max(h, SIZE_MEMORY * self.height + (1 - SIZE_MEMORY) * h)
        # Keep the bottom (feet) and the horizontal centre; a lost head or torso is restored upwards.
        self.box = (cx - self.width / 2, detected[3] - self.height, cx + self.width / 2, detected[3])
        self.box = union_box(self.box, detected)
        self.seen = detected
        self.last_seen = t

    @property
    def moved(self) -> bool:
        """True once the track has moved by half its width or more since it was first seen: someone who walked."""
        cx, ox = (self.box[0] + self.box[2]) / 2, (self.origin[0] + self.origin[2]) / 2
        cy, oy = (self.box[1] + self.box[3]) / 2, (self.origin[1] + self.origin[3]) / 2
        return max(abs(cx - ox), abs(cy - oy)) >= 0.5 * max(1.0, self.width)

    def extent(self, t: float) -> Box:
        """The box to mask at time ``t``: the last box, stretched along the velocity while the track is held."""
        age = t - self.last_seen
        if age <= 0:
            return self.box
        w = self.box[2] - self.box[0]
        limit = MAX_SPEED_BOXES * w * age
        dx = max(-limit, min(limit, self.vx * age))
        dy = max(-limit, min(limit, self.vy * age))
        moved = (self.box[0] + dx, self.box[1] + dy, self.box[2] + dx, self.box[3] + dy)
        return union_box(self.box, moved)


def _leaving(track: Track, width: float, height: float) -> bool:
    """True when the track was last seen at the left, right or bottom edge, moving out: whoever it followed has
    left the view, and coming back in they are new motion at the edge, found again at once."""
    x0, _, x1, y1 = track.box
    return (
        (x0 <= EDGE and track.vx < 0) or (x1 >= width - EDGE and track.vx > 0) or (y1 >= height - EDGE and track.vy > 0)
    )


SPLIT_INSIDE = 0.6  # a detection this much inside a held box is one of the people that box followed
ABSORBED_INSIDE = 0.7  # a held box this much inside a detection is someone that detection covers


def inside(inner: Box, outer: Box) -> float:
    """The share of ``inner``'s area that lies in ``outer``."""
    area = (inner[2] - inner[0]) * (inner[3] - inner[1])
    return _intersection(inner, outer) / area if area > 0 else 0.0


def centre_inside(box: Box, other: Box) -> bool:
    """True when the centre of ``box`` lies in ``other``."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return other[0] <= cx <= other[2] and other[1] <= cy <= other[3]


def _split(box: Box, detections: Sequence[Box]) -> bool:
    """True when two or more detections lie inside a held box: it followed a group that has come apart."""
    return sum(1 for d in detections if inside(d, box) >= SPLIT_INSIDE) >= 2


def _absorbed(box: Box, detections: Sequence[Box]) -> bool:
    """True when a held box lies inside a detection: its person walks in a group that one blob covers."""
    return any(inside(box, d) >= ABSORBED_INSIDE for d in detections)


class Tracker:
    """Associates detections with tracks by overlap; unmatched tracks are held, then dropped."""

    def __init__(self, hold_seconds: float, min_hold_seconds: float = MIN_HOLD_SECONDS) -> None:
        self.hold_seconds = hold_seconds
        self.min_hold_seconds = min_hold_seconds
        self.tracks: list[Track] = []

    def reset(self) -> None:
        self.tracks.clear()

    def _hold(self, track: Track, size: tuple[float, float] | None) -> float:
        # A flicker seen once is not held for seconds; anything seen for a while is held the full time.
        if size is not None and _leaving(track, *size):
            return self.min_hold_seconds
        return max(self.min_hold_seconds, min(self.hold_seconds, track.last_seen - track.first_seen))

    @staticmethod
    def _keep_held(track: Track, detections: Sequence[Box], t: float) -> bool:
        """Whether a track with no detection this frame is still worth holding.

        Unmatched, a track is held and stretched along its velocity, which is right for one person lost behind
        a post and wrong for a box that followed a group: once the group comes apart, each member is a
        detection of its own (all of them matched to other tracks, or this track would have one), and the
        group box, stretching by its own width a second, would cover the grass around them for seconds. It is
        dropped. A held box inside another detection is someone walking in a group that one blob covers: it
        is kept, but stops stretching.
        """
        if _split(track.extent(t), detections):
            return False
        if _absorbed(track.box, detections):
            track.vx = track.vy = 0.0
        return True

    def update(self, detections: Sequence[Box], t: float, size: tuple[float, float] | None = None) -> list[Box]:
        """Feed this frame's detections; return the boxes to mask now. ``size`` is the image's width and
        height, which lets a track that walked out at the left, right or bottom edge go early."""
        # Greedy one-to-one matching, best overlap first: merging several detections into one track would grow
        # a box over a whole group of people and keep it that size.
        pairs = sorted(
            (
                (score, d, i)
                for d, det in enumerate(detections)
                for i, track in enumerate(self.tracks)
                if (score := iou(det, track.extent(t))) > 0.0
            ),
            reverse=True,
        )
        used_d: set[int] = set()
        used_t: set[int] = set()
        for _, d, i in pairs:
            if d in used_d or i in used_t:
                continue
            used_d.add(d)
            used_t.add(i)
            self.tracks[i].update(detections[d], t)
        fresh = [det for d, det in enumerate(detections) if d not in used_d]
        kept = []
        for i, tr in enumerate(self.tracks):
            if i not in used_t and not self._keep_held(tr, detections, t):
                continue
            if t - tr.last_seen <= self._hold(tr, size):
                kept.append(tr)
        self.tracks = kept
        self.tracks.extend(Track(det, t) for det in fresh)
        return [tr.extent(t) for tr in self.tracks]
