"""People the motion gate cannot see, found by a person detector on a schedule.

The motion gate finds whoever moves, and keeps whoever stops (its background learns them very slowly). It
cannot find someone who stood still since before the background was learnt: the first frames hold them, so to
the gate they are scenery. A face detector finds them only when they face the camera. A person detector finds
them from behind too; it costs about ten frames' worth of motion work, so it runs once every
``every_seconds`` of capture time (and on the first frame after every warm-up), and the people it finds are held
until two runs later.

People it finds on someone the motion gate already tracks are left to that track, which follows them; held
where they were found, they would mask the spot a passer-by left (the same rule as the face sweep's). Only people
it is fairly sure of (``mask_score``) are masked: unsure, it finds signs, tripods and bollards, for good.

It is also the judge of the background model's unconfirmed still regions (:mod:`edge_agent.redact.ghosts`): a
region nobody is found in is a ghost of the warm-up, learnt into the background; a region the detector finds
anyone in, however unsure, (or the face detector, or a track of someone who walked in) stays foreground.

**In the background.** On a Raspberry Pi 4 one run takes 0.2-0.5 s, several times a live frame's budget. With
``background=True`` (the daemon) the detector runs in a thread of its own on a copy of the detection image (raw
pixels, in memory only); its people are used from the frame after they come back. The warm-up lasts until the
first run after it has come back (:attr:`ready`), so the first frame shown already covers whoever stood still
through it, and the judge calls nobody a ghost without a run younger than ``FRESH_RUNS`` periods. An error in the
thread is raised on the next frame, which the redactor then masks wide. Offline (``edge-agent redact``, the
tests) the detector runs inline, so the output does not depend on the machine's speed.
"""

from __future__ import annotations

import atexit
import threading
import weakref
from collections.abc import Callable, Sequence

from edge_agent.capture.base import Image
from edge_agent.redact.persons import PersonDetector
from edge_agent.redact.tracker import Box, Tracker, centre_inside, inside

HOLD_RUNS = 2.5  # a person found is held this many runs (they are looked for again once a run)
STOP_SECONDS = 300.0  # the longest an exit waits for a run under way
FRESH_RUNS = 1.5  # the judge wants a run no older than this many periods
OVERLAP = 0.3  # a region shares this much of its box with a person found: someone may be there
TRACKED_SHARE = 0.5  # of a person's box inside a motion track: the track covers them
WHOLE_FRAME = 0.9  # a box this share of the frame's width and height is over nearly all of it ...
SURE_OF_WHOLE = 0.5  # ... and is kept only at this score or more


Found = list[tuple[Box, float]]  # boxes in detection pixels, with their scores


def _scaled(found: Sequence[tuple[Box, float]], scale: float, size: tuple[int, int]) -> Found:
    """Boxes in the detection copy's pixels; a box over nearly the whole frame counts only when the detector is
    sure of it (unsure, the network draws one over a busy texture; someone that close to the lens is in the
    motion gate's view, the face detector's, and the scene guard's, which sees the whole view covered)."""
    width, height = size
    kept = []
    for (x0, y0, x1, y1), score in found:
        if score < SURE_OF_WHOLE and x1 - x0 >= WHOLE_FRAME * width and y1 - y0 >= WHOLE_FRAME * height:
            continue
        kept.append(((x0 * scale, y0 * scale, x1 * scale, y1 * scale), score))
    return kept


def _tracked(box: Box, track: Box) -> bool:
    """True when a motion track already covers the person in ``box`` (its centre, or half of it)."""
    return centre_inside(box, track) or inside(box, track) >= TRACKED_SHARE


