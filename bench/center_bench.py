"""Center ingest: segments per second verified, decrypted and stored, in process and over MQTT with W workers.

    .venv/bin/python bench/center_bench.py --broker mqtt://127.0.0.1:PORT [--devices 200] [--per-device 4]
        [--workers 1,2,4] [--repeats 3]

N simulated devices are enrolled at a fresh center; each seals ``--per-device`` real 2 s, 1280x720 live segments
(x264, the default profile's bitrate) with its own key before the clock starts. Then:

* ``in process``: one :class:`Ingestor` in this process, one thread, no broker: the worker's own ceiling. It
  commits as a worker does: writes without fsync, one ``syncfs`` per ``--batch`` segments (default
  ``BATCH_MAX``; ``--batch 0`` fsyncs every file as it is written, the path before group commit).
* ``W workers``: W ``edge-center subscribe --share g`` processes on one shared subscription; a few publisher
  threads publish every sealed segment (QoS 1) on loopback; the rate is stored segments over the time from the
  first publish to the last segment stored (counted from the evidence log). Publishing starts once every worker
  has logged that its subscriptions are confirmed. ``worker_cpu_ms_per_segment`` is the workers' CPU time
  (user + system, from /proc) over the run divided by the segments stored: what one segment costs a worker,
  whatever else shares the cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import emit, median
from fixtures import make_center

from edge_agent.capture.synthetic import SyntheticScene
from edge_agent.center.batching import BATCH_MAX
from edge_agent.center.ingest import Ingestor
from edge_agent.center.keys import CenterPaths, DeviceRegistry, add_device, load_keys
from edge_agent.config.identity import init_identity, load_identity
from edge_agent.config.keys import load_center_identity
from edge_agent.consent.state import ConsentStore, live_record
from edge_agent.core.paths import DevicePaths
from edge_agent.redact.redactor import RedactedFrame
from edge_agent.seal import Recipient, seal_segment
from edge_agent.seal.signed import sign_document
from edge_agent.segment import SegmentEncoder
from edge_agent.segment.model import Segment, SegmentMeta
from edge_agent.transport.mqtt import MqttLink
from edge_agent.transport.topics import Topics

PREFIX = "rtcc/v1"
PUBLISHERS = 4
Message = tuple[str, bytes]


@dataclass(frozen=True, slots=True)
class Home:
    device_id: str
    key: Ed25519PrivateKey
    consent_id: str
    consent_doc: bytes  # the signed live grant, as the device publishes it (retained)


def live_segment() -> Segment:
    scene = SyntheticScene(1280, 720, seed=5)
    encoder = SegmentEncoder(device_id="x", width=1280, height=720, fps=15.0, seconds=60.0, profile_hash="0" * 64)
    for i in range(30):
        encoder.push(RedactedFrame(i, i / 15.0, scene.render(i / 15.0, i)))
    segment = encoder.flush()
    assert segment is not None
    return segment


def enrol_devices(root: Path, center: CenterPaths, count: int) -> list[Home]:
    homes = []
    now = time.time()
    for i in range(count):
        paths = DevicePaths(root / "devices" / f"{i:04d}")
        add_device(center, init_identity(paths, f"home-{i:04d}"))
        identity = load_identity(paths)
        record = live_record(now - 60.0, now + 3600.0, ConsentStore(paths.consent).current(), 8.0)
        doc = {"type": "consent", "device_id": identity.device_id, **record.to_dict()}
        homes.append(Home(identity.device_id, identity.signing_key, record.id,
                          sign_document(doc, identity.signing_key)))
    return homes


def seal_all(homes: list[Home], center_pub: Path, first_seq: int, per_device: int, template: Segment) -> list[Message]:
    _, x25519, _ = load_center_identity(center_pub)
    recipients = [Recipient(x25519)]
    now = time.time()
    messages = []
    m = template.meta
    for seq in range(first_seq, first_seq + per_device):
        for home in homes:
            meta = SegmentMeta(home.device_id, seq, now - 2.0, now, m.frame_count, m.width, m.height, m.fps,
                               m.content_type, m.profile_hash)
            sealed = seal_segment(Segment(meta, template.data), consent_id=home.consent_id, prev_hash="",
                                  signer=home.key, recipients=recipients)
            messages.append((Topics(PREFIX, home.device_id).segments, sealed.blob))
    return messages


def publish_consent(broker: str, homes: list[Home]) -> None:
    """Every device's live grant, retained, as the agent publishes it: workers learn them when they subscribe."""
    link = MqttLink(broker, client_id="bench-consent", max_inflight=50)
    link.connect()
    link.start()
    try:
        results = [link.publish(Topics(PREFIX, h.device_id).consent, h.consent_doc, qos=1, retain=True,
                                content_type="application/json") for h in homes]
        for result in results:
            result.wait(60.0)
    finally:
        link.stop()


def learn_consent(ingestor: Ingestor, homes: list[Home]) -> None:
    book = getattr(ingestor, "consent", None)
    if book is not None:
        for home in homes:
            book.learn(home.device_id, "consent", home.consent_doc)


