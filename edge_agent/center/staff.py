"""Console accounts: a name, one or more roles, a password hash. ``edge-center staff add/remove/list``.

Roles (what each may do in the console):

- ``operator``: the live wall;
- ``investigator``: requests, evidence search and playback, cases, export;
- ``auditor``: the access log.

Every account also sees the device list and the transparency report. Passwords are hashed with scrypt (the
standard library's memory-hard KDF: no extra dependency; :mod:`edge_agent.core.passwords`). An account that is
removed keeps its row (marked removed) so the access log's names always resolve; its sessions end at once, as
do those of an account whose password is changed (each change bumps the account's ``generation``, which every
session carries).
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

from edge_agent.center.db import Database
from edge_agent.core.passwords import check_password, hash_password
from edge_agent.errors import CenterError

ROLES = ("operator", "investigator", "auditor")
MIN_PASSWORD = 12
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")


@functools.cache
def _dummy() -> dict[str, object]:
    """Checked against when the name is unknown, so that a wrong name costs as long as a wrong password."""
    return hash_password("not a password of anyone")


@dataclass(frozen=True, slots=True)
class StaffMember:
    name: str
    roles: frozenset[str]
    created_at: float
    generation: int
    removed_at: float | None

    @property
    def active(self) -> bool:
        return self.removed_at is None

    def may(self, role: str) -> bool:
        return self.active and role in self.roles


def parse_roles(roles: Iterable[str]) -> frozenset[str]:
    chosen = frozenset(r.strip() for text in roles for r in text.split(",") if r.strip())
    unknown = sorted(chosen - set(ROLES))
    if unknown or not chosen:
        raise CenterError(f"roles must be one or more of {', '.join(ROLES)} (got {', '.join(unknown) or 'none'})")
    return chosen


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise CenterError(f"staff name {name[:64]!r}: 2-63 of a-z, 0-9, '.', '_', '-', starting with a letter or digit")
    return name


def check_new_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise CenterError(f"a staff password needs at least {MIN_PASSWORD} characters")
    return password


class StaffBook:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, name: str, roles: Iterable[str], password: str) -> StaffMember:
        """A new account, or a removed one brought back (with a new password and roles)."""
        check_name(name)
        chosen = parse_roles(roles)
        stored = json.dumps(hash_password(check_new_password(password)), sort_keys=True)
        now = round(time.time(), 3)
        with self.db.transaction():
            old = self.get(name)
            if old is not None and old.active:
                raise CenterError(f"staff account {name} exists (edge-center staff remove {name} first)")
            if old is None:
                self.db.execute("INSERT INTO staff (name, roles, password, created_at, generation, removed_at) "
                                "VALUES (?, ?, ?, ?, 1, NULL)", (name, ",".join(sorted(chosen)), stored, now))
            else:
                self.db.execute("UPDATE staff SET roles = ?, password = ?, generation = generation + 1, "
                                "removed_at = NULL WHERE name = ?", (",".join(sorted(chosen)), stored, name))
        member = self.get(name)
        assert member is not None
        return member

    def set_password(self, name: str, password: str) -> None:
        stored = json.dumps(hash_password(check_new_password(password)), sort_keys=True)
        member = self.get(name)
        if member is None or not member.active:
            raise CenterError(f"no staff account {name}")
        self.db.execute("UPDATE staff SET password = ?, generation = generation + 1 WHERE name = ?", (stored, name))

    def remove(self, name: str) -> None:
        member = self.get(name)
        if member is None or not member.active:
            raise CenterError(f"no staff account {name} (edge-center staff list)")
        self.db.execute("UPDATE staff SET removed_at = ?, generation = generation + 1 WHERE name = ?",
                        (round(time.time(), 3), name))

    def get(self, name: str) -> StaffMember | None:
        row = self.db.one("SELECT name, roles, created_at, generation, removed_at FROM staff WHERE name = ?", (name,))
        if row is None:
            return None
        return StaffMember(str(row[0]), frozenset(str(row[1]).split(",")), float(row[2]), int(row[3]),
                           None if row[4] is None else float(row[4]))

    def members(self) -> list[StaffMember]:
        rows = self.db.query("SELECT name FROM staff ORDER BY name")
        return [m for (name,) in rows if (m := self.get(str(name))) is not None]

    def authenticate(self, name: str, password: str) -> StaffMember | None:
        """The active account whose password this is, else None (in about the same time either way)."""
        row = self.db.one("SELECT password FROM staff WHERE name = ? AND removed_at IS NULL", (name[:64],))
        try:
            stored = json.loads(str(row[0])) if row is not None else _dummy()
        except ValueError:
            stored = _dummy()
        ok = check_password(stored if isinstance(stored, dict) else _dummy(), password)
        return self.get(name) if ok and row is not None else None
