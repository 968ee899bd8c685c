"""The synthetic scene as a doorbell sees it: the camera at head height on the porch, looking out at the street.

The street view (:mod:`edge_agent.capture.scene`) looks down on the sidewalk from above the door. Here the lens
is at a person's head height, so the horizon runs through every standing person's head: people across the
street are small, people on the sidewalk in front of the house are a third to half of the frame tall, and a
visitor walking up the path grows until the bottom of the frame cuts them at the waist. One passer-by stops on
the sidewalk for 12 seconds; up to eight people are in view at once.

Heights follow the ground plane: a person whose feet are at row ``feet`` (relative) is ``(feet - HORIZON) *
HEAD_ABOVE_HORIZON`` of the frame tall, which is how a camera at head height sees them.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge_agent.capture.scene import (
    BGR,
    Background,
    FloatImage,
    Keyframe,
    _bricks,
    _fill,
    _roof,
    _siding,
    _window,
)

HORIZON = 0.40
HEAD_ABOVE_HORIZON = 1.1  # a person 1.75 m tall seen by a lens at 1.6 m: the head is just above the horizon
# Feet rows of the lanes people walk along: the near sidewalk, the front of the yard and the yard itself.
LANES = (0.63, 0.70, 0.78, 0.86)
PATH = (0.44, 0.56)  # the garden path to the door, left and right edge (relative x)
DOOR_FEET = 1.15  # a visitor at the door stands below the frame's bottom edge: only their top shows
STOP_SECONDS = 12.0


def render_doorstep(width: int, height: int, rng: np.random.Generator) -> Background:
    """Sky, the houses across the street, the street, the sidewalk and the front yard with its path."""
    canvas = np.empty((height, width, 3), np.float32)
    sky = np.linspace(1.0, 0.85, height, dtype=np.float32)[:, None, None] * np.array((235, 200, 160), np.float32)
    canvas[:] = sky
    _houses_across(canvas, rng)
    h, w = canvas.shape[:2]
    _fill(canvas, (0.0, HORIZON, 1.0, 0.43), (170, 175, 178))  # the far sidewalk
    r0, r1 = round(0.43 * h), round(0.55 * h)
    canvas[r0:r1] = 72 + rng.normal(0, 12, (r1 - r0, w, 1)).astype(np.float32)  # asphalt
    _fill(canvas, (0.0, 0.485, 1.0, 0.49), (120, 210, 225))  # the centre line
    _fill(canvas, (0.0, 0.55, 1.0, 0.57), (205, 205, 205))  # curb
    _fill(canvas, (0.0, 0.57, 1.0, 0.67), (175, 180, 182))  # the near sidewalk, with joints
    for jx in np.arange(0.0, 1.0, 0.12):
        _fill(canvas, (jx, 0.57, jx + 0.003, 0.67), (120, 125, 128))
    r0 = round(0.67 * h)
    lawn = np.array((60, 140, 70), np.float32) + rng.normal(0, 18, (h - r0, w, 1)).astype(np.float32)
    canvas[r0:] = lawn
    path = np.array(
        [[round(0.47 * w), r0], [round(0.53 * w), r0], [round(0.75 * w), h], [round(0.25 * w), h]], dtype=np.int32
    )
    cv2.fillConvexPoly(canvas, path, (150, 160, 170))
    # A porch post at the left edge, close to the lens: something big in view that never moves.
    _fill(canvas, (0.0, 0.0, 0.05, 1.0), (215, 215, 210))
    grain = cv2.GaussianBlur(rng.normal(0, 7, (height, width)).astype(np.float32), (3, 3), 0)
    canvas += grain[..., None]
    image = np.clip(canvas, 0, 255).astype(np.uint8)
    image.setflags(write=False)
    return Background(image)


def _houses_across(canvas: FloatImage, rng: np.random.Generator) -> None:
    """Three houses on the far side of the street, their fronts ending at the horizon."""
    for x0, x1, kind in ((0.02, 0.33, "siding"), (0.36, 0.66, "bricks"), (0.69, 1.0, "siding")):
        colour: BGR = (190, 205, 215) if kind == "siding" else (50, 70, 150)
        if kind == "siding":
            _siding(canvas, (x0, 0.18, x1, HORIZON), colour, rng)
        else:
            _bricks(canvas, (x0, 0.18, x1, HORIZON), colour, rng)
        _roof(canvas, [(x0 - 0.01, 0.185), ((x0 + x1) / 2, 0.08), (x1 + 0.01, 0.185)], (70, 70, 85))
        span = x1 - x0
        for wx in (x0 + 0.12 * span, x0 + 0.62 * span):
            _window(canvas, (wx, 0.23, wx + 0.22 * span, 0.32))
        _fill(canvas, (x0 + 0.42 * span, 0.30, x0 + 0.55 * span, HORIZON - 0.005), (40, 60, 120))


Route = tuple[tuple[Keyframe, ...], float, float]  # path, period and offset of an actor (see scene.Actor)


def _walker(rng: np.random.Generator, number: int) -> Route:
    """A passer-by along a lane; walker 0 stops for ``STOP_SECONDS`` in the middle, 2 s into the stream."""
    lane = LANES[number % len(LANES)] + float(rng.uniform(-0.015, 0.015))
    rightwards = number % 2 == 0
    x0, x1 = (-0.15, 1.15) if rightwards else (1.15, -0.15)
    # Frame widths per second: a person walks about 1.4 m/s, and nearer lanes span fewer metres per frame.
    speed = float(rng.uniform(0.06, 0.09)) * LANES[0] / lane
    cross = abs(x1 - x0) / speed
    if number == 0:
        stop_x = 0.6
        reach = abs(stop_x - x0) / speed
        path = (
            Keyframe(0.0, x0, lane),
            Keyframe(reach, stop_x, lane),
            Keyframe(reach + STOP_SECONDS, stop_x, lane),
            Keyframe(cross + STOP_SECONDS, x1, lane),
        )
        return path, cross + STOP_SECONDS + 10.0, reach - 2.0
    # Everyone starts in view, so that the very first frames already contain people.
    return (Keyframe(0.0, x0, lane), Keyframe(cross, x1, lane)), cross + float(rng.uniform(2.0, 8.0)), float(
        rng.uniform(0.1, 0.9)
    ) * cross


def _visitor() -> Route:
    """Along the sidewalk, up the path to the door (out of the frame's bottom), a wait, and back."""
    mid = (PATH[0] + PATH[1]) / 2
    path = (
        Keyframe(0.0, -0.15, 0.64),
        Keyframe(4.0, mid, 0.64),
        Keyframe(9.0, mid, DOOR_FEET),
        Keyframe(17.0, mid, DOOR_FEET),
        Keyframe(22.0, mid, 0.64),
        Keyframe(26.0, 1.15, 0.64),
    )
    return path, 45.0, -8.0


def doorstep_routes(rng: np.random.Generator, people: int, visitor: bool) -> list[Route]:
    """The routes of everyone in the doorstep view: ``people`` passers-by and, if asked, a visitor."""
    routes = [_walker(rng, n) for n in range(people)]
    if visitor:
        routes.append(_visitor())
    return routes
