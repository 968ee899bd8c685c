"""Drawing for the synthetic street scene: the pre-rendered background, people and cars.

All positions are relative (0-1, x right, y down) so that the scene matches the default profile's zones at any
frame size. Textures (siding, bricks, concrete, asphalt, grain) are there so that the encoder does real work
and background subtraction sees a realistic picture, not flat colour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from edge_agent.capture.base import Image

BGR = tuple[int, int, int]
FloatImage = npt.NDArray[np.float32]

PERSON_HALF_WIDTH = 0.22  # of the person's height: every stroke of a person stays inside this box
HEAD_RADIUS = 0.07  # of the person's height
_STEPS_PER_SECOND = 1.8


@dataclass(frozen=True, slots=True)
class Keyframe:
    """Where an actor is ``t`` seconds into its cycle: centre ``x`` and ``feet`` (wheels for a car)."""

    t: float
    x: float
    feet: float


@dataclass(frozen=True, slots=True)
class Actor:
    """Someone or something that moves along a piecewise-linear path, repeating every ``period`` seconds.

    ``colours`` for a person: shirt, trousers, skin, hair; for a car: body, tyres, windows, trim.
    """

    kind: Literal["person", "car"]
    path: tuple[Keyframe, ...]
    period: float
    offset: float
    scale: float
    colours: tuple[BGR, BGR, BGR, BGR]
    # Where the horizon is for a camera at head height (the doorstep view); None for the street view from above.
    horizon: float | None = None
    head_above_horizon: float = 1.0

    def position(self, t: float) -> tuple[float, float, bool] | None:
        """(x, feet, moving) at scene time ``t``, or ``None`` while off stage."""
        phase = (t + self.offset) % self.period
        if phase > self.path[-1].t:
            return None
        for a, b in zip(self.path, self.path[1:], strict=False):
            if phase <= b.t:
                f = (phase - a.t) / (b.t - a.t) if b.t > a.t else 1.0
                moving = (a.x, a.feet) != (b.x, b.feet)
                return a.x + f * (b.x - a.x), a.feet + f * (b.feet - a.feet), moving
        return None

    def height(self, feet: float) -> float:
        """A person's height as a fraction of the frame height: nearer (lower) people are taller."""
        if self.horizon is not None:
            return max(0.01, (feet - self.horizon) * self.head_above_horizon * self.scale)
        return (0.22 + 0.8 * (feet - 0.69)) * self.scale

    def head_box(self, cx: float, feet: float, width: int, height: int) -> tuple[int, int, int, int]:
        """The drawn head (face and hair, see :func:`draw_person`) as (x, y, w, h) in pixels, unclipped."""
        h = self.height(feet) * height
        radius = max(2, round(HEAD_RADIUS * h))
        top = feet * height - h
        x0, x1 = math.floor(cx * width - radius), math.ceil(cx * width + radius)
        return (x0, math.floor(top), x1 - x0, math.ceil(top + 0.005 * h + 2 * radius) - math.floor(top))

    def person_box(self, cx: float, feet: float, width: int, height: int) -> tuple[int, int, int, int]:
        h = self.height(feet) * height
        x0 = math.floor(cx * width - PERSON_HALF_WIDTH * h)
        x1 = math.ceil(cx * width + PERSON_HALF_WIDTH * h)
        y0 = math.floor(feet * height - h)
        y1 = math.ceil(feet * height)
        return (x0, y0, x1 - x0, y1 - y0)


@dataclass(frozen=True, slots=True)
class Background:
    image: Image


def _shade(colour: BGR, gain: float) -> BGR:
    b, g, r = (min(255, int(c * gain)) for c in colour)
    return (b, g, r)


def _pt(x: float, y: float) -> tuple[int, int]:
    return (round(x), round(y))


