"""People who stand still, on the synthetic street scene with the real detectors (checked on pixels).

The scene's own people walk along the sidewalk (one stops for several seconds); each test adds one more person
with a known path, drawn the way the scene draws its people, so that every person's box is known in every frame.
"""

from __future__ import annotations

import numpy as np

from edge_agent.capture import open_source
from edge_agent.capture.base import Frame
from edge_agent.capture.scene import Actor, Keyframe, draw_person
from edge_agent.capture.synthetic import SyntheticSource
from edge_agent.config.models import CameraSettings, Profile, RedactionSettings
from edge_agent.redact import build_redactor
from edge_agent.redact.sweep import tile_grid

FPS = 10.0
# A sliver of someone stepping in at the frame's edge, narrower than this, shows nothing that identifies them.
MIN_VISIBLE_WIDTH = 16
COLOURS = ((40, 160, 60), (90, 60, 40), (110, 150, 205), (20, 20, 25))  # shirt, trousers, skin, hair


def _source(width: int, height: int) -> tuple[SyntheticSource, Profile]:
    camera = CameraSettings(width=width, height=height, fps=FPS, detect_width=320, detect_height=180)
    profile = Profile(name="test", camera=camera, redaction=RedactionSettings(method="solid"))
    source = open_source("synthetic", camera, realtime=False, seed=0, start=0.0)
    assert isinstance(source, SyntheticSource)
    return source, profile


def _clip(box: tuple[int, int, int, int], width: int, height: int) -> tuple[int, int, int, int] | None:
    # The scene rounds its boxes outward to whole pixels (and draws every stroke inside): the outermost pixel
    # on each side is that rounding, not the person.
    x, y, w, h = box
    x0, y0, x1, y1 = max(x + 1, 0), max(y + 1, 0), min(x + w - 1, width), min(y + h - 1, height)
    return (x0, y0, x1, y1) if x1 - x0 >= MIN_VISIBLE_WIDTH and y1 > y0 else None


def _run(width: int, height: int, actor: Actor, seconds: float) -> list[tuple[int, float, float]]:
    """Redact the scene with ``actor`` in it; return (frame, share of box pixels left visible, actor's x)
    for every person box that is not wholly blacked out, and check the frames that are masked wide."""
    source, profile = _source(width, height)
    redactor = build_redactor(profile, [], seed=1)
    leaks: list[tuple[int, float, float]] = []
    for i in range(round(seconds * FPS)):
        t = i / FPS
        image = source.render(i)
        where = actor.position(t)
        boxes = list(source.synthetic_truth(i))
        if where is not None:
            x, feet, moving = where
            draw_person(image, actor, x, feet, t=t, moving=moving, gain=1.0)
            boxes.append(actor.person_box(x, feet, width, height))
        out = redactor.redact(Frame(i, t, image))
        for box in boxes:
            clipped = _clip(box, width, height)
            if clipped is None:
                continue
            x0, y0, x1, y1 = clipped
            visible = float(np.any(out.image[y0:y1, x0:x1] != 0, axis=2).mean())
            if visible > 0:
                leaks.append((i, visible, box[0]))
    assert redactor.counters()["warmup"] > 0
    return leaks


def test_person_standing_still_for_twenty_seconds_stays_masked() -> None:
    # Walks in from the right, stands 20 s in the middle of the sidewalk, walks off to the left.
    path = (Keyframe(0.0, 1.08, 0.74), Keyframe(6.0, 0.6, 0.74), Keyframe(26.0, 0.6, 0.74), Keyframe(31.0, -0.1, 0.74))
    actor = Actor("person", path, 1000.0, 0.0, 1.0, COLOURS)
    assert _run(640, 360, actor, 30.0) == []


def test_person_standing_from_the_first_frame_stays_masked() -> None:
    # Already there, perfectly still, before the background model has seen the empty street: motion never
    # reveals them; the full-resolution face sweep at the end of the warm-up does.
    path = (Keyframe(0.0, 0.6, 0.74), Keyframe(1000.0, 0.6, 0.74))
    actor = Actor("person", path, 1000.0, 0.0, 1.0, COLOURS)
    assert _run(1280, 720, actor, 22.0) == []


def test_sweep_tiles_cover_the_frame_with_overlap() -> None:
    tiles = tile_grid(1280, 720, 320, 180)
    assert len(tiles) == 16
    covered = np.zeros((720, 1280), dtype=np.int32)
    for x0, y0, x1, y1 in tiles:
        assert 0 <= x0 < x1 <= 1280 and 0 <= y0 < y1 <= 720
        covered[y0:y1, x0:x1] += 1
    assert covered.min() >= 1
    # Neighbouring tiles share a band at least as tall as a face the sweep is meant to find (about 45 pixels).
    assert tiles[4][1] <= tiles[0][3] - 45 and tiles[1][0] <= tiles[0][2] - 45
    assert tile_grid(320, 180, 320, 180) == [(0, 0, 320, 180)]
