"""A part flood against a real ``edge-center subscribe`` process, and its resident memory measured throughout.

Shared by the test (tests/integration/test_part_flood.py) and the benchmark (bench/part_flood.py). The center runs
as its own process so that its memory is its own: ``VmRSS`` is sampled every 50 ms and ``VmHWM`` (the peak) read
at the end of each phase. Phases:

1. steady: a genuine device sends real sealed segments, split into parts by the broker's limit as a device would;
2. flood: an enrolled but compromised device (its real identity) sends ``floods`` kinds of junk parts of 4 MB each:
   sets declaring more than the largest payload, sets within the caps whose hash does not match, sets whose hash
   matches junk, more sets than its quota, and parts claiming a device id that is not enrolled;
3. after: the genuine device again, to show intake goes on.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from edge_agent.center.keys import CenterPaths, add_device, init_keys
from edge_agent.config.identity import init_identity, load_identity
from edge_agent.config.keys import load_center_identity
from edge_agent.consent.state import OFF_RECORD, live_record, sign_record
from edge_agent.core.paths import DevicePaths
from edge_agent.devbroker import MosquittoBroker
from edge_agent.seal import Recipient
from edge_agent.transport.mqtt import MqttLink
from edge_agent.transport.parts import MAX_PAYLOAD, MSG, PART, SHA256, SIZE
from edge_agent.transport.topics import Topics
from tests.integration.spine_helpers import wait_for
from tests.unit.center.center_helpers import Bench

REPO = Path(__file__).resolve().parents[2]
GOOD, EVIL = "good-device", "evil-device"
PART_BYTES = 4_000_000
BROKER_CONFIG = ("max_packet_size 4194304",)  # as deploy/mosquitto/edge-center.conf
# The allocator settings of systemd/edge-center.service, read from it so that the test measures what ships.
CENTER_ENV = dict(
    pair.split("=", 1)
    for line in (REPO / "systemd" / "edge-center.service").read_text().splitlines()
    if line.startswith("Environment=MALLOC")
    for pair in line.removeprefix("Environment=").split()
)


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


@dataclass
class Sampler:
    pid: int
    samples: list[tuple[float, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                self.samples.append((time.monotonic(), _status_kib(self.pid, "VmRSS") / 1024))
            except (OSError, KeyError):
                return

    def peak_since(self, t0: float) -> float:
        return max((rss for t, rss in self.samples if t >= t0), default=0.0)

    def last(self) -> float:
        return self.samples[-1][1] if self.samples else 0.0


@dataclass
class FloodResult:
    steady_mib: float  # VmRSS once the genuine segments were stored
    steady_peak_mib: float  # VmHWM after the steady phase
    flood_peak_mib: float  # VmHWM after the flood
    flood_parts: int
    flood_bytes: int
    stored_before: int
    stored_after: int
    rejected: int


class Flood:
    def __init__(self, root: Path, broker: MosquittoBroker) -> None:
        self.root = root
        self.broker = broker
        self.center = CenterPaths(root / "center")
        center_pub = init_keys(self.center, "flood-center")
        _, x25519, _ = load_center_identity(center_pub)
        self.good = DevicePaths(root / GOOD)
        self.evil = DevicePaths(root / EVIL)
        add_device(self.center, init_identity(self.good, GOOD))
        add_device(self.center, init_identity(self.evil, EVIL))
        self.bench = Bench(self.center, self.good, [Recipient(x25519)])
        self.proc: subprocess.Popen[bytes] | None = None

    def start_center(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO), **CENTER_ENV}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge_agent.center", "--dir", str(self.center.root), "subscribe", "--broker",
             self.broker.url], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            if b"subscribed to" in line:
                break
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for _ in self.proc.stderr:
            pass

    def stop_center(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def stored(self) -> int:
        folder = self.center.store / GOOD
        return len(list(folder.glob("*.json"))) if folder.is_dir() else 0

    def rejected(self) -> int:
        path = self.center.rejected
        return len(path.read_text().splitlines()) if path.exists() else 0

    @staticmethod
    def genuine(link: MqttLink, blobs: list[bytes]) -> None:
        """Real sealed segments, published as the device would (split by the link if the broker says so)."""
        topic = Topics("rtcc/v1", GOOD).segments
        for blob in blobs:
            assert link.publish(topic, blob, qos=1).wait(30)

    def run(self, *, steady: int = 20, sets: int = 4) -> FloodResult:
        self.start_center()
        assert self.proc is not None
        sampler = Sampler(self.proc.pid)
        threading.Thread(target=sampler.run, daemon=True).start()
        good = _link(self.broker, GOOD)
        evil = _link(self.broker, EVIL)
        try:
            now = time.time()
            record = live_record(now - 3600, now + 3600, OFF_RECORD, 8.0)
            key = load_identity(self.good).signing_key
            assert good.publish(Topics("rtcc/v1", GOOD).consent, sign_record(record, GOOD, key), retain=True).wait(5)
            blobs = self.bench.sealed(steady + 5, now - 30, consent_id=record.id, device_id=GOOD)
            self.genuine(good, blobs[:steady])
            assert wait_for(lambda: self.stored() == steady, 60), self.stored()
            time.sleep(1.0)
            steady_mib = sampler.last()
            steady_peak = _status_kib(self.proc.pid, "VmHWM") / 1024
            before = self.stored()
            parts, sent = self._flood(evil, sets)
            assert wait_for(lambda: self.rejected() >= parts, 120), (self.rejected(), parts)
            flood_peak = _status_kib(self.proc.pid, "VmHWM") / 1024
            self.genuine(good, blobs[steady:])
            assert wait_for(lambda: self.stored() == steady + 5, 60), self.stored()
            return FloodResult(steady_mib, steady_peak, flood_peak, parts, sent, before, self.stored(),
                               self.rejected())
        finally:
            good.stop()
            evil.stop()
            self.stop_center()

    def _flood(self, link: MqttLink, sets: int) -> tuple[int, int]:
        """Junk parts of 4 MB; returns (messages sent that must each be refused, bytes sent)."""
        topic = Topics("rtcc/v1", EVIL).segments
        junk = os.urandom(PART_BYTES)
        sent = refused = 0

        def send(props: tuple[tuple[str, str], ...], data: bytes = junk, on: str = topic) -> None:
            nonlocal sent
            assert link.publish(on, data, qos=1, user_properties=props).wait(60)
            sent += len(data)

        # 1. 64 parts of one set declaring 256 MB: each refused on sight (over the largest payload).
        msg = uuid.uuid4().hex
        for i in range(1, 65):
            send(_props(i, 64, 64 * PART_BYTES, msg, "0" * 64))
        refused += 64
        # 2. sets within the caps (16 parts, 64 MB) whose hash does not match: refused when the last part lands.
        # 3. one whose hash matches its junk: it joins, and the center refuses what it joined.
        count = MAX_PAYLOAD // PART_BYTES
        size = count * PART_BYTES
        for n in range(sets):
            msg = uuid.uuid4().hex
            digest = hashlib.sha256(junk * count).hexdigest() if n == 0 else "1" * 64
            for i in range(1, count + 1):
                send(_props(i, count, size, msg, digest))
            refused += 1
        # 4. more unfinished sets than the quota: the ninth and later are refused on their first part.
        for _ in range(12):
            send(_props(1, 2, 2 * PART_BYTES, uuid.uuid4().hex, "2" * 64))
        refused += 12 - 8
        # 5. parts claiming a device that is not enrolled.
        for i in range(1, 9):
            send(_props(i, 8, 8 * PART_BYTES, uuid.uuid4().hex, "3" * 64), on="rtcc/v1/stranger/segments")
        refused += 8
        return refused, sent


def _props(index: int, count: int, size: int, msg: str, digest: str) -> tuple[tuple[str, str], ...]:
    return ((PART, f"{index}/{count}"), (MSG, msg), (SHA256, digest), (SIZE, str(size)))


def _link(broker: MosquittoBroker, client_id: str) -> MqttLink:
    link = MqttLink(broker.url, client_id=client_id)
    link.connect(timeout=10)
    link.start()
    return link
