"""A synthetic street scene that stands in for the doorbell camera on any machine.

The layout matches the embedded default profile's zones: the homeowner's house front and porch on the left
(x < 0.70, y < 0.62), the neighbour's house on the right (x >= 0.70, y < 0.62), the sidewalk and the street
across the bottom (y >= 0.62). People walk along the sidewalk (one of them stops for several seconds), a
visitor walks up to the porch now and then, and a car passes now and then.

Every frame is a pure function of (seed, size, options, time), so frame ``i`` can be rendered again and its
ground truth (:meth:`SyntheticSource.synthetic_truth`) checked against redacted pixels. The background is
rendered once; a frame is a lookup-table pass (lighting drift), cv2 primitives (people, car) and two
saturating adds (sensor noise), which keeps a 1280x720 frame around 2 ms.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np

from edge_agent.capture.base import Frame, Image, SourceInfo
from edge_agent.capture.doorstep import DOOR_FEET, HEAD_ABOVE_HORIZON, HORIZON, doorstep_routes, render_doorstep
from edge_agent.capture.pacing import Pacer
from edge_agent.capture.scene import Actor, Background, Keyframe, draw_car, draw_person, render_background

log = logging.getLogger(__name__)

Box = tuple[int, int, int, int]

# Lanes on the sidewalk, as the y of the feet (relative). Farther lanes are higher in the frame and smaller.
_LANES = (0.69, 0.735, 0.78)
_SKIN = ((60, 90, 140), (80, 120, 180), (110, 150, 205), (140, 180, 225), (45, 65, 100))
_HAIR = ((20, 20, 25), (30, 50, 80), (60, 90, 140), (160, 160, 165), (15, 30, 45))
_NOISE_SIGMA = 2.5
_NOISE_SLACK = 64  # extra noise rows, so each frame reads the noise bank at a different offset


@dataclass(frozen=True, slots=True)
class SceneOptions:
    """What the scene contains. ``frames`` limits the stream (``None``: endless)."""

    people: int = 4
    cars: bool = True
    porch: bool = True
    noise: bool = True
    frames: int | None = None
    # "street": seen from above the door (the default); "doorstep": from a doorbell at head height.
    view: Literal["street", "doorstep"] = "street"


@dataclass(frozen=True, slots=True)
class PersonTruth:
    """Where a person is in a frame: ``box`` is (x, y, w, h) in pixels, clipped to the frame; ``head`` the drawn
    head (the part of them that must never show), clipped the same way ((0, 0, 0, 0) when out of view)."""

    box: Box
    where: Literal["sidewalk", "porch"]
    moving: bool
    head: Box = (0, 0, 0, 0)


@dataclass(frozen=True, slots=True)
class _Placed:
    actor: Actor
    cx: float
    feet: float
    moving: bool


@dataclass(slots=True)
class SyntheticScene:
    """Renders the street scene at one size. Deterministic for a given seed and options."""

    width: int
    height: int
    seed: int = 0
    options: SceneOptions = field(default_factory=SceneOptions)
    _background: Background = field(init=False, repr=False)
    _actors: tuple[Actor, ...] = field(init=False, repr=False)
    _noise_pos: Image = field(init=False, repr=False)
    _noise_neg: Image = field(init=False, repr=False)

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        render = render_doorstep if self.options.view == "doorstep" else render_background
        self._background = render(self.width, self.height, rng)
        self._actors = _cast(rng, self.options)
        noise = rng.normal(0.0, _NOISE_SIGMA, (self.height + _NOISE_SLACK, self.width, 3))
        self._noise_pos = np.clip(noise, 0, 255).astype(np.uint8)
        self._noise_neg = np.clip(-noise, 0, 255).astype(np.uint8)

    def render(self, t: float, index: int = 0) -> Image:
        """The frame at scene time ``t`` seconds; ``index`` picks the noise pattern."""
        gain = _lighting_gain(t)
        lut = np.clip(np.arange(256, dtype=np.float32) * gain, 0, 255).astype(np.uint8)
        image: Image = np.asarray(cv2.LUT(self._background.image, lut), dtype=np.uint8)
        for placed in sorted(self._place(t), key=lambda p: p.feet):
            if placed.actor.kind == "car":
                draw_car(image, placed.actor, placed.cx, placed.feet, gain=gain)
            else:
                draw_person(image, placed.actor, placed.cx, placed.feet, t=t, moving=placed.moving, gain=gain)
        if self.options.noise:
            # A per-index offset into the noise bank: deterministic, and different in consecutive frames.
            offset = (index * 37 + self.seed * 11) % _NOISE_SLACK
            rows = slice(offset, offset + self.height)
            cv2.add(image, self._noise_pos[rows], dst=image)
            cv2.subtract(image, self._noise_neg[rows], dst=image)
        return image

    def people(self, t: float) -> list[PersonTruth]:
        """Ground truth: every person visible at time ``t``, nearest last."""
        found = []
        for placed in sorted(self._place(t), key=lambda p: p.feet):
            if placed.actor.kind == "car":
                continue
            whole = placed.actor.person_box(placed.cx, placed.feet, self.width, self.height)
            box = self._clip(whole)
            if box is not None:
                head = self._clip(placed.actor.head_box(placed.cx, placed.feet, self.width, self.height))
                porch = placed.feet >= DOOR_FEET if self.options.view == "doorstep" else placed.feet < 0.62
                where: Literal["sidewalk", "porch"] = "porch" if porch else "sidewalk"
                found.append(PersonTruth(box, where, placed.moving, head or (0, 0, 0, 0)))
        return found

    def _place(self, t: float) -> Iterator[_Placed]:
        for actor in self._actors:
            where = actor.position(t)
            if where is not None:
                cx, feet, moving = where
                yield _Placed(actor, cx, feet, moving)

    def _clip(self, box: Box) -> Box | None:
        x, y, w, h = box
        x0, y0 = max(x, 0), max(y, 0)
        x1, y1 = min(x + w, self.width), min(y + h, self.height)
        if x1 <= x0 or y1 <= y0:
            return None
        return (x0, y0, x1 - x0, y1 - y0)


def _lighting_gain(t: float) -> float:
    # Slow drift (clouds, the sun moving) plus a faster, smaller wobble: enough to trouble naive
    # background subtraction, not enough to look like a scene change.
    return float(1.0 + 0.08 * np.sin(2 * np.pi * t / 41.0) + 0.02 * np.sin(2 * np.pi * t / 6.7))


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    b, g, r = (int(v) for v in rng.integers(25, 235, 3))
    return (b, g, r)


def _person(
    rng: np.random.Generator, path: tuple[Keyframe, ...], period: float, offset: float, horizon: float | None = None
) -> Actor:
    return Actor(
        kind="person",
        path=path,
        period=period,
        offset=offset,
        scale=float(rng.uniform(0.92, 1.08)),
        colours=(
            _colour(rng),  # shirt
            _colour(rng),  # trousers
            _SKIN[int(rng.integers(len(_SKIN)))],
            _HAIR[int(rng.integers(len(_HAIR)))],
        ),
        horizon=horizon,
        head_above_horizon=HEAD_ABOVE_HORIZON,
    )


def _walker(rng: np.random.Generator, number: int) -> Actor:
    """A passer-by crossing the frame along a sidewalk lane; walker 0 stops for a while mid-frame."""
    lane = _LANES[number % len(_LANES)]
    rightwards = number % 2 == 0
    x0, x1 = (-0.08, 1.08) if rightwards else (1.08, -0.08)
    speed = float(rng.uniform(0.07, 0.11))  # frame widths per second: 11-16 s to cross
    cross = abs(x1 - x0) / speed
    if number == 0:
        # Walks to the middle, stands still for 7 s (a person waiting, which motion detection loses),
        # then walks on. Offset so that the stop begins 2 s into the stream.
        stop_x, pause = 0.45, 7.0
        reach = abs(stop_x - x0) / speed
        path: tuple[Keyframe, ...] = (
            Keyframe(0.0, x0, lane),
            Keyframe(reach, stop_x, lane),
            Keyframe(reach + pause, stop_x, lane),
            Keyframe(cross + pause, x1, lane),
        )
        return _person(rng, path, cross + pause + 12.0, reach - 2.0)
    path = (Keyframe(0.0, x0, lane), Keyframe(cross, x1, lane))
    period = cross + float(rng.uniform(3.0, 12.0))
    # Everyone starts in view, so that the very first frames already contain people.
    return _person(rng, path, period, float(rng.uniform(0.1, 0.9)) * cross)


def _visitor(rng: np.random.Generator) -> Actor:
    """Someone who walks along the sidewalk, up to the homeowner's door, waits, and leaves."""
    lane, door_x, porch_y = 0.76, 0.33, 0.585
    path = (
        Keyframe(0.0, -0.08, lane),
        Keyframe(4.0, door_x, lane),
        Keyframe(6.5, door_x, porch_y),
        Keyframe(12.5, door_x, porch_y),
        Keyframe(15.0, door_x, lane),
        Keyframe(19.0, -0.08, lane),
    )
    return _person(rng, path, 40.0, -6.0)


