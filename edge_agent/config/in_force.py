"""The policy in force: one profile, the zones in force, and the ``profile_hash`` every segment header names.

A profile reload or a zone change makes a new :class:`Policy`; nothing changes a policy in place, so the frame
loop, the consent gate and the workers each see one whole policy or the next, never half of each.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from edge_agent.config.models import Profile, Zone, ZonesFile
from edge_agent.core.canon import canonical_json


def zones_document(zones: Sequence[Zone]) -> bytes:
    """``{"zones": [...]}`` in canonical JSON (docs/envelope.md): after validation the same zones give the same
    bytes whatever the key order, spacing or number spelling (``0`` or ``0.0``) of the file they came from."""
    return canonical_json(ZonesFile(zones=list(zones)).model_dump(mode="json"))


def zones_digest(zones: Sequence[Zone]) -> str:
    return hashlib.sha256(zones_document(zones)).hexdigest()


def profile_hash(profile_text: str, zones: Sequence[Zone]) -> str:
    """The ``profile_hash`` of a segment header: SHA-256 of the profile's text, a zero byte, and the zones in force
    (:func:`zones_document`). The text alone would not do: ``zones.json`` replaces the profile's zones."""
    return hashlib.sha256(profile_text.encode("utf-8") + b"\0" + zones_document(zones)).hexdigest()


@dataclass(frozen=True, slots=True)
class Policy:
    """A profile with the zones in force. Build it with :meth:`of`, so that ``hash`` always matches."""

    profile: Profile
    text: str
    zones: tuple[Zone, ...]
    hash: str

    @classmethod
    def of(cls, profile: Profile, text: str, zones: Sequence[Zone]) -> Policy:
        return cls(profile, text, tuple(zones), profile_hash(text, zones))

    def with_zones(self, zones: Sequence[Zone]) -> Policy:
        return Policy.of(self.profile, self.text, zones)
