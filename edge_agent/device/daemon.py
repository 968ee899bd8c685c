"""The daemon: builds the device's parts from the profile and the data folder, and starts them in order.

Threads: the capture thread reads frames into a small queue (:mod:`.capture_thread`); the frame loop redacts and
encodes (:mod:`.frames`); finished segments go to the share thread (:mod:`.share_thread`: retention, the consent
gate, seal, durable outbox), so sealing and fsync never delay a frame; the outbox publisher drains the outbox to
the broker (:mod:`.uplink`); the request and retention workers answer police requests and keep retention within
its rules.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from edge_agent.config.identity import load_enrollment, load_identity
from edge_agent.config.in_force import Policy
from edge_agent.config.loader import load_profile
from edge_agent.config.models import Profile, Zone
from edge_agent.config.profiles import load_active_profile
from edge_agent.consent.retention import Retention
from edge_agent.consent.state import ConsentRecord, ConsentStore, describe
from edge_agent.core.audit import AuditLog
from edge_agent.core.files import atomic_write
from edge_agent.core.lock import FolderLock
from edge_agent.core.paths import DevicePaths
from edge_agent.device import homeowner
from edge_agent.device.agent_state import AgentState, StateReporter
from edge_agent.device.consent_gate import ConsentGate
from edge_agent.device.frames import FrameLoop, FrameTap, RunSummary
from edge_agent.device.home_assistant import HomeAssistantBridge
from edge_agent.device.masking_worker import MaskingWorker
from edge_agent.device.memory import tune_allocator
from edge_agent.device.requests_worker import RequestWorker
from edge_agent.device.retention_worker import RetentionWorker, SharedRetention
from edge_agent.device.sdnotify import Notifier
from edge_agent.device.share_thread import ShareWorker
from edge_agent.device.stills import StillCamera, TapFan
from edge_agent.device.uplink import Uplink
from edge_agent.errors import EdgeAgentError
from edge_agent.redact.zonestore import ZoneStore
from edge_agent.segment.model import Segment

log = logging.getLogger(__name__)


class Page(Protocol):
    """The homeowner's page served by the agent (``[ui] enabled = true``), started by whoever runs the daemon."""

    @property
    def url(self) -> str: ...

    def stop(self) -> None: ...


PageStarter = Callable[[DevicePaths, Profile, list[Zone]], tuple[FrameTap, Page]]


@dataclass(frozen=True, slots=True)
class RunOptions:
    data_dir: Path
    profile: str | None = None
    profile_root: Path | None = None  # a flashed, signature-checked profile (see edge_agent.config.profiles)
    source: str | None = None
    duration: float | None = None
    realtime: bool = True
    serve_page: PageStarter | None = None  # how to start the page when the profile enables it