def _car(rng: np.random.Generator) -> Actor:
    path = (Keyframe(0.0, 1.25, 0.95), Keyframe(4.5, -0.25, 0.95))
    return Actor(
        kind="car",
        path=path,
        period=23.0,
        offset=-9.0,
        scale=1.0,
        colours=(_colour(rng), (40, 40, 40), (160, 150, 140), (20, 20, 20)),
    )


def _cast(rng: np.random.Generator, options: SceneOptions) -> tuple[Actor, ...]:
    if options.view == "doorstep":
        routes = doorstep_routes(rng, options.people, options.porch)
        return tuple(_person(rng, path, period, offset, HORIZON) for path, period, offset in routes)
    actors = [_walker(rng, n) for n in range(options.people)]
    if options.porch:
        actors.append(_visitor(rng))
    if options.cars:
        actors.append(_car(rng))
    return tuple(actors)


class SyntheticSource:
    """A :class:`FrameSource` over :class:`SyntheticScene`.

    Not real time: frame ``i`` has ``captured_at = start + i / fps`` and frames come as fast as they are asked
    for. Real time: frames are paced to ``fps`` and stamped with ``time.time()``; like a camera, frames the
    consumer was too slow to take are dropped (``index`` skips), and ``synthetic_truth(index)`` still holds.
    """

    def __init__(
        self,
        *,
        width: int,
        height: int,
        fps: float,
        seed: int = 0,
        options: SceneOptions | None = None,
        realtime: bool = False,
        start: float | None = None,
    ) -> None:
        self._options = options or SceneOptions()
        self._scene = SyntheticScene(width, height, seed, self._options)
        self._fps = fps
        self._realtime = realtime
        self._start = time.time() if start is None else start
        self._closed = False
        self._info = SourceInfo(width, height, fps, realtime, f"synthetic street scene (seed {seed})")

    @property
    def info(self) -> SourceInfo:
        return self._info

    @property
    def scene(self) -> SyntheticScene:
        return self._scene

    def synthetic_truth(self, index: int) -> list[Box]:
        """Boxes (x, y, w, h) in pixels of every person in frame ``index``."""
        return [p.box for p in self._scene.people(index / self._fps)]

    def people(self, index: int) -> list[PersonTruth]:
        """Ground truth with where each person is (sidewalk or porch) and whether they move."""
        return self._scene.people(index / self._fps)

    def render(self, index: int) -> Image:
        """Frame ``index`` again, exactly as :meth:`frames` yields it."""
        return self._scene.render(index / self._fps, index)

    def frames(self) -> Iterator[Frame]:
        pacer = Pacer(self._fps) if self._realtime else None
        limit = self._options.frames
        index = 0
        while not self._closed and (limit is None or index < limit):
            if pacer is None:
                captured_at = self._start + index / self._fps
            else:
                index = pacer.wait_or_skip(index)
                if limit is not None and index >= limit:
                    break
                captured_at = time.time()
            yield Frame(index, captured_at, self.render(index))
            index += 1

    def close(self) -> None:
        self._closed = True
