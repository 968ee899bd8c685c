"""What the running agent says about itself, for ``edge-agent status`` and the page: ``<data-dir>/agent-state.json``.

The consent record says what the homeowner allows; only the agent knows whether it runs, reaches the broker and
gets its segments accepted. It rewrites this small file every ``EVERY_S`` seconds (atomically), so a reader can
tell a live agent from one that died without cleaning up (the file goes stale).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields

from edge_agent.core.files import atomic_write, pid_alive
from edge_agent.core.paths import DevicePaths

log = logging.getLogger(__name__)

EVERY_S = 2.0
STALE_S = 30.0


@dataclass(frozen=True, slots=True)
class AgentState:
    pid: int
    started_at: float
    updated_at: float
    profile: str
    profile_source: str  # "flashed under /etc/edge-agent", a file, or "embedded default"
    camera: str  # "online" | "degraded"
    enrolled: bool
    broker: str
    connected: bool
    sharing: bool  # a live grant is in force now and the agent is enrolled
    delivered: int  # segments the broker acknowledged in this run
    refused: int  # segments the broker refused in this run (e.g. 135: not authorized)
    last_refusal: str
    home_assistant: str = ""  # "" (not configured), "connected", or "not connected: <broker>"

    def alive(self, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        return pid_alive(self.pid) and now - self.updated_at < STALE_S


def read_agent_state(paths: DevicePaths) -> AgentState | None:
    try:
        data = json.loads(paths.agent_state.read_text(encoding="utf-8"))
        names = {f.name for f in fields(AgentState)}
        return AgentState(**{k: v for k, v in data.items() if k in names})
    except (OSError, ValueError, TypeError):
        return None


class StateReporter:
    """A thread that rewrites the state file from ``snapshot()`` until stopped; removes it at the end."""

    def __init__(self, paths: DevicePaths, snapshot: Callable[[], AgentState]) -> None:
        self._paths = paths
        self._snapshot = snapshot
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="agent-state", daemon=True)

    def start(self) -> None:
        self.write()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._paths.agent_state.unlink(missing_ok=True)

    def write(self) -> None:
        try:
            state = self._snapshot()
            atomic_write(self._paths.agent_state, json.dumps(asdict(state), sort_keys=True).encode("utf-8"),
                         mode=0o600, durable=False)
        except OSError as exc:
            log.warning("agent state not written: %s", exc)

    def _run(self) -> None:
        while not self._stop.wait(EVERY_S):
            self.write()
