"""Crash-safe file writes: a file is either absent or complete, never half-written."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path


def fsync_dir(folder: Path) -> None:
    """Make a rename or unlink in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(folder: Path, mode: int | None = None) -> None:
    """Create ``folder`` and its missing parents; with ``mode``, each folder created here gets exactly it (mkdir's
    own ``mode`` applies to the last folder only, and through the umask)."""
    if mode is None:
        folder.mkdir(parents=True, exist_ok=True)
        return
    missing: list[Path] = []
    current = folder
    while not current.is_dir():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for item in reversed(missing):
        try:
            item.mkdir(mode=mode)
        except FileExistsError:
            continue  # another writer made it first; its mode is its own business
        os.chmod(item, mode)


def atomic_write(
    path: Path,
    data: bytes,
    mode: int = 0o644,
    *,
    exclusive: bool = False,
    durable: bool = True,
    before_rename: Callable[[], object] | None = None,
    dir_mode: int | None = None,
) -> None:
    """Write ``data`` to ``path`` via a temporary file, fsync, rename, fsync the folder.

    With ``exclusive`` the final name must not exist yet (``FileExistsError`` otherwise); it is claimed with a
    hard link, which is atomic, so that two writers racing for the same name cannot both win.

    With ``durable=False`` both fsyncs are skipped: the caller makes a whole batch durable at once with
    :func:`sync_filesystem`, and must cope after a crash with a file that exists but is empty or short.

    ``before_rename`` runs once the data is durable under the temporary name and before it takes the final one;
    if it raises, the file never appears (e.g. the outbox logs a share first, and shares nothing it cannot log).
    ``dir_mode``: the mode of folders created on the way (see :func:`make_dirs`).
    """
    make_dirs(path.parent, dir_mode)
    # One temporary name per thread and process (the pid last: the outbox tells a dead writer's leftovers by it).
    tmp = path.with_name(f".{path.name}.{threading.get_native_id()}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if durable:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    os.close(fd)
    os.chmod(tmp, mode)
    try:
        if before_rename is not None:
            before_rename()
        if exclusive:
            os.link(tmp, path)
            tmp.unlink()
        else:
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    if durable:
        fsync_dir(path.parent)


def append_line(
    path: Path, line: str, *, durable: bool = True, mode: int = 0o644, dir_mode: int | None = None
) -> None:
    """Append one line durably (``durable=False``: without the fsync, see :func:`atomic_write`). A single
    ``write`` with O_APPEND keeps concurrent writers' lines whole. ``mode`` applies when the file is created."""
    make_dirs(path.parent, dir_mode)
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, mode)
    try:
        os.write(fd, data)
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)


def _load_syncfs() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        func = libc.syncfs
    except (OSError, AttributeError):
        return None  # not Linux (or not glibc/musl): fall back to fsync of each file
    func.argtypes = [ctypes.c_int]
    func.restype = ctypes.c_int
    syncfs: Callable[[int], int] = func
    return syncfs


_SYNCFS = _load_syncfs()


def sync_filesystem(path: Path, written: Iterable[Path] = (), *, use_syncfs: bool = True) -> None:
    """Make every write to the file system holding ``path`` durable: one ``syncfs(2)``.

    One call for a batch of writes costs about what one fsync does, instead of two fsyncs per file. Where
    ``syncfs`` is not available (or ``use_syncfs`` is False) each of the ``written`` files and its folder is
    fsync'd instead. Raises OSError when the kernel reports a write-back error (Linux >= 5.8 reports them
    through syncfs).
    """
    if use_syncfs and _SYNCFS is not None:
        fd = os.open(path, os.O_RDONLY)
        try:
            if _SYNCFS(fd) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"syncfs failed: {os.strerror(err)}", str(path))
        finally:
            os.close(fd)
        return
    folders: set[Path] = set()
    for file in written:
        fd = os.open(file, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        folders.add(file.parent)
    for folder in sorted(folders):
        fsync_dir(folder)


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (one owned by another user counts): to tell a live writer's leftovers
    from a crashed one's."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
