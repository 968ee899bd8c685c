"""People the motion gate cannot see, found by a person detector on a schedule.

The motion gate finds whoever moves, and keeps whoever stops (its background learns them very slowly). It
cannot find someone who stood still since before the background was learnt: the first frames hold them, so to
the gate they are scenery. A face detector finds them only when they face the camera. A person detector finds
them from behind too; it costs about ten frames' worth of motion work, so it runs once every
``every_seconds`` of capture time (and on the first frame after every warm-up), and the people it finds are held
until two runs later.

People it finds on someone the motion gate already tracks are left to that track, which follows them; held
where they were found, they would mask the spot a passer-by left (the same rule as the face sweep's).

It is also the judge of the background model's unconfirmed still regions (:mod:`edge_agent.redact.ghosts`): a
region nobody is found in is a ghost of the warm-up, learnt into the background; a region the detector (or the
face detector) finds someone in stays foreground.
"""

from __future__ import annotations

from collections.abc import Sequence

from edge_agent.capture.base import Image
from edge_agent.redact.persons import PersonDetector
from edge_agent.redact.tracker import Box, Tracker, inside

HOLD_RUNS = 2.5  # a person found is held this many runs (they are looked for again once a run)
FRESH_SECONDS = 0.5  # the judge runs the detector again when its last run is older than this
OVERLAP = 0.3  # a region shares this much of its box with a person found: someone may be there


def centre_inside(box: Box, other: Box) -> bool:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return other[0] <= cx <= other[2] and other[1] <= cy <= other[3]


class PersonWatch:
    """Runs a :class:`PersonDetector` on the detection copy on a schedule; boxes are in its pixels."""

    def __init__(self, detector: PersonDetector, every_seconds: float) -> None:
        self._detector = detector
        self._every = every_seconds
        self._held = Tracker(HOLD_RUNS * every_seconds, HOLD_RUNS * every_seconds)
        self._found: list[Box] = []
        self._last_run: float | None = None

    def reset(self) -> None:
        self._held.reset()
        self._found = []
        self._last_run = None

    @property
    def found(self) -> list[Box]:
        """Everyone the last run found, tracked or not."""
        return list(self._found)

    def update(self, small: Image, t: float, tracked: Sequence[Box], *, force: bool = False) -> list[Box]:
        """Run the detector if it is due (or ``force``); return the people to mask that no track covers."""
        fresh: list[Box] = []
        if force or self._last_run is None or t - self._last_run >= self._every:
            self._run(small, t)
            fresh = [box for box in self._found if not any(centre_inside(box, track) for track in tracked)]
        return self._held.update(fresh, t)

    def judge(
        self, small: Image, t: float, regions: Sequence[Box], faces: Sequence[Box], walkers: Sequence[Box]
    ) -> list[bool]:
        """For each region: True when nobody is in it: the detector finds no person there, no face overlaps it,
        and no track of someone who walked (``walkers``) covers it."""
        if self._last_run is None or t - self._last_run > FRESH_SECONDS:
            self._run(small, t)
        people = [*self._found, *faces, *walkers]
        return [not any(inside(region, p) >= OVERLAP or centre_inside(p, region) for p in people) for region in regions]

    def _run(self, small: Image, t: float) -> None:
        self._found = [box for box, _ in self._detector.detect(small)]
        self._last_run = t
