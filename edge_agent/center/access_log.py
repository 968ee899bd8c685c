"""The center's access log: every look at footage, every search, export, request and account change, hash-chained.

Each entry names who (a staff account, or the command line's user), what (``action``), which device, which
window of time, which case, how many segments, and a short detail. Entries form a chain like the device's audit
log: ``prev`` is the previous entry's ``hash``, and ``hash`` is SHA-256 over the canonical JSON of the entry
without it, so altering, removing or reordering an entry breaks the chain from there (``edge-center access-log
verify``). The newest ``seq`` and ``hash`` (the head) are printed in every transparency report: once published,
a rewrite of the whole log afterwards shows against it.

An entry is written *before* the footage is served: if the log cannot be written, the look is refused.
Appends are serialised across processes (several consoles on one PostgreSQL), so the chain never forks.
"""

# ruff: noqa: S608 - the SQL here is joined from constant fragments only; every value is a bound parameter.
from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import asdict, dataclass
from typing import Any

from edge_agent.center.db import Database
from edge_agent.core.canon import canonical_json

log = logging.getLogger(__name__)

GENESIS = "0" * 64
ACTIONS = (
    "login", "login_refused", "logout", "view_live", "view_recorded", "search", "export", "request", "case_window",
    "read_access_log", "staff_add", "staff_remove", "device_withdraw",
)
_COLUMNS = ("seq", "time", "staff", "action", "device_id", "start_t", "end_t", "case_id", "segments", "detail",
            "prev", "hash")
MAX_DETAIL = 500


@dataclass(frozen=True, slots=True)
class AccessEntry:
    seq: int
    time: float
    staff: str
    action: str
    device_id: str
    start: float | None
    end: float | None
    case_id: str
    segments: int
    detail: str
    prev: str
    hash: str

    def body(self) -> dict[str, Any]:
        """What the hash covers: every field but the hash itself."""
        doc = asdict(self)
        del doc["hash"]
        return doc


@dataclass(frozen=True, slots=True)
class ChainCheck:
    ok: bool
    count: int
    head: str  # hash of the newest entry (GENESIS when empty)
    problem: str = ""  # the first entry that breaks the chain, in words


def entry_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(body)).hexdigest()


class AccessLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def append(
        self,
        staff: str,
        action: str,
        *,
        device_id: str = "",
        start: float | None = None,
        end: float | None = None,
        case_id: str = "",
        segments: int = 0,
        detail: str = "",
    ) -> AccessEntry:
        """Write one entry (CenterError when the database refuses: then the look it records must not happen)."""
        if action not in ACTIONS:
            raise ValueError(f"unknown access log action {action!r}")
        with self.db.transaction(exclusive=True):
            last = self.db.one("SELECT seq, hash FROM access_log ORDER BY seq DESC LIMIT 1")
            seq, prev = (int(last[0]) + 1, str(last[1])) if last else (0, GENESIS)
            fields: dict[str, Any] = {
                "seq": seq, "time": round(time.time(), 3), "staff": staff[:64], "action": action,
                "device_id": device_id[:64], "start": _time(start), "end": _time(end), "case_id": case_id[:128],
                "segments": int(segments), "detail": detail[:MAX_DETAIL], "prev": prev,
            }
            entry = AccessEntry(**fields, hash=entry_hash(fields))
            self.db.execute(f"INSERT INTO access_log ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                            tuple(asdict(entry).values()))
        return entry

    def entries(self, *, limit: int = 200, before: int | None = None, staff: str = "", action: str = "",
                case_id: str = "", device_id: str = "") -> list[AccessEntry]:
        """Newest first; ``before`` pages back from a sequence number."""
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("staff", staff), ("action", action), ("case_id", case_id), ("device_id", device_id)):
            if value:
                clauses.append(f"{column} = ?")
                params.append(value)
        if before is not None:
            clauses.append("seq < ?")
            params.append(before)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.db.query(f"SELECT {', '.join(_COLUMNS)} FROM access_log{where} ORDER BY seq DESC LIMIT ?",
                             (*params, max(0, limit)))
        return [AccessEntry(*row) for row in rows]

    def between(self, since: float, until: float) -> list[AccessEntry]:
        rows = self.db.query(f"SELECT {', '.join(_COLUMNS)} FROM access_log WHERE time >= ? AND time < ? ORDER BY seq",
                             (since, until))
        return [AccessEntry(*row) for row in rows]

    def head(self) -> tuple[int, str]:
        """(number of entries, hash of the newest)."""
        last = self.db.one("SELECT seq, hash FROM access_log ORDER BY seq DESC LIMIT 1")
        return (int(last[0]) + 1, str(last[1])) if last else (0, GENESIS)

    def verify(self, batch: int = 5000) -> ChainCheck:
        """Walk the whole chain: every hash recomputed, every link and sequence number checked."""
        prev, expected, after = GENESIS, 0, -1
        while True:
            rows = self.db.query(f"SELECT {', '.join(_COLUMNS)} FROM access_log WHERE seq > ? ORDER BY seq LIMIT ?",
                                 (after, batch))
            for row in rows:
                entry = AccessEntry(*row)
                problem = _problem(entry, expected, prev)
                if problem:
                    return ChainCheck(False, expected, prev, problem)
                prev, expected, after = entry.hash, expected + 1, entry.seq
            if len(rows) < batch:
                return ChainCheck(True, expected, prev)


def _problem(entry: AccessEntry, expected: int, prev: str) -> str:
    if entry.seq != expected:
        return f"entry {expected} is missing (the next is {entry.seq})"
    if entry.prev != prev:
        return f"entry {entry.seq} does not follow entry {entry.seq - 1} (its 'prev' differs)"
    if entry_hash(entry.body()) != entry.hash:
        return f"entry {entry.seq} was altered (its hash does not match its contents)"
    return ""


def _time(t: float | None) -> float | None:
    return None if t is None else round(float(t), 3)
