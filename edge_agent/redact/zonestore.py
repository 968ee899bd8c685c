"""The homeowner's zones, drawn on the web page, in ``<data-dir>/zones.json``; and the "scene confirmed" signal.

When ``zones.json`` exists its zones replace the profile's zones (the profile's are the installer's starting
point). Saving validates with :class:`ZonesFile` (the same model as every zones file), writes atomically and
appends a ``zones_change`` entry to the audit log. The zones in force are part of the redaction policy that every
segment header names (:func:`edge_agent.config.in_force.profile_hash`), so the daemon ends its segment when they change.

The page and the daemon may be separate processes, so a scene confirmation is a small file
(``scene-confirm.json``) whose change the daemon notices through :class:`ZoneWatch`, like it notices consent.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edge_agent.config.in_force import zones_digest
from edge_agent.config.loader import load_zones, validate
from edge_agent.config.models import Zone, ZonesFile
from edge_agent.core.audit import AuditLog
from edge_agent.core.files import atomic_write
from edge_agent.errors import EdgeAgentError

log = logging.getLogger(__name__)


def zones_path(data_dir: Path) -> Path:
    return data_dir / "zones.json"


def scene_confirm_path(data_dir: Path) -> Path:
    return data_dir / "scene-confirm.json"


def parse_zones(data: object, source: str = "zones") -> ZonesFile:
    """Validate zones sent by the page; errors name the field, like a zones file's errors do."""
    return validate(source, json.dumps(data, indent=2), data, ZonesFile)


class ZoneStore:
    def __init__(self, data_dir: Path, profile_zones: Sequence[Zone] = ()) -> None:
        self.data_dir = data_dir
        self.path = zones_path(data_dir)
        self.profile_zones = tuple(profile_zones)

    def load(self) -> list[Zone]:
        """The zones in force: the homeowner's when saved, else the profile's."""
        if self.path.exists():
            return list(load_zones(self.path).zones)
        return list(self.profile_zones)

    def from_homeowner(self) -> bool:
        return self.path.exists()

    def save(self, zones: ZonesFile, audit: AuditLog, via: str = "ui") -> dict[str, object]:
        text = json.dumps(zones.model_dump(), indent=2) + "\n"
        atomic_write(self.path, text.encode("utf-8"), mode=0o600)
        kinds = {kind: sum(1 for z in zones.zones if z.kind == kind) for kind in ("own", "public", "neighbour")}
        return audit.append(
            "zones_change", via=via, zones_sha256=zones_digest(zones.zones), count=len(zones.zones), kinds=kinds
        )

    def confirm_scene(self, audit: AuditLog, via: str = "ui") -> None:
        now = time.time()
        atomic_write(scene_confirm_path(self.data_dir), json.dumps({"confirmed_at": now}).encode("utf-8"), 0o600)
        audit.append("scene_confirmed", via=via)


@dataclass(frozen=True, slots=True)
class ZoneChanges:
    zones: list[Zone] | None  # the new zones when they changed since the last poll
    scene_confirmed: bool


class ZoneWatch:
    """Polled by whoever runs a redactor: reports new zones and scene confirmations. Cheap: two ``stat`` calls."""

    def __init__(self, store: ZoneStore) -> None:
        self.store = store
        self._zones_key = self._key(store.path)
        self._confirm_key = self._key(scene_confirm_path(store.data_dir))

    @staticmethod
    def _key(path: Path) -> tuple[int, int] | None:
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_ino)

    def poll(self) -> ZoneChanges:
        confirm = self._key(scene_confirm_path(self.store.data_dir))
        confirmed = confirm != self._confirm_key and confirm is not None
        self._confirm_key = confirm
        zones = None
        key = self._key(self.store.path)
        if key != self._zones_key:
            self._zones_key = key  # set first: a bad file is reported once, not at every frame
            zones = self.store.load()
        return ZoneChanges(zones, confirmed)

    def changes(self) -> ZoneChanges:
        """:meth:`poll`, but a zones file that does not validate is logged (once) and keeps the zones in force."""
        try:
            return self.poll()
        except EdgeAgentError as exc:
            log.error("zones not changed: %s", exc)
            return ZoneChanges(None, scene_confirmed=False)
