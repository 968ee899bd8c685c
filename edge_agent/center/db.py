"""The center's database: SQLite in the center's folder by default, PostgreSQL when configured.

One small interface over both, so the evidence index, the staff accounts and the access log are written once:
SQL is written with ``?`` placeholders and portable types; for PostgreSQL the placeholders become ``%s``.

Which one: ``edge-center index use postgresql://...`` writes ``DIR/database.json`` (0600: it may hold a password);
without it the center uses ``DIR/center.sqlite``. PostgreSQL is the scale-out path: several ``subscribe`` workers on
several machines (sharing one store folder) and several consoles then share one index, one staff list and one
access log. The driver (psycopg 3) is loaded only when PostgreSQL is configured.

Writes that must be serialised across processes (the access log's hash chain) run in
:meth:`Database.transaction` with ``exclusive=True``: ``BEGIN IMMEDIATE`` on SQLite, a transaction-scoped advisory
lock on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from edge_agent.center.files import DIR_MODE, write_private
from edge_agent.center.keys import CenterPaths
from edge_agent.core.files import make_dirs
from edge_agent.errors import CenterError

log = logging.getLogger(__name__)

Row = tuple[Any, ...]
Params = Sequence[Any]
_URL = re.compile(r"^(postgresql|postgres)://[^\s]+$")
_LOCK_ID = 0x6564676563656E74  # "edgecent": the advisory lock that serialises the access log's chain
SQLITE_NAME = "center.sqlite"
SETTINGS_NAME = "database.json"


class Database:
    """A thread-safe connection (one at a time per process, under a lock: every query here is short)."""

    def __init__(
        self, conn: Any, dialect: Literal["sqlite", "postgresql"], where: str, errors: tuple[type[Exception], ...]
    ) -> None:
        self._conn = conn
        self._errors = errors  # the driver's error root
        self.dialect = dialect
        self.where = where  # for messages: a path, or the URL without its password
        self._lock = threading.RLock()
        self._depth = 0

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect == "postgresql" else sql

    def _fail(self, exc: Exception) -> CenterError:
        return CenterError(f"database {self.where}: {str(exc).strip().splitlines()[0][:300]}")

    def query(self, sql: str, params: Params = ()) -> list[Row]:
        with self._lock:
            try:
                cur = self._conn.execute(self._sql(sql), tuple(params))
                rows = [tuple(r) for r in cur.fetchall()] if cur.description else []
                if not self._depth:
                    self._conn.commit()
                return rows
            except self._errors as exc:
                self._rollback()
                raise self._fail(exc) from exc

    def one(self, sql: str, params: Params = ()) -> Row | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def execute(self, sql: str, params: Params = ()) -> None:
        self.query(sql, params)

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        if not rows:
            return
        with self._lock:
            try:
                cur = self._conn.cursor()
                cur.executemany(self._sql(sql), [tuple(r) for r in rows])
                if not self._depth:
                    self._conn.commit()
            except self._errors as exc:
                self._rollback()
                raise self._fail(exc) from exc

    @contextlib.contextmanager
    def transaction(self, *, exclusive: bool = False) -> Iterator[Database]:
        """One transaction (committed at the end, rolled back on an exception); an inner one joins the outer.
        ``exclusive``: no other process's exclusive transaction runs alongside (on SQLite no other writer at all)."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self
                finally:
                    self._depth -= 1
                return
            self._begin(exclusive)
            self._depth = 1
            try:
                yield self
            except BaseException:
                self._depth = 0
                self._rollback()
                raise
            self._depth = 0
            try:
                self._conn.commit()
            except self._errors as exc:
                self._rollback()
                raise self._fail(exc) from exc

    def _begin(self, exclusive: bool) -> None:
        try:
            if self.dialect == "sqlite":
                self._conn.execute("BEGIN IMMEDIATE")
            elif exclusive:
                self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
        except self._errors as exc:
            self._rollback()
            raise self._fail(exc) from exc

    def _rollback(self) -> None:
        with contextlib.suppress(*self._errors):
            self._conn.rollback()

    def close(self) -> None:
        with self._lock, contextlib.suppress(*self._errors):
            self._conn.close()


def open_sqlite(path: Path) -> Database:
    make_dirs(path.parent, DIR_MODE)
    try:
        # isolation_level=None: autocommit unless a transaction is begun by hand (transaction()).
        conn = sqlite3.connect(path, timeout=30.0, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
    except sqlite3.Error as exc:
        raise CenterError(f"database {path}: {exc}") from exc
    path.chmod(0o600)
    return Database(conn, "sqlite", str(path), (sqlite3.Error,))


def redact_url(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def open_postgresql(url: str) -> Database:
    try:
        import psycopg  # noqa: PLC0415 - only a center configured for PostgreSQL needs the driver
    except ImportError as exc:
        raise CenterError("PostgreSQL is configured but its driver is not installed: pip install 'psycopg[binary]'"
                          ) from exc
    try:
        conn = psycopg.connect(url, connect_timeout=10)
    except psycopg.Error as exc:
        raise CenterError(f"database {redact_url(url)}: {str(exc).strip().splitlines()[0][:300]}") from exc
    return Database(conn, "postgresql", redact_url(url), (psycopg.Error,))


def configured_url(paths: CenterPaths) -> str | None:
    """The PostgreSQL URL set with ``edge-center index use``, or None for SQLite."""
    path = paths.root / SETTINGS_NAME
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise CenterError(f"{path}: unreadable: {exc}") from exc
    url = doc.get("url") if isinstance(doc, dict) else None
    if url is None:
        return None
    if not isinstance(url, str) or not _URL.fullmatch(url):
        raise CenterError(f"{path}: 'url' must be postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE")
    return url


def use_database(paths: CenterPaths, url: str | None) -> str:
    """Remember which database this center uses (None: SQLite in its folder). Returns a description."""
    path = paths.root / SETTINGS_NAME
    if url is None or url == "sqlite":
        path.unlink(missing_ok=True)
        return f"SQLite: {paths.root / SQLITE_NAME}"
    if not _URL.fullmatch(url):
        raise CenterError(f"{url!r}: expected postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE or 'sqlite'")
    open_postgresql(url).close()  # refuse a database that cannot be reached now, rather than at first use
    write_private(path, (json.dumps({"url": url}, indent=2) + "\n").encode("utf-8"))
    return f"PostgreSQL: {redact_url(url)}"


def open_database(paths: CenterPaths) -> Database:
    url = configured_url(paths)
    return open_postgresql(url) if url else open_sqlite(paths.root / SQLITE_NAME)
