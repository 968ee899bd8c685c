"""Shared helpers for the benchmarks: medians, percentiles, core pinning, the machine description."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2

REPO = Path(__file__).resolve().parent.parent
SIZES: tuple[tuple[int, int], ...] = ((640, 360), (1280, 720), (1920, 1080))


def rss_mib(pid: int) -> float | None:
    """Resident memory (VmRSS) of process ``pid`` in MiB, or None once it has gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100): a value that was actually observed."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return float(ordered[int(rank) - 1])


def pin(cores: int) -> int:
    """Restrict this process (and the threads it starts later) to ``cores`` CPUs; 0 means all. Returns the count."""
    available = sorted(os.sched_getaffinity(0))
    chosen = available if cores <= 0 else available[:cores]
    os.sched_setaffinity(0, set(chosen))
    cv2.setNumThreads(len(chosen))
    return len(chosen)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    return (
        f"{cpu}, {len(os.sched_getaffinity(0))} cores usable, {mem_kb / 1024**2:.1f} GiB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def run_json(script: str, *args: str, timeout: float = 900.0) -> list[dict[str, Any]]:
    """Run ``bench/<script>`` in a fresh interpreter; it prints one JSON object per line."""
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / script), *args],
        capture_output=True, text=True, timeout=timeout, check=False, cwd=REPO,
    )
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"bench/{script} {' '.join(args)} failed:\n{tail}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)
