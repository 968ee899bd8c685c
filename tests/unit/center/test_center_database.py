"""The center's database on both backends, SQLite and a real PostgreSQL started by the fixture: staff accounts,
the hash-chained access log (also with two writers at once), the evidence index and the transparency report."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.center.access_log import GENESIS
from edge_agent.center.db import open_database, use_database
from edge_agent.center.files import write_private
from edge_agent.center.index import SearchQuery
from edge_agent.center.keys import CenterPaths, init_keys, load_keys
from edge_agent.center.schema import ensure_schema
from edge_agent.center.services import Center
from edge_agent.center.transparency import format_report, month_bounds, transparency_report
from edge_agent.config.identity import load_identity
from edge_agent.consent.requests import make_request
from edge_agent.devbroker import free_port
from edge_agent.errors import CenterError
from edge_agent.seal.signed import sign_document
from tests.unit.center.case_helpers import ASKED, CASE, LIVE, make_world

PASSWORD = "correct horse battery"


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str | None:
    """None for SQLite, else the URL of a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def center(tmp_path: Path, backend: str | None) -> Iterator[Center]:
    paths = CenterPaths(tmp_path / "center")
    init_keys(paths, "db-center")
    if backend:
        assert use_database(paths, backend).startswith("PostgreSQL")
    with Center.open(paths) as opened:
        assert opened.db.dialect == ("postgresql" if backend else "sqlite")
        yield opened


def test_staff_accounts(center: Center) -> None:
    staff = center.staff
    alice = staff.add("alice", ["operator,investigator"], PASSWORD)
    assert alice.roles == {"operator", "investigator"} and alice.may("operator") and not alice.may("auditor")
    assert staff.authenticate("alice", PASSWORD) == alice
    assert staff.authenticate("alice", PASSWORD + "!") is None
    assert staff.authenticate("nobody", PASSWORD) is None
    with pytest.raises(CenterError, match="exists"):
        staff.add("alice", ["auditor"], PASSWORD)
    for name, roles, password, problem in [("Alice", ["auditor"], PASSWORD, "staff name"),
                                           ("bob", ["chief"], PASSWORD, "roles must be"),
                                           ("bob", ["auditor"], "short", "at least")]:
        with pytest.raises(CenterError, match=problem):
            staff.add(name, roles, password)
    staff.set_password("alice", PASSWORD + " two")
    assert staff.authenticate("alice", PASSWORD) is None
    changed = staff.get("alice")
    assert changed is not None and changed.generation == alice.generation + 1  # her old sessions end
    staff.remove("alice")
    assert staff.authenticate("alice", PASSWORD + " two") is None
    assert [m.name for m in staff.members()] == ["alice"] and not staff.members()[0].active
    back = staff.add("alice", ["auditor"], PASSWORD)
    assert back.active and back.roles == {"auditor"} and back.generation > changed.generation


def test_access_log_chain_and_tampering(center: Center) -> None:
    log = center.access
    assert log.head() == (0, GENESIS) and log.verify().ok
    first = log.append("alice", "view_live", device_id=LIVE, start=10.0, end=12.0, segments=1)
    log.append("bob", "search", case_id=CASE, detail="case CASE-7")
    last = log.append("bob", "export", case_id=CASE, segments=6, detail="case-7.zip")
    assert first.prev == GENESIS and log.head() == (3, last.hash)
    assert [e.action for e in log.entries()] == ["export", "search", "view_live"]
    assert [e.seq for e in log.entries(staff="bob", limit=1)] == [2]
    check = log.verify()
    assert check.ok and check.count == 3 and check.head == last.hash
    center.db.execute("UPDATE access_log SET detail = 'nothing to see' WHERE seq = 1")
    check = log.verify()
    assert not check.ok and "entry 1 was altered" in check.problem
    center.db.execute("DELETE FROM access_log WHERE seq = 1")
    assert "entry 1 is missing" in log.verify().problem


