"""`edge-agent ui --source FILE`: the page's live view plays a video file at its own rate, and again from the
start when it ends, instead of reading it out in seconds and showing "Starting the camera..." for ever."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from edge_agent.config.loader import load_profile
from edge_agent.ui.feed import SourceFeed


def _video(path: Path, frames: int, fps: float) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (320, 180))
    for i in range(frames):
        image = np.full((180, 320, 3), 40, np.uint8)
        cv2.rectangle(image, (i * 5, 60), (i * 5 + 40, 120), (200, 200, 200), -1)
        writer.write(image)
    writer.release()
    return path


def test_file_source_plays_paced_and_loops(tmp_path: Path) -> None:
    profile, _ = load_profile(None)
    profile = profile.model_copy(update={"camera": profile.camera.model_copy(
        update={"width": 320, "height": 180, "detect_width": 160, "detect_height": 90})})
    video = _video(tmp_path / "door.mp4", frames=15, fps=10.0)  # 1.5 s long
    feed = SourceFeed(profile, [], str(video)).start()
    try:
        seen: set[float] = set()
        started = time.monotonic()
        while time.monotonic() - started < 5.0:  # more than three times the file's length
            snapshot = feed.shared()
            if snapshot is not None:
                seen.add(snapshot.captured_at)
            time.sleep(0.1)
        late = feed.shared()
        assert feed.error is None
        assert late is not None and (late.width, late.height) == (320, 180)
        # Pictures kept coming for the whole five seconds: paced, and played again after the end.
        assert len(seen) >= 20
    finally:
        feed.close()


def test_empty_source_is_an_error_not_a_busy_loop(tmp_path: Path) -> None:
    profile, _ = load_profile(None)
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "note.txt").write_text("no images here")
    feed = SourceFeed(profile, [], str(folder)).start()
    deadline = time.monotonic() + 5
    while feed.error is None and time.monotonic() < deadline:
        time.sleep(0.05)
    feed.close()
    assert feed.error is not None
