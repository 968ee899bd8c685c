"""Segment encoding: speed, size, quality and the encoder's resident memory, at three frame sizes.

    .venv/bin/python bench/segment_bench.py [--frames 60] [--repeats 5] [--preset ultrafast] [--threads 0,1,2]
                                            [--bitrate 2000] [--sizes 640x360,1280x720,1920x1080]

Prints, per size: the median time to render one synthetic frame; then per x264 thread count (0: x264's own choice,
1.5 per core), over ``--repeats`` runs of ``--frames`` frames through SegmentEncoder (BGR -> I420 -> x264 ->
MPEG-TS in memory, at the profile's default bitrate unless ``--bitrate``): the median encode rate of wall time
and of CPU time, the bitrate at 15 fps, PSNR of the decoded frames against the input, x264's delay (frames pushed
before the first packet comes out; 0 means a frame leaves the encoder as soon as it is pushed, what live segments
need), and the encoder's resident memory (anonymous memory of this process with the encoder open, after a
``malloc_trim``, minus the same before it was opened).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from edge_agent.capture.synthetic import SyntheticScene
from edge_agent.device.memory import release_free_memory, tune_allocator
from edge_agent.redact.redactor import RedactedFrame
from edge_agent.segment import SegmentEncoder, decode_segment, probe_segment

FPS = 15.0


def anon_mib() -> float:
    for line in Path("/proc/self/smaps_rollup").read_text(encoding="ascii").splitlines():
        if line.startswith("Anonymous:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def render_ms(scene: SyntheticScene, frames: int) -> list[float]:
    times = []
    for i in range(frames):
        started = time.perf_counter()
        scene.render(i / FPS, i)
        times.append((time.perf_counter() - started) * 1000)
    return times


def encode(frames: list[RedactedFrame], args: argparse.Namespace, threads: int) -> dict[str, float]:
    height, width = frames[0].image.shape[:2]
    release_free_memory()
    before = anon_mib()
    encoder = SegmentEncoder(
        device_id="bench", width=width, height=height, fps=FPS, seconds=3600.0, profile_hash="0" * 64,
        preset=args.preset, bitrate_kbps=args.bitrate, threads=threads,
    )
    resident = float("nan")
    wall, cpu = time.perf_counter(), time.process_time()
    for i, frame in enumerate(frames):
        encoder.push(frame)
        if i == len(frames) // 2:
            pause = time.perf_counter(), time.process_time()
            release_free_memory()
            resident = anon_mib() - before
            wall += time.perf_counter() - pause[0]
            cpu += time.process_time() - pause[1]
    segment = encoder.flush()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert segment is not None and probe_segment(segment.data).frame_count == len(frames)
    decoded = decode_segment(segment.data)
    mse = np.mean([np.mean((f.image.astype(np.float64) - d) ** 2) for f, d in zip(frames, decoded, strict=True)])
    kbps = len(segment.data) * 8 / (len(frames) / FPS) / 1000
    return {"fps": len(frames) / wall, "cpu_fps": len(frames) / cpu, "kbps": kbps,
            "psnr": float(10 * np.log10(255**2 / mse)), "delay": float(x264_delay(encoder, frames)),
            "resident": resident}


def x264_delay(encoder: SegmentEncoder, frames: list[RedactedFrame]) -> int:
    """Frames pushed into x264 (with the encoder's own options) before its first packet comes out."""
    codec: Any = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = encoder.width, encoder.height, "yuv420p"
    codec.time_base, codec.bit_rate = 1 / encoder.rate, encoder.bitrate_kbps * 1000
    codec.options = encoder.x264_options()
    for i, frame in enumerate(frames):
        yuv = cv2.cvtColor(frame.image, cv2.COLOR_BGR2YUV_I420)
        video_frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        video_frame.pts = i
        if codec.encode(video_frame):
            return i
    return len(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--preset", default="ultrafast")
    parser.add_argument("--threads", default="0", help="x264 thread counts to compare, comma-separated")
    parser.add_argument("--bitrate", type=int, default=2000, help="kbit/s (the profile's default is 2000)")
    parser.add_argument("--sizes", default="640x360,1280x720,1920x1080")
    args = parser.parse_args()
    tune_allocator()  # as the agent does, so that the encoder's memory is measured under the daemon's allocator
    print(f"{'size':>10} {'render ms':>9} {'threads':>7} {'encode fps':>10} {'per CPU s':>9} {'kbit/s':>7} "
          f"{'PSNR dB':>7} {'delay':>5} {'resident MiB':>12}")
    for size in args.sizes.split(","):
        width, height = (int(v) for v in size.split("x"))
        scene = SyntheticScene(width, height, seed=0)
        render = statistics.median(t for _ in range(args.repeats) for t in render_ms(scene, args.frames))
        frames = [RedactedFrame(i, i / FPS, scene.render(i / FPS, i)) for i in range(args.frames)]
        for threads in (int(t) for t in args.threads.split(",")):
            runs = [encode(frames, args, threads) for _ in range(args.repeats)]
            m = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            print(f"{width:>5}x{height:<4} {render:>9.2f} {threads:>7} {m['fps']:>10.1f} {m['cpu_fps']:>9.1f} "
                  f"{m['kbps']:>7.0f} {m['psnr']:>7.2f} {m['delay']:>5.0f} {m['resident']:>12.1f}", flush=True)


if __name__ == "__main__":
    main()
