"""The synthetic street scene: determinism, layout, ground truth and pacing."""

from __future__ import annotations

import itertools
import time
from typing import Any

import numpy as np
import pytest

from edge_agent.capture import SceneOptions, SyntheticSource, open_source
from edge_agent.config.models import CameraSettings

FPS = 15.0


def _source(seed: int = 0, width: int = 640, height: int = 360, **options: Any) -> SyntheticSource:
    return SyntheticSource(
        width=width, height=height, fps=FPS, seed=seed, options=SceneOptions(**options), start=1000.0
    )


def _take(source: SyntheticSource, n: int) -> list[np.ndarray]:
    return [frame.image for frame in itertools.islice(source.frames(), n)]


def test_same_seed_same_frames_other_seed_other_frames() -> None:
    a, b, c = _take(_source(7), 5), _take(_source(7), 5), _take(_source(8), 5)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not any(np.array_equal(x, z) for x, z in zip(a, c, strict=True))
    assert _source(7).synthetic_truth(40) == _source(7).synthetic_truth(40)


def test_frames_are_bgr_at_size_with_timestamps_at_fps() -> None:
    frames = list(itertools.islice(_source(width=320, height=180).frames(), 4))
    for i, frame in enumerate(frames):
        assert frame.image.shape == (180, 320, 3) and frame.image.dtype == np.uint8
        assert frame.index == i
        assert frame.captured_at == pytest.approx(1000.0 + i / FPS)


def test_render_is_random_access_and_equals_the_stream() -> None:
    source = _source(3)
    streamed = _take(source, 12)
    assert np.array_equal(source.render(11), streamed[11])


def test_consecutive_frames_differ_by_noise_even_without_motion() -> None:
    source = _source(people=0, cars=False, porch=False)
    a, b = _take(source, 2)
    diff = np.abs(a.astype(int) - b.astype(int))
    assert 0 < diff.mean() < 6  # mild sensor noise plus lighting drift, not a different picture


def test_without_noise_an_empty_scene_only_drifts_in_brightness() -> None:
    source = _source(people=0, cars=False, porch=False, noise=False)
    first, later = source.render(0), source.render(int(10 * FPS))
    ratio = later.astype(float).mean() / first.astype(float).mean()
    assert ratio != pytest.approx(1.0, abs=1e-3) and ratio == pytest.approx(1.0, abs=0.15)
    assert source.synthetic_truth(0) == []


def test_background_is_textured() -> None:
    image = _source(people=0, cars=False, porch=False, noise=False).render(0)
    # Both houses and the sidewalk are textured, not flat colour.
    for region in (image[80:200, 20:420], image[90:200, 470:630], image[240:280, :]):
        assert region.reshape(-1, 3).std(axis=0).max() > 8


def test_truth_boxes_contain_the_drawn_people() -> None:
    with_people = _source(5, noise=False, cars=False)
    empty = _source(5, people=0, porch=False, noise=False, cars=False)
    for index in (0, 40, 100, 200):
        frame, background = with_people.render(index), empty.render(index)
        changed = np.any(frame != background, axis=2)
        inside = np.zeros_like(changed)
        for x, y, w, h in with_people.synthetic_truth(index):
            inside[y : y + h, x : x + w] = True
        assert changed.any()
        assert not (changed & ~inside).any(), f"frame {index}: person pixels outside the truth boxes"
        assert all(changed[y : y + h, x : x + w].mean() > 0.3 for x, y, w, h in with_people.synthetic_truth(index))


def test_people_walk_on_the_sidewalk_and_are_sized_by_perspective() -> None:
    source = _source(width=1280, height=720)
    people = source.people(0)
    assert len(people) >= 3
    for person in people:
        _, y, _, h = person.box
        assert person.where == "sidewalk"
        assert 0.62 * 720 <= y + h <= 0.85 * 720  # feet on the sidewalk
    heights = {p.box[1] + p.box[3]: p.box[3] for p in people if p.box[0] > 0 and p.box[0] + p.box[2] < 1280}
    feet = sorted(heights)
    assert heights[feet[0]] < heights[feet[-1]], "nearer (lower) people are taller"


def test_someone_stands_still_for_several_seconds() -> None:
    source = _source()
    still = [any(not p.moving and p.where == "sidewalk" for p in source.people(i)) for i in range(0, int(12 * FPS))]
    assert sum(still) >= 5 * FPS
    boxes = [source.synthetic_truth(i) for i in (int(3 * FPS), int(7 * FPS))]
    assert set(boxes[0]) & set(boxes[1]), "the standing person's box does not move"


def test_a_visitor_comes_onto_the_porch_and_a_car_passes() -> None:
    source = _source(width=640, height=360)
    porch = [i for i in range(0, int(40 * FPS), 5) if any(p.where == "porch" for p in source.people(i))]
    assert porch, "someone walks onto the porch"
    x, y, w, h = next(p.box for p in source.people(porch[0]) if p.where == "porch")
    assert x + w <= 0.70 * 640 and y + h <= 0.62 * 360
    # The car drives along the street (y >= 0.82): the street changes while it passes.
    empty = _source(people=0, porch=False, noise=False)
    plain = _source(people=0, porch=False, noise=False, cars=False)
    passing = [i for i in range(0, int(30 * FPS), 5) if not np.array_equal(empty.render(i), plain.render(i))]
    assert passing
    diff = np.any(empty.render(passing[len(passing) // 2]) != plain.render(passing[len(passing) // 2]), axis=2)
    rows = np.nonzero(diff.any(axis=1))[0]
    assert rows.min() >= 0.80 * 360


def test_frames_option_limits_the_stream() -> None:
    camera = CameraSettings(width=160, height=96, fps=30)
    source = open_source("synthetic:people=1,frames=7", camera, realtime=False)
    assert len(list(source.frames())) == 7


def test_close_stops_the_stream() -> None:
    source = _source()
    taken = 0
    for _ in source.frames():
        taken += 1
        if taken == 3:
            source.close()
    assert taken == 3


def test_realtime_source_is_live_and_paced() -> None:
    camera = CameraSettings(width=160, height=96, fps=60)
    source = open_source("synthetic:frames=6", camera)  # realtime by default: it stands in for a camera
    assert source.info.live
    frames = list(source.frames())
    assert [f.index for f in frames] == list(range(6))
    # Paced: frame i is not released before i / fps after the first (no upper bound asserted).
    assert frames[-1].captured_at - frames[0].captured_at >= 5 / 60 - 0.005


def test_realtime_source_drops_frames_a_slow_consumer_missed() -> None:
    camera = CameraSettings(width=160, height=96, fps=60)
    source = open_source("synthetic:frames=30", camera, realtime=True)
    indexes = []
    for frame in source.frames():
        indexes.append(frame.index)
        if len(indexes) == 2:
            # A consumer that stalls for six frame periods: the source skips ahead, as a camera would.
            time.sleep(0.1)
        if len(indexes) == 3:
            source.close()
    assert indexes[2] - indexes[1] >= 5
    assert indexes == sorted(set(indexes))
