"""Offline redaction of a video file or a folder of images, through the same redactor the daemon uses.

Outputs are lossless PNG: for a video ``OUTDIR/%06d.png`` by decoded frame index (0-based); for a folder, each
output keeps its input's name with ``.png``. An optional mask folder gets, under the same names, the exact set of
redacted pixels as an 8-bit PNG (255 = redacted). Outside the mask, output pixels equal the input.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from edge_agent.capture.base import Frame, Image
from edge_agent.errors import ConfigError, RedactError
from edge_agent.redact.redactor import Redactor

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})
DEFAULT_IMAGE_FPS = 10.0


@dataclass(frozen=True, slots=True)
class OfflineResult:
    frames: int
    fail_closed: dict[str, int]


def _video_frames(path: Path, fps: float | None) -> Iterator[tuple[str, float, Image]]:
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise ConfigError(f"{path}: cannot open as a video: {exc}") from exc
    with container:
        if not container.streams.video:
            raise ConfigError(f"{path}: has no video stream")
        stream = container.streams.video[0]
        rate = fps or (float(stream.average_rate) if stream.average_rate else DEFAULT_IMAGE_FPS)
        try:
            for index, frame in enumerate(container.decode(stream)):
                yield f"{index:06d}.png", index / rate, np.asarray(frame.to_ndarray(format="bgr24"), np.uint8)
        except av.FFmpegError as exc:
            raise ConfigError(f"{path}: cannot decode: {exc}") from exc


def _image_frames(folder: Path, fps: float | None) -> Iterator[tuple[str, float, Image]]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ConfigError(f"{folder}: no images found ({', '.join(sorted(IMAGE_SUFFIXES))})")
    names = [p.stem + ".png" for p in files]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{folder}: several inputs would be written as {', '.join(dupes)}")
    rate = fps or DEFAULT_IMAGE_FPS
    for index, path in enumerate(files):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise ConfigError(f"{path}: cannot read as an image")
        yield path.stem + ".png", index / rate, np.asarray(image, dtype=np.uint8)


def input_frames(source: Path, fps: float | None = None) -> Iterator[tuple[str, float, Image]]:
    """(output name, capture time, BGR image) for each frame of a video file or an image folder."""
    if source.is_dir():
        return _image_frames(source, fps)
    if source.is_file():
        return _video_frames(source, fps)
    raise ConfigError(f"{source}: no such file or folder")


def _write_png(path: Path, image: Image) -> None:
    if not cv2.imwrite(str(path), image):
        raise RedactError(f"{path}: cannot write")


def redact_offline(
    redactor: Redactor, source: Path, out_dir: Path, mask_dir: Path | None = None, fps: float | None = None
) -> OfflineResult:
    out_dir.mkdir(parents=True, exist_ok=True)
    if mask_dir is not None:
        mask_dir.mkdir(parents=True, exist_ok=True)
    count = 0
    for index, (name, captured_at, image) in enumerate(input_frames(source, fps)):
        redacted = redactor.redact(Frame(index, captured_at, np.ascontiguousarray(image)))
        _write_png(out_dir / name, redacted.image)
        if mask_dir is not None:
            assert redacted.mask is not None
            _write_png(mask_dir / name, redacted.mask.astype(np.uint8) * np.uint8(255))
        count += 1
    if count == 0:
        raise ConfigError(f"{source}: no frames decoded")
    counts = {k: v for k, v in redactor.counters().items() if v}
    log.info("redacted %d frames from %s; fail-closed frames: %s", count, source, counts or "none")
    return OfflineResult(count, counts)
