"""The detection image from a camera's own small stream (picamera2's ``lores`` Y plane), when it has one."""

from __future__ import annotations

import cv2
import numpy as np

from edge_agent.capture.base import Frame, Image
from edge_agent.config.models import CameraSettings
from edge_agent.redact.redactor import detect_size


def lores_for_detection(frame: Frame, camera: CameraSettings) -> Image | None:
    """The frame's grey ``lores`` image at the redactor's detection size, or None (the redactor then shrinks the
    frame itself). The redactor takes grey detection images as they are (motion, scene guard and faces all accept
    one channel); one of another size is resized, which is still cheaper than shrinking the full frame."""
    lores = frame.lores
    if lores is None:
        return None
    height, width = frame.image.shape[:2]
    size = detect_size(width, height, camera.detect_width, camera.detect_height)
    if (lores.shape[1], lores.shape[0]) == size:
        return lores
    return np.asarray(cv2.resize(lores, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
