"""Privacy figures of a sequence of masks against annotated person boxes (see docs/redaction.md).

- head recall: share of boxes whose head region (top fifth) is at least 95 % inside the mask;
- body coverage: mean share of each box inside the mask;
- over-redaction: share of the pixels outside every box (grown by a quarter of its width left and right and a
  quarter of its height above and below) that are masked, averaged over frames.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

BoxXYWH = tuple[float, float, float, float]
HEAD_SHARE = 0.2
HEAD_INSIDE = 0.95
GROW = 0.25


def _clip(x0: float, y0: float, x1: float, y1: float, w: int, h: int) -> tuple[int, int, int, int]:
    return (
        max(0, min(w, math.floor(x0))),
        max(0, min(h, math.floor(y0))),
        max(0, min(w, math.ceil(x1))),
        max(0, min(h, math.ceil(y1))),
    )


def _inside(integral: npt.NDArray[np.int64], box: tuple[int, int, int, int]) -> float | None:
    x0, y0, x1, y1 = box
    area = (x1 - x0) * (y1 - y0)
    if area <= 0:
        return None
    total = integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]
    return float(total) / area


@dataclass
class Scores:
    """Accumulates per-frame results; read the figures with the properties."""

    heads: int = 0
    heads_ok: int = 0
    coverage: list[float] = field(default_factory=list)
    over: list[float] = field(default_factory=list)
    missed: list[tuple[int, int]] = field(default_factory=list)  # (frame, box index) of head misses

    def add(
        self,
        index: int,
        mask: npt.NDArray[np.bool_],
        boxes: Sequence[BoxXYWH],
        heads: Sequence[BoxXYWH] | None = None,
    ) -> None:
        """Score one frame's mask against its person boxes; ``heads`` overrides each box's head region (for
        people cut by the frame's bottom edge, whose head is not the top fifth of what is visible)."""
        h, w = mask.shape
        integral = cv2.integral(mask.astype(np.uint8), sdepth=cv2.CV_64F).astype(np.int64)
        allowed = np.zeros((h, w), dtype=bool)
        for i, (x, y, bw, bh) in enumerate(boxes):
            if heads is not None:
                hx, hy, hw, hh = heads[i]
                head = _inside(integral, _clip(hx, hy, hx + hw, hy + hh, w, h))
            else:
                head = _inside(integral, _clip(x, y, x + bw, y + bh * HEAD_SHARE, w, h))
            if head is not None:
                self.heads += 1
                if head >= HEAD_INSIDE:
                    self.heads_ok += 1
                else:
                    self.missed.append((index, i))
            body = _inside(integral, _clip(x, y, x + bw, y + bh, w, h))
            if body is not None:
                self.coverage.append(body)
            gx0, gy0, gx1, gy1 = _clip(x - GROW * bw, y - GROW * bh, x + bw * (1 + GROW), y + bh * (1 + GROW), w, h)
            allowed[gy0:gy1, gx0:gx1] = True
        outside = ~allowed
        n = int(outside.sum())
        if n:
            self.over.append(float((mask & outside).sum()) / n)

    @property
    def head_recall(self) -> float:
        return self.heads_ok / self.heads if self.heads else 1.0

    @property
    def body_coverage(self) -> float:
        return float(np.mean(self.coverage)) if self.coverage else 1.0

    @property
    def over_redaction(self) -> float:
        return float(np.mean(self.over)) if self.over else 0.0