def in_process(center: CenterPaths, homes: list[Home], messages: list[Message], batch: int = BATCH_MAX) -> float:
    """``batch`` 0: every file fsync'd as it is written (no group commit)."""
    ingestor = Ingestor(center, load_keys(center), DeviceRegistry(center.devices), PREFIX, durable=batch == 0)
    learn_consent(ingestor, homes)
    started = time.perf_counter()
    for i, (topic, blob) in enumerate(messages, 1):
        result = ingestor.ingest(topic, blob)
        assert result.status == "stored", result
        if batch and (i % batch == 0 or i == len(messages)):
            ingestor.sync()
    return len(messages) / (time.perf_counter() - started)


def stored(center: CenterPaths) -> int:
    try:
        with open(center.root / "evidence.jsonl", "rb") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


def publish(broker: str, messages: list[Message]) -> None:
    link = MqttLink(broker, client_id=f"bench-pub-{threading.get_ident()}", max_inflight=50)
    link.connect()
    link.start()
    try:
        results = [link.publish(topic, blob, qos=1, content_type="application/octet-stream")
                   for topic, blob in messages]
        for result in results:
            result.wait(120.0)
    finally:
        link.stop()


class Worker:
    """One ``edge-center subscribe --share bench`` process; its output is watched for the line that says its
    subscriptions are confirmed (a segment published before that would have no subscriber and be lost)."""

    def __init__(self, broker: str, center: CenterPaths, log_path: Path | None, name: str) -> None:
        self.ready = threading.Event()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge_agent.center", "--dir", str(center.root), "subscribe", "--broker", broker,
             "--share", "bench", "--worker", name], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._reader = threading.Thread(target=self._read, args=(log_path,), daemon=True)
        self._reader.start()

    def _read(self, log_path: Path | None) -> None:
        assert self.proc.stderr is not None
        with open(log_path, "ab") if log_path else open(os.devnull, "wb") as log:
            for line in self.proc.stderr:
                log.write(line)
                if b"subscribed to" in line:
                    self.ready.set()

    def cpu_seconds(self) -> float:
        """User + system CPU time of the worker so far (from /proc)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        self._reader.join(timeout=10)


def over_mqtt(broker: str, center: CenterPaths, messages: list[Message], workers: int,
              log_dir: Path | None = None) -> tuple[float, float]:
    """Segments stored per second, and the workers' CPU milliseconds per segment. ``log_dir``: each worker's
    log (counts, batch sizes) goes to ``worker-W-i.log`` there."""
    procs = [Worker(broker, center, log_dir / f"worker-{workers}-{i}.log" if log_dir else None, f"w{i}")
             for i in range(workers)]
    try:
        for proc in procs:
            if not proc.ready.wait(120.0):
                raise RuntimeError("a center worker did not subscribe within 120 s")
        time.sleep(0.5)  # the retained consent records, delivered on subscribing, are taken
        before = stored(center)
        cpu_before = sum(p.cpu_seconds() for p in procs)
        chunks = [messages[i::PUBLISHERS] for i in range(PUBLISHERS)]
        threads = [threading.Thread(target=publish, args=(broker, c), daemon=True) for c in chunks]
        started = time.monotonic()
        for t in threads:
            t.start()
        deadline = started + 300.0
        while stored(center) - before < len(messages) and time.monotonic() < deadline:
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        count = stored(center) - before
        cpu_ms = 1000.0 * (sum(p.cpu_seconds() for p in procs) - cpu_before) / max(count, 1)
        for t in threads:
            t.join(timeout=30)
        return count / elapsed, cpu_ms
    finally:
        for proc in procs:
            proc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", required=True)
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--per-device", type=int, default=4)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=BATCH_MAX,
                        help="in process: segments per syncfs (0: fsync every file, as before group commit)")
    parser.add_argument("--worker-logs", type=Path, help="keep each worker's output (counts, batch sizes) here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edge-bench-center-") as tmp:
        root = Path(tmp)
        center, center_pub = make_center(root)
        homes = enrol_devices(root, center, args.devices)
        publish_consent(args.broker, homes)
        template = live_segment()
        seq = 0
        rates: dict[str, list[float]] = {}
        cpu: dict[str, list[float]] = {}
        for _ in range(args.repeats):
            for label in ["in process", *args.workers.split(",")]:
                messages = seal_all(homes, center_pub, seq, args.per_device, template)
                seq += args.per_device
                if label == "in process":
                    rate = in_process(center, homes, messages, args.batch)
                else:
                    rate, cpu_ms = over_mqtt(args.broker, center, messages, int(label), args.worker_logs)
                    cpu.setdefault(label, []).append(cpu_ms)
                rates.setdefault(label, []).append(rate)
                shutil.rmtree(center.store, ignore_errors=True)
        size = len(messages[0][1])
        for label, values in rates.items():
            workers = 1 if label == "in process" else int(label)
            metric = "center ingest, in process" if label == "in process" else "center ingest over MQTT"
            extra = {"worker_cpu_ms_per_segment": round(median(cpu[label]), 2)} if label in cpu else {}
            emit(metric=metric, workers=workers, devices=args.devices, segments=len(messages), value=median(values),
                 unit="segments/s", runs=len(values), segment_bytes=size, **extra)


if __name__ == "__main__":
    main()
