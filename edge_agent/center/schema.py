"""The center database's tables, in SQL that SQLite and PostgreSQL both take.

Two kinds of table:

- **derived** from the files under the center's folder, and rebuilt from them by ``edge-center index sync``:
  ``segments`` (one row per stored segment: its evidence record) and ``requests`` (police requests sent);
- **kept only here**: ``staff`` (console accounts), ``access_log`` (the hash-chained record of every look) and
  ``case_windows`` (footage an investigator attached to a case by device and time).

Times are UTC epoch seconds (``DOUBLE PRECISION``). ``start_t`` / ``end_t`` because ``end`` is a keyword.
"""

from __future__ import annotations

from edge_agent.center.db import Database

VERSION = 1

TABLES = (
    """CREATE TABLE IF NOT EXISTS meta (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS segments (
        device_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        start_t DOUBLE PRECISION NOT NULL,
        end_t DOUBLE PRECISION NOT NULL,
        consent_id TEXT NOT NULL,
        frame_count INTEGER NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        header_hash TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        sealed_sha256 TEXT NOT NULL,
        opened_sha256 TEXT NOT NULL,
        profile_hash TEXT NOT NULL,
        video TEXT NOT NULL,
        sealed TEXT NOT NULL,
        received_at DOUBLE PRECISION NOT NULL,
        state TEXT NOT NULL,
        checked_at DOUBLE PRECISION,
        PRIMARY KEY (device_id, seq))""",
    "CREATE INDEX IF NOT EXISTS segments_device_time ON segments (device_id, start_t)",
    # (start_t, end_t): a time window is counted from the index alone.
    "CREATE INDEX IF NOT EXISTS segments_time ON segments (start_t, end_t)",
    "CREATE INDEX IF NOT EXISTS segments_consent ON segments (consent_id)",
    """CREATE TABLE IF NOT EXISTS requests (
        id TEXT PRIMARY KEY,
        device_id TEXT NOT NULL,
        case_id TEXT NOT NULL,
        start_t DOUBLE PRECISION NOT NULL,
        end_t DOUBLE PRECISION NOT NULL,
        reason TEXT NOT NULL,
        legal_basis TEXT NOT NULL,
        issued_at DOUBLE PRECISION NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL,
        created_by TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS requests_case ON requests (case_id)",
    """CREATE TABLE IF NOT EXISTS case_windows (
        id TEXT PRIMARY KEY,
        case_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        start_t DOUBLE PRECISION NOT NULL,
        end_t DOUBLE PRECISION NOT NULL,
        added_by TEXT NOT NULL,
        added_at DOUBLE PRECISION NOT NULL,
        note TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS case_windows_case ON case_windows (case_id)",
    """CREATE TABLE IF NOT EXISTS staff (
        name TEXT PRIMARY KEY,
        roles TEXT NOT NULL,
        password TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        generation INTEGER NOT NULL,
        removed_at DOUBLE PRECISION)""",
    """CREATE TABLE IF NOT EXISTS access_log (
        seq BIGINT PRIMARY KEY,
        time DOUBLE PRECISION NOT NULL,
        staff TEXT NOT NULL,
        action TEXT NOT NULL,
        device_id TEXT NOT NULL,
        start_t DOUBLE PRECISION,
        end_t DOUBLE PRECISION,
        case_id TEXT NOT NULL,
        segments INTEGER NOT NULL,
        detail TEXT NOT NULL,
        prev TEXT NOT NULL,
        hash TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS access_log_time ON access_log (time)",
)


def ensure_schema(db: Database) -> Database:
    """Create what is missing (idempotent: every worker and console calls it at start)."""
    with db.transaction(exclusive=True):
        for statement in TABLES:
            db.execute(statement)
        db.execute("INSERT INTO meta (name, value) VALUES ('schema', ?) ON CONFLICT (name) DO NOTHING",
                   (str(VERSION),))
    return db
