"""The evidence index on SQLite: filled by the intake as segments are stored, searchable by case, device and time,
rebuilt from the files, and the devices' state."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from edge_agent.center import index as index_module
from edge_agent.center.devices import device_statuses, withdraw_device
from edge_agent.center.index import SearchQuery
from edge_agent.center.index_sync import sync_index
from edge_agent.center.schema import ensure_schema
from tests.unit.center.case_helpers import ASKED, CASE, LIVE, make_world


def test_intake_indexes_each_stored_segment_and_search_finds_them(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    with world.open() as center:
        everything = center.index.search(SearchQuery())
        assert everything.total == 9
        by_case = center.index.search(SearchQuery(case_id=CASE))
        assert [(r.device_id, r.seq, r.case_id) for r in by_case.rows] == [(ASKED, 0, CASE), (ASKED, 1, CASE),
                                                                              (ASKED, 2, CASE)]
        assert {r.consent_id for r in by_case.rows} == {world.request_id}
        by_device = center.index.search(SearchQuery(device_id=LIVE))
        assert by_device.total == 6 and all(r.state == "valid" and r.case_id == "" for r in by_device.rows)
        # Times: segments overlapping [t0 + 1.2, t0 + 2.1) of door-a are seq 2, 3 and 4 (0.5 s each from t0).
        window = center.index.search(SearchQuery(device_id=LIVE, start=world.t0 + 1.2, end=world.t0 + 2.1))
        assert [r.seq for r in window.rows] == [2, 3, 4]
        page = center.index.search(SearchQuery(limit=4, offset=4))
        assert page.total == 9 and len(page.rows) == 4
        assert center.index.search(SearchQuery(case_id="no-such-case")).total == 0


def test_a_window_of_live_footage_attached_to_a_case_joins_it(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    with world.open() as center:
        center.index.add_case_window(CASE, device_id=LIVE, start=world.t0 + 0.7, end=world.t0 + 1.6,
                                     added_by="inv-one", note="the van")
        rows = center.index.case_segments(CASE)
        assert [(r.device_id, r.seq) for r in rows] == [(LIVE, 1), (LIVE, 2), (LIVE, 3), (ASKED, 0), (ASKED, 1),
                                                        (ASKED, 2)]
        assert {r.case_id for r in rows} == {CASE}
        assert center.index.case_ids() == [CASE]
        # Filters apply to both branches: the case's footage of door-a only.
        assert [r.seq for r in center.index.search(SearchQuery(case_id=CASE, device_id=LIVE)).rows] == [1, 2, 3]


def test_sync_rebuilds_the_index_from_the_files(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    with world.open() as center:
        center.db.execute("DELETE FROM segments")
        center.db.execute("DELETE FROM requests")
        assert center.index.search(SearchQuery()).total == 0
        report = sync_index(world.paths, center.index)
        assert (report.segments, report.requests, report.unreadable) == (9, 1, ())
        assert center.index.search(SearchQuery(case_id=CASE)).total == 3
        # Nothing left to add: a second sync reads no record.
        assert sync_index(world.paths, center.index).segments == 0
        ensure_schema(center.db)  # idempotent


def test_device_statuses_and_withdrawal(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    with world.open() as center:
        statuses = {s.device_id: s for s in device_statuses(world.paths, center.index.device_summaries(),
                                                             center.consent, time.time())}
        live = statuses[LIVE]
        assert (live.enrolled, live.consent, live.stored, live.last_seq, live.missing) == (True, "live", 6, 5, 0)
        assert live.live_until is not None and live.live_until > time.time()
        assert statuses[ASKED].consent == "unknown"  # no consent record received from it
        withdraw_device(world.paths, LIVE)
        after = {s.device_id: s for s in device_statuses(world.paths, center.index.device_summaries(),
                                                          center.consent)}
        assert not after[LIVE].enrolled and after[LIVE].stored == 6


def test_a_wide_search_reads_in_key_order_and_finds_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    world = make_world(tmp_path)
    with world.open() as center:
        queries = [SearchQuery(start=world.t0 - 10, end=world.t0 + 100), SearchQuery(start=world.t0 + 1.2),
                   SearchQuery(end=world.t0 + 1.2, limit=2, offset=1)]
        narrow = [center.index.search(q) for q in queries]
        monkeypatch.setattr(index_module, "WIDE", 0)  # every search now takes the wide path
        assert [center.index.search(q) for q in queries] == narrow
        assert [r.total for r in narrow] == [9, 7, 3]


def test_subscribe_verbose_says_per_segment_what_it_stored(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="edge_agent.center.ingest"):
        world = make_world(tmp_path, live_segments=2)
    lines = [r.getMessage() for r in caplog.records if r.name == "edge_agent.center.ingest"]
    stored = [line for line in lines if line.startswith("stored ")]
    assert len(stored) == 5  # door-a's 2 live segments, door-b's 3 under the request
    assert stored[0].startswith(f"stored {LIVE} #0: ") and f"under {world.consent_id}" in stored[0]
    assert "frames" in stored[0] and "signature valid" in stored[0] and ".ts" in stored[0]
