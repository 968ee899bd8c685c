"""Helpers for end-to-end tests: a device and a center set up through the real code paths."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from edge_agent.center.keys import CenterPaths, add_device, init_keys
from edge_agent.center.subscriber import SubscribeOptions, run_subscriber
from edge_agent.config.identity import enroll, init_identity
from edge_agent.config.keys import load_center_identity
from edge_agent.config.models import TlsSettings
from edge_agent.consent.state import ConsentStore, live_record
from edge_agent.core.paths import DevicePaths
from edge_agent.core.timeparse import parse_duration
from edge_agent.device.daemon import RunOptions, RunSummary, run_agent

# A small, fast profile: 320x180 at 10 fps, 1 s live segments, the default zones.
SMALL_PROFILE = """
name = "test-small"
[camera]
source = "synthetic"
width = 320
height = 180
fps = 10
detect_width = 160
detect_height = 90
[segment]
seconds = 2
live_seconds = 1
[redaction]
warmup_frames = 5
[[zones]]
name = "neighbour-house"
kind = "neighbour"
coordinates = [[0.70, 0.0], [1.0, 0.0], [1.0, 0.62], [0.70, 0.62]]
[[zones]]
name = "street"
kind = "public"
coordinates = [[0.0, 0.62], [1.0, 0.62], [1.0, 1.0], [0.0, 1.0]]
[[zones]]
name = "porch"
kind = "own"
coordinates = [[0.0, 0.0], [0.70, 0.0], [0.70, 0.62], [0.0, 0.62]]
"""


@dataclass
class Setup:
    device: DevicePaths
    center: CenterPaths
    profile: Path
    broker_url: str


def make_setup(tmp: Path, broker_url: str, device_id: str = "test-device") -> Setup:
    center = CenterPaths(tmp / "center")
    center_pub = init_keys(center, "test-center")
    device = DevicePaths(tmp / "device")
    device_pub = init_identity(device, device_id)
    add_device(center, device_pub)
    enroll(device, center_pub, broker_url, None, None)
    profile = tmp / "small.toml"
    profile.write_text(SMALL_PROFILE)
    load_center_identity(center_pub)
    return Setup(device, center, profile, broker_url)


def grant_live(setup: Setup, duration: str = "10m") -> str:
    store = ConsentStore(setup.device.consent)
    now = time.time()
    record = live_record(now, now + parse_duration(duration), store.current(), 8.0)
    store.write(record)
    return record.id


class CenterThread:
    """The center's subscriber running in a thread until stopped."""

    def __init__(
        self,
        setup: Setup,
        share: str | None = None,
        *,
        broker_url: str | None = None,
        tls: TlsSettings | None = None,
        client_id: str | None = None,
    ) -> None:
        self.stop_event = threading.Event()
        self.counts: Counter[str] = Counter()
        options = SubscribeOptions(
            broker=broker_url or setup.broker_url, share_group=share, client_id=client_id, tls=tls
        )
        self.thread = threading.Thread(target=self._run, args=(setup.center, options), daemon=True)

    def _run(self, paths: CenterPaths, options: SubscribeOptions) -> None:
        run_subscriber(paths, options, self.stop_event, self.counts)

    def __enter__(self) -> CenterThread:
        self.thread.start()
        time.sleep(0.5)  # let the subscription reach the broker
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        self.thread.join(timeout=10)


def run_device(setup: Setup, duration: float, source: str = "synthetic") -> RunSummary:
    return run_agent(
        RunOptions(data_dir=setup.device.root, profile=str(setup.profile), source=source, duration=duration)
    )


def wait_for(predicate: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return True
        time.sleep(0.1)
    return False
