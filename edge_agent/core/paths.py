"""Where the device keeps its state: one data folder, laid out by :class:`DevicePaths`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class DevicePaths:
    root: Path

    @property
    def signing_key(self) -> Path:
        return self.root / "identity" / "device.ed25519.key"

    @property
    def public(self) -> Path:
        return self.root / "device.pub.json"

    @property
    def enrollment(self) -> Path:
        return self.root / "enrollment.json"

    @property
    def consent(self) -> Path:
        return self.root / "consent.json"

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    @property
    def audit(self) -> Path:
        return self.root / "audit.log"

    @property
    def pid(self) -> Path:
        return self.root / "agent.pid"
