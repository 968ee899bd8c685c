"""Resident memory of the agent over a long run of synthetic input, through the whole share path.

    .venv/bin/python bench/memory_run.py [--minutes 10] [--width 640 --height 360] [--interval 10] [--no-unit-env]
    .venv/bin/python bench/memory_run.py --stages [--width 1280 --height 720] [--seconds 50] [--repeats 3]
                                         [--compare REV]

The agent runs as its own process (`python -m edge_agent run --source synthetic`, a live grant, a local
Mosquitto and a center subscriber in this process), so every stage is exercised: capture, redaction, x264,
sealing, the outbox and MQTT. VmRSS is sampled from /proc every --interval seconds. Printed: the samples, the
figure after a one-minute warm-up, the peak, and the growth (least-squares slope) after the warm-up.

The agent gets the allocator settings of the service's unit file (its ``Environment=MALLOC_...`` values), so the
figure is the one the device sees; ``--no-unit-env`` leaves them out for comparison.

``--stages`` says where the memory goes: ``bench/memory_probe.py`` runs one agent in its own interpreter and
reports RSS, PSS and anonymous memory after the imports, after the agent is built (face model), at the first
frame and the first segment, and in the steady state (median of the samples after a 20 s warm-up, and right after
a trim). ``--compare REV`` runs the same probe on the files of commit REV (``git archive``, in a temporary folder;
the working tree is not touched), alternating with the working tree, so before and after are measured in one run
on the same machine under the same load. Printed: a Markdown table of the medians over ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from broker import BenchBroker
from common import rss_mib
from fixtures import Site, make_site

from edge_agent.center.subscriber import SubscribeOptions, run_subscriber

REPO = Path(__file__).resolve().parents[1]
UNIT = REPO / "systemd" / "edge-agent.service"
WARMUP_S = 60.0


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


def export_tree(rev: str, into: Path) -> Path:
    """The files of commit ``rev`` in a new folder (the working tree and the index are left alone)."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "edge_agent"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def start_site(root: Path, args: argparse.Namespace) -> tuple[BenchBroker, Site, threading.Event, threading.Thread]:
    """A local broker, a device and center site under ``root``, and the center subscribing in a thread."""
    broker = BenchBroker(root / "broker")
    broker.start()
    site = make_site(root, broker.url, args.width, args.height)
    stop = threading.Event()
    center = threading.Thread(
        target=run_subscriber, daemon=True, args=(site.center, SubscribeOptions(broker=broker.url), stop)
    )
    center.start()
    time.sleep(1.0)
    return broker, site, stop, center


def probe_once(tree: Path, root: Path, args: argparse.Namespace) -> list[dict[str, object]]:
    """One agent of ``tree`` through bench/memory_probe.py, with its own broker and center; its JSON lines."""
    broker, site, stop, center = start_site(root, args)
    env = {**os.environ, **({} if args.no_unit_env else unit_malloc_env()), "PYTHONPATH": str(tree)}
    cmd = [sys.executable, str(REPO / "bench" / "memory_probe.py"), str(site.device.root), str(site.profile),
           str(args.seconds)]
    try:
        done = subprocess.run(cmd, check=False, cwd=tree, env=env, capture_output=True, text=True,
                              timeout=args.seconds + 120)
    finally:
        stop.set()
        center.join(timeout=10)
        broker.stop()
    if done.returncode != 0:
        raise SystemExit(f"memory probe failed: {done.stderr.strip()[-2000:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def stages(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="edge-memory-stages-") as tmp:
        root = Path(tmp)
        trees = [("working tree", REPO)]
        if args.compare:
            trees.append((args.compare, export_tree(args.compare, root / "compare")))
        found: dict[str, dict[str, list[dict[str, float]]]] = {label: {} for label, _ in trees}
        order: list[str] = []
        for run in range(args.repeats):
            # Alternate which tree goes first, so a change in the machine's load falls on both alike.
            for number, (label, tree) in enumerate(trees if run % 2 == 0 else trees[::-1]):
                for row in probe_once(tree, root / f"run{run}-{number}", args):
                    if "stage" not in row:
                        print(f"  {label}, run {run + 1}: {json.dumps(row)}", flush=True)
                        continue
                    stage = str(row["stage"])
                    if stage not in order:
                        order.append(stage)
                    values = {k: float(v) for k, v in row.items() if k != "stage"}  # type: ignore[arg-type]
                    found[label].setdefault(stage, []).append(values)
    labels = [label for label, _ in trees]
    print(f"\n{args.width}x{args.height}, {args.seconds:g} s per run, medians of {args.repeats} run(s) (MiB)\n")
    print("| stage | " + " | ".join(f"{label}: RSS | PSS | anon" for label in labels) + " |")
    print("| --- | " + " | ".join("---: | ---: | ---:" for _ in labels) + " |")
    for stage in order:
        cells = []
        for label in labels:
            runs = found[label].get(stage, [])
            cells += [f"{statistics.median(r[k] for r in runs):.1f}" if runs else "" for k in ("rss", "pss", "anon")]
        print(f"| {stage} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--no-unit-env", action="store_true", help="leave out the unit file's MALLOC_* settings")
    parser.add_argument("--stages", action="store_true", help="memory after each stage of start-up (see above)")
    parser.add_argument("--seconds", type=float, default=50.0, help="--stages: length of each agent run")
    parser.add_argument("--repeats", type=int, default=3, help="--stages: runs per tree")
    parser.add_argument("--compare", metavar="REV", help="--stages: also measure commit REV, alternating")
    args = parser.parse_args()
    if args.stages:
        stages(args)
        return
    duration = args.minutes * 60
    with tempfile.TemporaryDirectory(prefix="edge-memory-") as tmp:
        root = Path(tmp)
        broker, site, stop, center = start_site(root, args)
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
