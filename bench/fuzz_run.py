"""Hostile input, long run: every network-facing decoder gets --inputs hypothesis-generated inputs.

    .venv/bin/python bench/fuzz_run.py [--inputs 100000] [--seed N]

Targets (see tests/integration/fuzz_targets.py and fuzz_documents.py): the center's envelope decoder, the center's
whole ingest (topic + payload), the part reassembler's properties, the device's request message (signature then
fields), correctly signed requests with hostile fields, and every other document: consent records, answers, log
heads, resend answers and status messages through the center's intake, resend requests through the device's
resender (each as a correctly signed document with hostile fields, or as mutated bytes). Inputs are raw bytes and
mutations of valid sealed segments and documents.
Printed: inputs per target, outcomes, the slowest single input (a hang shows here), and any contract violation
(an exception other than the target's one error, or a mutant accepted) as a failure with its input.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.integration import fuzz_documents as fd
from tests.integration import fuzz_targets as ft


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=100_000, help="inputs per target")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--only", nargs="*", help="run only these targets (default: all)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)  # rejections are logged as warnings: one per input
    with tempfile.TemporaryDirectory(prefix="edge-fuzz-") as tmp:
        _run(args, ft.make_world(Path(tmp)))


def _run(args: argparse.Namespace, world: ft.World) -> None:
    run = settings(max_examples=args.inputs, database=None, deadline=None, derandomize=False,
                   suppress_health_check=list(HealthCheck))
    topics = st.one_of(st.just(ft.TOPIC), st.text(max_size=60))
    targets = {
        "envelope": given(ft.payloads(world.sealed))(lambda d: ft.envelope_target(world, d)),
        "ingest": given(topics, ft.payloads(world.sealed))(lambda t, d: ft.ingest_target(world, t, d)),
        "parts": given(ft.part_props, st.binary(max_size=256))(lambda p, d: ft.parts_target(world, p, d)),
        "request": given(ft.payloads(world.requests))(lambda d: ft.request_bytes_target(world, d)),
        "request fields": given(ft.request_docs(world))(lambda d: ft.request_fields_target(world, d)),
    }
    documents = fd.make_documents(world)
    for kind in ("consent", "answer", "loghead", "resend-answer", "status"):
        targets[kind] = given(st.one_of(fd.hostile(documents, kind).map(lambda doc: (doc, b"")),
                                        fd.raw(documents, kind).map(lambda data: (None, data))))(
            _document_target(documents, kind))
    targets["resend"] = given(st.one_of(fd.hostile(documents, "resend").map(lambda doc: (doc, b"")),
                                        fd.raw(documents, "resend").map(lambda data: (None, data))))(
        lambda pair: fd.resend_target(documents, *pair))
    if args.only:
        targets = {name: target for name, target in targets.items() if name in args.only}
    print(f"seed {args.seed}, {args.inputs} inputs per target")
    total = 0
    for name, target in targets.items():
        before = sum(v for k, v in world.outcomes.items() if k.startswith(name + ":"))
        start = time.perf_counter()
        seed(args.seed)(run(target))()
        count = sum(v for k, v in world.outcomes.items() if k.startswith(name + ":")) - before
        total += count
        print(f"  {name:15s} {count:7d} inputs in {time.perf_counter() - start:6.1f} s", flush=True)
    print(ft.summary(world))
    print(f"FIGURE fuzz: {total} inputs over {len(targets)} targets, 0 crashes, 0 contract violations, "
          f"slowest input {world.slowest * 1000:.1f} ms")


def _document_target(documents: fd.Documents, kind: str) -> Callable[[tuple[dict[str, Any] | None, bytes]], None]:
    return lambda pair: fd.center_document_target(documents, kind, *pair)


if __name__ == "__main__":
    main()
