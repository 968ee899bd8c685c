"""Evidence search over 100,000 indexed segments: how long each kind of console search takes, on SQLite and on a
private PostgreSQL (Debian's, started here as in the tests).

    .venv/bin/python bench/index_search.py [--segments 100000] [--repeats 30] [--no-postgres]

The index is filled through ``EvidenceIndex.add_rows`` with rows of the real schema, shaped like a center's month:
100 devices, each sharing 1,000 segments of 2 s in live sessions of 10 minutes at random times over 30 days; 1,000
police requests (two per case) each answered by the segments of a 10-minute window of its device; 200 live windows
attached to cases. No video files: the search reads the index only. Each query is the one the console runs
(``EvidenceIndex.search``: a page of up to 500 rows and the total), timed from the call to its answer.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import emit, median, percentile

from edge_agent.center.db import use_database
from edge_agent.center.index import SearchQuery
from edge_agent.center.keys import CenterPaths, init_keys
from edge_agent.center.services import Center
from edge_agent.consent.requests import PoliceRequest
from tests.pgcluster import PgCluster, pg_bin

DEVICES = 100
REQUESTS = 1000
WINDOWS = 200
T0 = 1_790_000_000.0
DAYS = 30
SESSION = 300  # segments of 2 s: 10 minutes


def _sessions(per_device: int, rng: random.Random) -> list[float]:
    """Start times of one device's live sessions, at random over the month."""
    return sorted(T0 + rng.uniform(0, DAYS * 86400 - 3600) for _ in range(-(-per_device // SESSION)))


def fill(center: Center, segments: int, rng: random.Random) -> tuple[list[str], dict[str, list[float]]]:
    per_device = segments // DEVICES
    starts: dict[str, list[float]] = {}
    rows = []
    for d in range(DEVICES):
        device = f"door-{d:03d}"
        times = [s + i * 2.0 for s in _sessions(per_device, rng) for i in range(SESSION)][:per_device]
        starts[device] = times
        for seq, start in enumerate(times):
            rows.append((device, seq, start, start + 2.0, "c-0123456789abcdef", 30, 1280, 720, f"{d:04d}{seq:060d}",
                         f"{d:04d}{seq - 1:060d}", "s" * 64, "o" * 64, "p" * 64, f"{seq:010d}-x.ts",
                         f"{seq:010d}-x.sealed", start + 2.5, "valid", None))
    # Requests: each answered by the segments of a 10-minute window (they carry its id as their consent id).
    cases = []
    for i in range(REQUESTS):
        device = f"door-{i % DEVICES:03d}"
        first = rng.randrange(0, per_device - SESSION)
        window = starts[device][first], starts[device][first + SESSION - 1] + 2.0
        request = PoliceRequest(f"r-{i:016x}", device, "bench-center", window[0], window[1], f"CASE-{i // 2:04d}",
                                "bench", "", "0" * 32, window[1] + 60, window[1] + 86400)
        center.index.add_request(request, "bench")
        cases.append(request.case_id)
        base = int(device[5:]) * per_device
        for seq in range(first, first + SESSION):
            rows[base + seq] = (*rows[base + seq][:4], request.id, *rows[base + seq][5:])
    for chunk in range(0, len(rows), 20_000):
        center.index.add_rows(rows[chunk:chunk + 20_000])
    for i in range(WINDOWS):
        device = f"door-{i % DEVICES:03d}"
        start = rng.choice(starts[device])
        center.index.add_case_window(f"CASE-{rng.randrange(REQUESTS // 2):04d}", device_id=device, start=start,
                                     end=start + 300.0, added_by="bench")
    return sorted(set(cases)), starts


def timed(action: Callable[[], object], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        began = time.perf_counter()
        action()
        out.append((time.perf_counter() - began) * 1000)
    return out


def run(center: Center, backend: str, segments: int, repeats: int) -> None:
    rng = random.Random(7)
    began = time.perf_counter()
    cases, starts = fill(center, segments, rng)
    total = center.index.search(SearchQuery(limit=1)).total
    print(f"[index {backend}] {total} segments indexed in {time.perf_counter() - began:.0f} s", file=sys.stderr)

    def around_footage(seconds: float, device: str = "") -> SearchQuery:
        """A window of ``seconds`` starting where some device has footage (a search that finds something)."""
        at = rng.choice(starts[device or f"door-{rng.randrange(DEVICES):03d}"]) - seconds / 2
        return SearchQuery(device_id=device, start=at, end=at + seconds)

    queries: dict[str, Callable[[], SearchQuery]] = {
        "by case": lambda: SearchQuery(case_id=rng.choice(cases)),
        "by device and 1 h": lambda: around_footage(3600, f"door-{rng.randrange(DEVICES):03d}"),
        "by 1 h, all devices": lambda: around_footage(3600),
        "by 1 day, all devices": lambda: around_footage(86400),
        "everything (first page and total)": SearchQuery,
        "the whole month, all devices (every segment matches)": lambda: SearchQuery(start=T0, end=T0 + DAYS * 86400),
    }
    for name, make in queries.items():
        times = timed(lambda make=make: center.index.search(make()), repeats)  # type: ignore[misc]
        emit(metric=f"evidence search, {name}", size=backend, value=median(times), p95=percentile(times, 95),
             unit="ms", runs=repeats, segments=total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edge-bench-index-") as tmp:
        paths = CenterPaths(Path(tmp) / "center")
        init_keys(paths, "bench-center")
        with Center.open(paths) as center:
            run(center, "sqlite", args.segments, args.repeats)
        if args.no_postgres:
            return
        if pg_bin() is None:
            print("[index] PostgreSQL is not installed: only SQLite measured", file=sys.stderr)
            return
        cluster = PgCluster().start()
        try:
            pg_paths = CenterPaths(Path(tmp) / "center-pg")
            init_keys(pg_paths, "bench-center")
            use_database(pg_paths, cluster.new_database())
            with Center.open(pg_paths) as center:
                run(center, "postgresql", args.segments, args.repeats)
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
