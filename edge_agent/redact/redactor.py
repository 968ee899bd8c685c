"""The redactor: every frame passes through here before anything else sees it.

Stage contract: ``Redactor.redact(frame) -> RedactedFrame``. The raw frame is modified in place (it is never
needed again) so that no unredacted copy survives this call. Neighbour zones are filled solid in every frame.
Passers-by masking plugs in through :class:`PeopleMasker`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from edge_agent.capture.base import Frame, Image
from edge_agent.config.models import Zone
from edge_agent.redact.zones import Mask, ZoneMasks, rasterise

log = logging.getLogger(__name__)

NEIGHBOUR_FILL = 0  # solid black: irreversible, and easy to check in decoded output


@dataclass(frozen=True, slots=True)
class RedactedFrame:
    """A frame that is safe to encode, store and share. ``fail_closed`` names why wide masking was applied."""

    index: int
    captured_at: float
    image: Image
    fail_closed: tuple[str, ...] = ()


class PeopleMasker(Protocol):
    """Finds what must be masked beyond the static zones (passers-by, moving objects)."""

    def mask(self, image: Image, zones: ZoneMasks, captured_at: float) -> tuple[Mask, tuple[str, ...]]: ...


class Redactor:
    def __init__(self, zones: Sequence[Zone], people: PeopleMasker | None = None) -> None:
        self._zones = tuple(zones)
        self._people = people

    def redact(self, frame: Frame) -> RedactedFrame:
        image = frame.image
        height, width = image.shape[:2]
        masks = rasterise(self._zones, width, height)
        image[masks.neighbour] = NEIGHBOUR_FILL
        reasons: tuple[str, ...] = ()
        if self._people is not None:
            extra, reasons = self._people.mask(image, masks, frame.captured_at)
            image[extra] = NEIGHBOUR_FILL
        return RedactedFrame(frame.index, frame.captured_at, image, reasons)
