"""How tall a standing person is at each row of the image, learnt from the people the tracker sees.

A fixed camera looks down on a ground plane: the farther away a person stands (the higher their feet in the
image), the shorter they look, and for a ground plane this is close to linear in the row of the feet. Fitting
that line online from upright-looking detections gives each camera its own prior without any setting. It is
used to restore a person's full height when only part of them is detected (legs that move while the torso
matches the background, or a body cut by a sign): the head is the part that must never be lost.

Nothing here assumes an elevated camera. At a doorbell's height the heads of people standing at any distance are
near the horizon and their feet lower the nearer they are: the same straight line, with another slope. What a
camera at head height sees that a camera above a plaza rarely does is people cut by the bottom of the frame: the
bottom of their box is not their feet, so such boxes neither teach the line nor are raised by it (raising them
would mask the wall above a visitor's head).
"""

from __future__ import annotations

from edge_agent.redact.tracker import Box

MIN_SAMPLES = 40  # observations before the prior is used
FORGET = 0.999  # per observation: the prior follows a slowly changing view (zoom, a moved camera re-confirmed)
UPRIGHT = (1.8, 4.5)  # height / width of a box that is probably one whole standing person
EDGE = 1.0  # detection pixels from the top or bottom of the frame where a box counts as cut by it


class HeightPrior:
    """Least-squares line ``height = a * bottom + b`` over upright boxes, with exponential forgetting."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._n = 0.0
        self._sy = self._syy = self._sh = self._syh = 0.0
        self._count = 0

    def observe(self, box: Box, frame_height: float | None = None) -> None:
        """Learn from ``box`` if it looks like one whole standing person (not cut by the top or bottom edge)."""
        w, h = box[2] - box[0], box[3] - box[1]
        if w <= 0 or not UPRIGHT[0] <= h / w <= UPRIGHT[1]:
            return
        if frame_height is not None and (box[1] <= EDGE or box[3] >= frame_height - EDGE):
            return
        y = box[3]
        self._n = self._n * FORGET + 1.0
        self._sy = self._sy * FORGET + y
        self._syy = self._syy * FORGET + y * y
        self._sh = self._sh * FORGET + h
        self._syh = self._syh * FORGET + y * h
        self._count += 1

    def expected(self, bottom: float) -> float | None:
        """The expected height of a person whose feet are at row ``bottom``, or None while still learning."""
        if self._count < MIN_SAMPLES:
            return None
        var = self._syy / self._n - (self._sy / self._n) ** 2
        mean_h = self._sh / self._n
        if var <= 1e-6:
            return mean_h
        slope = (self._syh / self._n - (self._sy / self._n) * mean_h) / var
        value = mean_h + slope * (bottom - self._sy / self._n)
        # Never predict less than a fraction of the mean: a wild slope must not erase the prior far from the data.
        return max(value, 0.3 * mean_h)

    def restore(self, box: Box, frame_height: float | None = None) -> Box:
        """``box`` with its top raised to a full person's height where the detection is shorter (not for a box
        cut by the bottom of the frame: its bottom is not the feet)."""
        if frame_height is not None and box[3] >= frame_height - EDGE:
            return box
        expected = self.expected(box[3])
        if expected is None or box[3] - box[1] >= expected:
            return box
        return (box[0], box[3] - expected, box[2], box[3])
