"""The segment header's ``profile_hash``: the profile text and the zones in force, in one canonical form."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from edge_agent.config.in_force import profile_hash, zones_digest
from edge_agent.config.loader import load_zones
from edge_agent.config.models import Zone
from edge_agent.redact.zonestore import ZoneStore

PROFILE_TEXT = 'name = "porch"\n[camera]\nwidth = 320\n'

# One zones file as the page writes it, and the same zones with keys in another order, other spacing and
# whole numbers written without a fraction: after validation they are the same policy.
PAGE_FILE = """{
  "zones": [
    {"name": "number 12", "kind": "neighbour", "coordinates": [[0.0, 0.0], [0.3, 0.0], [0.3, 0.62]]},
    {"name": "street", "kind": "public", "coordinates": [[0.0, 0.62], [1.0, 0.62], [1.0, 1.0]]}
  ]
}
"""
SAME_ZONES = (
    '{"zones":[{"coordinates":[[0,0],[0.3,0],[0.3,0.62]],"kind":"neighbour","name":"number 12"},'
    '{"kind":"public","coordinates":[[0,0.62],[1,0.62],[1,1]],   "name":"street"}]}'
)


def _zones(tmp_path: Path, name: str, text: str) -> list[Zone]:
    path = tmp_path / name
    path.write_text(text)
    return list(load_zones(path).zones)


def test_same_zones_in_another_key_order_give_the_same_hash(tmp_path: Path) -> None:
    page = _zones(tmp_path, "page.json", PAGE_FILE)
    same = _zones(tmp_path, "same.json", SAME_ZONES)
    assert profile_hash(PROFILE_TEXT, page) == profile_hash(PROFILE_TEXT, same)
    assert zones_digest(page) == zones_digest(same)


def test_the_hash_is_the_documented_one(tmp_path: Path) -> None:
    # docs/envelope.md: SHA-256(profile text || 0x00 || canonical JSON of {"zones": [...]}), written out here
    # without the project's helpers so that the center (or anyone) can recompute it from the two inputs.
    zones = _zones(tmp_path, "page.json", PAGE_FILE)
    doc = json.dumps(json.loads(PAGE_FILE), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    expected = hashlib.sha256(PROFILE_TEXT.encode() + b"\0" + doc.encode()).hexdigest()
    assert profile_hash(PROFILE_TEXT, zones) == expected


def test_different_zones_or_profile_text_give_a_different_hash(tmp_path: Path) -> None:
    zones = _zones(tmp_path, "page.json", PAGE_FILE)
    base = profile_hash(PROFILE_TEXT, zones)
    moved = [zones[0].model_copy(update={"coordinates": [(0.0, 0.0), (0.31, 0.0), (0.3, 0.62)]}), zones[1]]
    public = [zones[0].model_copy(update={"kind": "public"}), zones[1]]
    variants = {
        "a corner moved": profile_hash(PROFILE_TEXT, moved),
        "a kind changed": profile_hash(PROFILE_TEXT, public),
        "a zone removed": profile_hash(PROFILE_TEXT, zones[:1]),
        "no zones": profile_hash(PROFILE_TEXT, []),
        "the zones in another order": profile_hash(PROFILE_TEXT, zones[::-1]),
        "another profile text": profile_hash(PROFILE_TEXT + "# a comment\n", zones),
    }
    assert base not in variants.values()
    assert len(set(variants.values())) == len(variants)


def test_the_zones_in_force_are_the_homeowners_when_saved(tmp_path: Path) -> None:
    profile_zones = _zones(tmp_path, "page.json", PAGE_FILE)[:1]
    store = ZoneStore(tmp_path, profile_zones)
    assert profile_hash(PROFILE_TEXT, store.load()) == profile_hash(PROFILE_TEXT, profile_zones)
    (tmp_path / "zones.json").write_text(SAME_ZONES)
    assert profile_hash(PROFILE_TEXT, store.load()) == profile_hash(PROFILE_TEXT, _zones(tmp_path, "p.json", PAGE_FILE))
