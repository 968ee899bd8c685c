"""Passers-by: what must be masked beyond the static zones, found on the low-resolution detection copy.

Three detectors feed one mask, each favouring recall:
- the motion gate (:mod:`edge_agent.redact.background`): every moving blob, whatever it is;
- tracks (:mod:`edge_agent.redact.tracker`) that hold and pad those blobs, so a person who stops is still masked;
- a face detector (:mod:`edge_agent.redact.faces`) for faces the motion gate cannot see or that are in own zones.

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
from edge_agent.redact.background import BackgroundModel, U8Mask
from edge_agent.redact.faces import FaceDetector
from edge_agent.redact.perspective import HeightPrior
from edge_agent.redact.tracker import Box, Tracker, pad_box
from edge_agent.redact.zones import Mask, ZoneMasks

log = logging.getLogger(__name__)

FACE_PADDING = 0.35  # faces: hair, ears and a jittery box
HEAD_SHARE = 0.35  # in own zones, the top share of a person's box that is masked as the head
TOP_EXTRA = 0.05  # extra padding above a person's box: the head is what identifies
EDGE_PIXELS = 1.0  # detection pixels added on every side (see _pad_body)


def _pad_body(box: Box, pad: float) -> Box:
    # One detection pixel more on every side: the foreground's edge is blurred by the shrink to the detection
    # size and eaten by the opening that removes noise, and a person's outline is worth more than a pixel.
    x0, y0, x1, y1 = pad_box(box, pad, pad + TOP_EXTRA, pad / 2)
    return (x0 - EDGE_PIXELS, y0 - EDGE_PIXELS, x1 + EDGE_PIXELS, y1 + EDGE_PIXELS)


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
    ) -> None:
        self._settings = settings
        self._faces = faces
        self._motion = motion
        self._background = BackgroundModel(settings.warmup_frames, settings.absorb_seconds)
        self._people = Tracker(settings.track_hold_seconds)
        self._face_tracks = Tracker(settings.track_hold_seconds)
        self._heights = HeightPrior()
        self._held: list[Box] = []
        self._count = 0

    def reset(self) -> None:
        """Forget the scene: the background model warms up again (used when the view is re-confirmed)."""
        self._background.reset()
        self._people.reset()
        self._face_tracks.reset()
        self._heights.reset()
        self._held = []
        self._count = 0

    def mask(
        self, image: Image, zones: ZoneMasks, captured_at: float, detect_image: Image
    ) -> tuple[Mask, tuple[str, ...]]:
        reasons: tuple[str, ...] = ()
        small = detect_image
        people: list[Box] = []
        if self._motion:
            warm = self._track_motion(small, captured_at)
            if not warm:
                reasons = ("warmup",)
            people = self._held
        faces: list[Box] = []
        if self._faces is not None:
            found: Sequence[Box] = ()
            if self._count % self._settings.detect_every == 0:
                found = self._faces.detect(small)
            faces = self._face_tracks.update(found, captured_at)
        self._count += 1
        shape = image.shape
        return self._compose(
            width=shape[1], height=shape[0], small=small, zones=zones, people=people, faces=faces
        ), reasons

    def _track_motion(self, small: Image, t: float) -> bool:
        """Update the motion gate and the person tracks; False while the background model warms up."""
        hold = None
        if self._held:
            h, w = small.shape[:2]
            hold = _raster(self._held, 1.0, 1.0, w, h)
        fg = self._background.apply(small, t, hold)
        if fg is None:
            return False
        boxes: list[Box] = [(b.x0, b.y0, b.x1, b.y1) for b in self._background.blobs(fg)]
        for box in boxes:
            self._heights.observe(box)
        self._held = [self._heights.restore(box) for box in self._people.update(boxes, t)]
        return True

    def _compose(
        self,
        *,
        width: int,
        height: int,
        small: Image,
        zones: ZoneMasks,
        people: Sequence[Box],
        faces: Sequence[Box],
    ) -> Mask:
        pad = self._settings.box_padding
        sx, sy = width / small.shape[1], height / small.shape[0]
        bodies = [_pad_body(b, pad) for b in people]
        face_boxes = [pad_box(b, FACE_PADDING, FACE_PADDING, FACE_PADDING) for b in faces]
        public = _raster([*bodies, *face_boxes], sx, sy, width, height)
        mask = np.asarray(cv2.bitwise_and(public, zones.public_u8), dtype=np.uint8)
        if not self._settings.own_zone_people_visible and zones.has_own:
            heads = [(b[0], b[1], b[2], b[1] + (b[3] - b[1]) * HEAD_SHARE) for b in bodies]
            own = _raster([*heads, *face_boxes], sx, sy, width, height)
            mask |= np.asarray(cv2.bitwise_and(own, zones.own_u8), dtype=np.uint8)
        return mask.astype(bool)
