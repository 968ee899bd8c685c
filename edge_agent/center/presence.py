"""Which devices are online, since when, and how far each one's chain goes: from their retained status messages.

A status message is not signed, but only the device itself may publish on its status topic (the broker's ACL),
and its last will ("offline") is published by the broker when the device's link drops. The newest status of each
device is kept in ``status/<device>.json``::

    {"state": "offline", "since": 1764500000.0, "time": ..., "detail": "", "shared_seq": 41}

``since`` is when the device entered its current state: when the center received the change, or for a retained
message (replayed when the center subscribes) the time the message names. The broker keeps a topic's messages in
order, so the last one received is the current one; the time inside is not compared (the last will "offline"
carries the time the device connected). ``shared_seq`` is the last sequence number the device says it shared
(-1: none or not reported), which tells the repair about segments lost at the tail of the chain.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from edge_agent.center.consent_check import Learned
from edge_agent.center.files import write_private
from edge_agent.consent.documents import parse_status
from edge_agent.core.canon import strict_loads
from edge_agent.errors import ConsentError, OpenError
from edge_agent.transport.topics import check_device_id

MAX_STATUS_LEN = 4096


@dataclass(frozen=True, slots=True)
class Presence:
    device_id: str
    state: str
    since: float
    time: float
    detail: str
    shared_seq: int

    @property
    def online(self) -> bool:
        return self.state != "offline"


class PresenceBook:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def get(self, device_id: str) -> Presence | None:
        try:
            data = json.loads((self.folder / f"{check_device_id(device_id)}.json").read_text(encoding="utf-8"))
            return Presence(device_id, str(data["state"]), float(data["since"]), float(data["time"]),
                            str(data["detail"]), int(data["shared_seq"]))
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None

    def learn(
        self, device_id: str, payload: bytes, *, retained: bool = False, now: float | None = None,
        durable: bool = True,
    ) -> tuple[Learned, bool]:
        """Keep a status message. Returns what became of it, and whether the device just came online (a moment to
        send it what waits for it)."""
        if len(payload) > MAX_STATUS_LEN:
            return Learned("refused", "status message too long"), False
        try:
            status = parse_status(strict_loads(payload))
        except (OpenError, ConsentError) as exc:
            return Learned("refused", f"status message: {exc}"[:300]), False
        if status.device_id != device_id:
            return Learned("refused", "status message names another device"), False
        old = self.get(device_id)
        same_state = old is not None and (old.state == "offline") == (status.state == "offline")
        received = time.time() if now is None else now
        since = old.since if same_state and old is not None else (status.time if retained else received)
        shared = max(status.shared_seq, old.shared_seq if old is not None else -1)
        doc = {"state": status.state, "since": since, "time": status.time, "detail": status.detail,
               "shared_seq": shared}
        write_private(self.folder / f"{device_id}.json", json.dumps(doc, sort_keys=True).encode(), durable=durable)
        came_online = status.state != "offline" and (old is None or not old.online)
        return Learned("new"), came_online
