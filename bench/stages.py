"""Per-stage speed at one frame size: redaction, segment encoding, sealing; deface on the same frames.

    .venv/bin/python bench/stages.py --width 1280 --height 720 --cores 1 [--frames 90] [--repeats 3] [--deface]

Frames come from the synthetic street scene, are written once to a lossless FFV1 file, and are read back from
that file by both our redactor and deface, so both redact exactly the same pixels. Redaction uses the default
profile's detector settings. Prints one JSON object per figure (medians over ``--repeats``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import REPO, emit, median, pin

from edge_agent.capture.base import Frame
from edge_agent.capture.synthetic import SyntheticScene
from edge_agent.config.loader import load_profile
from edge_agent.redact import build_redactor
from edge_agent.redact.redactor import RedactedFrame
from edge_agent.seal import Recipient, seal_segment
from edge_agent.segment import SegmentEncoder
from edge_agent.segment.model import Segment

FPS = 15.0
WARMUP = 20  # frames the redactor sees before timing starts (background model, tracker)
DEFACE_PYTHON = REPO / "bench" / ".venv-deface" / "bin" / "python"


def write_frames(path: Path, width: int, height: int, count: int) -> None:
    scene = SyntheticScene(width, height, seed=3)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("ffv1", rate=int(FPS))
        stream.width, stream.height, stream.pix_fmt = width, height, "bgr0"
        for i in range(count):
            frame = av.VideoFrame.from_ndarray(scene.render(i / FPS, i), format="bgr24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def read_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]


def redaction_fps(frames: list[np.ndarray], width: int, height: int) -> tuple[float, list[RedactedFrame]]:
    profile, _ = load_profile(None)
    profile = profile.model_copy(update={"camera": profile.camera.model_copy(update={"width": width,
                                                                                      "height": height})})
    redactor = build_redactor(profile, seed=1)
    out: list[RedactedFrame] = []
    elapsed = 0.0
    for i, raw in enumerate(frames):
        frame = Frame(i, i / FPS, raw.copy())
        started = time.perf_counter()
        redacted = redactor.redact(frame)
        if i >= WARMUP:
            elapsed += time.perf_counter() - started
            out.append(redacted)
    return len(out) / elapsed, out


def encode_fps(frames: list[RedactedFrame], width: int, height: int) -> tuple[float, Segment]:
    encoder = SegmentEncoder(device_id="bench", width=width, height=height, fps=FPS, seconds=3600.0,
                             profile_hash="0" * 64)
    started = time.perf_counter()
    for frame in frames:
        encoder.push(frame)
    segment = encoder.flush()
    elapsed = time.perf_counter() - started
    assert segment is not None
    return len(frames) / elapsed, segment


def seal_mbps(segment: Segment, rounds: int = 20) -> float:
    device = Ed25519PrivateKey.generate()
    recipients = [Recipient(X25519PrivateKey.generate().public_key())]
    started = time.perf_counter()
    for _ in range(rounds):
        seal_segment(segment, consent_id="bench", prev_hash="", signer=device, recipients=recipients)
    return len(segment.data) * rounds / (time.perf_counter() - started) / 1e6


def deface_fps(video: Path, work: Path) -> float | None:
    if not DEFACE_PYTHON.exists():
        return None
    driver = REPO / "bench" / "deface_driver.py"
    # deface is an order of magnitude slower: its first 30 frames give a stable rate within the time budget.
    subprocess.run([str(DEFACE_PYTHON), str(driver), "redact", str(video), str(work), "--no-masks", "--limit", "30"],
                   check=True, capture_output=True)
    timing = json.loads((work / "timing.json").read_text())
    return float(timing["frames"] / timing["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--cores", type=int, default=0, help="pin to this many cores (0: all)")
    parser.add_argument("--frames", type=int, default=90)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--deface", action="store_true", help="also time deface (one core) on the same frames")
    args = parser.parse_args()
    cores = pin(args.cores)
    size = f"{args.width}x{args.height}"
    with tempfile.TemporaryDirectory(prefix="edge-bench-") as tmp:
        video = Path(tmp) / "frames.mkv"
        write_frames(video, args.width, args.height, args.frames + WARMUP)
        frames = read_frames(video)
        redact, encode, seal = [], [], []
        for _ in range(args.repeats):
            fps, redacted = redaction_fps(frames, args.width, args.height)
            redact.append(fps)
            fps, segment = encode_fps(redacted, args.width, args.height)
            encode.append(fps)
            seal.append(seal_mbps(segment))
        emit(metric="redaction", size=size, cores=cores, value=median(redact), unit="fps", runs=len(redact))
        emit(metric="encoding", size=size, cores=cores, value=median(encode), unit="fps", runs=len(encode))
        emit(metric="sealing", size=size, cores=cores, value=median(seal), unit="MB/s", runs=len(seal))
        if args.deface:
            runs = [deface_fps(video, Path(tmp) / f"deface{i}") for i in range(args.repeats)]
            values = [r for r in runs if r is not None]
            if values:
                emit(metric="deface redaction", size=size, cores=1, value=median(values), unit="fps",
                     runs=len(values))


if __name__ == "__main__":
    main()
