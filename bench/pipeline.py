"""The whole device pipeline, source to published segment, in frames per second.

    .venv/bin/python bench/pipeline.py --broker mqtt://127.0.0.1:PORT --width 1280 --height 720 --cores 1

Runs the real daemon (``edge_agent.device.daemon``) in this process on the synthetic scene, unpaced, with a live
grant, so every segment is redacted, encoded, sealed, written to the durable outbox and published over MQTT to
``--broker``.
Prints one JSON object: the median over runs of frames processed per second of wall time, and of frames per
second of the process's own CPU time (``cpu_fps``: on a shared, loaded machine the wall figure swings with the
other jobs, the CPU figure much less), segments shared and delivered.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import emit, median, pin
from fixtures import make_site

from edge_agent.device.daemon import Agent, RunOptions


def one_run(broker: str, width: int, height: int, seconds: float) -> tuple[float, int, int, int, float]:
    with tempfile.TemporaryDirectory(prefix="edge-bench-") as tmp:
        site = make_site(Path(tmp), broker, width, height)
        agent = Agent(RunOptions(data_dir=site.device.root, profile=str(site.profile), source="synthetic",
                                 duration=seconds, realtime=False))
        started, cpu_started = time.monotonic(), time.process_time()
        summary = agent.run()
        # CPU time includes the drain after the last frame (little: one segment's publish).
        cpu = time.process_time() - cpu_started
        # run() drains the outbox before it returns; the pipeline rate counts only the frames, over the
        # time the frames took (the drain of the last segment is part of latency, not of throughput).
        elapsed = min(time.monotonic() - started, seconds)
        return (summary.frames / elapsed, summary.shared, summary.delivered, summary.events["frames_dropped"],
                summary.frames / cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", required=True)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--cores", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    cores = pin(args.cores)
    runs = [one_run(args.broker, args.width, args.height, args.seconds) for _ in range(args.repeats)]
    emit(metric="pipeline", size=f"{args.width}x{args.height}", cores=cores, value=median([r[0] for r in runs]),
         unit="fps", runs=len(runs), shared=sum(r[1] for r in runs), delivered=sum(r[2] for r in runs),
         dropped=sum(r[3] for r in runs), cpu_fps=round(median([r[4] for r in runs]), 1))


if __name__ == "__main__":
    main()
