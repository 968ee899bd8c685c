"""The center under a part flood: its resident memory against its steady level, over several runs.

    .venv/bin/python bench/part_flood.py [--runs 3] [--sets 4]

Each run starts a private Mosquitto (``max_packet_size`` 4 MiB, as deployed) and ``edge-center subscribe`` as its
own process with the service's allocator settings, stores 20 genuine segments (the steady level), then floods it
from an enrolled device with junk parts of 4 MB (see tests/integration/flood.py for the kinds), and stores 5
genuine segments more. Printed per run and as medians: steady VmRSS and VmHWM, VmHWM after the flood, and the
growth against the budget of one maximum segment (64 MiB).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import machine, median

from edge_agent.devbroker import MosquittoBroker
from edge_agent.transport.parts import MAX_PAYLOAD
from tests.integration.flood import BROKER_CONFIG, Flood, FloodResult


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sets", type=int, default=4, help="within-cap 64 MB sets per flood")
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    results: list[FloodResult] = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="edge-flood-") as tmp:
            broker = MosquittoBroker(Path(tmp) / "broker", BROKER_CONFIG)
            broker.start()
            try:
                result = Flood(Path(tmp), broker).run(sets=args.sets)
            finally:
                broker.kill()
        results.append(result)
        print(f"run {run + 1}: steady {result.steady_mib:.1f} MiB (peak {result.steady_peak_mib:.1f}), flood peak "
              f"{result.flood_peak_mib:.1f} MiB (+{result.flood_peak_mib - result.steady_peak_mib:.1f}); "
              f"{result.flood_parts} part messages refused, {result.flood_bytes / 1e6:.0f} MB sent; genuine "
              f"stored {result.stored_before} -> {result.stored_after}", flush=True)
    growth = [r.flood_peak_mib - r.steady_peak_mib for r in results]
    print(f"\n{machine()}")
    print(f"median growth under the flood: +{median(growth):.1f} MiB (max +{max(growth):.1f}), budget "
          f"+{MAX_PAYLOAD >> 20} MiB; median steady {median([r.steady_mib for r in results]):.1f} MiB")


if __name__ == "__main__":
    main()
