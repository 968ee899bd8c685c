"""Live mode at 1280x720 and 15 fps: latency to the center, the agent's resident memory, bytes per second sent.

    .venv/bin/python bench/live.py --broker mqtt://127.0.0.1:PORT [--seconds 60]

The agent runs as its own process (``edge-agent run``, paced synthetic scene, the default profile at 720p, a live
grant, 2 s live segments); the center subscribes in this process. Latency of a segment is from the capture time of
its first frame (the frame that waits longest) to the moment the center has written the decrypted video (the
file's modification time): the worst frame of every segment. Memory is VmRSS of the agent, sampled twice a second.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import emit, median, percentile, rss_mib
from fixtures import make_site

from edge_agent.center.subscriber import SubscribeOptions, run_subscriber


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", required=True)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edge-bench-live-") as tmp:
        site = make_site(Path(tmp), args.broker, 1280, 720)
        stop = threading.Event()
        center = threading.Thread(
            target=run_subscriber, args=(site.center, SubscribeOptions(broker=args.broker), stop), daemon=True
        )
        center.start()
        time.sleep(1.5)
        agent = subprocess.Popen(
            [sys.executable, "-m", "edge_agent", "--data-dir", str(site.device.root), "run", "--profile",
             str(site.profile), "--source", "synthetic", "--duration", str(args.seconds)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        samples: list[tuple[float, float]] = []
        started = time.monotonic()
        while agent.poll() is None:
            value = rss_mib(agent.pid)
            if value is not None:
                samples.append((time.monotonic() - started, value))
            time.sleep(0.5)
        _, err = agent.communicate()
        if agent.returncode != 0:
            raise SystemExit(f"agent failed: {err.strip()[-2000:]}")
        time.sleep(3.0)  # the last segment's way to the center
        stop.set()
        center.join(timeout=15)
        report(site.center.root, samples, args.seconds)


def report(center_root: Path, samples: list[tuple[float, float]], seconds: float) -> None:
    records = [json.loads(line) for line in (center_root / "evidence.jsonl").read_text().splitlines() if line]
    latencies, sealed_bytes = [], 0
    for rec in records:
        folder = center_root / "store" / rec["device_id"]
        latencies.append((folder / rec["video"]).stat().st_mtime - rec["start"])
        sealed_bytes += (folder / rec["sealed"]).stat().st_size
    # The first segments come while the detector warms up; they are included: a center sees them too.
    span = max(r["end"] for r in records) - min(r["start"] for r in records)
    segment_s = median([r["end"] - r["start"] for r in records])
    emit(metric="live latency, median", size="1280x720", value=median(latencies), unit="s",
         runs=len(latencies), segment_seconds=segment_s)
    emit(metric="live latency, p95", size="1280x720", value=percentile(latencies, 95), unit="s",
         runs=len(latencies), segment_seconds=segment_s)
    emit(metric="bytes published per second", size="1280x720", value=sealed_bytes / span / 1000, unit="kB/s",
         runs=1, segments=len(records))
    steady = [v for t, v in samples if t >= 5.0] or [v for _, v in samples]
    quarter = max(1, len(steady) // 4)
    emit(metric="agent resident memory", size="1280x720", value=median(steady), unit="MiB", runs=len(steady),
         peak=max(steady), growth=median(steady[-quarter:]) - median(steady[:quarter]), seconds=seconds)


if __name__ == "__main__":
    main()
