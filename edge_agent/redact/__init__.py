"""Redaction: zones, passers-by detection and the fail-closed rules. Build one with :func:`build_redactor`."""

from __future__ import annotations

from collections.abc import Sequence

from edge_agent.config.models import Profile, Zone
from edge_agent.redact.faces import RetinaFaceDetector
from edge_agent.redact.people import PassersBy
from edge_agent.redact.redactor import REASONS, SCENE_SHIFT, RedactedFrame, Redactor

__all__ = ["REASONS", "SCENE_SHIFT", "RedactedFrame", "Redactor", "build_redactor"]


def build_redactor(profile: Profile, zones: Sequence[Zone] | None = None, *, seed: int | None = None) -> Redactor:
    """The redactor the daemon and ``edge-agent redact`` use. ``zones`` default to the profile's zones.

    Raises :class:`edge_agent.errors.RedactError` when the face model is not installed.
    """
    settings = profile.redaction
    faces = RetinaFaceDetector(settings.face_score)
    people = PassersBy(settings, faces)
    return Redactor(
        profile.zones if zones is None else zones,
        people,
        settings=settings,
        detect_box=(profile.camera.detect_width, profile.camera.detect_height),
        seed=seed,
    )
