"""Complete delivery through the worst hop-by-hop loss, over several runs: every shared segment stored once.

    .venv/bin/python bench/repair_run.py [--runs 10]

Each run (tests/integration/repair_helpers.py): a private Mosquitto without persistence, the agent as a process
(live grant, 1 s segments) and ``edge-center subscribe`` with default options as a process. Once the center holds
3 segments it is SIGKILLed; 3 s later the broker, holding the center's queue, is SIGKILLed and restarted empty;
the center is started again. Printed per run and in total: segments shared, stored, repaired (lost by the broker,
asked for again), duplicates, gaps, and the time from the center's restart until it held every shared segment.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import machine

from edge_agent.devbroker import MosquittoBroker
from tests.integration.repair_helpers import BROKER_CONFIG, RepairRun, run_once


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    runs: list[RepairRun] = []
    for number in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory(prefix="edge-repair-") as tmp:
            broker = MosquittoBroker(Path(tmp) / "broker", BROKER_CONFIG)
            broker.start()
            try:
                run = run_once(Path(tmp) / "run", broker)
            finally:
                broker.kill()
        runs.append(run)
        complete = run.stored == run.shared and run.gaps == 0 and run.duplicates == 0
        print(f"run {number}: {run.shared} shared, {run.stored} stored, {run.repaired} repaired, "
              f"{run.duplicates} duplicates, {run.gaps} gaps, {run.lost} lost, {run.withheld} withheld; complete "
              f"{run.seconds_to_complete:.1f} s after the restart; {'OK' if complete else 'NOT COMPLETE'}",
              flush=True)
    complete = sum(1 for r in runs if r.stored == r.shared and r.gaps == 0 and r.duplicates == 0)
    print(f"\n{machine()}")
    print(f"{complete} of {len(runs)} runs complete: {sum(r.shared for r in runs)} segments shared, "
          f"{sum(r.stored for r in runs)} stored, {sum(r.repaired for r in runs)} of them repaired after the broker "
          f"lost them, {sum(r.duplicates for r in runs)} duplicates, {sum(r.gaps for r in runs)} gaps; time to "
          f"complete after the restart: median {statistics.median(r.seconds_to_complete for r in runs):.1f} s, "
          f"max {max(r.seconds_to_complete for r in runs):.1f} s")


if __name__ == "__main__":
    main()
