"""A case bundle of one hour of live footage: how long export takes, and how long the offline verifier takes.

    .venv/bin/python bench/bundle_verify.py [--minutes 60] [--repeats 3]

The footage is the default profile's live stream: 1280x720 at 15 fps, 2 s segments, x264 at its 2000 kbit/s, of the
synthetic street scene. Twenty distinct seconds are encoded and their segments reused in turn for the hour (each
sealed afresh, with its own sequence number, times, chain link and content key, signed by the device), handed to
the center's real intake under a live consent record, attached to a case and exported. The verifier is the
bundle's own ``verify_bundle.py`` run as a fresh interpreter (``python -I``), as a court would run it; the figure is
its wall time, median of the repeats.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import emit, median

from edge_agent.capture.synthetic import SyntheticSource
from edge_agent.center.export import export_case
from edge_agent.center.indexer import SegmentIndexer
from edge_agent.center.intake import Intake
from edge_agent.center.keys import CenterPaths, DeviceRegistry, add_device, init_keys, load_keys
from edge_agent.center.services import Center
from edge_agent.config.identity import init_identity, load_identity
from edge_agent.config.keys import load_center_identity
from edge_agent.consent.state import OFF_RECORD, live_record
from edge_agent.core.paths import DevicePaths
from edge_agent.redact.redactor import RedactedFrame
from edge_agent.seal import Recipient, seal_segment
from edge_agent.seal.signed import sign_document
from edge_agent.segment import Segment, SegmentEncoder
from edge_agent.transport.model import InboundMessage

DEVICE, CASE = "bench-door", "CASE-BENCH"
WIDTH, HEIGHT, FPS, SECONDS = 1280, 720, 15, 2.0
DISTINCT = 10


def distinct_segments() -> list[Segment]:
    encoder = SegmentEncoder(device_id=DEVICE, width=WIDTH, height=HEIGHT, fps=FPS, seconds=SECONDS,
                             profile_hash="0" * 64)
    source = SyntheticSource(width=WIDTH, height=HEIGHT, fps=FPS, seed=5, start=0.0)
    out = []
    for frame in itertools.islice(source.frames(), int(FPS * SECONDS * DISTINCT) + 1):
        done = encoder.push(RedactedFrame(frame.index, frame.captured_at, frame.image))
        if done is not None:
            out.append(done)
    return out


def build(root: Path, minutes: float) -> tuple[Center, int]:
    paths = CenterPaths(root / "center")
    _, x25519, _ = load_center_identity(init_keys(paths, "bench-center"))
    device = DevicePaths(root / "device")
    add_device(paths, init_identity(device, DEVICE))
    signer = load_identity(device).signing_key
    intake = Intake(paths, load_keys(paths), DeviceRegistry(paths.devices), "rtcc/v1", durable=False)
    intake.ingestor.on_result = SegmentIndexer(paths)
    count = int(minutes * 60 / SECONDS)
    t0 = time.time() - count * SECONDS - 60
    record = live_record(t0 - 1, t0 + count * SECONDS + 1, OFF_RECORD, 8.0)
    intake.handle(InboundMessage(f"rtcc/v1/{DEVICE}/consent", sign_document(
        {"type": "consent", "device_id": DEVICE, **record.to_dict()}, signer), retain=True))
    prev = ""
    for seq, base in zip(range(count), itertools.cycle(distinct_segments()), strict=False):
        meta = dataclasses.replace(base.meta, seq=seq, start=t0 + seq * SECONDS, end=t0 + (seq + 1) * SECONDS)
        sealed = seal_segment(Segment(meta, base.data), consent_id=record.id, prev_hash=prev, signer=signer,
                              recipients=[Recipient(x25519)])
        prev = sealed.header_hash
        result = intake.handle(InboundMessage(f"rtcc/v1/{DEVICE}/segments", sealed.blob, retain=False))
        assert result is not None and result.status == "stored", result
    intake.sync()
    center = Center.open(paths)
    center.index.add_case_window(CASE, device_id=DEVICE, start=t0, end=t0 + count * SECONDS, added_by="bench")
    return center, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edge-bench-bundle-") as tmp:
        began = time.perf_counter()
        center, count = build(Path(tmp), args.minutes)
        print(f"[bundle] {count} segments stored in {time.perf_counter() - began:.0f} s", file=sys.stderr)
        bundle = Path(tmp) / "case.zip"
        began = time.perf_counter()
        result = export_case(center, CASE, bundle, exported_by="bench")
        exported = time.perf_counter() - began
        script = Path(tmp) / "alone" / "verify_bundle.py"
        script.parent.mkdir()
        with zipfile.ZipFile(bundle) as archive:
            script.write_bytes(archive.read("verify_bundle.py"))
        times = []
        for _ in range(args.repeats):
            began = time.perf_counter()
            proc = subprocess.run([sys.executable, "-I", str(script), str(bundle)], cwd=script.parent,
                                  capture_output=True, text=True, check=False)
            times.append(time.perf_counter() - began)
            if proc.returncode != 0 or not proc.stdout.strip().endswith("BUNDLE VERIFIED"):
                raise SystemExit(f"the bundle did not verify: {proc.stdout[-800:]} {proc.stderr[-800:]}")
        center.close()
    label = f"{args.minutes:g} min at {WIDTH}x{HEIGHT}"
    emit(metric="case bundle verifies offline", size=label, value=median(times), unit="s", runs=args.repeats,
         segments=result.segments, bundle_mb=result.size / 1e6)
    emit(metric="case bundle export", size=label, value=exported, unit="s", runs=1, segments=result.segments,
         bundle_mb=result.size / 1e6)


if __name__ == "__main__":
    main()
