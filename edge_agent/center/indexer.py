"""The subscriber's side of the evidence index: every segment it stores is indexed at once.

Indexing is not part of a message's answer: a segment is evidence once its files and record are durable, whether
or not the index could be written. So a database that fails (PostgreSQL restarting) costs no message: the
failure is logged, and the index catches up from the files (:func:`edge_agent.center.index_sync.sync_index`) at
the next stored segment after a minute, and whenever a subscriber starts.
"""

from __future__ import annotations

import logging
import threading
import time

from edge_agent.center.db import open_database
from edge_agent.center.index import EvidenceIndex
from edge_agent.center.index_sync import sync_index
from edge_agent.center.ingest import IngestResult
from edge_agent.center.keys import CenterPaths
from edge_agent.center.schema import ensure_schema
from edge_agent.errors import CenterError

log = logging.getLogger(__name__)

RETRY_AFTER_S = 60.0


class SegmentIndexer:
    """``Ingestor.on_result``: index each stored (or duplicate) segment; never raises."""

    def __init__(self, paths: CenterPaths) -> None:
        self._paths = paths
        self._lock = threading.Lock()
        self._index: EvidenceIndex | None = None
        self._behind_since: float | None = float("-inf")  # catch up from the files at the first segment
        self.indexed = 0
        self.failures = 0

    def __call__(self, result: IngestResult) -> None:
        if result.status not in ("stored", "duplicate") or result.evidence is None:
            return
        with self._lock:
            try:
                index = self._open()
                if self._behind_since is not None and time.monotonic() - self._behind_since >= RETRY_AFTER_S:
                    sync_index(self._paths, index)
                    self._behind_since = None
                index.add_segment(result.evidence)
                self.indexed += 1
            except (CenterError, KeyError, TypeError, ValueError) as exc:
                self.failures += 1
                self._drop()  # a connection that failed is opened afresh next time
                if self._behind_since is None:
                    self._behind_since = time.monotonic()
                log.error("segment %s #%s stored but not indexed (the index catches up from the files): %s",
                          result.device_id, result.seq, exc)

    def _open(self) -> EvidenceIndex:
        if self._index is None:
            self._index = EvidenceIndex(ensure_schema(open_database(self._paths)))
        return self._index

    def _drop(self) -> None:
        if self._index is not None:
            self._index.db.close()
            self._index = None

    def close(self) -> None:
        with self._lock:
            self._drop()
