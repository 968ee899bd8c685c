"""The redactor: every frame passes through here before anything else sees it.

Stage contract: ``Redactor.redact(frame) -> RedactedFrame``. The raw frame is modified in place (it is never
needed again) so that no unredacted copy survives this call. Neighbour zones are filled solid in every frame.
Passers-by masking plugs in through :class:`PeopleMasker`.

Fail closed: when the redactor cannot vouch for a frame it masks wide instead, and says why in
``RedactedFrame.fail_closed``:

- ``warmup``: the background model is still learning the scene;
- ``detector_error``: a detector raised;
- ``over_budget``: the frame took longer than ``frame_budget_ms`` to analyse;
- ``scene_shift``: the view no longer matches the calibrated one (moved or covered camera). This one masks the
  whole frame and latches until :meth:`Redactor.confirm_scene`.

For the first three the wide mask is every public zone, plus the own zones unless people there may stay visible.
Each event is counted (:meth:`Redactor.counters`) and logged when it starts and when it ends.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from edge_agent.capture.base import Frame, Image
from edge_agent.config.models import RedactionSettings, Zone
from edge_agent.redact.masking import SOLID, SOLID_FILL, Cover, apply_covers, block_size, fill_solid, shrink, wide_block
from edge_agent.redact.scene import SceneGuard
from edge_agent.redact.zones import Mask, ZoneMasks, rasterise

log = logging.getLogger(__name__)

NEIGHBOUR_FILL = SOLID_FILL  # solid black: irreversible, and easy to check in decoded output

WARMUP = "warmup"
DETECTOR_ERROR = "detector_error"
OVER_BUDGET = "over_budget"
SCENE_SHIFT = "scene_shift"
REASONS = (WARMUP, DETECTOR_ERROR, OVER_BUDGET, SCENE_SHIFT)


@dataclass(frozen=True, slots=True)
class RedactedFrame:
    """A frame that is safe to encode, store and share. ``fail_closed`` names why wide masking was applied.

    ``mask`` is the exact set of pixels that were changed (neighbour fill, passers-by, fail-closed areas);
    ``block`` the pixelation block used over it, and ``covers`` the boxes masked more coarsely (or solid).
    """

    index: int
    captured_at: float
    image: Image
    fail_closed: tuple[str, ...] = ()
    mask: Mask | None = None
    block: int = 0
    covers: tuple[Cover, ...] = ()

    def block_at(self, x: float, y: float) -> int | None:
        """The block that masked pixel (x, y): None where it was not masked, 0 where it was filled solid."""
        if self.mask is None or not self.mask[int(y), int(x)]:
            return None
        inside = [c.block for c in self.covers if c.box[0] <= x < c.box[2] and c.box[1] <= y < c.box[3]]
        if 0 in inside:
            return 0
        return max([self.block, *inside])


@dataclass(frozen=True, slots=True)
class Parts:
    """Which of the redactor's mechanisms run: all of them, as shipped. Switching one off is only for measuring
    what it does (``bench/privacy_eval.py``); no profile can do it."""

    landmarks: bool = True  # the scene guard's landmarks (off: whole-frame edge maps)
    tone_curve: bool = True  # the background follows the camera's tone curve (off: one gain)
    subject_blocks: bool = True  # blocks sized from each subject's face (off: the frame's base block)
    persons: bool = True  # the person detector for people who stand still (off: none, and no ghost judge)


ALL_PARTS = Parts()


@dataclass(frozen=True, slots=True)
class PeopleMask:
    """What passers-by detection adds to a frame: the ``mask`` at frame size, reasons to fail closed (such as
    ``"warmup"``), and ``covers`` that coarsen the blocks over each subject by the size of its face."""

    mask: Mask
    reasons: tuple[str, ...]
    covers: tuple[Cover, ...] = ()


class PeopleMasker(Protocol):
    """Finds what must be masked beyond the static zones (passers-by, moving objects).

    ``detect_image`` is the low-resolution copy of ``image`` to analyse. Returns the mask at the size of
    ``image``, reasons to fail closed (such as ``"warmup"``) and covers that coarsen the blocks over subjects.
    """

    def mask(self, image: Image, zones: ZoneMasks, captured_at: float, detect_image: Image) -> PeopleMask: ...

    def reset(self) -> None: ...


def detect_size(width: int, height: int, detect_width: int, detect_height: int) -> tuple[int, int]:
    """The detection copy's size: inside ``detect_width`` x ``detect_height``, same aspect, never enlarged."""
    scale = min(1.0, detect_width / width, detect_height / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


class Redactor:
    """Zones, passers-by and the fail-closed rules for one camera."""

    def __init__(
        self,
        zones: Sequence[Zone],
        people: PeopleMasker | None = None,
        *,
        settings: RedactionSettings | None = None,
        detect_box: tuple[int, int] = (320, 180),
        fail_closed: bool = True,
        clock: Callable[[], float] = time.perf_counter,
        seed: int | None = None,
        parts: Parts = ALL_PARTS,
    ) -> None:
        self._zones = tuple(zones)
        self._people = people
        self._settings = settings or RedactionSettings()
        self._detect_box = detect_box
        self._fail_closed = fail_closed
        self._clock = clock
        self._rng = np.random.default_rng(seed)
        self._scene = SceneGuard(
            self._settings.scene_shift_threshold,
            self._settings.scene_shift_frames,
            calibration_frames=self._settings.warmup_frames,
            calibration_seconds=self._settings.warmup_seconds,
            landmarks=parts.landmarks,
        )
        self._parts = parts
        self._recalibrate = False
        self._counts: Counter[str] = Counter()
        self._active: frozenset[str] = frozenset()

    @property
    def scene_shifted(self) -> bool:
        """True from a detected camera move or cover until :meth:`confirm_scene`."""
        return self._scene.shifted

    def confirm_scene(self) -> None:
        """The homeowner confirmed the zones for the current view: take the next frame as the new reference."""
        self._recalibrate = True
        if self._people is not None:
            self._people.reset()
        log.info("scene confirmed: recalibrating on the next frame")

    def counters(self) -> Mapping[str, int]:
        """Frames masked wide so far, per fail-closed reason."""
        return {reason: self._counts.get(reason, 0) for reason in REASONS}

    def redact(self, frame: Frame, detect_image: Image | None = None) -> RedactedFrame:
        """Redact ``frame.image`` in place. ``detect_image`` is an optional ready-made low-resolution copy."""
        started = self._clock()
        image = frame.image
        height, width = image.shape[:2]
        zones = rasterise(self._zones, width, height)
        small = detect_image if detect_image is not None else self._shrink(image)
        reasons: list[str] = []
        shifted = self._fail_closed and self._check_scene(small, frame.captured_at)
        if shifted:
            reasons.append(SCENE_SHIFT)
        found = None
        if self._people is not None and not self._scene.shifted:
            found = self._run_people(image, zones, frame.captured_at, small, reasons)
        if self._fail_closed and (self._clock() - started) * 1000.0 > self._settings.frame_budget_ms:
            reasons.append(OVER_BUDGET)
        mask = self._final_mask(zones, None if found is None else found.mask, reasons)
        # Neighbours first (solid), then the rest with the configured method.
        rest = mask
        if zones.has_neighbour:
            fill_solid(image, zones.neighbour)
            rest = mask & ~zones.neighbour
        block = block_size(self._settings.pixel_block, height)
        if reasons:
            block = wide_block(height, block)  # masked wide: faces of any size may be anywhere in it
        covers = () if found is None or SCENE_SHIFT in reasons else found.covers
        if not self._parts.subject_blocks:
            covers = tuple(c for c in covers if c.block == SOLID)
        apply_covers(image, rest, covers, method=self._settings.method, block=block, rng=self._rng)
        self._account(frame.index, reasons)
        return RedactedFrame(frame.index, frame.captured_at, image, tuple(reasons), mask, block, covers)

    def _shrink(self, image: Image) -> Image:
        height, width = image.shape[:2]
        size = detect_size(width, height, *self._detect_box)
        if size == (width, height):
            return image.copy()
        return shrink(image, *size)

    def _check_scene(self, small: Image, t: float) -> bool:
        if self._recalibrate:
            self._scene.calibrate(small, t)
            self._recalibrate = False
            return False
        return self._scene.check(small, t)

    def _run_people(
        self, image: Image, zones: ZoneMasks, captured_at: float, small: Image, reasons: list[str]
    ) -> PeopleMask | None:
        assert self._people is not None
        if not self._fail_closed:
            return self._people.mask(image, zones, captured_at, small)
        try:
            found = self._people.mask(image, zones, captured_at, small)
        except Exception:  # any detector failure must mask, never pass the frame through
            log.exception("passers-by detection failed; masking wide")
            reasons.append(DETECTOR_ERROR)
            return None
        reasons.extend(r for r in found.reasons if r not in reasons)
        return found

    def _final_mask(self, zones: ZoneMasks, extra: Mask | None, reasons: list[str]) -> Mask:
        if SCENE_SHIFT in reasons:
            return np.ones((zones.height, zones.width), dtype=bool)
        mask = zones.neighbour.copy() if extra is None else extra | zones.neighbour
        if self._fail_closed and reasons:
            mask |= zones.public
            if not self._settings.own_zone_people_visible:
                mask |= zones.own
        return mask

    def _account(self, index: int, reasons: list[str]) -> None:
        now = frozenset(reasons)
        for reason in now:
            self._counts[reason] += 1
        for reason in sorted(now - self._active):
            log.warning("fail-closed: %s from frame %d; masking wide", reason, index)
        for reason in sorted(self._active - now):
            log.info("fail-closed: %s ended at frame %d (%d frames so far)", reason, index, self._counts[reason])
        self._active = now
