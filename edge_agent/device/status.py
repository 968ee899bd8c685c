"""The retained status message: the public answer to "is this device online, and what is it sharing"."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from edge_agent.consent.state import ConsentRecord


@dataclass(frozen=True, slots=True)
class Status:
    device_id: str
    state: str  # "online" | "degraded" | "scene_shift" | "offline"
    consent: ConsentRecord | None
    sharing: bool
    detail: str = ""
    shared_seq: int = -1  # the last sequence number shared: the center asks for any it does not hold

    def to_json(self, now: float | None = None) -> bytes:
        consent = None
        if self.consent is not None:
            consent = {"id": self.consent.id, "mode": self.consent.mode, "expires_at": self.consent.expires_at}
        doc = {
            "device_id": self.device_id,
            "state": self.state,
            "sharing": self.sharing,
            "consent": consent,
            "detail": self.detail,
            "time": round(time.time() if now is None else now, 3),
            "shared_seq": self.shared_seq,
        }
        return json.dumps(doc, sort_keys=True).encode("utf-8")


def offline_payload(device_id: str, shared_seq: int = -1) -> bytes:
    return Status(device_id, "offline", None, False, shared_seq=shared_seq).to_json()
