"""Seal and open speed for 1 MiB and 4 MiB segments (two recipients, 64 KiB chunks).

    .venv/bin/python bench/seal_bench.py [--repeats N]

Prints the median of N repeats as MB/s (10^6 bytes per second) of segment plaintext, plus the split of an
open into signature check and decryption. Real keys, real HPKE, one thread.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_agent.seal import Recipient, open_segment, seal_segment, verify_segment
from edge_agent.segment.model import Segment, SegmentMeta


def _median_seconds(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=31)
    args = parser.parse_args()
    device = Ed25519PrivateKey.generate()
    center, archive = X25519PrivateKey.generate(), X25519PrivateKey.generate()
    recipients = [Recipient(center.public_key()), Recipient(archive.public_key())]

    def lookup(_: str) -> Ed25519PublicKey:
        return device.public_key()

    print(f"| segment | seal MB/s | open MB/s | verify only, ms | open, ms | median of {args.repeats} |")
    print("| --- | --- | --- | --- | --- | --- |")
    for mib in (1, 4):
        size = mib * 1024 * 1024
        meta = SegmentMeta("bench", 0, 0.0, 2.0, 50, 1280, 720, 25.0, "video/mp2t", "0" * 64)
        segment = Segment(meta, os.urandom(size))

        seal = functools.partial(
            seal_segment, segment, consent_id="bench", prev_hash="", signer=device, recipients=recipients
        )
        blob = seal().blob
        t_seal = _median_seconds(seal, args.repeats)
        t_open = _median_seconds(
            functools.partial(open_segment, blob, private_key=center, device_key=lookup), args.repeats
        )
        t_verify = _median_seconds(functools.partial(verify_segment, blob, device_key=lookup), args.repeats)
        print(
            f"| {mib} MiB | {size / t_seal / 1e6:.0f} | {size / t_open / 1e6:.0f} | "
            f"{t_verify * 1e3:.2f} | {t_open * 1e3:.2f} | |"
        )


if __name__ == "__main__":
    main()
