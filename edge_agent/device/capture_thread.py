"""The capture thread: reads frames from the camera into a small queue and never blocks on the stages after it.

A full queue drops the frame and counts it (a raw frame that is dropped is never shared); unpaced sources (files,
the synthetic scene with ``--fast``) wait for room instead, so that offline processing loses nothing. ``None`` in
the queue means the source has ended.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter

from edge_agent.capture import open_source
from edge_agent.capture.base import Frame, SourceInfo
from edge_agent.capture.picamera2 import Picamera2Recorder
from edge_agent.capture.reconnect import ReconnectingSource, StateListener
from edge_agent.config.models import CameraSettings
from edge_agent.errors import CaptureError
from edge_agent.segment.keyframes import KeyframeSegmenter

log = logging.getLogger(__name__)

QUEUE_FRAMES = 8
QUEUE_BYTES = 12 << 20  # at 720p 4 frames (270 ms at 15 fps), at 360p the full 8: raw frames cost resident memory


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


class Capture:
    """One opened camera and the thread that reads it. Opening raises CaptureError (a bad spec fails at once)."""

    def __init__(
        self,
        spec: str,
        camera: CameraSettings,
        *,
        realtime: bool,
        events: Counter[str],
        on_state: StateListener | None = None,
    ) -> None:
        self.camera = camera
        self._realtime = realtime
        self._events = events
        self._stop = threading.Event()
        self.source = ReconnectingSource(lambda: open_source(spec, camera, realtime=realtime), on_state=on_state)
        self.frames: queue.Queue[Frame | None] = queue.Queue(
            maxsize=queue_frames(self.source.info.width, self.source.info.height)
        )
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)

    @property
    def info(self) -> SourceInfo:
        return self.source.info

    def start(self) -> Capture:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the camera and end the thread; frames still queued are discarded."""
        self._stop.set()
        self.source.close()
        self._thread.join(timeout=5)

    def get(self, timeout: float) -> Frame | None:
        """The next frame; ``None`` when the source has ended. Raises queue.Empty after ``timeout``."""
        return self.frames.get(timeout=timeout)

    def _run(self) -> None:
        try:
            for frame in self.source.frames():
                if self._stop.is_set():
                    break
                if not self._realtime:
                    _put_waiting(self.frames, frame, self._stop)
                    continue
                try:
                    self.frames.put_nowait(frame)
                except queue.Full:
                    self._events["frames_dropped"] += 1
        except CaptureError as exc:
            log.error("camera failed: %s", exc)
            self._events["capture_error"] += 1
        finally:
            # Waits for room like a frame would, unless stopping: a blocking put on a full queue would hang here
            # when the frame loop has already left.
            _put_waiting(self.frames, None, self._stop)


class HardwareCapture:
    """The Pi fast path (``camera.encoder = "hardware"``): picamera2 records with its hardware H.264 encoder; the
    frame loop redacts each frame in the camera buffer before the encoder reads it (no queue: the camera waits
    for the loop), and the encoded stream is cut into segments at keyframes. A camera that fails ends the run
    (systemd restarts the service); there is no reconnecting here."""

    def __init__(self, camera: CameraSettings, *, device_id: str, events: Counter[str]) -> None:
        fps = camera.fps
        self.segments = KeyframeSegmenter(device_id=device_id, width=camera.width, height=camera.height, fps=fps)
        self.recorder = Picamera2Recorder(camera, self.segments.add)
        self.camera = camera
        self._events = events

    @property
    def info(self) -> SourceInfo:
        return self.recorder.info

    def start(self) -> HardwareCapture:
        self.recorder.start()
        return self

    def get(self, timeout: float) -> Frame | None:
        return self.recorder.next_frame(timeout)

    def hand_back(self) -> None:
        """The frame from :meth:`get` is redacted in place and nothing reads it any more: it may be encoded. A
        frame not handed back (skipped, or held when the camera closes) is encoded black."""
        self.recorder.hand_back()

    def stop(self) -> None:
        self.recorder.close()
        self._events["frames_blanked"] += self.recorder.blanked
        self.recorder.blanked = 0
