"""What the page's handlers share, and the homeowner's actions, each writing its audit entry.

The consent actions do exactly what ``edge-agent consent`` does: write the new record (the daemon picks it up at
its next check), append ``consent_change``, and on a revocation delete the live segments still waiting in the
outbox.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_agent.config.models import Profile
from edge_agent.consent.audit import AuditLog
from edge_agent.consent.state import ConsentRecord, ConsentStore, live_record, new_record_id, revoke_record
from edge_agent.identity import DevicePaths
from edge_agent.outbox.spool import Outbox
from edge_agent.sharing import drop_live_grants
from edge_agent.ui.access import AccessStore, LoginLimiter
from edge_agent.ui.feed import Feed
from edge_agent.ui.zonestore import ZoneStore

VIA = "ui"


@dataclass(slots=True)
class UiContext:
    paths: DevicePaths
    profile: Profile
    feed: Feed | None
    any_network: bool = False
    access: AccessStore = field(init=False)
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    zones: ZoneStore = field(init=False)
    audit: AuditLog = field(init=False)
    consent: ConsentStore = field(init=False)

    def __post_init__(self) -> None:
        self.access = AccessStore(self.paths.root)
        self.zones = ZoneStore(self.paths.root, self.profile.zones)
        self.audit = AuditLog(self.paths.audit)
        self.consent = ConsentStore(self.paths.consent)

    @classmethod
    def build(cls, data_dir: Path, profile: Profile, feed: Feed | None, any_network: bool = False) -> UiContext:
        return cls(DevicePaths(data_dir), profile, feed, any_network)

    # -- consent --------------------------------------------------------------------------------------------

    def _record_change(self, record: ConsentRecord, **extra: Any) -> None:
        self.audit.append("consent_change", consent_id=record.id, mode=record.mode, expires_at=record.expires_at,
                          replaces=record.replaces, via=VIA, **extra)

    def grant_live(self, minutes: float) -> ConsentRecord:
        now = time.time()
        record = live_record(now, now + minutes * 60.0, self.consent.current(), self.profile.consent.max_live_hours)
        self.consent.write(record)
        self._record_change(record)
        return record

    def on_request(self) -> ConsentRecord:
        now = time.time()
        previous = self.consent.current()
        record = ConsentRecord(new_record_id(), "on-request", now, now, None, replaces=previous.id)
        self.consent.write(record)
        self._record_change(record)
        self._drop_waiting(record)
        return record

    def revoke(self, reason: str = "") -> tuple[ConsentRecord, int]:
        record = revoke_record(time.time(), self.consent.current(), reason)
        self.consent.write(record)
        self._record_change(record)
        return record, self._drop_waiting(record)

    def _drop_waiting(self, record: ConsentRecord) -> int:
        # The daemon drops them too when it sees the change; doing it here covers a daemon that is not running.
        if not self.paths.outbox.exists():
            return 0
        dropped = drop_live_grants(Outbox(self.paths.outbox, 1 << 62))
        if dropped:
            self.audit.append("outbox_revoked", consent_id=record.id, segments=[i.seq for i in dropped])
        return len(dropped)