def draw_person(image: Image, actor: Actor, cx: float, feet: float, *, t: float, moving: bool, gain: float) -> None:
    """Head, hair, face, torso, arms and legs with cv2 primitives, all inside :meth:`Actor.person_box`."""
    height, width = image.shape[:2]
    shirt, trousers, skin, hair = (_shade(c, gain) for c in actor.colours)
    h = actor.height(feet) * height
    x, base = cx * width, feet * height
    top = base - h
    swing = math.sin(2 * math.pi * _STEPS_PER_SECOND * t + actor.offset) if moving else 0.0
    leg_w = max(2, round(0.085 * h))
    arm_w = max(2, round(0.06 * h))
    hip_y, shoulder_y = top + 0.55 * h, top + 0.17 * h
    for side in (1, -1):
        foot = (x + side * swing * 0.11 * h, base - leg_w / 2 - 1)
        cv2.line(image, _pt(x + side * 0.045 * h, hip_y), _pt(*foot), trousers, leg_w)
    cv2.rectangle(image, _pt(x - 0.13 * h, shoulder_y), _pt(x + 0.13 * h, hip_y + 0.03 * h), shirt, -1)
    sleeve = _shade(shirt, 0.8)
    for side in (1, -1):
        hand = _pt(x + side * 0.145 * h - side * swing * 0.03 * h, top + 0.5 * h)
        cv2.line(image, _pt(x + side * 0.145 * h, shoulder_y + arm_w), hand, sleeve, arm_w)
        cv2.circle(image, hand, max(1, arm_w // 2 + 1), skin, -1)
    radius = max(2, round(HEAD_RADIUS * h))
    head = _pt(x, top + 0.005 * h + radius)
    cv2.circle(image, head, radius, skin, -1)
    cv2.ellipse(image, head, (radius, max(1, round(radius * 0.6))), 0, 180, 360, hair, -1)
    eye = max(1, radius // 6)
    for side in (1, -1):
        cv2.circle(image, (head[0] + side * radius // 3, head[1] + radius // 8), eye, (30, 30, 30), -1)
    cv2.line(
        image,
        (head[0] - radius // 3, head[1] + radius // 2),
        (head[0] + radius // 3, head[1] + radius // 2),
        _shade(skin, 0.6),
        max(1, radius // 8),
    )


def draw_car(image: Image, actor: Actor, cx: float, base: float, *, gain: float) -> None:
    height, width = image.shape[:2]
    body, tyre, glass, trim = (_shade(c, gain) for c in actor.colours)
    length, tall = 0.22 * width * actor.scale, 0.11 * height * actor.scale
    x, y = cx * width, base * height
    cabin = np.array(
        [
            _pt(x - 0.28 * length, y - 0.58 * tall),
            _pt(x - 0.18 * length, y - tall),
            _pt(x + 0.22 * length, y - tall),
            _pt(x + 0.34 * length, y - 0.58 * tall),
        ],
        dtype=np.int32,
    )
    cv2.fillConvexPoly(image, cabin, body)
    cv2.fillConvexPoly(image, (cabin * 0.9 + np.array([x, y - 0.78 * tall]) * 0.1).astype(np.int32), glass)
    cv2.rectangle(image, _pt(x - length / 2, y - 0.6 * tall), _pt(x + length / 2, y - 0.15 * tall), body, -1)
    cv2.line(image, _pt(x - length / 2, y - 0.35 * tall), _pt(x + length / 2, y - 0.35 * tall), trim, 2)
    wheel = max(2, round(0.17 * tall))
    for wx in (x - 0.3 * length, x + 0.3 * length):
        cv2.circle(image, _pt(wx, y - wheel), wheel, tyre, -1)
        cv2.circle(image, _pt(wx, y - wheel), max(1, wheel // 2), _shade(glass, 0.8), -1)


Rect = tuple[float, float, float, float]  # x0, y0, x1, y1, relative


def _fill(canvas: FloatImage, rect: Rect, colour: BGR) -> None:
    x0, y0, x1, y1 = rect
    h, w = canvas.shape[:2]
    canvas[round(y0 * h) : round(y1 * h), round(x0 * w) : round(x1 * w)] = colour


def _siding(canvas: FloatImage, rect: Rect, colour: BGR, rng: np.random.Generator) -> None:
    """Horizontal boards: each a slightly different shade, with a shadow line under it."""
    x0, y0, x1, y1 = rect
    h, w = canvas.shape[:2]
    r0, r1, c0, c1 = round(y0 * h), round(y1 * h), round(x0 * w), round(x1 * w)
    board = max(4, round(0.018 * h))
    rows = np.arange(r0, r1)
    shade = 1.0 + rng.uniform(-0.05, 0.05, (r1 - r0) // board + 1)[(rows - r0) // board]
    shade[(rows - r0) % board == board - 1] *= 0.7
    canvas[r0:r1, c0:c1] = np.array(colour, np.float32) * shade[:, None, None]


def _bricks(canvas: FloatImage, rect: Rect, colour: BGR, rng: np.random.Generator) -> None:
    """Running-bond bricks with per-brick colour and light mortar joints."""
    x0, y0, x1, y1 = rect
    h, w = canvas.shape[:2]
    r0, r1, c0, c1 = round(y0 * h), round(y1 * h), round(x0 * w), round(x1 * w)
    bh, bw = max(4, round(0.02 * h)), max(8, round(0.03 * w))
    rows, cols = np.mgrid[r0:r1, c0:c1]
    course = (rows - r0) // bh
    brick = (cols - c0 + (course % 2) * (bw // 2)) // bw
    tint = rng.uniform(0.8, 1.15, (course.max() + 1, brick.max() + 1))[course, brick]
    patch = np.array(colour, np.float32) * tint[..., None]
    mortar = ((rows - r0) % bh == 0) | ((cols - c0 + (course % 2) * (bw // 2)) % bw == 0)
    patch[mortar] = (170, 175, 180)
    canvas[r0:r1, c0:c1] = patch


def _window(canvas: FloatImage, rect: Rect) -> None:
    x0, y0, x1, y1 = rect
    _fill(canvas, (x0 - 0.006, y0 - 0.01, x1 + 0.006, y1 + 0.01), (235, 235, 235))
    _fill(canvas, (x0, y0, x1, y1), (95, 75, 60))
    h, w = canvas.shape[:2]
    # A reflection gradient across the glass and a cross bar.
    r0, r1, c0, c1 = round(y0 * h), round(y1 * h), round(x0 * w), round(x1 * w)
    ramp = np.linspace(0.8, 1.5, c1 - c0, dtype=np.float32)
    canvas[r0:r1, c0:c1] *= ramp[None, :, None]
    _fill(canvas, ((x0 + x1) / 2 - 0.002, y0, (x0 + x1) / 2 + 0.002, y1), (235, 235, 235))
    _fill(canvas, (x0, (y0 + y1) / 2 - 0.003, x1, (y0 + y1) / 2 + 0.003), (235, 235, 235))


def _roof(canvas: FloatImage, points: list[tuple[float, float]], colour: BGR) -> None:
    h, w = canvas.shape[:2]
    pts = np.array([[round(x * w), round(y * h)] for x, y in points], dtype=np.int32)
    cv2.fillPoly(canvas, [pts], colour)
    # Shingle rows: darker lines every few pixels inside the roof.
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [pts], 1)
    lines = (np.arange(h) % max(3, round(0.012 * h)) == 0)[:, None] & (mask > 0)
    canvas[lines] *= 0.75


def _houses(canvas: FloatImage, rng: np.random.Generator) -> None:
    # The homeowner's house: siding, a door at x 0.30-0.36, a porch with posts and steps.
    _siding(canvas, (0.0, 0.16, 0.69, 0.62), (190, 205, 215), rng)
    _roof(canvas, [(-0.02, 0.17), (0.33, 0.01), (0.69, 0.17)], (70, 70, 85))
    for wx in (0.06, 0.46):
        _window(canvas, (wx, 0.25, wx + 0.14, 0.45))
    _fill(canvas, (0.295, 0.33, 0.365, 0.58), (40, 60, 120))
    _fill(canvas, (0.35, 0.46, 0.356, 0.475), (60, 190, 220))  # door knob
    _siding(canvas, (0.17, 0.575, 0.50, 0.62), (110, 140, 170), rng)  # porch floor planks
    for px in (0.17, 0.49):
        _fill(canvas, (px, 0.26, px + 0.012, 0.58), (225, 225, 225))
    # A hedge between the two properties.
    h, w = canvas.shape[:2]
    rows, cols = slice(round(0.10 * h), round(0.62 * h)), slice(round(0.69 * w), round(0.71 * w))
    patch = canvas[rows, cols]
    patch[:] = np.array((40, 110, 50), np.float32) + rng.normal(0, 25, patch.shape[:2])[..., None]
    # The neighbour's house: bricks, a roof, two windows and a garage door.
    _bricks(canvas, (0.71, 0.20, 1.0, 0.62), (50, 70, 150), rng)
    _roof(canvas, [(0.70, 0.21), (0.86, 0.06), (1.02, 0.21)], (60, 55, 60))
    _window(canvas, (0.74, 0.27, 0.82, 0.40))
    _window(canvas, (0.89, 0.27, 0.97, 0.40))
    _siding(canvas, (0.78, 0.46, 0.95, 0.62), (200, 200, 195), rng)


def _ground(canvas: FloatImage, rng: np.random.Generator) -> None:
    h, w = canvas.shape[:2]
    _fill(canvas, (0.0, 0.62, 1.0, 0.80), (175, 180, 182))  # sidewalk
    for jx in np.arange(0.0, 1.0, 0.08):
        _fill(canvas, (jx, 0.62, jx + 0.002, 0.80), (120, 125, 128))
    _fill(canvas, (0.0, 0.705, 1.0, 0.708), (140, 145, 148))
    _fill(canvas, (0.0, 0.80, 1.0, 0.82), (205, 205, 205))  # curb
    r0 = round(0.82 * h)
    asphalt = 70 + rng.normal(0, 14, (h - r0, w, 1)).astype(np.float32)
    canvas[r0:] = asphalt
    for dx in np.arange(0.02, 1.0, 0.12):
        _fill(canvas, (dx, 0.905, dx + 0.06, 0.915), (120, 210, 225))


def render_background(width: int, height: int, rng: np.random.Generator) -> Background:
    canvas = np.empty((height, width, 3), np.float32)
    sky = np.linspace(1.0, 0.8, height, dtype=np.float32)[:, None, None] * np.array((235, 200, 160), np.float32)
    canvas[:] = sky
    _houses(canvas, rng)
    _ground(canvas, rng)
    # Fine grain over everything, mildly blurred so it reads as texture rather than noise.
    grain = cv2.GaussianBlur(rng.normal(0, 7, (height, width)).astype(np.float32), (3, 3), 0)
    canvas += grain[..., None]
    image = np.clip(canvas, 0, 255).astype(np.uint8)
    image.setflags(write=False)
    return Background(image)
