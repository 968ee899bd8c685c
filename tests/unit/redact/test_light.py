"""The background follows the camera's tone curve: auto exposure that lifts dark and bright parts by different
amounts is no foreground, and no change of light, however far, breaks the model."""

from __future__ import annotations

import numpy as np

from edge_agent.redact.background import BackgroundModel

FPS = 10.0


def _warm(model: BackgroundModel, image: np.ndarray) -> float:
    t = 0.0
    for i in range(6):
        t = i / FPS
        model.apply(image, t)
    return t


def _scene() -> np.ndarray:
    rng = np.random.default_rng(2)
    image = np.empty((90, 160, 3), dtype=np.uint8)
    image[:45] = rng.integers(200, 230, (45, 160, 3))  # a white wall
    image[45:] = rng.integers(30, 60, (45, 160, 3))  # a dark floor
    return image


def test_auto_exposure_lifting_the_dark_floor_more_than_the_wall_is_no_foreground() -> None:
    model = BackgroundModel(5, 120.0, warmup_seconds=0.5)
    scene = _scene()
    t = _warm(model, scene)
    exposed = scene.astype(np.float32)
    exposed[:45] += 6  # the wall, near saturation, barely moves
    exposed[45:] *= 1.35  # the floor gains a third
    fg = model.apply(np.clip(exposed, 0, 255).astype(np.uint8), t + 0.1)
    assert fg is not None and (fg > 0).mean() < 0.01


def test_where_one_gain_floods_the_floor_the_curve_does_not() -> None:
    # A wall over two thirds of the view: one gain for the frame follows the wall, and the floor, lifted twofold,
    # becomes foreground; the curve follows both.
    rng = np.random.default_rng(3)
    scene = np.empty((90, 160, 3), dtype=np.uint8)
    scene[:60] = rng.integers(200, 230, (60, 160, 3))
    scene[60:] = rng.integers(30, 60, (30, 160, 3))
    exposed = scene.astype(np.float32)
    exposed[:60] += 6
    exposed[60:] *= 2.0
    lit = np.clip(exposed, 0, 255).astype(np.uint8)
    for curve, flooded in ((False, True), (True, False)):
        model = BackgroundModel(5, 120.0, warmup_seconds=0.5, tone_curve=curve)
        t = _warm(model, scene)
        fg = model.apply(lit, t + 0.1)
        assert fg is not None and ((fg[60:] > 0).mean() > 0.5) == flooded


def test_far_and_sudden_changes_of_light_never_break_the_model() -> None:
    # Views of one band of levels, then random gains and offsets: a fitted curve can overshoot at the dark end,
    # and the model must still hold only levels a camera can give (a negative one once broke the next frame).
    rng = np.random.default_rng(0)
    for _ in range(12):
        model = BackgroundModel(5, 120.0, warmup_seconds=0.5)
        low, high = sorted(int(v) for v in rng.integers(0, 256, 2))
        scene = rng.integers(low, high + 1, (60, 80, 3)).astype(np.uint8)
        t = _warm(model, scene)
        for k in range(6):
            lit = np.clip(scene.astype(np.float32) * rng.uniform(0, 2.5) + rng.uniform(-80, 80), 0, 255)
            assert model.apply(lit.astype(np.uint8), t + (k + 1) / FPS) is not None
            assert model._bg is not None and float(model._bg.min()) > -0.5 and float(model._bg.max()) < 255.5
