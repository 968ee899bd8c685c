"""glibc's allocator, tuned for a long-running daemon that handles megabyte-sized frames on a small board.

Two habits of glibc's malloc cost the agent tens of megabytes of resident memory that it does not use:

* every thread that allocates gets its own arena (up to 8 per core), and freed memory stays in the arena of
  the thread that freed it: capture, share, publisher, OpenCV and x264 threads each keep their own reserve;
* after a large block is freed, glibc raises its mmap threshold to that block's size (up to 32 MiB), so one
  large temporary (the synthetic scene's noise bank, a detector's blob) sends every later block below that size
  to the heap, where freed memory under a block still in use is never given back to the system.

:func:`tune_allocator` caps the arenas and fixes the mmap threshold at 4 MiB: frames (2.7 MB at 720p) still come
from the heap and are reused without page faults (a 512 KiB threshold, which maps every frame, cost a third of the
pipeline's speed), larger temporaries are mapped and unmapped. The unit file sets the same through
``MALLOC_ARENA_MAX`` and ``MALLOC_MMAP_THRESHOLD_``, which also covers the start-up imports.
:func:`release_free_memory` hands free heap pages back (``malloc_trim``), cheap enough to run once per segment.
Both do nothing where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # from glibc's malloc.h
M_ARENA_MAX = -8
ARENAS = 2
MMAP_THRESHOLD = 4 << 20


def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    # musl and others have no mallopt/malloc_trim: leave their allocator alone.
    if not (hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim")):
        return None
    return libc


_LIBC = _glibc()


def tune_allocator(arenas: int = ARENAS, mmap_threshold: int = MMAP_THRESHOLD) -> bool:
    """Cap glibc's arenas (for threads started from now on) and fix its mmap threshold. False where not possible."""
    if _LIBC is None:
        return False
    ok = True
    for param, value, name in ((M_ARENA_MAX, arenas, "M_ARENA_MAX"), (M_MMAP_THRESHOLD, mmap_threshold,
                                                                      "M_MMAP_THRESHOLD")):
        if not _LIBC.mallopt(param, value):
            log.warning("mallopt(%s, %d) refused", name, value)
            ok = False
    return ok


def release_free_memory() -> bool:
    """Give free heap pages of every arena back to the system. Returns True when some were released."""
    if _LIBC is None:
        return False
    return bool(_LIBC.malloc_trim(0))
