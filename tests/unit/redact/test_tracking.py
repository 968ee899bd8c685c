"""The tracker and blob rules that keep masks tight around groups, on boxes in detection-image pixels."""

from __future__ import annotations

from edge_agent.config.models import RedactionSettings
from edge_agent.redact.background import Blob, merge_stacked
from edge_agent.redact.people import PassersBy, _head_band
from edge_agent.redact.tracker import Tracker, inside

SECOND = 1.0


def _area(box: tuple[float, float, float, float]) -> float:
    return (box[2] - box[0]) * (box[3] - box[1])


def test_group_box_is_dropped_when_its_members_are_tracked_apart() -> None:
    tracker = Tracker(hold_seconds=4.0)
    left, right, group = (100.0, 50.0, 115.0, 95.0), (125.0, 50.0, 140.0, 95.0), (100.0, 48.0, 140.0, 100.0)
    for k in range(10):  # the two people, and a blob over both of them (a stacked join, a merge in the last frames)
        tracker.update([left, right, group], k * 0.1)
    boxes = tracker.update([(98.0, 50.0, 113.0, 95.0), (127.0, 50.0, 142.0, 95.0)], 1.0)
    # Each person keeps their own track; the group box, with both of them inside and no detection of its own,
    # is not held (held, it would stretch by its own width a second over the ground around them).
    assert len(boxes) == 2
    assert all(b[2] - b[0] < 20.0 for b in boxes)


def test_person_lost_behind_a_post_is_held_and_follows_their_walk() -> None:
    tracker = Tracker(hold_seconds=4.0)
    for k in range(20):
        x = 50.0 + 3 * k
        tracker.update([(x, 40.0, x + 15.0, 80.0)], k * 0.1)
    held = tracker.update([], 2.0)
    assert len(held) == 1
    # Held and stretched in the walking direction (right), never dropped while other people are elsewhere.
    assert held[0][2] > 50.0 + 3 * 19 + 15.0
    held = tracker.update([(200.0, 40.0, 215.0, 80.0), (230.0, 40.0, 245.0, 80.0)], 2.5)
    assert any(b[0] < 120.0 for b in held)


def test_person_merged_into_a_group_blob_is_kept_but_stops_stretching() -> None:
    tracker = Tracker(hold_seconds=4.0)
    for k in range(10):  # someone walking right at 40 px/s towards a slower pair
        tracker.update([(100.0 + 4 * k, 50.0, 115.0 + 4 * k, 90.0), (150.0, 50.0, 180.0, 90.0)], k * 0.1)
    # One blob now covers both: the big track takes it; the small one is inside it, held in place.
    blob = (130.0, 48.0, 182.0, 92.0)
    boxes = []
    for k in range(6):
        boxes = tracker.update([blob], 1.0 + 0.1 * k)
    assert len(boxes) == 2
    small = min(boxes, key=_area)
    assert inside(small, blob) > 0.7
    assert small[2] - small[0] <= 15.5  # not stretched by half a second of walking


def test_stacked_parts_are_joined_only_when_one_person_tall() -> None:
    head, legs = Blob(10, 10, 20, 22, 100), Blob(11, 28, 21, 45, 150)
    assert len(merge_stacked([head, legs])) == 1
    # The same pair, when the joined box would be much taller than a person standing there, stays two.
    assert len(merge_stacked([head, legs], fits=lambda b: b.y1 - b.y0 <= 25)) == 2


def test_height_prior_refuses_a_far_person_stacked_on_a_near_one() -> None:
    masker = PassersBy(RedactionSettings(), None)
    for k in range(60):  # people about 30 px tall with their feet at row 100
        masker._heights.observe((10.0 + k, 70.0, 22.0 + k, 100.0))
    assert masker._one_person(Blob(0, 72, 12, 100, 200))
    assert not masker._one_person(Blob(0, 40, 12, 100, 300))


def test_head_band_is_one_person_wide_at_most() -> None:
    person = (0.0, 0.0, 12.0, 30.0)
    group = (0.0, 0.0, 60.0, 30.0)
    grow_person = (_head_band(person)[2] - _head_band(person)[0]) - 12.0
    grow_group = (_head_band(group)[2] - _head_band(group)[0]) - 60.0
    assert grow_person > 0
    assert grow_group <= 2 * 0.15 * 0.5 * 30.0 + 1e-9
