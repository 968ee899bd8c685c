"""Putting split messages back together on disk, bounded against a sender that floods parts.

Parts may arrive at different center workers of one shared subscription, so they are kept in a folder the workers
share::

    parts/<sender>/<set>-<size>/.created     written once, when the set's first part arrives
    parts/<sender>/<set>-<size>/000001 ...   one file per part, written atomically
    parts/.done/<set>                        a set already joined (late duplicate parts are ignored)

``<sender>`` and ``<set>`` are hashes (of the topic, and of the topic and the set's properties): nothing a sender
chooses ends up in a path. The worker whose write completes a set claims it with an atomic rename (only one rename
can win), checks the parts' lengths, copies them into one file while hashing them chunk by chunk, and only when
the SHA-256 matches reads that file into memory: one buffer of the declared size.

Bounds: a sender (a topic) is admitted only if ``admit`` says so (the center admits enrolled devices only); a joined
payload is read into memory only if ``screen`` accepts its first bytes (the center checks they begin a sealed
segment of that device, with a header that parses and a length that fits); a set
is at most :data:`MAX_PAYLOAD` bytes in :data:`MAX_PARTS` parts, and every part's length must fit its place
(:func:`edge_agent.transport.parts.part_length_fits`), so a set holds at most about twice its size; a sender has at
most ``max_open_sets`` unfinished sets of at most ``max_open_bytes`` declared bytes; a set that has not completed
``stale_after`` seconds after its first part is purged, however many parts keep trickling in.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from edge_agent.core.files import atomic_write, make_dirs
from edge_agent.errors import TransportError
from edge_agent.transport.model import InboundMessage
from edge_agent.transport.parts import MAX_PAYLOAD, PartInfo, part_info

log = logging.getLogger(__name__)

_DONE = ".done"
_CLAIM = ".claim-"
_CREATED = ".created"
_PART_FILE_RE = re.compile(r"^[0-9]{6}$")
_SET_RE = re.compile(r"^[0-9a-f]{64}-([0-9]{1,12})$")
_READ_CHUNK = 1 << 20
_HEAD_BYTES = 128 << 10  # what ``screen`` sees of a joined payload before the whole is read into memory
MAX_OPEN_SETS = 8
MAX_OPEN_BYTES = 2 * MAX_PAYLOAD
FILE_MODE = 0o600
DIR_MODE = 0o700


def _remove_tree(path: Path) -> None:
    """Remove a flat folder of parts that another worker may be removing at the same time."""
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        return
    for name in names:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path / name)
    try:
        os.rmdir(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        # A late writer's temporary file can still appear here; the purge removes the folder later.
        log.debug("cannot remove %s yet: %s", path, exc.strerror)


def _count_parts(set_dir: Path) -> int:
    try:
        return sum(1 for name in os.listdir(set_dir) if _PART_FILE_RE.fullmatch(name))
    except FileNotFoundError:
        return 0


class Reassembler:
    """Joins split messages; several workers (threads or processes) may share one ``folder``."""

    def __init__(
        self,
        folder: Path,
        *,
        stale_after: float = 600.0,
        admit: Callable[[str], bool] | None = None,
        screen: Callable[[str, bytes, int], str] | None = None,
        max_open_sets: int = MAX_OPEN_SETS,
        max_open_bytes: int = MAX_OPEN_BYTES,
    ) -> None:
        self.folder = folder
        self.stale_after = stale_after
        self._admit = admit
        self._screen = screen
        self.max_open_sets = max_open_sets
        self.max_open_bytes = max_open_bytes
        make_dirs(self.folder / _DONE, DIR_MODE)
        self._last_purge = 0.0

    def feed(self, msg: InboundMessage) -> bytes | None:
        """Return the whole payload when ``msg`` completes it (or was never split), else None. TransportError
        for a part that is refused (malformed, from a sender not admitted, over a bound)."""
        info = part_info(msg)
        if info is None:
            return msg.payload
        if self._admit is not None and not self._admit(msg.topic):
            raise TransportError(f"message part on {msg.topic} from a sender that is not enrolled")
        self._maybe_purge()
        key = self._key(msg.topic, info)
        if (self.folder / _DONE / key).exists():
            log.debug("duplicate part %d/%d of an assembled message on %s", info.index, info.count, msg.topic)
            return None
        sender = self.folder / hashlib.sha256(msg.topic.encode()).hexdigest()[:32]
        set_dir = sender / f"{key}-{info.size}"
        if not set_dir.is_dir():
            self._open_set(sender, set_dir, info, msg.topic)
        try:
            atomic_write(set_dir / f"{info.index:06d}", msg.payload, FILE_MODE)
        except FileNotFoundError:
            return None  # the set was claimed (or purged) while this duplicate part was being written
        except OSError as exc:
            raise TransportError(f"cannot store a message part in {self.folder}: {exc.strerror}") from exc
        if _count_parts(set_dir) < info.count:
            return None
        return self._claim_and_join(set_dir, key, info, msg.topic)

    @staticmethod
    def _key(topic: str, info: PartInfo) -> str:
        # Sets from different topics (devices) can never mix even if their message ids collide.
        material = f"{topic}\0{info.msg_id}\0{info.count}\0{info.sha256}\0{info.size}".encode()
        return hashlib.sha256(material).hexdigest()

    def _open_set(self, sender: Path, set_dir: Path, info: PartInfo, topic: str) -> None:
        """Start a new set, within the sender's quota of unfinished sets."""
        make_dirs(sender, DIR_MODE)
        sizes = [int(m[1]) for name in os.listdir(sender) if (m := _SET_RE.fullmatch(name))]
        if len(sizes) >= self.max_open_sets or sum(sizes) + info.size > self.max_open_bytes:
            raise TransportError(
                f"message part on {topic} refused: {len(sizes)} unfinished split messages of {sum(sizes)} bytes "
                f"already wait from this sender"
            )
        try:
            set_dir.mkdir(mode=DIR_MODE)
            fd = os.open(set_dir / _CREATED, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
            os.close(fd)
        except FileExistsError:
            return  # another worker opened it first
        except OSError as exc:
            raise TransportError(f"cannot store a message part in {self.folder}: {exc.strerror}") from exc

    def _claim_and_join(self, set_dir: Path, key: str, info: PartInfo, topic: str) -> bytes | None:
        claimed = self.folder / f"{_CLAIM}{key}-{uuid.uuid4().hex}"
        try:
            os.rename(set_dir, claimed)
        except FileNotFoundError:
            return None  # another worker claimed it
        try:
            if _count_parts(claimed) < info.count:
                return None  # only when a late duplicate re-created the folder after an earlier claim
            paths = [claimed / f"{i:06d}" for i in range(1, info.count + 1)]
            joined = claimed / "joined"
            if not _lengths_fit(paths, info.size) or _join(paths, joined) != info.sha256:
                raise TransportError(f"a split message on {topic} failed its length or SHA-256 check")
            if self._screen is not None:
                with open(joined, "rb") as f:
                    refusal = self._screen(topic, f.read(_HEAD_BYTES), info.size)
                if refusal:
                    raise TransportError(f"a split message on {topic} refused: {refusal}")
            data = joined.read_bytes()  # one buffer of the payload's size, not parts joined into a second copy
            if len(data) != info.size:
                raise TransportError(f"a split message on {topic} changed while it was joined")
            atomic_write(self.folder / _DONE / key, b"", FILE_MODE)
            return data
        except OSError as exc:
            raise TransportError(f"cannot join message parts in {self.folder}: {exc.strerror}") from exc
        finally:
            _remove_tree(claimed)

    def _maybe_purge(self) -> None:
        now = time.time()
        if now - self._last_purge >= min(60.0, self.stale_after / 4):
            self._last_purge = now
            self.purge(now)

    def purge(self, now: float | None = None) -> int:
        """Remove sets older than ``stale_after`` (counted from their first part), abandoned claims and old done
        markers."""
        cutoff = (time.time() if now is None else now) - self.stale_after
        removed = 0
        with os.scandir(self.folder) as entries:
            for entry in entries:
                if entry.name == _DONE:
                    removed += _purge_files(Path(entry.path), cutoff)
                elif entry.name.startswith(_CLAIM):
                    removed += _purge_if_old(Path(entry.path), Path(entry.path), cutoff)
                elif entry.is_dir(follow_symlinks=False):
                    removed += self._purge_sender(Path(entry.path), cutoff)
        if removed:
            log.info("purged %d stale message part set(s) from %s", removed, self.folder)
        return removed

    @staticmethod
    def _purge_sender(sender: Path, cutoff: float) -> int:
        removed = 0
        # The sender's own folder stays (one per enrolled device and topic): removing it would race with a worker
        # opening a new set in it.
        with contextlib.suppress(FileNotFoundError), os.scandir(sender) as entries:
            for entry in entries:
                removed += _purge_if_old(Path(entry.path), Path(entry.path) / _CREATED, cutoff)
        return removed


def _purge_if_old(folder: Path, stamp: Path, cutoff: float) -> int:
    """Remove ``folder`` if ``stamp`` (or, without it, the folder) is older than ``cutoff``."""
    try:
        try:
            created = stamp.stat().st_mtime
        except FileNotFoundError:
            created = folder.stat().st_mtime
    except FileNotFoundError:
        return 0
    if created >= cutoff:
        return 0
    _remove_tree(folder)
    return 1


def _purge_files(folder: Path, cutoff: float) -> int:
    removed = 0
    with os.scandir(folder) as entries:
        for entry in entries:
            with contextlib.suppress(FileNotFoundError):
                if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed += 1
    return removed


def _lengths_fit(paths: list[Path], size: int) -> bool:
    """Every part but the last has one length; together they make exactly ``size`` bytes."""
    lengths = [p.stat().st_size for p in paths]
    return len(set(lengths[:-1])) <= 1 and sum(lengths) == size


def _join(paths: list[Path], target: Path) -> str:
    """Copy the parts in order into ``target``, one chunk at a time, and return the SHA-256 of the whole: a set
    that fails its check costs no memory."""
    digest = hashlib.sha256()
    with os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE), "wb") as out:
        for path in paths:
            with open(path, "rb") as f:
                while chunk := f.read(_READ_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
    return digest.hexdigest()