class Agent:
    def __init__(self, options: RunOptions) -> None:
        tune_allocator()  # before the face model and the threads: fewer malloc arenas (edge_agent.device.memory)
        self.options = options
        self.paths = DevicePaths(options.data_dir)
        # One agent per data folder, before anything else touches it (the outbox, the chain, the broker session).
        self.lock = FolderLock(self.paths.root)
        self.lock.acquire()
        atomic_write(self.paths.pid, f"{os.getpid()}\n".encode())  # where `profile flash` sends its SIGHUP
        policy = self._load_policy()
        profile = policy.profile
        self.identity = load_identity(self.paths)
        self.audit = AuditLog(self.paths.audit)
        self.summary = RunSummary()
        self.notifier = Notifier()
        enrollment = load_enrollment(self.paths)
        self.uplink = None if enrollment is None else Uplink(self.identity, enrollment, profile, self.paths, self.audit)
        sealer = None if self.uplink is None else self.uplink.sealer()
        self.gate = ConsentGate(ConsentStore(self.paths.consent), self.audit, sealer, profile.consent)
        retention = Retention(self.paths, self.identity.signing_key, profile.retention.hours,
                              profile.retention.max_bytes)
        shared = None if self.uplink is None else SharedRetention(self.uplink.outbox.archive, profile.outbox.max_bytes)
        self.retention = RetentionWorker(retention, self.gate, self.audit, shared)
        self.requests = RequestWorker(
            self.paths, self.identity, audit=self.audit, gate=self.gate, retention=retention, caps=profile.consent,
            segment_seconds=profile.segment.seconds, link=self.uplink, enrollment=enrollment,
            resender=None if self.uplink is None else self.uplink.resender(),
        )
        self.share = ShareWorker(gate=self.gate, audit=self.audit, retain=self.retention.keep,
                                 notify=self._notify_uplink, events=self.summary.events)
        self.loop = FrameLoop(
            policy, paths=self.paths, device_id=self.identity.device_id, source=options.source,
            realtime=options.realtime, duration=options.duration, consent=self.gate.current,
            load_policy=self._load_policy, hooks=self, audit=self.audit, notifier=self.notifier,
            summary=self.summary,
        )
        self.stills = StillCamera(lambda: self.loop.policy)
        self.loop.tap = self.stills
        self.masking = MaskingWorker(self.paths, self.identity, audit=self.audit, stills=self.stills,
                                     policy=lambda: self.loop.policy, link=self.uplink, enrollment=enrollment)
        self.page: Page | None = None
        self.enrollment = enrollment
        self.home: HomeAssistantBridge | None = None
        self.started_at = time.time()
        self.camera = "online"
        self.state = StateReporter(self.paths, self.snapshot)

    @property
    def policy(self) -> Policy:
        return self.loop.policy

    @property
    def stop_event(self) -> threading.Event:
        return self.loop.stop_event

    @property
    def reload_event(self) -> threading.Event:
        return self.loop.reload_event

    @property
    def profile_source(self) -> str:
        if self.options.profile_root is not None:
            return f"flashed under {self.options.profile_root}"
        return self.options.profile or "embedded default"

    def snapshot(self) -> AgentState:
        """What ``edge-agent status`` shows of this agent (see :mod:`.agent_state`)."""
        uplink = self.uplink
        record = self.gate.current()
        return AgentState(
            pid=os.getpid(), started_at=self.started_at, updated_at=time.time(), profile=self.policy.profile.name,
            profile_source=self.profile_source, camera=self.camera, enrolled=uplink is not None,
            broker="" if uplink is None else uplink.enrollment.broker,
            connected=uplink is not None and uplink.link.connected,
            sharing=uplink is not None and record.is_live_at(time.time()),
            delivered=0 if uplink is None else uplink.publisher.sent_count,
            refused=0 if uplink is None else uplink.publisher.rejected_count,
            last_refusal="" if uplink is None else uplink.publisher.last_rejection,
            home_assistant=self._home_assistant_state(),
        )

    def _home_assistant_state(self) -> str:
        home = self.home
        if home is None:
            return "refused (see the log)" if self.policy.profile.home_assistant.enabled else ""
        return "connected" if home.link.connected else f"not connected ({home.link.url})"

    def _load_policy(self) -> Policy:
        """The profile this agent runs (the flashed one under ``profile_root``, else ``profile``), with the zones
        in force (the homeowner's ``zones.json`` when saved, else the profile's)."""
        if self.options.profile_root is not None:
            profile, text = load_active_profile(self.options.profile_root)
        else:
            profile, text = load_profile(self.options.profile)
        return Policy.of(profile, text, ZoneStore(self.paths.root, profile.zones).load())

    def run(self) -> RunSummary:
        """Start every part in order, run the frame loop, and stop them in reverse order."""
        record = self.gate.current()
        self.loop.open()  # the camera first: a bad source spec fails here, before anything else starts
        log.info("device %s, profile %s, source %s", self.identity.device_id, self.policy.profile.name,
                 self.loop.capture.info.description if self.loop.capture else "?")
        log.info("consent: %s", describe(record))
        if self.uplink is None:
            log.info("not enrolled with a crime center: nothing can be shared (edge-agent enroll)")
        elif not record.is_live_at(time.time()):
            log.info("nothing is shared until the homeowner gives consent (edge-agent consent live --for 1h)")
        self.audit.note("agent_start", profile=self.policy.profile.name, profile_hash=self.policy.hash)
        self.requests.start()  # subscribes to police requests before the uplink connects
        self.masking.start()  # and to neighbours' masking requests
        if self.uplink is not None:
            self.uplink.start(record)
        self._start_home_assistant(self.policy.profile)
        self.retention.start()
        self.share.start()
        self.state.start()
        self._start_page()
        self.notifier.ready(describe(record))
        try:
            self.loop.run(record)
        finally:
            self._stop()
        return self.summary

    def _stop(self) -> None:
        self.loop.stop_event.set()
        if self.page is not None:
            self.page.stop()
        self.loop.stop_camera()
        self.notifier.stopping()
        self.share.stop()  # every segment already cut is retained and spooled before the drain
        self.summary.shared = self.share.shared
        self.retention.stop()
        self._stop_home_assistant()
        self.masking.stop()
        self.requests.stop()
        if self.uplink is not None:
            self.summary.delivered = self.uplink.stop(drain_timeout=15.0)
        self.state.stop()
        self.audit.note("agent_stop", frames=self.summary.frames, segments=self.summary.segments,
                        shared=self.summary.shared)
        self.paths.pid.unlink(missing_ok=True)
        self.lock.release()

    def _start_home_assistant(self, profile: Profile) -> None:
        """The homeowner's Home Assistant, when the profile names its broker. A mistake there is logged and
        audited; the doorbell runs on without it."""
        settings = profile.home_assistant
        if not settings.enabled:
            return
        try:
            self.home = HomeAssistantBridge(
                self.paths, settings, device_id=self.identity.device_id, profile_name=profile.name,
                consent=self.gate.current, stop_sharing=self._stop_from_home_assistant,
                center_broker=None if self.enrollment is None else self.enrollment.broker,
            )
            self.home.start()
        except EdgeAgentError as exc:
            self.home = None
            log.error("Home Assistant not connected: %s", exc)
            self.audit.note("home_assistant_refused", problem=str(exc)[:300])

    def _stop_home_assistant(self) -> None:
        if self.home is not None:
            self.home.stop()
            self.home = None

    def _stop_from_home_assistant(self) -> None:
        """The button in Home Assistant: the same revocation as ``edge-agent consent revoke``."""
        homeowner.revoke(self.paths, self.policy.profile, reason="stop pressed in Home Assistant")

    def _start_page(self) -> None:
        profile = self.policy.profile
        if not profile.ui.enabled or self.options.serve_page is None:
            return
        page_tap, self.page = self.options.serve_page(self.paths, profile, list(self.policy.zones))
        self.loop.tap = TapFan((self.stills, page_tap))
        log.info("homeowner page on %s (pair a browser: edge-agent ui pair)", self.page.url)

    # -- what the frame loop tells the daemon (FrameLoop's hooks) ---------------------------------------------

    def segment_done(self, segment: Segment, scene_shifted: bool) -> None:
        """A finished segment to the share thread; a full hand-off fails closed for sharing (live only)."""
        self.share.submit(segment, scene_shifted=scene_shifted, wait=not self.options.realtime)

    def consent_changed(self, old: ConsentRecord, new: ConsentRecord) -> None:
        if not new.is_live_at(time.time()):
            self.gate.revoke(new)
        if self.uplink is not None:
            self.uplink.publish_consent(new)

    def policy_changed(self, policy: Policy) -> None:
        """A reloaded profile: consent caps, request caps and retention rules follow it."""
        profile = policy.profile
        self.gate.set_caps(profile.consent)
        self.requests.follow(profile.consent, profile.segment.seconds)
        self.retention.follow(profile.retention)
        if self.home is None or self.home.settings != profile.home_assistant:
            self._stop_home_assistant()
            self._start_home_assistant(profile)

    def camera_state(self, state: str, detail: str) -> None:
        """From the capture thread: the camera failed ("degraded") or is back ("online")."""
        self.summary.events[f"camera_{state}"] += 1
        self.camera = state
        self.notifier.status(f"camera {state}: {detail}" if detail else f"camera {state}")
        if self.uplink is not None:
            self.uplink.publish_status(self.gate.current(), state, detail)

    def _notify_uplink(self) -> None:
        if self.uplink is not None:
            self.uplink.notify()


def run_agent(options: RunOptions) -> RunSummary:
    agent = Agent(options)
    previous: dict[signal.Signals, Any] = {}

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        agent.stop_event.set()

    def _reload(_signum: int, _frame: FrameType | None) -> None:
        agent.reload_event.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, _stop)
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, _reload)
    try:
        return agent.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
