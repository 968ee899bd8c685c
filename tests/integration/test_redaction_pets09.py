"""The shipped redactor on real footage with ground truth (PETS09 S2.L1, read from ``../shared/data``; never
copied into the repository). The figures are the issue's targets, checked on the masks the redactor reports
(the same masks `edge-agent redact --mask-out` writes). Without the time budget the run is deterministic, so
this guards the privacy figures against regressions; `make privacy` prints the full table, speed included."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_agent.capture.base import Frame
from edge_agent.config.loader import load_profile
from edge_agent.redact import NO_BUDGET_MS, build_redactor

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data" / "pets09-s2l1"

pytestmark = [
    pytest.mark.skipif(not (DATA / "vtest.avi").exists(), reason=f"PETS09 footage not found in {DATA}"),
    pytest.mark.skipif(importlib.util.find_spec("retinaface") is None, reason="face model not installed"),
]


def test_pets09_targets() -> None:
    sys.path.insert(0, str(REPO / "bench"))
    from privacy_metrics import Scores  # noqa: PLC0415 - the benchmark's own scoring, one definition

    annotations = json.loads((DATA / "annotations.json").read_text())
    profile, _ = load_profile(None)
    redactor = build_redactor(profile, [], seed=1, frame_budget_ms=NO_BUDGET_MS)
    fps = float(annotations.get("fps", 10.0))
    scores = Scores()
    capture = cv2.VideoCapture(str(DATA / "vtest.avi"))
    index = 0
    while True:
        ok, image = capture.read()
        if not ok:
            break
        original = image.copy()
        out = redactor.redact(Frame(index, index / fps, image))
        assert out.mask is not None
        # Outside the mask the pixels are the input's, inside they are changed (pixelation with noise).
        assert np.array_equal(out.image[~out.mask], original[~out.mask])
        scores.add(index, out.mask, [tuple(b[:4]) for b in annotations["frames"][index]["boxes"]])
        index += 1
    capture.release()
    assert index == len(annotations["frames"]) == 795
    assert scores.head_recall >= 0.999, scores.missed
    assert scores.body_coverage >= 0.99
    assert scores.over_redaction <= 0.10
