"""Measure the person detector (SSDLite-MobileNetV2, edge_agent.redact.persons) and choose its settings.

    .venv/bin/python bench/person_detector_eval.py [--configs a,b] [--pets-step N] [--doorway-step N] [--draw DIR]

Prints Markdown tables: milliseconds per call on one core for each input size and tiling; recall and precision
against PETS09's ground truth (``../shared/data/pets09-s2l1``, IoU >= 0.5 and >= 0.3) at several score
thresholds; detections per frame on the close-range clips of ``../shared/data/doorway`` (no ground truth there:
``--draw DIR`` writes frames with the boxes drawn, to look at). Footage that is absent is skipped with a note.
PETS09's ground truth leaves out some people at the edges and far away, so precision is a lower bound.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from doorway_truth import TRUTH, ClipTruth  # noqa: E402

from edge_agent.capture.base import Image  # noqa: E402
from edge_agent.redact.persons import SsdPersonDetector  # noqa: E402
from edge_agent.redact.tracker import Box, iou  # noqa: E402

DATA = REPO.parent / "shared" / "data"
PETS = DATA / "pets09-s2l1"
DOORWAY = DATA / "doorway"
THRESHOLDS = (0.15, 0.2, 0.3, 0.4, 0.5)
LOWEST = min(THRESHOLDS)
MATCH_IOU = 0.3  # a detection and a hand-marked person are the same
# name: (network input: a (width, height) pair, or a width alone for the frame's own aspect; tiles; letterbox; the
# whole frame as well as the tiles)
CONFIGS: dict[str, tuple[int | tuple[int, int], int, bool, bool]] = {
    "300x300": ((300, 300), 1, False, False),
    "256x256": ((256, 256), 1, False, False),
    "aspect 300w": (300, 1, False, False),
    "aspect 400w": (400, 1, False, False),
    "300x300 letterbox": ((300, 300), 1, True, False),
    "2 tiles": ((300, 300), 2, False, False),
    "2 tiles letterbox": ((300, 300), 2, True, False),
    "whole + 2 tiles": ((300, 300), 2, False, True),
    "whole + 2 tiles letterbox": ((300, 300), 2, True, True),
}
# Frames to draw: early frames and frames where people stand still (one-by-one: back to the camera at 540-640).
DRAW = {
    "one-by-one-person-detection.mp4": (0, 180, 330, 560, 600, 640, 900, 1200),
    "store-aisle-detection.gif": (0, 30, 60),
    "face-demographics-walking.gif": (0, 20, 34),
    "people-detection.gif": (0, 12, 22),
}

Detections = list[tuple[Box, float]]


def read_frames(path: Path, step: int = 1) -> list[tuple[int, Image]]:
    capture = cv2.VideoCapture(str(path))
    frames, index = [], 0
    while True:
        ok, image = capture.read()
        if not ok:
            break
        if index % step == 0:
            frames.append((index, np.asarray(image, np.uint8)))
        index += 1
    capture.release()
    return frames


def one_frame(path: Path, index: int) -> Image | None:
    capture = cv2.VideoCapture(str(path))
    image = None
    for _ in range(index + 1):
        ok, image = capture.read()
        if not ok:
            image = None
            break
    capture.release()
    return None if image is None else np.asarray(image, np.uint8)


def input_size(name: str, width: int, height: int) -> tuple[int, int]:
    size = CONFIGS[name][0]
    return size if isinstance(size, tuple) else (size, round(size * height / width))


def detector(name: str, width: int, height: int) -> SsdPersonDetector:
    _, tiles, letterbox, whole = CONFIGS[name]
    size = input_size(name, width, height)
    return SsdPersonDetector(LOWEST, size, letterbox=letterbox, tiles=tiles, whole=whole)


def input_label(name: str, width: int, height: int) -> str:
    _, tiles, _, whole = CONFIGS[name]
    w, h = input_size(name, width, height)
    return f"{tiles + whole} x {w}x{h}" if tiles > 1 else f"{w}x{h}"


def speed(names: Sequence[str], image: Image, calls: int) -> list[str]:
    h, w = image.shape[:2]
    lines = [
        f"Milliseconds per call on one core, {w}x{h} frame, median of {calls} (CPU time: the machine is shared)",
        "",
        "| setting | network input | ms per call | ms wall |",
        "| --- | --- | ---: | ---: |",
    ]
    for name in names:
        det = detector(name, w, h)
        det.detect(image)  # the first call allocates
        cpu, wall = [], []
        for _ in range(calls):
            c, t = time.process_time(), time.perf_counter()
            det.detect(image)
            cpu.append(time.process_time() - c)
            wall.append(time.perf_counter() - t)
        label = input_label(name, w, h)
        lines.append(f"| {name} | {label} | {np.median(cpu) * 1000:.1f} | {np.median(wall) * 1000:.1f} |")
    return lines


def matched(found: Sequence[Box], truth: Sequence[Box], least: float) -> int:
    """Greedy one-to-one matching by IoU, best pairs first."""
    pairs = sorted(((iou(d, g), i, j) for i, d in enumerate(found) for j, g in enumerate(truth)), reverse=True)
    used_d: set[int] = set()
    used_g: set[int] = set()
    for value, i, j in pairs:
        if value < least:
            break
        if i not in used_d and j not in used_g:
            used_d.add(i)
            used_g.add(j)
    return len(used_d)


def pets(names: Sequence[str], step: int) -> list[str]:
    annotations = json.loads((PETS / "annotations.json").read_text())
    frames = read_frames(PETS / "vtest.avi", step)
    truth = {i: [(x, y, x + w, y + h) for x, y, w, h, *_ in annotations["frames"][i]["boxes"]] for i, _ in frames}
    total = sum(len(t) for t in truth.values())
    lines = [
        f"PETS09 S2.L1, {len(frames)} frames (every {step}), {total} people (33-96 px tall); recall / precision",
        "",
        "| setting | score | IoU >= 0.5 | IoU >= 0.3 |",
        "| --- | ---: | --- | --- |",
    ]
    h, w = frames[0][1].shape[:2]
    for name in names:
        det = detector(name, w, h)
        found = {i: det.detect(image) for i, image in frames}
        for threshold in THRESHOLDS:
            cells = []
            for least in (0.5, 0.3):
                hits = kept = 0
                for i, boxes in found.items():
                    chosen = [b for b, s in boxes if s >= threshold]
                    hits += matched(chosen, truth[i], least)
                    kept += len(chosen)
                cells.append(f"{hits / total:.2f} / {hits / max(kept, 1):.2f}")
            lines.append(f"| {name} | {threshold} | {cells[0]} | {cells[1]} |")
    return lines


def draw(image: Image, found: Detections, threshold: float) -> Image:
    out = image.copy()
    for (x0, y0, x1, y1), score in found:
        colour = (0, 0, 255) if score >= threshold else (0, 200, 255)
        cv2.rectangle(out, (round(x0), round(y0)), (round(x1), round(y1)), colour, 2)
        cv2.putText(out, f"{score:.2f}", (round(x0) + 3, round(y0) + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1)
    return out


def track_scores(found: dict[int, Detections], truth: ClipTruth, threshold: float, seconds_per_frame: float) -> str:
    """People found (IoU >= 0.3 with their hand-marked box: the marks are rough), boxes that match nobody per
    frame, and the longest time one person went unfound (what the tracker would have to hold them through)."""
    people = hits = extra = frames = longest = 0
    runs: dict[int, int] = {}
    for index in sorted(found):
        marked = truth.people(index)
        if marked is None:
            runs.clear()  # someone enters or leaves: not scored
            continue
        boxes = [b for b, s in found[index] if s >= threshold]
        pairs = sorted(((iou(b, g), i, n) for i, b in enumerate(boxes) for n, g in marked), reverse=True)
        used: set[int] = set()
        seen: set[int] = set()
        for value, i, n in pairs:
            if value >= MATCH_IOU and i not in used and n not in seen:
                used.add(i)
                seen.add(n)
        people += len(marked)
        hits += len(seen)
        extra += len(boxes) - len(used)
        frames += 1
        runs = {n: 0 if n in seen else runs.get(n, 0) + 1 for n, _ in marked}
        longest = max([longest, *runs.values()])
    recall = f"{hits / people:.2f}" if people else "-"
    return f"{recall}, {extra / max(frames, 1):.2f}, {longest * seconds_per_frame:.1f} s"


def doorway(names: Sequence[str], step: int, threshold: float, draw_to: Path | None) -> list[str]:
    lines = [
        f"Doorway clips, people marked by hand (bench/doorway_truth.py); every {step}th frame of the mp4, every "
        "frame of the GIFs. Each cell: share of the people found (IoU >= 0.3), boxes that match nobody per frame, "
        "longest time one person went unfound",
        "",
        "| clip | setting | " + " | ".join(f"score {t}" for t in THRESHOLDS) + " |",
        "| --- | --- |" + " --- |" * len(THRESHOLDS),
    ]
    for clip_name, truth in TRUTH.items():
        clip = DOORWAY / clip_name
        if not clip.exists():
            lines.append(f"| {clip_name} | not found | " + " | ".join("-" for _ in THRESHOLDS) + " |")
            continue
        capture = cv2.VideoCapture(str(clip))
        fps = capture.get(cv2.CAP_PROP_FPS) or 10.0
        capture.release()
        every = step if clip.suffix == ".mp4" else 1
        frames = read_frames(clip, every)
        h, w = frames[0][1].shape[:2]
        for name in names:
            det = detector(name, w, h)
            found = {i: det.detect(image) for i, image in frames}
            cells = [track_scores(found, truth, t, every / fps) for t in THRESHOLDS]
            lines.append(f"| {clip_name} | {name} | " + " | ".join(cells) + " |")
            if draw_to is not None:
                wanted = set(DRAW.get(clip_name, ()))
                for i, image in frames:
                    if i in wanted:
                        slug = name.replace(" ", "-")
                        cv2.imwrite(str(draw_to / f"{clip.stem}-{i:04d}-{slug}.png"), draw(image, found[i], threshold))
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated settings: " + ", ".join(CONFIGS))
    parser.add_argument("--pets-step", type=int, default=1, help="use every Nth PETS09 frame")
    parser.add_argument("--doorway-step", type=int, default=2, help="use every Nth frame of the mp4 clip")
    parser.add_argument("--calls", type=int, default=30, help="calls timed per setting")
    parser.add_argument("--draw", type=Path, default=None, help="write frames with boxes here (PNG)")
    parser.add_argument("--draw-threshold", type=float, default=0.3, help="boxes at or above it in red, others orange")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: speed, pets, doorway")
    args = parser.parse_args()
    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        parser.error(f"unknown settings {unknown}; known: {list(CONFIGS)}")
    skip = set(args.skip.split(","))
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    cv2.setNumThreads(1)
    if args.draw is not None:
        args.draw.mkdir(parents=True, exist_ok=True)
    # A frame with a person standing still, back to the camera (grey if the clip is absent: the cost is the same).
    sample = one_frame(DOORWAY / "one-by-one-person-detection.mp4", 600)
    if sample is None:
        sample = np.full((432, 768, 3), 127, np.uint8)
    out: list[str] = []
    if "speed" not in skip:
        out += [*speed(names, sample, args.calls), ""]
    if "pets" not in skip:
        out += [*pets(names, args.pets_step), ""] if (PETS / "vtest.avi").exists() else [f"PETS09 not in {PETS}", ""]
    if "doorway" not in skip:
        found = DOORWAY.exists()
        out += doorway(names, args.doorway_step, args.draw_threshold, args.draw) if found else [f"no {DOORWAY}"]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
