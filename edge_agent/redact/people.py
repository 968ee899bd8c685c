"""Passers-by: what must be masked beyond the static zones, found on the low-resolution detection copy.

Three detectors feed one mask, each favouring recall:
- the motion gate (:mod:`edge_agent.redact.background`): every moving blob, whatever it is;
- tracks (:mod:`edge_agent.redact.tracker`) that hold and pad those blobs, so a person who stops is still masked;
- a face detector (:mod:`edge_agent.redact.faces`) for faces the motion gate cannot see or that are in own zones,
  on the detection copy and, tile by tile, on the full-resolution frame (:mod:`edge_agent.redact.sweep`). A face
  stands for a whole person: the body below it is masked as well.

Zone policy: in public zones every tracked box and face is masked; in own zones faces and the head part of
tracked boxes are masked unless the profile lets people there stay visible; neighbour zones are the
redactor's (solid, always).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import cv2
import numpy as np

from edge_agent.capture.base import Image
from edge_agent.config.models import RedactionSettings
from edge_agent.redact.background import BackgroundModel, Blob, U8Mask
from edge_agent.redact.faces import FaceDetector
from edge_agent.redact.masking import SOLID, Cover, PixelBox, shrink, subject_block
from edge_agent.redact.persons import PersonDetector
from edge_agent.redact.personwatch import PersonWatch
from edge_agent.redact.perspective import HeightPrior
from edge_agent.redact.redactor import ALL_PARTS, Parts, PeopleMask, detect_size
from edge_agent.redact.sweep import FaceSweep
from edge_agent.redact.tracker import Box, Tracker, centre_inside, pad_box, union_box
from edge_agent.redact.zones import Mask, ZoneMasks

log = logging.getLogger(__name__)

FACE_PADDING = 0.35  # faces: hair, ears and a jittery box
HEAD_SHARE = 0.35  # in own zones, the top share of a person's box that is masked as the head
TOP_EXTRA = 0.05  # extra padding above a person's box: the head is what identifies
EDGE_PIXELS = 1.5  # detection pixels added on every side (see _pad_body)
PERSON_WIDE = 0.6  # of a box's height: the widest one standing person is (wider boxes hold several side by side)
# A person below a face, in face boxes (brow to chin): about ten tall, and 3.5 wide with the arms.
BODY_HEIGHT_FACES = 10.0
BODY_HALF_WIDTH_FACES = 1.75
HEAD_BAND_SHARE = 0.3  # the top share of a person's box that is widened (see _head_band)
HEAD_BAND_GROW = 0.15  # by this share of the box's width on each side
HEAD_BAND_WIDEST = 0.5  # ... of at most one person's width (this share of the height): a group's head band is not wider
HEAD_MIN_WIDTH = 0.6  # ... and at least this share of the expected height of a person standing there wide
EDGE_GROW = 0.6  # a box at the frame's side edge grows by this share of its height up and down (see _at_edge)
EDGE_WIDTH_SHARE = 0.3  # ... when it is narrower than this share of its height (a fragment of someone)
WHOLE_HEIGHT = 0.8  # ... but not up when it is this share of a whole person's expected height already
STACK_TALLEST = 1.3  # parts joined into one person are at most this many expected heights tall
PERSON_VIEW = (640, 360)  # the largest copy of the frame the person detector is given
SWEEP_MIN_SCALE = 1.5  # the sweep runs when the frame is at least this much larger than the detection copy
SWEEP_HOLD_ROUNDS = 2.5  # a face found by the sweep is held this many sweep rounds (it is looked at once a round)
# How large the face of a person in a box may be: a fifth of a whole standing person's height, and up to 45 % of
# the box's width where the box is a close person cut by the frame (head and shoulders), at most half its height.
FACE_OF_HEIGHT = 0.2
FACE_OF_WIDTH = 0.45
FACE_OF_HEIGHT_MOST = 0.5


def _body_of_face(face: Box) -> Box:
    """The person a face belongs to, standing below it (cut by the frame's edge when they are close)."""
    x0, y0, x1, y1 = face
    cx, fw, fh = (x0 + x1) / 2, x1 - x0, y1 - y0
    return (cx - BODY_HALF_WIDTH_FACES * fw, y0, cx + BODY_HALF_WIDTH_FACES * fw, y0 + BODY_HEIGHT_FACES * fh)


def _head_band(box: Box, expected_height: float | None = None) -> Box:
    """The top of a padded person box, widened: the head is what identifies, and a detection that lost an arm,
    a bag or the half of someone behind a post is narrower than the person, most harmfully at the head. Where
    the perspective prior knows how tall a person standing there is, the band is at least as wide as one."""
    x0, y0, x1, y1 = box
    grow = HEAD_BAND_GROW * min(x1 - x0, HEAD_BAND_WIDEST * (y1 - y0))
    if expected_height is not None:
        grow = max(grow, (HEAD_MIN_WIDTH * expected_height - (x1 - x0)) / 2)
    return (x0 - grow, y0, x1 + grow, y0 + HEAD_BAND_SHARE * (y1 - y0))


def _pad_body(box: Box, pad: float) -> Box:
    """The box grown by ``pad`` of one person's size: left and right by ``pad`` of its width, but of no more
    than one person's width (``PERSON_WIDE`` of its height) when it holds a group side by side; more above (the
    head), less below."""
    w, h = box[2] - box[0], box[3] - box[1]
    side = pad * min(w, PERSON_WIDE * h) if h > 0 else pad * w
    x0, y0, x1, y1 = box[0] - side, box[1] - h * (pad + TOP_EXTRA), box[2] + side, box[3] + h * pad / 2
    # One detection pixel more on every side: the foreground's edge is blurred by the shrink to the detection
    # size and eaten by the opening that removes noise, and a person's outline is worth more than a pixel.
    return (x0 - EDGE_PIXELS, y0 - EDGE_PIXELS, x1 + EDGE_PIXELS, y1 + EDGE_PIXELS)


def _at_edge(box: Box, width: int, expected: float | None = None) -> Box:
    """Someone stepping in or out at the left or right edge is partly out of view, and the first detection of
    them is often a fragment (a torso or legs a few pixels wide): their box's size says little about them.
    Such a box is grown to a person's width inward from the edge, and up and down by part of its height; not up
    where the perspective prior (``expected``: how tall a person standing there is) shows it already reaches a
    whole person's height above its bottom: at a doorbell's height the sliver of someone stepping in is as tall
    as they are, and growing it up masked the wall above everyone who stepped in. (Its bottom may not be their
    feet, a torso without legs, so it still grows down.)"""
    x0, y0, x1, y1 = box
    h = y1 - y0
    inward = EDGE_WIDTH_SHARE * h - (x1 - x0)
    if (x0 > 1.0 and x1 < width - 1.0) or inward <= 0:
        return box
    if x0 <= 1.0:
        x1 += inward
    else:
        x0 -= inward
    up = 0.0 if expected is not None and h >= WHOLE_HEIGHT * expected else EDGE_GROW * h
    return (x0, y0 - up, x1, y1 + EDGE_GROW * h)


def _person_view(image: Image, small: Image) -> tuple[Image, float]:
    """The frame for the person detector, at most ``PERSON_VIEW`` (it needs more than the detection copy to see
    people in its two columns), and the factor from its pixels to the detection copy's."""
    height, width = image.shape[:2]
    size = detect_size(width, height, *PERSON_VIEW)
    view = image if size == (width, height) else shrink(image, *size)
    return view, small.shape[1] / view.shape[1]


def face_size_of(box: Box) -> float:
    """The largest face a person box may hold, in the box's pixels (see ``FACE_OF_*``)."""
    w, h = box[2] - box[0], box[3] - box[1]
    return max(FACE_OF_HEIGHT * h, min(FACE_OF_WIDTH * w, FACE_OF_HEIGHT_MOST * h))


def _pixels(box: Box, sx: float, sy: float) -> PixelBox:
    return (math.floor(box[0] * sx), math.floor(box[1] * sy), math.ceil(box[2] * sx), math.ceil(box[3] * sy))


def _raster(boxes: Sequence[Box], sx: float, sy: float, width: int, height: int) -> U8Mask:
    canvas = np.zeros((height, width), dtype=np.uint8)
    for x0, y0, x1, y1 in boxes:
        p0 = (max(0, math.floor(x0 * sx)), max(0, math.floor(y0 * sy)))
        p1 = (min(width, math.ceil(x1 * sx)) - 1, min(height, math.ceil(y1 * sy)) - 1)
        if p1[0] >= p0[0] and p1[1] >= p0[1]:
            cv2.rectangle(canvas, p0, p1, 255, thickness=-1)
    return canvas


class PassersBy:
    """The :class:`~edge_agent.redact.redactor.PeopleMasker` built from motion, tracks and faces."""

    def __init__(
        self,
        settings: RedactionSettings,
        faces: FaceDetector | None,
        *,
        motion: bool = True,
        parts: Parts = ALL_PARTS,
        persons: PersonDetector | None = None,
        persons_in_background: bool = False,
    ) -> None:
        self._settings = settings
        self._faces = faces
        self._motion = motion
        self._watch = None
        if persons is not None:
            self._watch = PersonWatch(
                persons,
                settings.person_every_seconds,
                mask_score=settings.person_score,
                background=persons_in_background,
            )
        self._background = BackgroundModel(
            settings.warmup_frames,
            settings.absorb_seconds,
            warmup_seconds=settings.warmup_seconds,
            tone_curve=parts.tone_curve,
        )
        self._people = Tracker(settings.track_hold_seconds)
        self._face_tracks = Tracker(settings.track_hold_seconds)
        self._sweep = FaceSweep(faces) if faces is not None else None
        self._swept = Tracker(settings.track_hold_seconds, settings.track_hold_seconds)
        self._frame_seconds = 0.0  # running mean of the time between frames, to hold swept faces long enough
        self._last_t: float | None = None
        self._swept_once = False
        # A tile costs about two regular detections: one every so many frames keeps the mean cost per frame low.
        self._sweep_every = max(12, 6 * settings.detect_every)
        self._heights = HeightPrior()
        self._held: list[Box] = []
        self._lifted: list[Box] = []  # the seen part of raised boxes, at full height (see _track_motion)
        self._count = 0

    def reset(self) -> None:
        """Forget the scene: the background model warms up again (used when the view is re-confirmed)."""
        self._background.reset()
        self._people.reset()
        self._face_tracks.reset()
        self._heights.reset()
        self._swept.reset()
        self._frame_seconds = 0.0
        self._last_t = None
        self._swept_once = False
        if self._watch is not None:
            self._watch.reset()
        self._held = []
        self._lifted = []
        self._count = 0

    def mask(self, image: Image, zones: ZoneMasks, captured_at: float, detect_image: Image) -> PeopleMask:
        reasons: tuple[str, ...] = ()
        small = detect_image
        people: list[Box] = []
        if self._motion:
            warm = self._track_motion(small, captured_at)
            if not warm:
                reasons = ("warmup",)
            people = self._held
        if self._watch is not None and not reasons:
            # Everyone the motion gate cannot see: looked for on the first frame after the warm-up (which lasts
            # until that look has come back), then on a schedule.
            people = [*people, *self._watch.update(lambda: _person_view(image, small), captured_at, self._held)]
            if not self._watch.ready:
                reasons = ("warmup",)
        faces: list[Box] = []
        if self._faces is not None:
            found: Sequence[Box] = ()
            if self._count % self._settings.detect_every == 0:
                found = self._faces.detect(small)
            faces = self._face_tracks.update(found, captured_at)
            faces += self._sweep_faces(image, small, captured_at, ready=not reasons)
        self._count += 1
        mask, covers = self._compose(small, zones, size=(image.shape[1], image.shape[0]), people=people, faces=faces)
        return PeopleMask(mask, reasons, covers)

    def _sweep_faces(self, image: Image, small: Image, t: float, *, ready: bool) -> list[Box]:
        """Faces from the full-resolution sweep, in detection-image pixels.

        The whole frame is swept on the first frame after the warm-up, before its mask is made, so the first
        frame shown already covers whoever stood still through the warm-up (the sweep's time usually makes that
        one frame over budget, which masks it wide as well). After that one tile every ``6 * detect_every``
        frames (at least 12), never on a frame of the regular face detector.
        """
        if self._sweep is None or image.shape[1] < SWEEP_MIN_SCALE * small.shape[1]:
            return []
        size = (small.shape[1], small.shape[0])
        found: list[Box] = []
        self._hold_for_rounds(image, size, t)
        if ready and not self._swept_once:
            found = self._sweep.full(image, size)
            self._swept_once = True
        elif self._swept_once and self._count % self._sweep_every == 1:
            found = self._sweep.step(image, size)
        scale = small.shape[1] / image.shape[1]
        detections = [(b[0] * scale, b[1] * scale, b[2] * scale, b[3] * scale) for b in found]
        # The sweep is for people the motion gate cannot see. A face on someone it tracks is covered by that
        # track, which follows them; held for rounds where it was found, it would mask the empty spot they
        # walked away from for half a minute (at a doorbell's range the sweep finds every passer-by's face).
        detections = [d for d in detections if not any(centre_inside(d, box) for box in self._held)]
        return self._swept.update(detections, t)

    def _hold_for_rounds(self, image: Image, size: tuple[int, int], t: float) -> None:
        # A swept face is looked at again only a round later: hold it for longer than a round, in seconds of
        # capture time whatever the frame rate.
        assert self._sweep is not None
        if self._last_t is not None and t > self._last_t:
            dt = t - self._last_t
            self._frame_seconds = dt if self._frame_seconds == 0.0 else 0.9 * self._frame_seconds + 0.1 * dt
        self._last_t = t
        per_round = self._sweep.tiles(image, size) * self._sweep_every * self._frame_seconds
        hold = max(self._settings.track_hold_seconds, SWEEP_HOLD_ROUNDS * per_round)
        self._swept.hold_seconds = self._swept.min_hold_seconds = hold

    def _one_person(self, blob: Blob) -> bool:
        expected = self._heights.expected(blob.y1)
        return expected is None or blob.y1 - blob.y0 <= STACK_TALLEST * expected

    def _track_motion(self, small: Image, t: float) -> bool:
        """Update the motion gate and the person tracks; False while the background model warms up."""
        hold = None
        if self._held:
            h, w = small.shape[:2]
            hold = _raster(self._held, 1.0, 1.0, w, h)
        judge = None
        if self._watch is not None:
            watch, faces = self._watch, [track.box for track in self._face_tracks.tracks]
            walkers = [track.box for track in self._people.tracks if track.moved]
            judge = lambda regions: watch.judge(t, regions, faces, walkers)  # noqa: E731
        fg = self._background.apply(small, t, hold, judge)
        if fg is None:
            return False
        boxes: list[Box] = [(b.x0, b.y0, b.x1, b.y1) for b in self._background.blobs(fg, self._one_person)]
        for box in boxes:
            self._heights.observe(box, small.shape[0])
        width = small.shape[1]
        held = self._people.update(boxes, t, (width, small.shape[0]))
        restored = [self._heights.restore(box, small.shape[0]) for box in held]  # in the order of self._people.tracks
        self._held = [_at_edge(box, width, self._heights.expected(box[3])) for box in restored]
        # A box raised above what was seen (by the track's memory of the person's height or by the prior) may
        # have lost its legs (behind a sign, a car) rather than its head: the head can be at the top of what was
        # seen as well as at the top of the raised box. Both get a head band.
        self._lifted = [
            (seen[0], seen[1], seen[2], seen[1] + (full[3] - full[1]))
            for track, full in zip(self._people.tracks, restored, strict=True)
            if track.last_seen == t and full[1] < (seen := track.seen)[1] - 1.0
        ]
        return True

    def _compose(
        self, small: Image, zones: ZoneMasks, *, size: tuple[int, int], people: Sequence[Box], faces: Sequence[Box]
    ) -> tuple[Mask, tuple[Cover, ...]]:
        """The mask at frame size, and the covers that size its blocks by the face each subject may hold."""
        pad = self._settings.box_padding
        width, height = size
        sx, sy = width / small.shape[1], height / small.shape[0]
        # (padded box, size of the face it may hold) in detection pixels: tracked people, then people below faces.
        subjects = [(_pad_body(b, pad), face_size_of(b)) for b in [*people, *self._lifted]]
        subjects += [(_pad_body(_body_of_face(f), pad), max(f[2] - f[0], f[3] - f[1])) for f in faces]
        bodies = [body for body, _ in subjects]
        bands = [_head_band(body, self._heights.expected(body[3])) for body in bodies]
        face_boxes = [pad_box(b, FACE_PADDING, FACE_PADDING, FACE_PADDING) for b in faces]
        # The seen part of a raised box only adds its head band (the raised box itself is among the people).
        shown = [*bodies[: len(people)], *bodies[len(people) + len(self._lifted) :], *bands]
        public = _raster([*shown, *face_boxes], sx, sy, width, height)
        mask = np.asarray(cv2.bitwise_and(public, zones.public_u8), dtype=np.uint8)
        if not self._settings.own_zone_people_visible and zones.has_own:
            heads = [(b[0], b[1], b[2], b[1] + (b[3] - b[1]) * HEAD_SHARE) for b in shown]
            own = _raster([*heads, *face_boxes], sx, sy, width, height)
            mask |= np.asarray(cv2.bitwise_and(own, zones.own_u8), dtype=np.uint8)
        covers: list[Cover] = []
        for (body, face_size), band in zip(subjects, bands, strict=True):
            # One cover over the body and its head band: it only sizes the blocks of pixels already masked.
            covers.append(Cover(_pixels(union_box(body, band), sx, sy), subject_block(face_size * sx, 0)))
        for face, box in zip(faces, face_boxes, strict=True):
            covers.append(Cover(_pixels(box, sx, sy), subject_block(max(face[2] - face[0], face[3] - face[1]) * sx, 0)))
        if self._settings.face_method == "solid":
            covers += [Cover(_pixels(box, sx, sy), SOLID) for box in [*face_boxes, *bands]]
        return mask.astype(bool), tuple(covers)
