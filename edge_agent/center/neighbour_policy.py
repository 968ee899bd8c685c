"""The center's policy on neighbours' masking requests left unanswered: refuse the device's live segments.

Off unless the center turns it on (``edge-center neighbours policy --refuse-live-when-overdue on``, audited). While
on, a live segment (consent id ``c-...``) from a device that has a masking request past its deadline without a
``masked`` or ``declined`` answer is refused, with that reason in ``rejected.jsonl``; segments of an approved police
request are not affected (the homeowner answered that one). It ends when the device answers, or when staff give
the ask a new deadline (``neighbours extend``) and the device answers the new request.

The intake asks for every live segment, so the answer is computed for all devices at once and kept for a few
seconds, and the policy file is read at most as often.
"""

from __future__ import annotations

import json
import threading
import time

from edge_agent.center.files import write_private
from edge_agent.center.keys import CenterPaths
from edge_agent.center.neighbours import NeighbourDesk

CACHE_S = 5.0


class OverduePolicy:
    def __init__(self, paths: CenterPaths) -> None:
        self.desk = NeighbourDesk(paths)
        self.path = self.desk.root / "policy.json"
        self._lock = threading.Lock()
        self._checked = -CACHE_S
        self._on = False
        self._scanned = -CACHE_S
        self._overdue: dict[str, str] = {}

    def enabled(self) -> bool:
        try:
            return bool(json.loads(self.path.read_text(encoding="utf-8"))["refuse_live_when_overdue"])
        except (OSError, ValueError, KeyError, TypeError):
            return False

    def set(self, refuse_live_when_overdue: bool) -> None:
        write_private(self.path, json.dumps({"refuse_live_when_overdue": refuse_live_when_overdue}).encode("utf-8"))
        with self._lock:
            self._checked = self._scanned = -CACHE_S
        self.desk.audit.append("neighbour_policy", refuse_live_when_overdue=refuse_live_when_overdue)

    def overdue(self, device_id: str, now: float | None = None) -> str:
        """The id of a masking request ``device_id`` left unanswered past its deadline, or ""."""
        now = time.time() if now is None else now
        with self._lock:
            if time.monotonic() - self._scanned < CACHE_S:
                return self._overdue.get(device_id, "")
        found: dict[str, str] = {}
        for ask in self.desk.asks():
            if now < ask.respond_by:
                continue
            for device, request_id in ask.devices.items():
                answer = self.desk.answer(device, request_id)
                if device not in found and (answer is None or answer.decision == "expired"):
                    found[device] = request_id
        with self._lock:
            self._overdue, self._scanned = found, time.monotonic()
        return found.get(device_id, "")

    def live_refusal(self, device_id: str, consent_id: str, now: float | None = None) -> str:
        """Why a live segment is refused under the policy, or ""."""
        if not consent_id.startswith("c-"):
            return ""
        with self._lock:
            fresh, on = time.monotonic() - self._checked < CACHE_S, self._on
        if not fresh:
            on = self.enabled()
            with self._lock:
                self._checked, self._on = time.monotonic(), on
        overdue = self.overdue(device_id, now) if on else ""
        if not overdue:
            return ""
        return f"live segment refused by the center's policy: masking request {overdue} unanswered past its deadline"
