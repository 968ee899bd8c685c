"""What the page's handlers share, and the homeowner's actions, each writing its audit entry.

The consent actions call :mod:`edge_agent.device.homeowner`, exactly as ``edge-agent consent`` does: a signed record
(the daemon picks it up at its next check), a ``consent_change`` audit entry, live segments still waiting in the
outbox deleted when sharing stops, and the new state published to the center at once when enrolled.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from edge_agent.config.models import Profile
from edge_agent.consent.state import ConsentRecord, ConsentStore
from edge_agent.core.audit import AuditLog
from edge_agent.core.paths import DevicePaths
from edge_agent.device import homeowner
from edge_agent.redact.zonestore import ZoneStore
from edge_agent.ui.access import AccessStore, LoginLimiter
from edge_agent.ui.feed import Feed
from edge_agent.ui.hosts import HostCheck

VIA = "ui"


@dataclass(slots=True)
class UiContext:
    paths: DevicePaths
    profile: Profile
    feed: Feed | None
    any_network: bool = False
    access: AccessStore = field(init=False)
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    hosts: HostCheck = field(init=False)
    zones: ZoneStore = field(init=False)
    audit: AuditLog = field(init=False)
    consent: ConsentStore = field(init=False)

    def __post_init__(self) -> None:
        self.access = AccessStore(self.paths.root)
        self.hosts = HostCheck(self.profile.ui.hosts)
        self.zones = ZoneStore(self.paths.root, self.profile.zones)
        self.audit = AuditLog(self.paths.audit)
        self.consent = ConsentStore(self.paths.consent)

    @classmethod
    def build(cls, data_dir: Path, profile: Profile, feed: Feed | None, any_network: bool = False) -> UiContext:
        return cls(DevicePaths(data_dir), profile, feed, any_network)

    # -- consent: the same calls as ``edge-agent consent`` (signed record, audit entry, outbox, publish) --------

    def grant_live(self, minutes: float) -> ConsentRecord:
        return homeowner.grant_live(self.paths, self.profile, until=time.time() + minutes * 60.0).record

    def on_request(self) -> ConsentRecord:
        return homeowner.set_on_request(self.paths, self.profile).record

    def revoke(self, reason: str = "") -> tuple[ConsentRecord, int]:
        change = homeowner.revoke(self.paths, self.profile, reason)
        return change.record, change.outbox_dropped
