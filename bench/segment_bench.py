"""Segment encoding speed and synthetic frame generation time, at three frame sizes.

    .venv/bin/python bench/segment_bench.py [--frames 60] [--repeats 5] [--preset ultrafast]

Prints, per size: the median time to render one synthetic frame, and the median encode rate (frames per second
through SegmentEncoder: BGR -> I420 -> x264 -> MPEG-TS in memory), each over ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import statistics
import time

from edge_agent.capture.synthetic import SyntheticScene
from edge_agent.redact.redactor import RedactedFrame
from edge_agent.segment import SegmentEncoder, probe_segment

SIZES = ((640, 360), (1280, 720), (1920, 1080))
FPS = 15.0


def render_ms(scene: SyntheticScene, frames: int) -> list[float]:
    times = []
    for i in range(frames):
        started = time.perf_counter()
        scene.render(i / FPS, i)
        times.append((time.perf_counter() - started) * 1000)
    return times


def encode_fps(frames: list[RedactedFrame], width: int, height: int, preset: str) -> tuple[float, int]:
    encoder = SegmentEncoder(
        device_id="bench", width=width, height=height, fps=FPS, seconds=3600.0, profile_hash="0" * 64, preset=preset
    )
    started = time.perf_counter()
    for frame in frames:
        encoder.push(frame)
    segment = encoder.flush()
    elapsed = time.perf_counter() - started
    assert segment is not None and probe_segment(segment.data).frame_count == len(frames)
    return len(frames) / elapsed, len(segment.data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--preset", default="ultrafast")
    args = parser.parse_args()
    print(f"{'size':>10} {'render ms (median)':>19} {'encode fps (median)':>20} {'kbit/s at 15 fps':>17}")
    for width, height in SIZES:
        scene = SyntheticScene(width, height, seed=0)
        render = statistics.median(t for _ in range(args.repeats) for t in render_ms(scene, args.frames))
        frames = [RedactedFrame(i, i / FPS, scene.render(i / FPS, i)) for i in range(args.frames)]
        runs = [encode_fps(frames, width, height, args.preset) for _ in range(args.repeats)]
        rate = statistics.median(r[0] for r in runs)
        kbps = runs[0][1] * 8 / (args.frames / FPS) / 1000
        print(f"{width:>5}x{height:<4} {render:>19.2f} {rate:>20.1f} {kbps:>17.0f}")


if __name__ == "__main__":
    main()
