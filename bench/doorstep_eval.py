"""Redaction figures on the synthetic doorstep view: a camera at head height, with exact ground truth.

The doorway clips have no ground truth, and PETS09 is filmed from above. The synthetic scene's doorstep view
(:mod:`edge_agent.capture.doorstep`) has up to eight people at once, a third to half of the frame tall, one who
stops for 12 s and a visitor cut by the bottom of the frame at the door, with every box known. Its people are
drawn, so it measures the geometry (masks that hug large, close people; a scene guard that people do not trip),
not the detectors. Measured as on PETS09 (bench/privacy_metrics.py), with each head where it is drawn (not the
top fifth of a box wide enough for swinging arms: someone stepping in shows an arm long before their head); and
once more with the camera knocked halfway through (turned by 2 degrees and shifted by 3 % of the width), where
every frame from 5 frames after the knock must be masked whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from privacy_metrics import Scores
from privacy_table import Row, percent

from edge_agent.capture.base import Frame
from edge_agent.capture.synthetic import SceneOptions, SyntheticSource
from edge_agent.redact.redactor import SCENE_SHIFT, Redactor

SIZE = (640, 480)
FPS = 10.0
SECONDS = 90.0
KNOCK = (2.0, 0.03)  # degrees, share of the width


def knock(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), KNOCK[0], 1.0)
    turn[0, 2] += KNOCK[1] * w
    return np.asarray(cv2.warpAffine(image, turn, (w, h), borderMode=cv2.BORDER_REFLECT), dtype=np.uint8)


@dataclass
class DoorstepScores:
    all: Scores
    stopped: Scores
    shifted_frames: int
    frames: int
    masked: list[float]
    knock_latency: int | None = None  # frames after the knock until every frame is masked whole (None: never)


def run(redactor: Redactor, *, knocked: bool = False, seed: int = 3) -> DoorstepScores:
    width, height = SIZE
    frames = int(SECONDS * FPS)
    source = SyntheticSource(
        width=width, height=height, fps=FPS, seed=seed, options=SceneOptions(people=7, view="doorstep", cars=False)
    )
    everyone, stopped = Scores(), Scores()
    shifted = 0
    masked: list[float] = []
    whole_from: int | None = None
    half = frames // 2
    for i in range(frames):
        image = source.render(i)
        if knocked and i >= half:
            image = knock(image)
        out = redactor.redact(Frame(i, i / FPS, image.copy()))
        assert out.mask is not None
        shifted += SCENE_SHIFT in out.fail_closed
        if knocked:
            if i >= half and out.mask.all():
                whole_from = i if whole_from is None else whole_from
            elif i >= half:
                whole_from = None
            continue
        masked.append(float(out.mask.mean()))
        people = source.people(i)
        everyone.add(i, out.mask, [p.box for p in people], [p.head for p in people])
        still = [p for p in people if not p.moving]
        if still:
            stopped.add(i, out.mask, [p.box for p in still], [p.head for p in still])
    latency = None if whole_from is None else whole_from - half
    return DoorstepScores(everyone, stopped, shifted, frames, masked, latency)


def doorstep_rows(variants: dict[str, Callable[[], Redactor]]) -> list[Row]:
    footage = f"doorstep view, synthetic ({SIZE[0]}x{SIZE[1]}, {SECONDS:.0f} s, exact truth)"
    rows = []
    for name, make in variants.items():
        plain = run(make())
        knocked = run(make(), knocked=True)
        a, s = plain.all, plain.stopped
        if knocked.knock_latency is None:
            latency = "never masked whole"
        else:
            latency = f"masked whole from {knocked.knock_latency} frames after the knock on"
        rows.append(
            Row(
                footage,
                name,
                recall=f"{percent(a.head_recall)} ({a.heads - a.heads_ok}); stopped {percent(s.head_recall)}",
                over=percent(a.over_redaction),
                masked=percent(float(np.mean(plain.masked))),
                notes=f"scene shift in {plain.shifted_frames} of {plain.frames} frames; knocked halfway: {latency}",
            )
        )
    return rows
