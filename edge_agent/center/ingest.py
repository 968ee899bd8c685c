"""Ingest one sealed segment: verify, decrypt, check, store as playable video with an evidence record.

Stateless per message, so any number of workers can share one MQTT subscription: deduplication and the commit
point are files created atomically (``<seq>.json`` is claimed with an exclusive link), never in-memory state.

Every check that can refuse a segment runs before anything is written: its size, the envelope, the device and
topic, its times (finite, ordered, of a plausible length, neither in the future nor too old), its content type
(MPEG-TS only) and frame count, its place in the chain and the consent that covers it.

Durability: by default every file is fsync'd before :meth:`Ingestor.ingest` returns. A batching receiver
(:mod:`edge_agent.center.subscriber`) builds the ingestor with ``durable=False``, ingests a batch, then calls
:meth:`Ingestor.sync` once (one ``syncfs``) before acknowledging any message of the batch. A crash before that
sync can leave a record file that exists but is empty or cut short: such a record counts as absent, and the
redelivered segment is stored again over it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from edge_agent.center.consent_check import PENDING, Claim, ConsentBook
from edge_agent.center.files import append_bounded, append_private, write_private
from edge_agent.center.keys import CenterKeys, CenterPaths, DeviceRegistry
from edge_agent.center.neighbour_policy import OverduePolicy
from edge_agent.center.ordering import chain_conflict
from edge_agent.center.pending import PendingStore
from edge_agent.core.files import sync_filesystem
from edge_agent.errors import EdgeAgentError, OpenError
from edge_agent.seal import OpenedSegment, open_segment
from edge_agent.segment.tsscan import CONTENT_TYPE as MPEG_TS
from edge_agent.segment.tsscan import frame_count as ts_frame_count
from edge_agent.transport.parts import MAX_PAYLOAD
from edge_agent.transport.topics import SEGMENTS, parse_topic

log = logging.getLogger(__name__)

# stored / duplicate / pending / rejected: a segment. accepted: a consent record, answer, log head or status
# learned. part: a message part kept until its set is complete. set-aside: a message that failed every try.
Status = Literal["stored", "duplicate", "rejected", "pending", "accepted", "part", "set-aside"]
# A segment stamped further ahead than this is refused (clock skew allowance).
MAX_FUTURE_SKEW_S = 300.0
# A segment older than this is refused: nothing legitimate is held that long (retention is capped at 7 days).
MAX_AGE_S = 8 * 24 * 3600.0
# Segments are at most 60 s of capture time (the profile's cap); a camera that stalls mid-segment stretches one,
# so the bound is generous, but it is a bound.
MAX_SPAN_S = 3600.0


@dataclass(frozen=True, slots=True)
class IngestResult:
    status: Status
    reason: str = ""
    device_id: str | None = None
    seq: int | None = None
    kind: str = SEGMENTS  # the topic kind the message came on
    evidence: dict[str, object] | None = None  # a stored segment's record, as in evidence.jsonl


class Ingestor:
    def __init__(
        self,
        paths: CenterPaths,
        keys: CenterKeys,
        registry: DeviceRegistry,
        topic_prefix: str,
        counts: Counter[str] | None = None,
        *,
        check_consent: bool = True,
        durable: bool = True,
    ) -> None:
        self._paths = paths
        self._durable = durable
        # Files written since the last sync (durable=False): fsync'd one by one where syncfs is unavailable.
        self._unsynced: list[Path] = []
        self._keys = keys
        self._registry = registry
        self._prefix = topic_prefix
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter() if counts is None else counts
        # Point 3 of the design: nothing is evidence without a consent record or approved request covering it.
        self.consent: ConsentBook | None = ConsentBook(paths.root, registry) if check_consent else None
        self.pending = PendingStore(paths.pending)
        self.neighbours = OverduePolicy(paths)
        # Told of every result (the evidence index listens here: a stored or duplicate segment carries its record).
        # It must not raise: what it does is not part of the message's answer.
        self.on_result: Callable[[IngestResult], None] | None = None

    def record(self, result: IngestResult) -> IngestResult:
        """Count ``result``; a refusal is also logged, one line in ``rejected.jsonl``."""
        if result.kind == SEGMENTS and result.status != "part":
            log.debug("%s", describe(result))
        if self.on_result is not None:
            self.on_result(result)
        with self._lock:
            self.counts[result.status] += 1
            if result.status == "rejected":
                self.counts[f"rejected: {result.reason}"] += 1
        if result.status == "rejected":
            log.warning("rejected %s message from device %s (seq %s): %s", result.kind, result.device_id,
                        result.seq, result.reason)
            line = json.dumps({"time": time.time(), "device_id": result.device_id, "kind": result.kind,
                               "seq": result.seq, "reason": result.reason}, sort_keys=True)
            append_bounded(self._paths.rejected, line, durable=self._durable)
            self._wrote(self._paths.rejected)
        return result


    def _write(self, path: Path, data: bytes, *, exclusive: bool = False) -> None:
        write_private(path, data, exclusive=exclusive, durable=self._durable)
        self._wrote(path)

    def _append(self, path: Path, line: str) -> None:
        append_private(path, line, durable=self._durable)
        self._wrote(path)

    def _wrote(self, path: Path) -> None:
        if not self._durable:
            with self._lock:
                self._unsynced.append(path)

    def _repair(self, path: Path, data: bytes) -> None:
        """A crash before a batch was durable can keep a segment's record but lose its files' contents (they
        were written back in a different order); the redelivered copy restores them. Only duplicates pay for
        this read, and they are rare (redeliveries)."""
        try:
            intact = path.stat().st_size == len(data) and path.read_bytes() == data
        except FileNotFoundError:
            intact = False
        if not intact:
            log.warning("restoring %s from a redelivered copy", path.name)
            self._write(path, data)

    def sync(self) -> None:
        """Make everything written since the last call durable (a no-op when every write is already durable).
        OSError when the file system reports a write-back error: then nothing written since is durable."""
        with self._lock:
            written, self._unsynced = self._unsynced, []
        if written:
            sync_filesystem(self._paths.root, written)

    def ingest(self, topic: str, payload: bytes, now: float | None = None) -> IngestResult:
        now = time.time() if now is None else now
        try:
            topic_device, _ = parse_topic(self._prefix, topic)
        except EdgeAgentError:
            return self.record(IngestResult("rejected", "foreign topic"))
        if len(payload) > MAX_PAYLOAD:
            return self.record(IngestResult("rejected", "segment too large", topic_device))
        if self._registry(topic_device) is None and (self._paths.withdrawn / f"{topic_device}.json").is_file():
            return self.record(IngestResult("rejected", "device withdrawn from this center", topic_device))
        try:
            opened = open_segment(payload, private_key=self._keys.x25519, device_key=self._registry)
        except OpenError:
            return self.record(IngestResult("rejected", "envelope rejected", topic_device))
        header = opened.header
        reject = self._check(opened, topic_device, now) or chain_conflict(
            self._paths.store / header.device_id, header.seq, opened.header_hash, header.prev_hash
        )
        if reject:
            return self.record(IngestResult("rejected", reject, header.device_id, header.seq))
        if self.consent is not None:
            verdict = self.consent.check(Claim(header.device_id, header.consent_id, header.start, header.end,
                                               header.seq, opened.header_hash))
            if verdict == PENDING:
                verdict = self.pending.hold(header.device_id, header.consent_id, header.seq, payload)
                if not verdict:
                    return self.record(IngestResult("pending", "consent record not received yet", header.device_id,
                                                    header.seq))
            if verdict:
                return self.record(IngestResult("rejected", verdict, header.device_id, header.seq))
        refused = self.neighbours.live_refusal(header.device_id, header.consent_id, header.start)
        if refused:  # the center's policy on neighbours' masking requests left unanswered
            return self.record(IngestResult("rejected", refused, header.device_id, header.seq))
        return self.record(self._store(opened, payload, now))

    def _check(self, opened: OpenedSegment, topic_device: str, now: float) -> str:
        header = opened.header
        if header.device_id != topic_device:
            return "device id in the envelope does not match the topic"
        reason = _time_problem(header.start, header.end, now)
        if reason:
            return reason
        if header.content_type != MPEG_TS:
            return "unsupported content type (only video/mp2t is accepted)"
        try:
            frames = ts_frame_count(opened.plaintext)
        except EdgeAgentError:
            return "video does not decode"
        if frames != header.frame_count:
            return "video frame count does not match the header"
        return ""

    def _store(self, opened: OpenedSegment, payload: bytes, now: float) -> IngestResult:
        header = opened.header
        folder = self._paths.store / header.device_id
        stem = f"{header.seq:010d}"
        record_path = folder / f"{stem}.json"
        tag = opened.sealed_sha256[:12]
        video_name, sealed_name = f"{stem}-{tag}.ts", f"{stem}-{tag}.sealed"
        existing = _read_record(record_path)
        if existing is not None:
            if existing.get("sealed_sha256") == opened.sealed_sha256:
                self._repair(folder / sealed_name, payload)
                self._repair(folder / video_name, opened.plaintext)
            return _duplicate_or_conflict(existing, opened, header.device_id, header.seq)
        # A record that exists but does not parse was cut short by a crash before its batch was durable (never
        # acknowledged, so the broker redelivered it): it is replaced instead of claimed.
        claim = not record_path.exists()
        self._write(folder / sealed_name, payload)
        self._write(folder / video_name, opened.plaintext)
        record = {
            "device_id": header.device_id,
            "seq": header.seq,
            "start": header.start,
            "end": header.end,
            "start_utc": _utc(header.start),
            "end_utc": _utc(header.end),
            "frame_count": header.frame_count,
            "width": header.width,
            "height": header.height,
            "consent_id": header.consent_id,
            "profile_hash": header.profile_hash,
            "header_hash": opened.header_hash,
            "prev_hash": header.prev_hash,
            "sealed_sha256": opened.sealed_sha256,
            "opened_sha256": hashlib.sha256(opened.plaintext).hexdigest(),
            "signature": "valid",
            "video": video_name,
            "sealed": sealed_name,
            "received_at": now,
        }
        line = json.dumps(record, sort_keys=True)
        try:
            self._write(record_path, (line + "\n").encode("utf-8"), exclusive=claim)
        except FileExistsError:
            # Another worker on the same shared subscription committed this segment first.
            raced = _read_record(record_path) or {}
            return _duplicate_or_conflict(raced, opened, header.device_id, header.seq)
        self._append(self._paths.evidence, line)
        return IngestResult("stored", "", header.device_id, header.seq, evidence=record)


def _time_problem(start: float, end: float, now: float) -> str:
    """Why a segment's times are refused, or ``""``. Decided before anything is written: a time far out of range
    would otherwise fail later, in the middle of storing (``time.gmtime(1e300)`` raises)."""
    if start > now + MAX_FUTURE_SKEW_S or end > now + MAX_FUTURE_SKEW_S:
        return "timestamp in the future"
    if end < now - MAX_AGE_S or start < now - MAX_AGE_S - MAX_SPAN_S:
        return "timestamp too old"
    if not 0.0 <= end - start <= MAX_SPAN_S:
        return "segment times out of order or too long"
    return ""


def _read_record(path: Path) -> dict[str, object] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None  # absent, or empty / cut short by a crash before its batch was durable
    return data if isinstance(data, dict) and "sealed_sha256" in data else None


def describe(result: IngestResult) -> str:
    """One line for a person: what became of a segment (``subscribe -v`` prints one per segment)."""
    who = f"{result.device_id or '?'} #{result.seq if result.seq is not None else '?'}"
    record = result.evidence
    if result.status == "stored" and record is not None:
        span = float(str(record["end"])) - float(str(record["start"]))
        return (f"stored {who}: {record['start_utc']} +{span:.1f} s, {record['frame_count']} frames, "
                f"{record['width']}x{record['height']}, under {record['consent_id']}, signature valid, "
                f"video {record['device_id']}/{record['video']}")
    if result.status == "duplicate":
        return f"duplicate {who}: already stored, acknowledged again"
    return f"{result.status} {who}: {result.reason}"


def _duplicate_or_conflict(existing: dict[str, object], opened: OpenedSegment, device: str, seq: int) -> IngestResult:
    if existing.get("sealed_sha256") == opened.sealed_sha256:
        return IngestResult("duplicate", "already stored", device, seq, evidence=existing)
    return IngestResult("rejected", "a different segment with this sequence number is already stored", device, seq)


def _utc(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1000):03d}Z"
