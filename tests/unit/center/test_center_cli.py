"""The center's command line for people: staff, search, cases, export and verify-bundle, the access log, the
transparency report, the device list and withdrawal. Every look from the command line is logged too."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from edge_agent.center.cli import main
from edge_agent.center.index import SearchQuery
from edge_agent.transport.model import InboundMessage
from tests.unit.center.case_helpers import ASKED, CASE, LIVE, make_world, seal_chain


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_staff_search_case_export_and_the_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world = make_world(tmp_path)
    d = ["--dir", str(world.paths.root)]
    code, out, _ = _run(capsys, *d, "staff", "add", "ivan", "--role", "investigator", "--role", "auditor",
                        "--generate")
    assert code == 0 and "auditor, investigator" in out and len(out.split("password: ")[1].strip()) >= 12
    assert "ivan" in _run(capsys, *d, "staff", "list")[1]
    code, _, err = _run(capsys, *d, "staff", "add", "bob", "--role", "chief", "--generate")
    assert code == 2 and err.count("\n") == 1 and "roles must be" in err
    code, out, _ = _run(capsys, *d, "search", "--case", CASE)
    assert code == 0 and out.strip().endswith("3 segment(s)") and f"{ASKED} #0" in out
    start, end = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(world.t0)), time.strftime(
        "%Y-%m-%dT%H:%M:%S", time.gmtime(world.t0 + 2))
    code, out, _ = _run(capsys, *d, "case", "add", CASE, "--device", LIVE, "--start", start, "--end", end)
    assert code == 0 and "7 segment(s) now" in out  # 3 requested + door-a's 4 segments overlapping [t0, t0+2)
    bundle = tmp_path / "case.zip"
    code, out, _ = _run(capsys, *d, "export", "--case", CASE, "-o", str(bundle))
    assert code == 0 and bundle.is_file() and "7 segment(s)" in out
    code, out, _ = _run(capsys, *d, "verify-bundle", str(bundle))
    assert code == 0 and out.strip().endswith("BUNDLE VERIFIED")
    code, out, _ = _run(capsys, *d, "access-log", "verify")
    assert code == 0 and out.startswith("OK: ")
    code, out, _ = _run(capsys, *d, "access-log", "show", "--limit", "10")
    actions = [line.split()[3] for line in out.splitlines()]
    assert actions == ["staff_add", "search", "case_window", "export", "export", "read_access_log"]
    with world.open() as center:  # one entry per device of the case, each with its window and count
        exports = {e.device_id: e for e in center.access.entries(action="export")}
        assert {d: e.segments for d, e in exports.items()} == {LIVE: 4, ASKED: 3}
        rows = center.index.case_segments(CASE)
    for device, entry in exports.items():
        mine = [r for r in rows if r.device_id == device]
        assert (entry.start, entry.end, entry.case_id) == (mine[0].start, mine[-1].end, CASE)
    code, out, _ = _run(capsys, *d, "transparency", "--json")
    month = json.loads(out)["months"][-1]
    assert (month["requests_made"], month["approved"], month["segments_exported"]) == (1, 1, 7)


def test_devices_list_and_withdrawal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world = make_world(tmp_path, live_segments=3)
    d = ["--dir", str(world.paths.root)]
    code, out, _ = _run(capsys, *d, "devices", "list")
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert "live until" in lines[LIVE] and "3 stored, complete" in lines[LIVE]
    assert "no segment" not in lines[ASKED] and "unknown" in lines[ASKED]
    code, out, _ = _run(capsys, *d, "devices", "remove", LIVE)
    assert code == 0 and "withdrawn" in out
    code, _, err = _run(capsys, *d, "devices", "remove", LIVE)
    assert code == 2 and "already withdrawn" in err
    # The running intake refuses its next segment at once, with a reason; its evidence stays and still verifies.
    late = seal_chain(world.devices[LIVE], LIVE, world.recipient, world.consent_id, time.time() - 5, 1)[0][0]
    result = world.intake.handle(InboundMessage(f"rtcc/v1/{LIVE}/segments", late, retain=False))
    assert result is not None and (result.status, result.reason) == ("rejected", "device withdrawn from this center")
    assert "WITHDRAWN" in _run(capsys, *d, "devices", "list")[1]
    code, out, _ = _run(capsys, *d, "verify")
    assert code == 0 and f"{LIVE}: 3 segment(s) checked" in out

def test_a_request_from_the_command_line_is_logged_and_indexed(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                               mosquitto: object) -> None:
    """``edge-center request`` is in the access log like the console's, and its case finds it at once (not only
    after the next subscriber start or ``index sync``)."""
    world = make_world(tmp_path, live_segments=1)
    d = ["--dir", str(world.paths.root)]
    assert _run(capsys, *d, "broker", "set", mosquitto.url)[0] == 0  # type: ignore[attr-defined]
    code, out, err = _run(capsys, *d, "request", ASKED, "--start", "2026-11-22T18:00:00Z", "--end",
                          "2026-11-22T18:30:00Z", "--case", "CASE-CLI", "--reason", "a bicycle taken")
    assert code == 0, err
    request_id = out.split()[2]
    with world.open() as center:
        logged = center.access.entries(action="request", limit=5)
        rows = center.index.requests(case_id="CASE-CLI")
        assert "CASE-CLI" in center.index.case_ids()
    assert len(logged) == 1 and logged[0].staff.startswith("cli:")
    assert (logged[0].device_id, logged[0].case_id, logged[0].end - logged[0].start) == (ASKED, "CASE-CLI", 1800)
    assert [(r.id, r.created_by) for r in rows] == [(request_id, logged[0].staff)]


def test_verify_marks_each_segment_in_the_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world = make_world(tmp_path, live_segments=3)
    d = ["--dir", str(world.paths.root)]
    with world.open() as center:
        rows = center.index.search(SearchQuery(device_id=LIVE)).rows
    (world.paths.store / LIVE / rows[0].video).write_bytes(b"not the video")
    (world.paths.store / LIVE / rows[1].sealed).unlink()
    code, out, _ = _run(capsys, *d, "verify")
    assert code == 1 and "video file altered" in out and "sealed file missing" in out
    with world.open() as center:
        states = [r.state for r in center.index.search(SearchQuery(device_id=LIVE)).rows]
    assert states == ["altered", "missing", "valid"]
    assert "altered" in _run(capsys, *d, "search", "--device", LIVE)[1]
