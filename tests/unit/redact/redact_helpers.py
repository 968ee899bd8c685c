"""Helpers for the redaction tests: a textured synthetic scene, fake detectors and a controllable clock."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from edge_agent.capture.base import Frame
from edge_agent.config.models import RedactionSettings, Zone
from edge_agent.redact.people import PassersBy
from edge_agent.redact.redactor import Redactor
from edge_agent.redact.tracker import Box

H, W = 180, 320
FPS = 10.0


def scene(seed: int = 1) -> np.ndarray:
    """A fixed textured view (blurred noise), so that the scene guard has edges to compare."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, size=(H // 4, W // 4, 3), dtype=np.uint8)
    return cv2.resize(noise, (W, H), interpolation=cv2.INTER_CUBIC)


def person(height: int = 50, width: int = 20, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    patch = np.full((height, width, 3), (30, 40, 200), dtype=np.uint8)
    patch[: height // 5] = (160, 190, 230)  # a head that differs from the body
    return np.clip(patch + rng.integers(-10, 10, size=patch.shape), 0, 255).astype(np.uint8)


def with_person(background: np.ndarray, x: int, y: int, patch: np.ndarray | None = None) -> np.ndarray:
    image = background.copy()
    patch = person() if patch is None else patch
    ph, pw = patch.shape[:2]
    image[y : y + ph, x : x + pw] = patch
    return image


class FakeFaces:
    """A face detector that returns fixed boxes, raises while ``failing``, or advances a clock while ``slow``.

    The flags are per frame, not per call: one frame may call the detector more than once (the full-resolution
    sweep runs it on tiles).
    """

    def __init__(self, boxes: Sequence[Box] = (), clock: Any = None) -> None:
        self.boxes = list(boxes)
        self.clock = clock
        self.failing = False
        self.slow = False
        self.calls = 0

    def detect(self, image: np.ndarray) -> list[Box]:
        self.calls += 1
        if self.failing:
            raise RuntimeError("detector failed")
        if self.slow and self.clock is not None:
            self.clock.now += 1.0
        return list(self.boxes)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make_redactor(
    zones: Sequence[Zone] = (),
    faces: FakeFaces | None = None,
    clock: FakeClock | None = None,
    fail_closed: bool = True,
    **overrides: Any,
) -> Redactor:
    values: dict[str, Any] = {"method": "solid", "warmup_frames": 5, "detect_every": 1, "scene_shift_frames": 3}
    values.update(overrides)
    settings = RedactionSettings(**values)
    people = PassersBy(settings, faces)
    return Redactor(
        zones,
        people,
        settings=settings,
        detect_box=(160, 90),
        fail_closed=fail_closed,
        clock=clock or FakeClock(),
        seed=3,
    )


class Feeder:
    """Feeds frames with consecutive indices and capture times at ``FPS``."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self.index = 0

    def __call__(self, image: np.ndarray):  # type: ignore[no-untyped-def]
        original = image.copy()
        out = self.redactor.redact(Frame(self.index, self.index / FPS, image.copy()))
        self.index += 1
        return original, out
