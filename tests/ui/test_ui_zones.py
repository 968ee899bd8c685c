"""Zones saved from the page reach a running redactor; a bad file keeps the zones in force."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_agent.capture.base import Frame
from edge_agent.config.models import Zone, ZonesFile
from edge_agent.core.audit import AuditLog
from edge_agent.errors import ConfigError
from edge_agent.redact import Redactor
from edge_agent.redact.zonestore import ZoneStore, ZoneWatch, parse_zones

HOUSE = Zone(name="house", kind="neighbour", coordinates=[(0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 1.0)])


def _redact(redactor: Redactor) -> np.ndarray:
    image = np.full((90, 160, 3), 200, dtype=np.uint8)
    return redactor.redact(Frame(0, 0.0, image)).image


def test_saved_zones_reach_the_redactor_and_scene_confirmation_is_passed_on(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.log")
    store = ZoneStore(tmp_path, profile_zones=[])
    watch = ZoneWatch(store)
    redactor = Redactor([])
    # Nothing saved yet: no new zones, the redactor in force stays.
    assert watch.changes().zones is None
    assert int(_redact(redactor).min()) == 200
    store.save(ZonesFile(zones=[HOUSE]), audit)
    changes = watch.changes()
    assert changes.zones == [HOUSE]
    redactor = Redactor(changes.zones)  # as the daemon rebuilds it (edge_agent.device.daemon, _zones_changed)
    out = _redact(redactor)
    assert int(out[:, 82:].max()) == 0 and int(out[:, :78].min()) == 200
    store.confirm_scene(audit)
    changes = watch.poll()
    assert changes.scene_confirmed and changes.zones is None
    assert [e["kind"] for e in audit.entries()] == ["zones_change", "scene_confirmed"]
    assert audit.verify().ok


def test_a_broken_zones_file_keeps_the_zones_in_force(tmp_path: Path) -> None:
    store = ZoneStore(tmp_path, profile_zones=[HOUSE])
    watch = ZoneWatch(store)
    redactor = Redactor([HOUSE])
    store.path.write_text('{"zones": [{"name": "x", "kind": "garden", "coordinates": []}]}')
    changes = watch.changes()
    assert changes.zones is None and not changes.scene_confirmed  # the zones in force stay
    assert int(_redact(redactor)[:, 82:].max()) == 0


def test_page_zone_errors_name_the_field() -> None:
    with pytest.raises(ConfigError, match=r"zones\.0\.name"):
        parse_zones({"zones": [{"name": "bad/name", "kind": "own", "coordinates": [[0, 0], [1, 0], [1, 1]]}]})
