"""Fill the evidence index from the files: every stored segment's record and every request this center sent.

Incremental: per device, only the records whose sequence numbers the index lacks are read, so a sync over a large
store that is already indexed lists folders and reads nothing. The subscriber runs it when it starts (a segment
stored while the database was unreachable is indexed then) and ``edge-center index sync`` runs it by hand (after
switching databases, or for a store written before the index existed).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from edge_agent.center.consent_check import read_doc
from edge_agent.center.index import EvidenceIndex, record_row
from edge_agent.center.keys import CenterPaths
from edge_agent.consent.requests import parse_request
from edge_agent.errors import ConsentError
from edge_agent.transport.topics import DEVICE_ID_RE

log = logging.getLogger(__name__)

_RECORD = re.compile(r"^([0-9]{10,})\.json$")
BATCH = 1000
UNKNOWN_SENDER = "(from the files)"


@dataclass(frozen=True, slots=True)
class SyncReport:
    segments: int
    requests: int
    unreadable: tuple[str, ...]


def sync_index(paths: CenterPaths, index: EvidenceIndex) -> SyncReport:
    added, unreadable = _sync_segments(paths, index)
    requests = 0
    known = {r.id for r in index.requests()}
    for path in sorted((paths.root / "requests").glob("*/r-*.json")):
        if path.stem in known:
            continue
        doc = read_doc(path)
        try:
            request = parse_request(doc or {})
        except ConsentError:
            unreadable.append(str(path))
            continue
        index.add_request(request, UNKNOWN_SENDER)
        requests += 1
    if added or requests:
        log.info("index: %d segment(s) and %d request(s) added from the files", added, requests)
    return SyncReport(added, requests, tuple(unreadable))


def _sync_segments(paths: CenterPaths, index: EvidenceIndex) -> tuple[int, list[str]]:
    added = 0
    unreadable: list[str] = []
    devices = sorted(p for p in paths.store.iterdir() if p.is_dir()) if paths.store.is_dir() else []
    for folder in devices:
        if not DEVICE_ID_RE.fullmatch(folder.name):
            continue
        known = index.seqs(folder.name)
        batch: list[tuple[Any, ...]] = []
        for entry in sorted(folder.iterdir()):
            match = _RECORD.fullmatch(entry.name)
            if match is None or int(match[1]) in known:
                continue
            try:
                batch.append(record_row(json.loads(entry.read_text(encoding="utf-8"))))
            except (OSError, ValueError, KeyError, TypeError):
                unreadable.append(str(entry))  # a record cut short by a crash before its batch was durable
                continue
            if len(batch) >= BATCH:
                index.add_rows(batch)
                added += len(batch)
                batch = []
        index.add_rows(batch)
        added += len(batch)
    return added, unreadable
