"""Wiring only: build the stages from the profile and the data folder, then run them.

Threads: the capture thread reads frames into a small queue and never blocks (a full queue drops the frame and
counts it: a raw frame that is dropped is never shared). The main loop only redacts and encodes; finished segments
go to the share thread (``edge_agent.share_worker``: retention, consent check, seal, durable outbox), so sealing
and fsync never delay a frame. The outbox publisher thread drains the durable outbox to the broker.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from edge_agent.capture import open_source
from edge_agent.capture.base import Frame, FrameSource, Image
from edge_agent.capture.reconnect import ReconnectingSource
from edge_agent.config.loader import load_profile
from edge_agent.config.models import Profile, Zone
from edge_agent.config.profiles import load_active_profile
from edge_agent.consent.audit import AuditLog
from edge_agent.consent.service import ConsentService
from edge_agent.consent.state import ConsentRecord, ConsentStore, describe
from edge_agent.errors import CaptureError, EdgeAgentError
from edge_agent.identity import DevicePaths, load_enrollment, load_identity
from edge_agent.pipeline.memory import tune_allocator
from edge_agent.redact import build_redactor
from edge_agent.redact.redactor import detect_size
from edge_agent.redact.zonestore import ZoneStore, ZoneWatch, profile_hash, zones_digest
from edge_agent.sdnotify import Notifier
from edge_agent.segment.encoder import SegmentEncoder
from edge_agent.segment.model import Segment
from edge_agent.share_worker import ShareWorker
from edge_agent.sharing import Sharer
from edge_agent.uplink import Uplink

if TYPE_CHECKING:
    from edge_agent.ui.daemonfeed import DaemonFeed
    from edge_agent.ui.server import UiServer

log = logging.getLogger(__name__)

QUEUE_FRAMES = 8
# x264 would start 1.5 threads per core (6 on a Pi 4); more than 2 gave no gain here and less work per CPU second.
ENCODER_THREADS = 2
QUEUE_BYTES = 12 << 20  # at 720p 4 frames (270 ms at 15 fps), at 360p the full 8: raw frames cost resident memory


@dataclass(frozen=True, slots=True)
class RunOptions:
    data_dir: Path
    profile: str | None = None
    profile_root: Path | None = None  # a flashed, signature-checked profile (see edge_agent.config.profiles)
    source: str | None = None
    duration: float | None = None
    realtime: bool = True


@dataclass(slots=True)
class RunSummary:
    frames: int = 0
    segments: int = 0
    shared: int = 0
    delivered: int = 0
    events: Counter[str] = field(default_factory=Counter)


class Agent:
    def __init__(self, options: RunOptions) -> None:
        tune_allocator()  # before the face model and the threads: fewer malloc arenas (edge_agent.pipeline.memory)
        self.options = options
        self.paths = DevicePaths(options.data_dir)
        self.profile, self.profile_text = self._load_profile()
        self.identity = load_identity(self.paths)
        self.audit = AuditLog(self.paths.audit)
        self.consent = ConsentStore(self.paths.consent)
        self.summary = RunSummary()
        self.stop_event = threading.Event()
        self.reload_event = threading.Event()
        self.notifier = Notifier()
        self.fps = self.profile.camera.fps
        # The homeowner's zones from the page (<data-dir>/zones.json) take over from the profile's.
        self.zones = ZoneWatch(ZoneStore(self.paths.root, self.profile.zones))
        self._set_policy(self.profile, self.profile_text, self.zones.store.load())
        enrollment = load_enrollment(self.paths)
        self.uplink: Uplink | None = None
        self.sharer: Sharer | None = None
        if enrollment is not None:
            self.uplink = Uplink(self.identity, enrollment, self.profile, self.paths)
            self.sharer = self.uplink.sharer(self.consent, self.audit)
        self.feed: DaemonFeed | None = None  # the homeowner's page, when the agent serves it
        self.ui_server: UiServer | None = None
        self.consent_service = ConsentService(self.paths, self.profile, self.identity, consent=self.consent,
                                              audit=self.audit, uplink=self.uplink, sharer=self.sharer)
        self.share_worker = ShareWorker(sharer=self.sharer, audit=self.audit, retain=self._retain,
                                        notify=self._notify_uplink, events=self.summary.events)

    def _load_profile(self) -> tuple[Profile, str]:
        if self.options.profile_root is not None:
            return load_active_profile(self.options.profile_root)
        return load_profile(self.options.profile)

    def _set_policy(self, profile: Profile, text: str, zones: list[Zone]) -> None:
        """The redaction policy in force: the profile, the zones in force, and the hash every segment header names."""
        self.profile, self.profile_text = profile, text
        self.profile_hash = profile_hash(text, zones)
        self.redactor = build_redactor(profile, zones)

    def _switch_policy(
        self, encoder: SegmentEncoder, record: ConsentRecord, profile: Profile, text: str, zones: list[Zone]
    ) -> SegmentEncoder:
        """The segment in progress was masked under the old policy: it ends now and carries the old hash; the next
        one starts under the new policy, its sequence number following on."""
        tail = encoder.flush()
        if tail is not None:
            self._segment_done(tail)  # before the redactor is replaced: it reports the old one's scene state
        self._set_policy(profile, text, zones)
        return self._encoder(record, first_seq=encoder.next_seq)

    def _reload(self, encoder: SegmentEncoder, record: ConsentRecord) -> SegmentEncoder:
        """SIGHUP: re-read the profile between segments. A bad profile keeps the old one running."""
        self.reload_event.clear()
        try:
            profile, text = self._load_profile()
            watch = ZoneWatch(ZoneStore(self.paths.root, profile.zones))
            zones = watch.store.load()
        except EdgeAgentError as exc:
            log.error("profile reload refused, keeping %s: %s", self.profile.name, exc)
            self.audit.note("profile_reload_refused", error=str(exc)[:300])
            return encoder
        encoder = self._switch_policy(encoder, record, profile, text, zones)
        self.zones = watch
        self.consent_service.profile = profile  # retention hours and request caps follow the new profile
        self.audit.note("profile_reload", profile=profile.name, profile_hash=self.profile_hash)
        log.info("profile reloaded: %s", profile.name)
        return encoder

    def _zones_changed(self, encoder: SegmentEncoder, record: ConsentRecord) -> SegmentEncoder:
        """Between frames: the homeowner's zones (zones.json) changed, or the scene was confirmed on the page."""
        changes = self.zones.changes()
        # A file rewritten with the same zones changes no policy: the segment and the redactor's state go on.
        if changes.zones is not None and profile_hash(self.profile_text, changes.zones) != self.profile_hash:
            log.info("zones changed: %d zone(s) in force", len(changes.zones))
            encoder = self._switch_policy(encoder, record, self.profile, self.profile_text, changes.zones)
            self.audit.note("zones_applied", profile_hash=self.profile_hash, zones_sha256=zones_digest(changes.zones),
                            count=len(changes.zones))
        if changes.scene_confirmed:
            self.redactor.confirm_scene()
        return encoder

    def run(self) -> RunSummary:
        spec = self.options.source or self.profile.camera.source
        source = ReconnectingSource(
            lambda: open_source(spec, self.profile.camera, realtime=self.options.realtime), on_state=self._camera_state
        )
        record = self.consent.current()
        log.info(
            "device %s, profile %s, source %s", self.identity.device_id, self.profile.name, source.info.description
        )
        log.info("consent: %s", describe(record))
        if self.uplink is None:
            log.info("not enrolled with a crime center: nothing can be shared (edge-agent enroll)")
        elif not record.is_live_at(time.time()):
            log.info("nothing is shared until the homeowner gives consent (edge-agent consent live --for 1h)")
        self.audit.note("agent_start", profile=self.profile.name, profile_hash=self.profile_hash)
        self.consent_service.start()  # subscribes to police requests before the uplink connects
        if self.uplink is not None:
            self.uplink.start(record)
        # A file plays at its own rate; everything else at the profile's.
        self.fps = source.info.fps or self.profile.camera.fps
        frames: queue.Queue[Frame | None] = queue.Queue(maxsize=queue_frames(source.info.width, source.info.height))
        capture = threading.Thread(target=self._capture, args=(source, frames), name="capture", daemon=True)
        capture.start()
        self.share_worker.start()
        self._start_ui()
        self.notifier.ready(describe(record))
        try:
            self._loop(frames, record)
        finally:
            self.stop_event.set()
            if self.ui_server is not None:
                self.ui_server.stop()
            source.close()
            capture.join(timeout=5)
            self.notifier.stopping()
            self.share_worker.stop()  # every segment already cut is retained and spooled before the drain
            self.summary.shared = self.share_worker.shared
            self.consent_service.stop()
            if self.uplink is not None:
                self.summary.delivered = self.uplink.stop(drain_timeout=15.0)
            self.audit.note("agent_stop", frames=self.summary.frames, segments=self.summary.segments,
                              shared=self.summary.shared)
        return self.summary

    def _start_ui(self) -> None:
        if not self.profile.ui.enabled:
            return
        # Imported here: the web stack costs memory a device without the page should not pay.
        from edge_agent.ui.embedded import start_embedded_ui  # noqa: PLC0415

        self.feed, self.ui_server = start_embedded_ui(self.paths, self.profile, self.zones.store.load())
        log.info("homeowner page on %s (pair a browser: edge-agent ui pair)", self.ui_server.url)

    def _capture(self, source: FrameSource, frames: queue.Queue[Frame | None]) -> None:
        try:
            for frame in source.frames():
                if self.stop_event.is_set():
                    break
                if not self.options.realtime:
                    # An unpaced file or scene is processed whole: wait for room rather than drop.
                    _put_waiting(frames, frame, self.stop_event)
                    continue
                try:
                    frames.put_nowait(frame)
                except queue.Full:
                    self.summary.events["frames_dropped"] += 1
        except CaptureError as exc:
            log.error("camera failed: %s", exc)
            self.summary.events["capture_error"] += 1
        finally:
            # Waits for room like a frame would, unless stopping: a blocking put on a full queue would hang here
            # when the frame loop has already left.
            _put_waiting(frames, None, self.stop_event)

    def _loop(self, frames: queue.Queue[Frame | None], record: ConsentRecord) -> None:
        deadline = None if self.options.duration is None else time.monotonic() + self.options.duration
        encoder = self._encoder(record, first_seq=0)
        while not self.stop_event.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            try:
                frame = frames.get(timeout=0.5)
            except queue.Empty:
                continue
            if frame is None:
                break
            self.notifier.watchdog()
            if self.reload_event.is_set():
                encoder = self._reload(encoder, record)
            current = self.consent.current()
            if current != record:
                encoder = self._consent_changed(record, current, encoder)
                record = current
            encoder = self._zones_changed(encoder, record)
            if self.feed is not None:
                self.feed.before_redact(frame)
            redacted = self.redactor.redact(frame, detect_image=self._detect_image(frame))
            if self.feed is not None:
                self.feed.after_redact(redacted, self.redactor.scene_shifted)
            self.consent_service.frame_redacted(redacted.fail_closed)
            self.summary.frames += 1
            for reason in redacted.fail_closed:
                self.summary.events[reason] += 1
            segment = encoder.push(redacted)
            if segment is not None:
                self._segment_done(segment)
        tail = encoder.flush()
        if tail is not None:
            self._segment_done(tail)

    def _encoder(self, record: ConsentRecord, first_seq: int) -> SegmentEncoder:
        seg = self.profile.segment
        cam = self.profile.camera
        seconds = seg.live_seconds if record.is_live_at(time.time()) else seg.seconds
        return SegmentEncoder(
            device_id=self.identity.device_id, width=cam.width, height=cam.height, fps=self.fps, seconds=seconds,
            profile_hash=self.profile_hash, first_seq=first_seq, preset=cam.x264_preset,
            bitrate_kbps=cam.bitrate_kbps, threads=min(ENCODER_THREADS, len(os.sched_getaffinity(0))),
        )

    def _consent_changed(self, old: ConsentRecord, new: ConsentRecord, encoder: SegmentEncoder) -> SegmentEncoder:
        log.info("consent changed: %s", describe(new))
        if not new.is_live_at(time.time()) and self.sharer is not None:
            dropped = self.share_worker.revoke()
            if dropped:
                log.info("revoked: %d waiting segment(s) deleted from the outbox", len(dropped))
                self.audit.note("outbox_revoked", consent_id=new.id, segments=[i.seq for i in dropped])
        if self.uplink is not None:
            self.uplink.publish_consent(new)
        # The segment in progress was made under the old state: finish it now and start one of the new length.
        tail = encoder.flush()
        if tail is not None:
            self._segment_done(tail)
        return self._encoder(new, first_seq=encoder.next_seq)

    def _camera_state(self, state: str, detail: str) -> None:
        """From the capture thread: the camera failed ("degraded") or is back ("online")."""
        self.summary.events[f"camera_{state}"] += 1
        self.notifier.status(f"camera {state}: {detail}" if detail else f"camera {state}")
        if self.uplink is not None:
            self.uplink.publish_status(self.consent.current(), state, detail)

    def _detect_image(self, frame: Frame) -> Image | None:
        """The camera's own small grey image (picamera2's lores Y plane) for detection, when it has one.

        The redactor takes grey detection images as they are (motion, scene guard and faces all accept one
        channel); one of another size than the redactor would make is resized, which is still cheaper than
        shrinking the full frame.
        """
        lores = frame.lores
        if lores is None:
            return None
        height, width = frame.image.shape[:2]
        size = detect_size(width, height, self.profile.camera.detect_width, self.profile.camera.detect_height)
        if (lores.shape[1], lores.shape[0]) == size:
            return lores
        return np.asarray(cv2.resize(lores, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)

    def _segment_done(self, segment: Segment) -> None:
        """Hand a finished segment to the share thread; a full hand-off fails closed for sharing (live only)."""
        self.summary.segments += 1
        self.share_worker.submit(segment, scene_shifted=self.redactor.scene_shifted, wait=not self.options.realtime)

    def _retain(self, segment: Segment) -> None:
        self.consent_service.segment_made(segment)

    def _notify_uplink(self) -> None:
        if self.uplink is not None:
            self.uplink.notify()


def queue_frames(width: int, height: int) -> int:
    """How many raw frames the capture queue holds: at most ``QUEUE_FRAMES``, at most ``QUEUE_BYTES``, at least 2."""
    return max(2, min(QUEUE_FRAMES, QUEUE_BYTES // max(1, width * height * 3)))


def _put_waiting(frames: queue.Queue[Frame | None], frame: Frame | None, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            frames.put(frame, timeout=0.2)
            return
        except queue.Full:
            continue


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
