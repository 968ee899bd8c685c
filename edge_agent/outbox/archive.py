"""What the device shared, kept as sent, so a segment the center never received can be sent again byte for byte.

An outbox item the broker acknowledged is not deleted but moved here, unchanged: the sealed segment exactly as
published (encrypted for the center: the device cannot read it either), so a resend has the same hashes and
signature. Next to the kept items, small notes record what became of a segment that is not kept::

    outbox/shared/<seq, 20 digits>.item       as sent
    outbox/shared/<seq, 20 digits>.withheld   shared once, withheld since: {"reason", "consent_id", "time"}
    outbox/shared/<seq, 20 digits>.lost       gone for another reason: {"reason", "time"}

A revocation deletes the kept items of the grant it revokes and leaves a ``.withheld`` note (they are never sent
again); an item evicted at a cap or refused by the broker leaves a ``.lost`` note. :meth:`SentArchive.prune` keeps
the folder within an age and a byte cap (the daemon applies the profile's retention hours and outbox cap), and what
waits to be sent always comes first: the outbox counts kept items against its own cap and evicts them before any
waiting one, and a full card gives up kept items before it refuses a new segment.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from edge_agent.core.files import atomic_write, fsync_dir

log = logging.getLogger(__name__)

SHARED = "shared"
_NAME = re.compile(r"^([0-9]{20})\.(item|withheld|lost)$")
Fate = Literal["kept", "withheld", "lost"]
AT_CAP = "evicted from the device's retention of shared segments at its cap"
DISK_FULL = "evicted from the device's retention of shared segments: its storage was full"


@dataclass(frozen=True, slots=True)
class Pruned:
    aged: int  # past the age limit (items and notes)
    evicted: int  # kept items deleted to stay under the byte cap


def _name(seq: int, kind: str) -> str:
    return f"{seq:020d}.{kind}"


class SentArchive:
    """The ``shared/`` folder of one outbox. Thread-safe through the file system: every change is one rename."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def keep(self, path: Path, seq: int) -> None:
        """Move an acknowledged outbox item here (one rename: the item is in the outbox or here, never lost)."""
        self.folder.mkdir(mode=0o700, exist_ok=True)
        target = self.folder / _name(seq, "item")
        try:
            same = os.path.samefile(path, target)
        except FileNotFoundError:
            same = False
        if same:
            # A resent item is a hard link to its kept copy, and rename(2) does nothing between two links to one
            # file: the outbox's name goes, the kept one stays.
            os.unlink(path)
        else:
            os.replace(path, target)
        fsync_dir(self.folder)

    def item(self, seq: int) -> Path | None:
        path = self.folder / _name(seq, "item")
        return path if path.exists() else None

    def note(self, seq: int, fate: Literal["withheld", "lost"], reason: str, consent_id: str = "") -> None:
        """Record why ``seq`` will not be sent again; a withheld segment's kept copy is deleted."""
        doc = {"reason": reason[:300], "consent_id": consent_id, "time": round(time.time(), 3)}
        atomic_write(self.folder / _name(seq, fate), json.dumps(doc, sort_keys=True).encode(), 0o600,
                     dir_mode=0o700)
        if fate == "withheld":
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.folder / _name(seq, "item"))

    def fate(self, seq: int) -> tuple[Fate, str] | None:
        """``("kept", "")``, ``("withheld", reason)``, ``("lost", reason)``, or None when nothing is known."""
        for kind in ("withheld", "lost"):
            path = self.folder / _name(seq, kind)
            try:
                reason = str(json.loads(path.read_text(encoding="utf-8")).get("reason", ""))
            except FileNotFoundError:
                continue
            except (ValueError, AttributeError):
                reason = "unknown"
            return ("withheld" if kind == "withheld" else "lost"), reason
        return ("kept", "") if self.item(seq) is not None else None

    def kept(self) -> list[tuple[int, Path]]:
        """Every kept item, oldest sequence number first."""
        return [(seq, path) for seq, kind, path in self._entries() if kind == "item"]

    def withhold(
        self, consent_of: Callable[[Path], str | None], select: Callable[[str], bool], reason: str
    ) -> list[int]:
        """Withhold every kept item whose consent id (``consent_of(path)``) ``select`` picks; returns their seqs."""
        withheld = []
        for seq, path in self.kept():
            consent_id = consent_of(path)
            if consent_id is not None and select(consent_id):
                self.note(seq, "withheld", reason, consent_id)
                withheld.append(seq)
        return withheld

    def kept_bytes(self) -> int:
        total = 0
        for _, path in self.kept():
            with contextlib.suppress(FileNotFoundError):
                total += path.stat().st_size
        return total

    def make_room(self, needed: int, reason: str) -> int:
        """Delete the oldest kept items (noting each lost with ``reason``) until ``needed`` bytes are freed or none
        is left; returns the bytes freed. What is waiting to be sent always comes before what was sent already."""
        freed = 0
        for seq, path in self.kept():
            if freed >= needed:
                break
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                continue
            self.note(seq, "lost", reason)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            freed += size
        return freed

    def prune(self, now: float, max_age_s: float, max_bytes: int) -> Pruned:
        """Delete items and notes older than ``max_age_s``, then the oldest items while over ``max_bytes``."""
        aged = 0
        sizes: list[tuple[int, Path, int]] = []
        for seq, kind, path in self._entries():
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            if stat.st_mtime < now - max_age_s:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                aged += 1
            elif kind == "item":
                sizes.append((seq, path, stat.st_size))
        total = sum(size for _, _, size in sizes)
        evicted = 0
        for seq, _, size in sizes:
            if total <= max_bytes:
                break
            self.note(seq, "lost", AT_CAP)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.folder / _name(seq, "item"))
            total -= size
            evicted += 1
        if aged or evicted:
            log.info("shared archive: %d past retention, %d evicted at the cap", aged, evicted)
        return Pruned(aged, evicted)

    def _entries(self) -> list[tuple[int, str, Path]]:
        try:
            names = os.listdir(self.folder)
        except FileNotFoundError:
            return []
        found = [(int(m[1]), m[2], self.folder / name) for name in names if (m := _NAME.fullmatch(name))]
        return sorted(found)
