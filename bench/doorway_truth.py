"""Hand-marked people in the doorway clips (``../shared/data/doorway``), which come without ground truth.

Marked by eye on frames drawn with a 50-pixel grid, so each box is good to a few pixels: enough to score a
detection at IoU >= 0.3, not to measure how tight it is. A person is marked at a few key frames and moves in a
straight line between them; ``spans`` are the stretches of frames where every visible person is marked (moments
when someone enters or leaves, half in view, are left out), and a stretch with no track in it is empty.

- one-by-one-person-detection.mp4 (768x432): six people in turn stand still at a table for 6-24 s, back to the
  camera, from head (cut by the top edge) to feet.
- store-aisle-detection.gif (480x270): two shoppers who stand and browse, then a third who comes in close to the
  lens from the bottom edge, back to the camera, cut at the waist.
- face-demographics-walking.gif (480x270): two people walking straight towards the camera.
- people-detection.gif (480x270): only its empty end is marked (the person before is a few pixels wide, far away).
"""

from __future__ import annotations

from dataclasses import dataclass

Box = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class Track:
    keys: tuple[tuple[int, Box], ...]  # (frame, box) in frame order

    def at(self, frame: int) -> Box | None:
        first, last = self.keys[0][0], self.keys[-1][0]
        if not first <= frame <= last:
            return None
        for (f0, b0), (f1, b1) in zip(self.keys, self.keys[1:], strict=False):
            if f0 <= frame <= f1:
                t = (frame - f0) / (f1 - f0) if f1 > f0 else 0.0
                x0, y0, x1, y1 = (a + (b - a) * t for a, b in zip(b0, b1, strict=True))
                return (x0, y0, x1, y1)
        return self.keys[0][1]


@dataclass(frozen=True, slots=True)
class ClipTruth:
    tracks: tuple[Track, ...]
    spans: tuple[tuple[int, int], ...]  # (first, last) frames where every visible person is marked

    def people(self, frame: int) -> list[tuple[int, Box]] | None:
        """(track number, box) of everyone in view at ``frame``; None where the frame is not marked."""
        if not any(a <= frame <= b for a, b in self.spans):
            return None
        return [(n, box) for n, track in enumerate(self.tracks) if (box := track.at(frame)) is not None]


def _still(first: int, last: int, box: Box) -> Track:
    return Track(((first, box), (last, box)))


TRUTH: dict[str, ClipTruth] = {
    "one-by-one-person-detection.mp4": ClipTruth(
        tracks=(
            _still(80, 180, (383, 12, 512, 395)),
            _still(240, 430, (388, 0, 550, 385)),
            Track(((520, (393, 0, 552, 385)), (600, (400, 0, 552, 372)), (680, (404, 0, 552, 385)))),
            _still(780, 840, (366, 0, 500, 385)),
            _still(940, 1180, (385, 10, 522, 378)),
            _still(1260, 1340, (355, 0, 525, 395)),
        ),
        spans=(
            (0, 50),
            (80, 180),
            (205, 225),
            (240, 430),
            (465, 500),
            (520, 680),
            (715, 745),
            (780, 840),
            (885, 925),
            (940, 1180),
            (1205, 1225),
            (1260, 1340),
            (1365, 1393),
        ),
    ),
    "store-aisle-detection.gif": ClipTruth(
        tracks=(
            Track(
                (
                    (0, (235, 62, 320, 235)),
                    (24, (255, 62, 320, 235)),
                    (45, (272, 60, 340, 235)),
                    (66, (260, 55, 320, 230)),
                )
            ),
            Track(
                (
                    (0, (345, 88, 415, 268)),
                    (24, (350, 55, 400, 260)),
                    (45, (345, 70, 395, 200)),
                    (66, (350, 50, 400, 270)),
                )
            ),
            Track(((24, (340, 170, 450, 270)), (45, (318, 115, 398, 270)), (66, (290, 110, 370, 270)))),
        ),
        spans=((0, 15), (24, 66)),
    ),
    "face-demographics-walking.gif": ClipTruth(
        tracks=(
            Track(
                (
                    (0, (252, 115, 297, 262)),
                    (17, (202, 115, 255, 270)),
                    (26, (165, 110, 238, 270)),
                    (34, (138, 108, 218, 270)),
                )
            ),
            Track(
                (
                    (0, (298, 100, 348, 260)),
                    (17, (255, 92, 342, 270)),
                    (26, (258, 87, 350, 270)),
                    (34, (232, 78, 342, 270)),
                )
            ),
        ),
        spans=((0, 34),),
    ),
    "people-detection.gif": ClipTruth(tracks=(), spans=((13, 22),)),
}
