"""The sealer: a consented segment is sealed for the center (HPKE + Ed25519), chained, and put in the outbox.

The chain state (the next publication sequence number and the previous header hash) is written to
``state.json`` before the sealed segment enters the outbox: a crash can leave a gap the center reports, never two
segments with one number. Whether a segment may be sealed at all is the consent gate's decision
(:mod:`edge_agent.device.consent_gate`), which calls :meth:`Sealer.seal` under its lock.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from edge_agent.config.identity import DeviceIdentity
from edge_agent.consent.state import ConsentRecord
from edge_agent.core.audit import AuditLog
from edge_agent.core.files import atomic_write
from edge_agent.errors import EdgeAgentError, OutboxError
from edge_agent.outbox.spool import Outbox
from edge_agent.seal import Recipient, SealedSegment, seal_segment
from edge_agent.segment.model import Segment

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ChainState:
    next_seq: int = 0
    prev_hash: str = ""


def load_chain(path: Path) -> ChainState:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return ChainState(int(data["next_seq"]), str(data["prev_hash"]))
    except FileNotFoundError:
        return ChainState()
    except (ValueError, KeyError, TypeError) as exc:
        raise OutboxError(f"{path}: chain state is corrupt ({exc}); refusing to reuse sequence numbers") from exc


def save_chain(path: Path, state: ChainState) -> None:
    atomic_write(path, json.dumps(dataclasses.asdict(state)).encode("utf-8"), mode=0o600)


class Sealer:
    """Seals segments for the center and spools them, in chain order. Thread-safe."""

    def __init__(
        self,
        identity: DeviceIdentity,
        *,
        recipients: list[Recipient],
        outbox: Outbox,
        topic: str,
        audit: AuditLog,
        state_path: Path,
    ) -> None:
        self._identity = identity
        self._recipients = recipients
        self.outbox = outbox
        self._topic = topic
        self._audit = audit
        self._state_path = state_path
        self._lock = threading.Lock()
        self._chain = load_chain(state_path)
        self._skip_past_outbox()

    @property
    def next_seq(self) -> int:
        """The sequence number the next shared segment gets (so ``next_seq - 1`` is the last one shared)."""
        with self._lock:
            return self._chain.next_seq

    def _skip_past_outbox(self) -> None:
        pending = self.outbox.pending()
        if pending and pending[-1].seq >= self._chain.next_seq:
            # The state file is written before each put, so this only happens if it was restored from a backup.
            self._chain = ChainState(pending[-1].seq + 1, "")

    def seal(self, segment: Segment, record: ConsentRecord) -> SealedSegment | None:
        """Seal and spool ``segment`` under ``record``. Returns None when it could not be spooled."""
        with self._lock:
            seq = self._chain.next_seq
            meta = dataclasses.replace(segment.meta, seq=seq, device_id=self._identity.device_id)
            sealed = seal_segment(
                Segment(meta, segment.data),
                consent_id=record.id,
                prev_hash=self._chain.prev_hash,
                signer=self._identity.signing_key,
                recipients=self._recipients,
            )
            self._chain = ChainState(seq + 1, sealed.header_hash)
            try:
                save_chain(self._state_path, self._chain)
                # The entry is written once the item is durable and before the publisher can see it: nothing
                # leaves the device that the log does not show (a card too full for the entry stops it here).
                evicted = self.outbox.put(
                    seq,
                    self._topic,
                    record.id,
                    sealed.blob,
                    before_commit=lambda: self._audit.append(
                        "segment_shared", segment=seq, consent_id=record.id, header_hash=sealed.header_hash
                    ),
                )
            except (OSError, EdgeAgentError) as exc:
                log.error("segment %d not spooled: %s", seq, exc)
                self._audit.note("outbox_error", segment=seq, error=str(exc)[:200])
                return None
        for item in evicted:
            self._audit.note("outbox_evicted", segment=item.seq, size=item.size)
        return sealed
