"""The evidence index: every stored segment and every request sent, searchable by case, device and time.

The files under ``DIR/store/`` stay the evidence; the index is a copy of their records made for searching
(``edge-center index sync`` rebuilds it from them). A segment belongs to a case when the request it was shared
under names the case, or when an investigator attached a window of that device's footage to the case
(``case_windows``: live footage has no request).

Each segment's ``state`` says what its last check found: ``valid`` when stored (the intake verified its signature,
decrypted it and checked its consent), ``altered`` / ``missing`` when ``edge-center verify`` later found its files
changed or gone.
"""

# ruff: noqa: S608 - the SQL here is joined from constant fragments only; every value is a bound parameter.
from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from edge_agent.center.db import Database, Row
from edge_agent.consent.requests import PoliceRequest

log = logging.getLogger(__name__)

SEGMENT_COLUMNS = (
    "device_id", "seq", "start_t", "end_t", "consent_id", "frame_count", "width", "height", "header_hash",
    "prev_hash", "sealed_sha256", "opened_sha256", "profile_hash", "video", "sealed", "received_at", "state",
    "checked_at",
)
_SELECT = ", ".join(f"s.{c}" for c in SEGMENT_COLUMNS)
_INSERT = (f"INSERT INTO segments ({', '.join(SEGMENT_COLUMNS)}) VALUES ({', '.join('?' * len(SEGMENT_COLUMNS))}) "
           "ON CONFLICT (device_id, seq) DO NOTHING")
# Segments are at most this long (the intake refuses longer ones), so a time search can use the start index.
MAX_SPAN_S = 3600.0
PAGE = 500
# A search matching more segments than this reads them in key order up to the page instead of sorting them all.
WIDE = 5000


@dataclass(frozen=True, slots=True)
class SegmentRow:
    device_id: str
    seq: int
    start: float
    end: float
    consent_id: str
    frame_count: int
    width: int
    height: int
    header_hash: str
    prev_hash: str
    sealed_sha256: str
    opened_sha256: str
    profile_hash: str
    video: str
    sealed: str
    received_at: float
    state: str
    checked_at: float | None
    case_id: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RequestRow:
    id: str
    device_id: str
    case_id: str
    start: float
    end: float
    reason: str
    legal_basis: str
    issued_at: float
    expires_at: float
    created_by: str
    stored: int  # segments stored under this request


@dataclass(frozen=True, slots=True)
class CaseWindow:
    id: str
    case_id: str
    device_id: str
    start: float
    end: float
    added_by: str
    added_at: float
    note: str


@dataclass(frozen=True, slots=True)
class SearchQuery:
    case_id: str = ""
    device_id: str = ""
    start: float | None = None
    end: float | None = None
    limit: int = PAGE
    offset: int = 0


@dataclass(frozen=True, slots=True)
class SearchResult:
    rows: tuple[SegmentRow, ...]
    total: int


@dataclass(frozen=True, slots=True)
class DeviceSummary:
    device_id: str
    segments: int
    first_seq: int
    last_seq: int
    last_end: float
    missing: int  # sequence numbers between the first and last stored that the center does not hold


def record_row(record: Mapping[str, Any]) -> tuple[Any, ...]:
    """The row for one evidence record (``store/<device>/<seq>.json``). KeyError/TypeError/ValueError if malformed."""
    return (
        str(record["device_id"]), int(record["seq"]), float(record["start"]), float(record["end"]),
        str(record["consent_id"]), int(record["frame_count"]), int(record["width"]), int(record["height"]),
        str(record["header_hash"]), str(record["prev_hash"]), str(record["sealed_sha256"]),
        str(record["opened_sha256"]), str(record.get("profile_hash", "")), str(record["video"]),
        str(record["sealed"]), float(record["received_at"]), "valid", None,
    )


def _segment(row: Row, case_id: str = "") -> SegmentRow:
    return SegmentRow(*(*row[: len(SEGMENT_COLUMNS)], case_id or ""))


