"""Resident memory of the agent over a long run of synthetic input, through the whole share path.

    .venv/bin/python bench/memory_run.py [--minutes 10] [--width 640 --height 360] [--interval 10] [--no-unit-env]

The agent runs as its own process (`python -m edge_agent run --source synthetic`, a live grant, a local
Mosquitto and a center subscriber in this process), so every stage is exercised: capture, redaction, x264,
sealing, the outbox and MQTT. VmRSS is sampled from /proc every --interval seconds. Printed: the samples, the
figure after a one-minute warm-up, the peak, and the growth (least-squares slope) after the warm-up.

The agent gets the allocator settings of the service's unit file (its ``Environment=MALLOC_...`` values), so the
figure is the one the device sees; ``--no-unit-env`` leaves them out for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from broker import BenchBroker
from fixtures import make_site

from edge_agent.center.subscriber import SubscribeOptions, run_subscriber

REPO = Path(__file__).resolve().parents[1]
UNIT = REPO / "systemd" / "edge-agent.service"
WARMUP_S = 60.0


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        return None
    return None


def unit_malloc_env() -> dict[str, str]:
    """The ``MALLOC_*`` variables that the service's unit file sets."""
    found: dict[str, str] = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        if line.startswith("Environment="):
            for word in shlex.split(line.removeprefix("Environment=")):
                name, _, value = word.partition("=")
                if name.startswith("MALLOC_"):
                    found[name] = value
    return found


def slope_per_min(samples: list[tuple[float, float]]) -> float:
    n = len(samples)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in samples) / n
    mr = sum(r for _, r in samples) / n
    var = sum((t - mt) ** 2 for t, _ in samples)
    return 0.0 if var == 0 else 60 * sum((t - mt) * (r - mr) for t, r in samples) / var


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--no-unit-env", action="store_true", help="leave out the unit file's MALLOC_* settings")
    args = parser.parse_args()
    duration = args.minutes * 60
    with tempfile.TemporaryDirectory(prefix="edge-memory-") as tmp:
        root = Path(tmp)
        broker = BenchBroker(root / "broker")
        broker.start()
        site = make_site(root, broker.url, args.width, args.height)
        stop = threading.Event()
        center = threading.Thread(target=run_subscriber, daemon=True,
                                  args=(site.center, SubscribeOptions(broker=broker.url), stop))
        center.start()
        time.sleep(1.0)
        cmd = [sys.executable, "-m", "edge_agent", "--data-dir", str(site.device.root), "run", "--profile",
               str(site.profile), "--source", "synthetic", "--duration", str(duration)]
        extra = {} if args.no_unit_env else unit_malloc_env()
        started = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                env={**os.environ, **extra})
        samples: list[tuple[float, float]] = []
        print(f"agent pid {proc.pid}, {args.width}x{args.height}, {args.minutes:g} min, environment {extra or 'as is'}")
        while proc.poll() is None:
            time.sleep(args.interval)
            rss = rss_mib(proc.pid)
            if rss is not None:
                t = time.monotonic() - started
                samples.append((t, rss))
                print(f"  t={t:6.0f} s  rss={rss:7.1f} MiB", flush=True)
        out = proc.stdout.read() if proc.stdout else ""
        stop.set()
        center.join(timeout=10)
        broker.stop()
        stored = 0
        evidence = site.center.root / "evidence.jsonl"
        if evidence.exists():
            stored = sum(1 for line in evidence.read_text().splitlines() if json.loads(line))
        steady = [(t, r) for t, r in samples if t >= WARMUP_S]
        print(f"agent: {out.strip()}")
        print(f"center stored {stored} segment(s)")
        if steady:
            print(
                f"FIGURE memory: {args.minutes:g} min at {args.width}x{args.height}: RSS {steady[0][1]:.1f} MiB after "
                f"{WARMUP_S:.0f} s warm-up, {steady[-1][1]:.1f} MiB at the end, peak {max(r for _, r in samples):.1f}"
                f" MiB, growth after warm-up {slope_per_min(steady):+.2f} MiB/min"
            )


if __name__ == "__main__":
    main()
