"""Redaction: zones, passers-by detection and the fail-closed rules. Build one with :func:`build_redactor`."""

from __future__ import annotations

from collections.abc import Sequence

from edge_agent.config.models import Profile, Zone
from edge_agent.redact.faces import RetinaFaceDetector
from edge_agent.redact.people import PassersBy
from edge_agent.redact.persons import SsdPersonDetector
from edge_agent.redact.redactor import ALL_PARTS, REASONS, SCENE_SHIFT, Parts, RedactedFrame, Redactor

__all__ = [
    "ALL_PARTS",
    "NO_BUDGET_MS",
    "REASONS",
    "SCENE_SHIFT",
    "Parts",
    "RedactedFrame",
    "Redactor",
    "build_redactor",
]

# The largest time budget a profile allows: in effect none. Offline there is no deadline, and a frame over the
# budget is analysed in full all the same; without it the output does not depend on how busy the machine is.
NO_BUDGET_MS = 5000.0
JUDGE_PERSON_SCORE = 0.2


def build_redactor(
    profile: Profile,
    zones: Sequence[Zone] | None = None,
    *,
    seed: int | None = None,
    frame_budget_ms: float | None = None,
    parts: Parts = ALL_PARTS,
    live: bool = False,
) -> Redactor:
    """The redactor the daemon and ``edge-agent redact`` use. ``zones`` default to the profile's zones, and
    ``frame_budget_ms`` to the profile's (``NO_BUDGET_MS`` for none). ``live`` (the daemon) runs the person
    detector in a thread of its own, so that its runs do not put frames over the budget; otherwise it runs
    inline and the output does not depend on the machine's speed.

    Raises :class:`edge_agent.errors.RedactError` when the face or the person model is not installed.
    """
    settings = profile.redaction
    if frame_budget_ms is not None:
        settings = settings.model_copy(update={"frame_budget_ms": frame_budget_ms})
    faces = RetinaFaceDetector(settings.face_score)
    # The detector reports unsure people too: the judge of the warm-up's ghosts lets nobody be learnt where it
    # saw anyone (JUDGE_PERSON_SCORE); only people at person_score or more are masked.
    persons = SsdPersonDetector(min(JUDGE_PERSON_SCORE, settings.person_score)) if parts.persons else None
    people = PassersBy(settings, faces, parts=parts, persons=persons, persons_in_background=live)
    return Redactor(
        profile.zones if zones is None else zones,
        people,
        settings=settings,
        detect_box=(profile.camera.detect_width, profile.camera.detect_height),
        seed=seed,
        parts=parts,
    )
