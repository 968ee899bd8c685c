"""A policy change mid-run (zones saved on the page, a profile reload): the segment in progress ends under the old
profile_hash, the next ones carry the new one, and the center sees one unbroken chain. Real parts: Mosquitto, x264,
HPKE, Ed25519, the center's subscriber."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge_agent.center.verify import verify_store
from edge_agent.config.in_force import profile_hash
from edge_agent.config.loader import load_profile
from edge_agent.config.models import Zone, ZonesFile
from edge_agent.core.audit import AuditLog
from edge_agent.devbroker import MosquittoBroker
from edge_agent.device.daemon import Agent, RunOptions
from edge_agent.redact.zonestore import ZoneStore
from edge_agent.segment.decode import decode_segment
from tests.integration.spine_helpers import CenterThread, Setup, grant_live, make_setup, wait_for

W, H = 320, 180
# The profile's zones, with the left part of the porch handed to a second neighbour ("number 12").
NEW_ZONES = ZonesFile(zones=[
    Zone(name="neighbour-house", kind="neighbour", coordinates=[(0.70, 0.0), (1.0, 0.0), (1.0, 0.62), (0.70, 0.62)]),
    Zone(name="number 12", kind="neighbour", coordinates=[(0.0, 0.0), (0.30, 0.0), (0.30, 0.62), (0.0, 0.62)]),
    Zone(name="street", kind="public", coordinates=[(0.0, 0.62), (1.0, 0.62), (1.0, 1.0), (0.0, 1.0)]),
    Zone(name="porch", kind="own", coordinates=[(0.30, 0.0), (0.70, 0.0), (0.70, 0.62), (0.30, 0.62)]),
])


def _evidence(center_root: Path) -> list[dict[str, object]]:
    path = center_root / "evidence.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return sorted(records, key=lambda r: int(r["seq"]))


def _number_12(frame: np.ndarray) -> np.ndarray:
    # x < 0.30, y < 0.62 of 320x180, 4 px inside the edges (codec ringing).
    return frame[4 : int(0.62 * H) - 4, 4 : int(0.30 * W) - 4]


def _run_with_change(setup: Setup, change: Callable[[Agent], None]) -> tuple[list[dict[str, object]], int]:
    """Run the agent live for 8 s; once the center holds two segments, ``change`` it. Checks that the center got
    one unbroken chain; returns its records and how many it held before the change."""
    grant_live(setup)
    agent = Agent(RunOptions(data_dir=setup.device.root, profile=str(setup.profile), duration=8.0))
    center_root = setup.center.root
    changed_after: list[int] = []

    def changer() -> None:
        if wait_for(lambda: len(_evidence(center_root)) >= 2, timeout=30):
            changed_after.append(len(_evidence(center_root)))
            change(agent)

    thread = threading.Thread(target=changer, daemon=True)
    with CenterThread(setup) as center:
        thread.start()
        summary = agent.run()
        wait_for(lambda: len(_evidence(center_root)) >= summary.shared, timeout=15)
    thread.join(timeout=30)
    assert changed_after, "the center never held two segments"
    records = _evidence(center_root)
    assert len(records) == summary.shared and center.counts["rejected"] == 0
    # One unbroken chain across the change: no gap in seq, every prev_hash links, every signature verifies.
    assert [r["seq"] for r in records] == list(range(len(records)))
    for prev, rec in itertools.pairwise(records):
        assert rec["prev_hash"] == prev["header_hash"]
    report = verify_store(setup.center)
    assert report.ok and f"test-device: {len(records)} segment(s) checked, 0 gap(s) in the chain" in report.lines
    return records, changed_after[0]


def _cut(records: list[dict[str, object]], changed_after: int, old_hash: str, new_hash: str) -> int:
    """The old hash up to the change, then only the new one: the segment in progress was not carried over."""
    hashes = [r["profile_hash"] for r in records]
    cut = hashes.index(new_hash) if new_hash in hashes else len(hashes)
    assert cut >= changed_after and hashes[:cut] == [old_hash] * cut
    assert hashes[cut:] == [new_hash] * (len(hashes) - cut) and len(hashes) - cut >= 2, hashes
    return cut


def test_zone_change_mid_run_starts_a_segment_with_the_new_hash(tmp_path: Path, mosquitto: MosquittoBroker) -> None:
    setup = make_setup(tmp_path, mosquitto.url)
    profile, text = load_profile(str(setup.profile))
    old_hash, new_hash = profile_hash(text, profile.zones), profile_hash(text, NEW_ZONES.zones)
    assert old_hash != new_hash
    # Saved as the page saves: zones.json and a zones_change entry in the device's audit log.
    records, changed_after = _run_with_change(
        setup, lambda _: ZoneStore(setup.device.root).save(NEW_ZONES, AuditLog(setup.device.audit), via="test")
    )
    cut = _cut(records, changed_after, old_hash, new_hash)

    # What each hash names is what masked the video: "number 12" is the porch before the change, black after it.
    folder = setup.center.store / "test-device"
    before = decode_segment((folder / str(records[0]["video"])).read_bytes())
    assert all(_number_12(frame).std() > 5 for frame in before)
    for rec in records[cut:]:
        for frame in decode_segment((folder / str(rec["video"])).read_bytes()):
            assert _number_12(frame).max() <= 12, f"new neighbour zone not filled in segment {rec['seq']}"

    # The device's audit log names the hash the new zones brought into force, after the page's zones_change.
    entries = list(AuditLog(setup.device.audit).entries())
    kinds = [e["kind"] for e in entries]
    saved, applied = entries[kinds.index("zones_change")], entries[kinds.index("zones_applied")]
    assert saved["seq"] < applied["seq"]
    assert applied["profile_hash"] == new_hash and applied["zones_sha256"] == saved["zones_sha256"]
    assert [e["profile_hash"] for e in entries if e["kind"] == "agent_start"] == [old_hash]


def test_profile_reload_hashes_the_homeowners_zones_and_continues_the_chain(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    setup = make_setup(tmp_path, mosquitto.url)
    ZoneStore(setup.device.root).save(NEW_ZONES, AuditLog(setup.device.audit), via="test")  # before the start
    profile, text = load_profile(str(setup.profile))
    edited = text + "# camera re-aimed\n"
    old_hash, new_hash = profile_hash(text, NEW_ZONES.zones), profile_hash(edited, NEW_ZONES.zones)
    assert old_hash != profile_hash(text, profile.zones)  # zones.json, not the profile's zones, is in force

    def reload(agent: Agent) -> None:
        setup.profile.write_text(edited)
        agent.reload_event.set()  # what the SIGHUP handler of run_agent does

    records, changed_after = _run_with_change(setup, reload)
    _cut(records, changed_after, old_hash, new_hash)
    folder = setup.center.store / "test-device"
    for rec in records:
        for frame in decode_segment((folder / str(rec["video"])).read_bytes()):
            assert _number_12(frame).max() <= 12, f"zones.json not in force in segment {rec['seq']}"
    entries = list(AuditLog(setup.device.audit).entries())
    assert [e["profile_hash"] for e in entries if e["kind"] == "profile_reload"] == [new_hash]