def test_two_writers_never_fork_the_chain(center: Center) -> None:
    """Two connections (as two consoles would have) append at once: one chain, no entry lost."""
    other = Center(center.paths, ensure_schema(open_database(center.paths)), center.index, center.staff,
                   center.access, center.consent)
    writers = [center.access, type(center.access)(other.db)]
    errors: list[BaseException] = []

    def write(log: object, who: str) -> None:
        try:
            for i in range(40):
                log.append(who, "view_recorded", device_id=LIVE, start=float(i), segments=1)  # type: ignore[attr-defined]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w, f"w{n}")) for n, w in enumerate(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    other.db.close()
    assert not errors
    check = center.access.verify()
    assert check.ok and check.count == 80


def test_evidence_index_and_transparency_on_each_backend(tmp_path: Path, backend: str | None) -> None:
    world = make_world(tmp_path, database=backend)
    with world.open() as center:
        assert center.db.dialect == ("postgresql" if backend else "sqlite")
        assert center.index.search(SearchQuery()).total == 9
        assert [r.seq for r in center.index.search(SearchQuery(case_id=CASE)).rows] == [0, 1, 2]
        assert center.index.requests(case_id=CASE)[0].stored == 3
        for seq in (0, 1, 1):  # the same segment looked at twice counts once
            center.access.append("op", "view_live", device_id=LIVE, start=world.t0 + seq * 0.5, segments=1)
        center.access.append("inv", "export", case_id=CASE, segments=3)
        report = transparency_report(world.paths, center.index, center.access, months=2)
        month = report.months[-1]
        assert month.month == time.strftime("%Y-%m", time.gmtime())
        assert (month.devices_enrolled, month.requests_made, month.approved, month.denied) == (2, 1, 1, 0)
        assert month.live_hours == pytest.approx(6 * 0.5 / 3600)
        assert (month.segments_viewed, month.segments_exported) == (2, 3)
        assert report.access_log_entries == 4
        text = format_report(report)
        assert month.month in text and report.access_log_head in text
    assert {ASKED, LIVE} <= {p.stem for p in world.paths.devices.glob("*.json")}


def test_an_unreachable_postgresql_is_one_clear_error(tmp_path: Path) -> None:
    paths = CenterPaths(tmp_path / "center")
    init_keys(paths, "db-center")
    with pytest.raises(CenterError, match="database postgresql://") as refused:
        use_database(paths, f"postgresql://nobody:secret@127.0.0.1:{free_port()}/none")
    assert "secret" not in str(refused.value)
    with pytest.raises(CenterError, match="expected postgresql://"):
        use_database(paths, "mysql://x")
    assert not (paths.root / "database.json").exists()


def test_transparency_counts_each_fate_of_a_request_in_its_month(tmp_path: Path) -> None:
    """Requests made, approved, denied, expired unanswered and still waiting, each in the month it was issued."""
    world = make_world(tmp_path, live_segments=1)
    key, now = load_keys(world.paths).ed25519, time.time()
    last_month = month_bounds(now, 2)[0][1] + 86400.0

    def ask(issued: float, ttl_s: float) -> str:
        request, signed = make_request(key, device_id=ASKED, center_id="case-center", start=world.t0,
                                       end=world.t0 + 60, case_id="CASE-T", reason="a test", ttl_s=ttl_s, now=issued)
        write_private(world.paths.root / "requests" / ASKED / f"{request.id}.json", signed)
        return request.id

    denied = ask(now - 10, 3600)
    answer = {"type": "answer", "device_id": ASKED, "request_id": denied, "case_id": "CASE-T", "decision": "denied",
              "reason": "not my camera's business", "start": world.t0, "end": world.t0 + 60, "answered_at": now,
              "segments": []}
    assert world.send(ASKED, "answers", sign_document(answer, load_identity(world.devices[ASKED]).signing_key)) \
        == "accepted"
    ask(now - 120, 60)  # expired unanswered
    ask(now - 5, 3600)  # waiting
    ask(last_month, 60)  # last month's, expired then
    with world.open() as center:
        report = transparency_report(world.paths, center.index, center.access, months=2, now=now)
    before, this = report.months
    assert (this.requests_made, this.approved, this.denied, this.expired, this.waiting) == (4, 1, 1, 1, 1)
    assert (before.requests_made, before.expired) == (1, 1)