class EvidenceIndex:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- writing -----------------------------------------------------------------------------------------------

    def add_segment(self, record: Mapping[str, Any]) -> None:
        """Index one stored segment (again: a segment already indexed is left as it is)."""
        self.db.execute(_INSERT, record_row(record))

    def add_rows(self, rows: Sequence[tuple[Any, ...]]) -> None:
        with self.db.transaction():
            self.db.executemany(_INSERT, rows)

    def add_request(self, request: PoliceRequest, created_by: str) -> None:
        self.db.execute(
            "INSERT INTO requests (id, device_id, case_id, start_t, end_t, reason, legal_basis, issued_at, "
            "expires_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            (request.id, request.device_id, request.case_id, request.start, request.end, request.reason,
             request.legal_basis, request.issued_at, request.expires_at, created_by),
        )

    def add_case_window(self, case_id: str, *, device_id: str, start: float, end: float, added_by: str,
                        note: str = "") -> CaseWindow:
        window = CaseWindow("w-" + secrets.token_hex(8), case_id, device_id, start, end, added_by,
                            round(time.time(), 3), note)
        self.db.execute(
            "INSERT INTO case_windows (id, case_id, device_id, start_t, end_t, added_by, added_at, note) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", tuple(asdict(window).values()))
        return window

    def set_state(self, device_id: str, seq: int, state: str, checked_at: float) -> None:
        self.db.execute("UPDATE segments SET state = ?, checked_at = ? WHERE device_id = ? AND seq = ?",
                        (state, checked_at, device_id, seq))

    # -- reading -----------------------------------------------------------------------------------------------

    def segment(self, device_id: str, seq: int) -> SegmentRow | None:
        row = self.db.one(f"SELECT {_SELECT}, r.case_id FROM segments s LEFT JOIN requests r ON r.id = s.consent_id "
                          "WHERE s.device_id = ? AND s.seq = ?", (device_id, seq))
        return None if row is None else _segment(row, row[-1])

    def search(self, query: SearchQuery) -> SearchResult:
        """Segments matching every given filter, ordered by device and time; ``total`` counts all matches."""
        page = (max(0, query.limit), max(0, query.offset))
        if not query.case_id:
            # One table: counted without the join, and read in the primary key's order (no sort of all matches).
            where, params = _filters(query)
            total_row = self.db.one(f"SELECT COUNT(*) FROM segments s{where}", params)
            if total_row and int(total_row[0]) > WIDE:
                # Most segments match: walk them in the primary key's order and stop after the page, rather than
                # sort every match ("+" keeps SQLite's planner off the time index; PostgreSQL ignores it).
                where, params = _filters(query, "+")
            rows = self.db.query(f"SELECT {_SELECT}, r.case_id FROM segments s LEFT JOIN requests r "
                                 f"ON r.id = s.consent_id{where} ORDER BY s.device_id, s.seq LIMIT ? OFFSET ?",
                                 (*params, *page))
        else:
            sql, params = self._matching(query)
            total_row = self.db.one(f"SELECT COUNT(*) FROM ({sql}) m", params)
            rows = self.db.query(f"SELECT * FROM ({sql}) m ORDER BY device_id, seq LIMIT ? OFFSET ?",
                                 (*params, *page))
        return SearchResult(tuple(_segment(r, r[-1]) for r in rows), int(total_row[0]) if total_row else 0)

    def case_segments(self, case_id: str) -> list[SegmentRow]:
        """Every segment of a case, ordered by device and sequence number (for export)."""
        sql, params = self._matching(SearchQuery(case_id=case_id))
        return [_segment(r, r[-1]) for r in self.db.query(f"SELECT * FROM ({sql}) m ORDER BY device_id, seq", params)]

    def _matching(self, query: SearchQuery) -> tuple[str, list[Any]]:
        where, params = _filters(query)
        if not query.case_id:
            return (f"SELECT {_SELECT}, r.case_id AS case_id FROM segments s "
                    f"LEFT JOIN requests r ON r.id = s.consent_id{where}", params)
        # Two indexed branches instead of one OR: the requests of the case, and the windows attached to it.
        by_request = (f"SELECT {_SELECT}, r.case_id AS case_id FROM requests r JOIN segments s ON s.consent_id = r.id"
                      f"{where}{' AND' if where else ' WHERE'} r.case_id = ?")
        by_window = (f"SELECT {_SELECT}, w.case_id AS case_id FROM case_windows w JOIN segments s "
                     "ON s.device_id = w.device_id AND s.start_t >= w.start_t - ? AND s.start_t < w.end_t "
                     f"AND s.end_t > w.start_t{where}{' AND' if where else ' WHERE'} w.case_id = ?")
        return f"{by_request} UNION {by_window}", [*params, query.case_id, MAX_SPAN_S, *params, query.case_id]

    def recent(self, device_id: str, after_seq: int, since: float, limit: int = 20) -> list[SegmentRow]:
        """A device's segments after ``after_seq`` that started at or after ``since`` (the live wall)."""
        rows = self.db.query(f"SELECT {_SELECT} FROM segments s WHERE s.device_id = ? AND s.seq > ? AND s.start_t >= ? "
                             "ORDER BY s.seq DESC LIMIT ?", (device_id, after_seq, since, limit))
        return [_segment(r) for r in reversed(rows)]

    def requests(self, *, case_id: str = "", device_id: str = "", request_id: str = "") -> list[RequestRow]:
        clauses, params = [], []
        for column, value in (("r.case_id", case_id), ("r.device_id", device_id), ("r.id", request_id)):
            if value:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.db.query(
            "SELECT r.id, r.device_id, r.case_id, r.start_t, r.end_t, r.reason, r.legal_basis, r.issued_at, "
            "r.expires_at, r.created_by, (SELECT COUNT(*) FROM segments s WHERE s.consent_id = r.id) "
            f"FROM requests r{where} ORDER BY r.issued_at DESC", params)
        return [RequestRow(*row) for row in rows]

    def case_windows(self, case_id: str) -> list[CaseWindow]:
        rows = self.db.query("SELECT id, case_id, device_id, start_t, end_t, added_by, added_at, note "
                             "FROM case_windows WHERE case_id = ? ORDER BY added_at", (case_id,))
        return [CaseWindow(*row) for row in rows]

    def case_ids(self) -> list[str]:
        rows = self.db.query("SELECT case_id FROM requests UNION SELECT case_id FROM case_windows ORDER BY 1")
        return [str(r[0]) for r in rows]

    def device_summaries(self) -> dict[str, DeviceSummary]:
        rows = self.db.query("SELECT device_id, COUNT(*), MIN(seq), MAX(seq), MAX(end_t) FROM segments "
                             "GROUP BY device_id")
        return {str(d): DeviceSummary(str(d), int(n), int(lo), int(hi), float(last), int(hi) - int(lo) + 1 - int(n))
                for d, n, lo, hi, last in rows}

    def seqs(self, device_id: str) -> set[int]:
        return {int(r[0]) for r in self.db.query("SELECT seq FROM segments WHERE device_id = ?", (device_id,))}

    def live_spans(self, since: float, until: float) -> list[tuple[float, float]]:
        """(start, end) of every segment shared under a live grant (consent ids ``c-...``) starting in the range."""
        return [(float(a), float(b)) for a, b in self.db.query(
            "SELECT start_t, end_t FROM segments WHERE consent_id >= 'c-' AND consent_id < 'c.' "
            "AND start_t >= ? AND start_t < ?", (since, until))]


def _filters(query: SearchQuery, time_prefix: str = "") -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if query.device_id:
        clauses.append("s.device_id = ?")
        params.append(query.device_id)
    if query.end is not None:
        clauses.append(f"{time_prefix}s.start_t < ?")
        params.append(query.end)
    if query.start is not None:
        # A segment overlaps the window when it ends after its start; it starts at most MAX_SPAN_S before then.
        clauses += [f"{time_prefix}s.start_t >= ?", f"{time_prefix}s.end_t > ?"]
        params += [query.start - MAX_SPAN_S, query.start]
    return (f" WHERE {' AND '.join(clauses)}" if clauses else ""), params
