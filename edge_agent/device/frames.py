"""The frame loop: each frame from the capture thread is redacted and encoded; finished segments go to the share
thread. Between frames it applies what changed: a reloaded profile, new zones, a new consent state.

Every change of policy (profile or zones) or of consent ends the segment in progress, so that each segment is made
under one consent state and one policy, and its header's ``profile_hash`` names that policy. A reload is built
whole before anything is switched: a profile that does not load, a redactor that cannot be built or a camera that
will not open with the new settings is refused with a log line and an audit entry, and the old policy runs on.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from edge_agent.capture.base import Frame
from edge_agent.config.in_force import Policy, zones_digest
from edge_agent.config.models import CameraSettings
from edge_agent.consent.state import ConsentRecord, describe
from edge_agent.core.audit import AuditLog
from edge_agent.core.paths import DevicePaths
from edge_agent.device.capture_thread import Capture, HardwareCapture
from edge_agent.device.sdnotify import Notifier
from edge_agent.errors import CaptureError, EdgeAgentError
from edge_agent.redact import Redactor, build_redactor
from edge_agent.redact.detect_image import lores_for_detection
from edge_agent.redact.redactor import RedactedFrame
from edge_agent.redact.zonestore import ZoneStore, ZoneWatch
from edge_agent.segment.encoder import Encoder, SegmentEncoder
from edge_agent.segment.model import Segment

log = logging.getLogger(__name__)

# x264 would start 1.5 threads per core (6 on a Pi 4); more than 2 gave no gain here and less work per CPU second.
ENCODER_THREADS = 2
SIZE_MISMATCH = "frame_size_mismatch"
SCENE_SHIFT_STATE = "scene_shift"  # a status state (device/status.py)


@dataclass(slots=True)
class RunSummary:
    frames: int = 0
    segments: int = 0
    shared: int = 0
    delivered: int = 0
    events: Counter[str] = field(default_factory=Counter)


class FrameTap(Protocol):
    """The homeowner's page, when the agent serves it: it sees the raw frame (for its own calibration view, never
    stored) and the agent's redacted output."""

    def before_redact(self, frame: Frame) -> None: ...

    def after_redact(self, out: RedactedFrame, scene_shifted: bool) -> None: ...


class Hooks(Protocol):
    """What the frame loop tells the rest of the daemon."""

    def segment_done(self, segment: Segment, scene_shifted: bool) -> None: ...

    def consent_changed(self, old: ConsentRecord, new: ConsentRecord) -> None: ...

    def policy_changed(self, policy: Policy) -> None: ...

    def camera_state(self, state: str, detail: str) -> None: ...