class _Worker:
    """One detector run at a time, in a daemon thread; the newest result waits to be collected."""

    def __init__(self, detector: PersonDetector) -> None:
        self._detector = detector
        self._lock = threading.Condition()
        self._job: tuple[Image, float, float, int] | None = None
        self._result: tuple[float, int, Found] | None = None
        self._error: BaseException | None = None
        self._busy = False
        self._stopping = False
        # The thread holds the worker only weakly: once the redactor that owns it is dropped (a profile reload
        # builds a new one), the thread ends within a second and the model's memory is freed.
        self._thread = threading.Thread(target=_serve, args=(weakref.ref(self),), name="person-detector", daemon=True)
        self._thread.start()
        _WORKERS.add(self)

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """Stop the thread once its run (if any) is done. At exit this must happen before the interpreter goes:
        a thread still inside OpenCV's network then aborts the process. A run takes up to a second or two on a
        Pi, and far longer under emulation: the wait is bounded only to never hang an exit for good."""
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def submit(self, image: Image, scale: float, t: float, generation: int) -> bool:
        """Start a run on a copy of ``image`` unless one is under way; True if it was started."""
        with self._lock:
            if self._busy or self._job is not None:
                return False
            self._job = (image.copy(), scale, t, generation)
            self._lock.notify()
            return True

    @property
    def stopping(self) -> bool:
        return self._stopping

    def collect(self) -> tuple[float, int, Found] | None:
        """The newest finished run (capture time, generation, boxes), once; raises what the detector raised."""
        with self._lock:
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            result, self._result = self._result, None
            return result

    def take(self, timeout: float) -> tuple[Image, float, float, int] | None:
        """The next job, waiting up to ``timeout`` seconds for one; None as well once stopping."""
        with self._lock:
            if self._job is None and not self._stopping:
                self._lock.wait(timeout)
            if self._stopping:
                return None
            job, self._job = self._job, None
            self._busy = job is not None
            return job

    def run(self, job: tuple[Image, float, float, int]) -> None:
        image, scale, t, generation = job
        result: tuple[float, int, Found] | None = None
        error: BaseException | None = None
        try:
            result = (t, generation, _scaled(self._detector.detect(image), scale, (image.shape[1], image.shape[0])))
        except Exception as exc:  # handed to the frame loop, which masks wide
            error = exc
        with self._lock:
            self._result, self._error, self._busy = result, error, False


def _serve(ref: weakref.ref[_Worker]) -> None:
    while (worker := ref()) is not None and not worker.stopping:
        job = worker.take(timeout=1.0)
        if job is not None:
            worker.run(job)
        del worker


_WORKERS: weakref.WeakSet[_Worker] = weakref.WeakSet()


@atexit.register
def _stop_workers() -> None:
    for worker in list(_WORKERS):
        worker.stop()


class PersonWatch:
    """Runs a :class:`PersonDetector` on the detection copy on a schedule; boxes are in its pixels."""

    def __init__(
        self, detector: PersonDetector, every_seconds: float, *, mask_score: float = 0.0, background: bool = False
    ) -> None:
        self._detector = detector
        self._mask_score = mask_score
        self._every = every_seconds
        self._worker = _Worker(detector) if background else None
        self._held = Tracker(HOLD_RUNS * every_seconds, HOLD_RUNS * every_seconds)
        self._found: Found = []
        self._found_at: float | None = None  # capture time of the frame the last finished run looked at
        self._asked_at: float | None = None  # capture time of the frame the last run was started on
        self._generation = 0  # runs started before the last reset do not count

    def reset(self) -> None:
        """Forget everyone (a new warm-up): only runs started from now on count."""
        self._held.reset()
        self._found, self._found_at, self._asked_at = [], None, None
        self._generation += 1

    @property
    def ready(self) -> bool:
        """True once a run on a frame since the last reset has come back."""
        return self._found_at is not None

    def update(self, view: Callable[[], tuple[Image, float]], t: float, tracked: Sequence[Box]) -> list[Box]:
        """Run the detector if it is due, on the image ``view()`` makes (with the factor from its pixels to the
        detection copy's: made only when a run is due); return the people to mask that no track covers, in
        detection pixels."""
        fresh = self._collect()
        if self._asked_at is None or t - self._asked_at >= self._every:
            image, scale = view()
            fresh = self._start(image, scale, t) or fresh
        people = [
            box for box, score in fresh if score >= self._mask_score and not any(_tracked(box, t) for t in tracked)
        ]
        return self._held.update(people, t)

    def judge(self, t: float, regions: Sequence[Box], faces: Sequence[Box], walkers: Sequence[Box]) -> list[bool]:
        """For each region: True when nobody is in it: the detector finds no person there, no face overlaps it,
        and no track of someone who walked (``walkers``) covers it. Without a recent run (the scheduled ones:
        the judge never runs the detector itself), nobody is called a ghost."""
        if self._found_at is None or t - self._found_at > FRESH_RUNS * self._every:
            return [False] * len(regions)
        people = [*(box for box, _ in self._found), *faces, *walkers]
        return [not any(inside(region, p) >= OVERLAP or centre_inside(p, region) for p in people) for region in regions]

    def _start(self, image: Image, scale: float, t: float) -> Found:
        """Run the detector on ``image`` (inline: now, returning what it found; in the background: started, [])."""
        if self._worker is not None:
            if self._worker.submit(image, scale, t, self._generation):
                self._asked_at = t
            return []
        self._asked_at = self._found_at = t
        self._found = _scaled(self._detector.detect(image), scale, (image.shape[1], image.shape[0]))
        return self._found

    def _collect(self) -> Found:
        if self._worker is None:
            return []
        result = self._worker.collect()
        if result is None or result[1] != self._generation:
            return []
        self._found_at, _, self._found = result
        return self._found
