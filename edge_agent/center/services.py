"""What the command line and the console open together: the center's folder, its database, and the books kept in
it (evidence index, staff, access log), plus the consent records it has received."""

from __future__ import annotations

import getpass
from dataclasses import dataclass

from edge_agent.center.access_log import AccessLog
from edge_agent.center.db import Database, open_database
from edge_agent.center.devices import ConsentView
from edge_agent.center.index import EvidenceIndex
from edge_agent.center.keys import CenterPaths
from edge_agent.center.schema import ensure_schema
from edge_agent.center.staff import StaffBook


@dataclass(frozen=True, slots=True)
class Center:
    paths: CenterPaths
    db: Database
    index: EvidenceIndex
    staff: StaffBook
    access: AccessLog
    consent: ConsentView

    @classmethod
    def open(cls, paths: CenterPaths) -> Center:
        db = ensure_schema(open_database(paths))
        return cls(paths, db, EvidenceIndex(db), StaffBook(db), AccessLog(db), ConsentView(paths.root))

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Center:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def command_line_user() -> str:
    """Who the access log names for a look taken from the command line: the operating system's user."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"