class FrameLoop:
    def __init__(
        self,
        policy: Policy,
        *,
        paths: DevicePaths,
        device_id: str,
        source: str | None,
        realtime: bool,
        duration: float | None,
        consent: Callable[[], ConsentRecord],
        load_policy: Callable[[], Policy],
        hooks: Hooks,
        audit: AuditLog,
        notifier: Notifier,
        summary: RunSummary,
    ) -> None:
        self.policy = policy
        self.paths = paths
        self.device_id = device_id
        self._source_override = source
        self._realtime = realtime
        self._duration = duration
        self._consent = consent
        self._load_policy = load_policy
        self._hooks = hooks
        self._audit = audit
        self._notifier = notifier
        self.summary = summary
        self.stop_event = threading.Event()
        self.reload_event = threading.Event()
        self.redactor: Redactor = build_redactor(policy.profile, policy.zones, live=True)
        self.zones = ZoneWatch(ZoneStore(paths.root, policy.profile.zones))
        self.tap: FrameTap | None = None
        self.capture: Capture | HardwareCapture | None = None
        self.fps = policy.profile.camera.fps
        self._fail_closed: tuple[str, ...] = ()
        self._shifted = False

    # -- the camera ------------------------------------------------------------------------------------------

    def open_camera(self, camera: CameraSettings) -> Capture | HardwareCapture:
        """The camera, with the encoder ``camera.encoder`` names: ``x264`` encodes here; ``hardware`` is the Pi
        camera recording through its own H.264 encoder, which only the picamera2 source has."""
        spec = self._source_override or camera.source
        capture: Capture | HardwareCapture
        if camera.encoder == "hardware" and spec == "picamera2":
            capture = HardwareCapture(camera, device_id=self.device_id, events=self.summary.events)
        else:
            if camera.encoder == "hardware":
                log.warning("camera.encoder = \"hardware\" needs the picamera2 source, not %s: encoding with x264",
                            spec)
            capture = Capture(spec, camera, realtime=self._realtime, events=self.summary.events,
                              on_state=self._hooks.camera_state)
        # A file plays at its own rate; everything else at the profile's.
        self.fps = capture.info.fps or camera.fps
        return capture

    def open(self) -> None:
        """Open the camera (a bad source spec fails here, before anything else starts); frames flow from
        :meth:`run` on."""
        self.capture = self.open_camera(self.policy.profile.camera)

    def stop_camera(self) -> None:
        if self.capture is not None:
            self.capture.stop()

    # -- the loop --------------------------------------------------------------------------------------------

    def run(self, record: ConsentRecord) -> None:
        if self.capture is None:
            self.open()
        assert self.capture is not None
        self.capture.start()
        deadline = None if self._duration is None else time.monotonic() + self._duration
        encoder = self._encoder(record, first_seq=0)
        while not self.stop_event.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            try:
                frame = self.capture.get(timeout=0.5)
            except queue.Empty:
                continue
            if frame is None:
                break
            self._notifier.watchdog()
            if self.reload_event.is_set():
                encoder = self._reload(encoder, record)
            current = self._consent()
            if current != record:
                encoder = self._consent_changed(record, current, encoder)
                record = current
            encoder = self._zones_changed(encoder, record)
            self._frame(frame, encoder)
        if isinstance(self.capture, HardwareCapture):
            self.stop_camera()  # the encoder hands over what it still holds before the last segment is cut
        self._finish(encoder)

    def _frame(self, frame: Frame, encoder: Encoder) -> None:
        cam = self.policy.profile.camera
        if frame.image.shape[:2] != (cam.height, cam.width):
            # A frame from a camera opened under other settings: never encoded, never shared.
            self.summary.events[SIZE_MISMATCH] += 1
            return
        if self.tap is not None:
            self.tap.before_redact(frame)
        redacted = self.redactor.redact(frame, detect_image=lores_for_detection(frame, cam))
        if self.tap is not None:
            self.tap.after_redact(redacted, self.redactor.scene_shifted)
        if isinstance(self.capture, HardwareCapture):
            # Only now, after the taps have copied what they keep: the camera buffer goes to the encoder and back
            # to the camera. A frame that never gets here (skipped above, or held through a camera reopen) is
            # encoded black.
            self.capture.hand_back()
        self._scene_state(self.redactor.scene_shifted)
        self._audit_fail_closed(redacted.fail_closed)
        self.summary.frames += 1
        for reason in redacted.fail_closed:
            self.summary.events[reason] += 1
        segment = encoder.push(redacted)
        if segment is not None:
            self._segment_done(segment)

    def _finish(self, encoder: Encoder) -> None:
        while (tail := encoder.flush()) is not None:
            self._segment_done(tail)

    def _segment_done(self, segment: Segment) -> None:
        self.summary.segments += 1
        self._hooks.segment_done(segment, self.redactor.scene_shifted)

    def _encoder(self, record: ConsentRecord, first_seq: int) -> Encoder:
        profile = self.policy.profile
        seg, cam = profile.segment, profile.camera
        seconds = seg.live_seconds if record.is_live_at(time.time()) else seg.seconds
        if isinstance(self.capture, HardwareCapture):
            return self.capture.segments.begin(seconds=seconds, profile_hash=self.policy.hash, first_seq=first_seq)
        return SegmentEncoder(
            device_id=self.device_id, width=cam.width, height=cam.height, fps=self.fps, seconds=seconds,
            profile_hash=self.policy.hash, first_seq=first_seq, preset=cam.x264_preset,
            bitrate_kbps=cam.bitrate_kbps, threads=min(ENCODER_THREADS, len(os.sched_getaffinity(0))),
        )

    def _scene_state(self, shifted: bool) -> None:
        """The view moved away from the calibrated scene (or was confirmed again): the status message says so,
        since nothing is shared meanwhile."""
        if shifted == self._shifted:
            return
        self._shifted = shifted
        if shifted:
            self._hooks.camera_state(SCENE_SHIFT_STATE, "the view moved away from the calibrated scene: sharing "
                                     "paused until the homeowner confirms the scene")
        else:
            self._hooks.camera_state("online", "scene confirmed")

    def _audit_fail_closed(self, reasons: tuple[str, ...]) -> None:
        """One entry when wide masking starts or its reasons change, one when it ends (not one per frame)."""
        if reasons == self._fail_closed:
            return
        if reasons:
            self._audit.note("fail_closed", reasons=sorted(set(reasons)))
        else:
            self._audit.note("fail_closed_end", reasons=sorted(set(self._fail_closed)))
        self._fail_closed = reasons

    # -- changes between frames ------------------------------------------------------------------------------

    def _switch(self, encoder: Encoder, record: ConsentRecord, policy: Policy, redactor: Redactor,
                ) -> Encoder:
        """The segment in progress was made under the old policy: it ends now and carries the old hash; the next
        one starts under the new policy, its sequence number following on."""
        self._finish(encoder)  # before the redactor is replaced: it reports the old one's scene state
        self.policy, self.redactor = policy, redactor
        return self._encoder(record, first_seq=encoder.next_seq)

    def _consent_changed(self, old: ConsentRecord, new: ConsentRecord, encoder: Encoder) -> Encoder:
        log.info("consent changed: %s", describe(new))
        self._hooks.consent_changed(old, new)
        # The segment in progress was made under the old state: finish it now and start one of the new length.
        self._finish(encoder)
        return self._encoder(new, first_seq=encoder.next_seq)

    def _zones_changed(self, encoder: Encoder, record: ConsentRecord) -> Encoder:
        """The homeowner's zones (zones.json) changed, or the scene was confirmed on the page."""
        changes = self.zones.changes()
        # A file rewritten with the same zones changes no policy: the segment and the redactor's state go on.
        if changes.zones is not None:
            policy = self.policy.with_zones(changes.zones)
            if policy.hash != self.policy.hash:
                log.info("zones changed: %d zone(s) in force", len(changes.zones))
                redactor = build_redactor(policy.profile, policy.zones, live=True)
                encoder = self._switch(encoder, record, policy, redactor)
                self._audit.note("zones_applied", profile_hash=policy.hash, zones_sha256=zones_digest(policy.zones),
                                 count=len(policy.zones))
        if changes.scene_confirmed:
            self.redactor.confirm_scene()
        return encoder

    def _refuse(self, error: str) -> None:
        log.error("profile reload refused, keeping %s: %s", self.policy.profile.name, error)
        self._audit.note("profile_reload_refused", profile=self.policy.profile.name, error=error[:300])

    def _reload(self, encoder: Encoder, record: ConsentRecord) -> Encoder:
        """SIGHUP: the profile is read again and built whole; anything that fails keeps the old one running."""
        self.reload_event.clear()
        try:
            policy = self._load_policy()
            redactor = build_redactor(policy.profile, policy.zones, live=True)
        except EdgeAgentError as exc:
            self._refuse(str(exc))
            return encoder
        old_camera = self.policy.profile.camera
        if policy.profile.camera != old_camera:
            self._finish(encoder)
            encoder = self._encoder(record, first_seq=encoder.next_seq)
            if not self._reopen(policy.profile.camera, old_camera):
                return encoder
        encoder = self._switch(encoder, record, policy, redactor)
        self.zones = ZoneWatch(ZoneStore(self.paths.root, policy.profile.zones))
        self._hooks.policy_changed(policy)
        self._audit.note("profile_reload", profile=policy.profile.name, profile_hash=policy.hash)
        log.info("profile reloaded: %s", policy.profile.name)
        return encoder

    def _reopen(self, camera: CameraSettings, old: CameraSettings) -> bool:
        """The camera settings changed: reopen the source with the new ones (the camera has one owner, so the old
        one is closed first). If it will not open, the old settings are opened again and the reload refused."""
        self.stop_camera()
        try:
            self.capture = self.open_camera(camera).start()
        except CaptureError as exc:
            self._refuse(f"the camera does not open with the new settings: {exc}")
            self.capture = self.open_camera(old).start()  # a failure here ends the run, as at start-up
            return False
        log.info("camera reopened at %dx%d", camera.width, camera.height)
        return True
