"""A crime center and enrolled devices in a scratch folder, made through the project's own code paths."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from edge_agent.center.keys import CenterPaths, add_device, init_keys
from edge_agent.config.identity import enroll, init_identity
from edge_agent.consent.state import ConsentStore, live_record
from edge_agent.core.paths import DevicePaths
from edge_agent.defaults import __file__ as _defaults_init

DEFAULT_PROFILE = Path(_defaults_init).with_name("default.toml")


@dataclass(frozen=True, slots=True)
class Site:
    center: CenterPaths
    center_pub: Path
    device: DevicePaths
    profile: Path


def profile_text(width: int, height: int, fps: int = 15) -> str:
    """The embedded default profile (its zones and detector settings) at another frame size."""
    text = DEFAULT_PROFILE.read_text(encoding="utf-8")
    text = re.sub(r'(?m)^name = ".*"$', f'name = "bench-{width}x{height}"', text, count=1)
    text = re.sub(r"(?m)^width = \d+$", f"width = {width}", text, count=1)
    text = re.sub(r"(?m)^height = \d+$", f"height = {height}", text, count=1)
    return re.sub(r"(?m)^fps = \d+$", f"fps = {fps}", text, count=1)


def make_center(root: Path) -> tuple[CenterPaths, Path]:
    center = CenterPaths(root / "center")
    return center, init_keys(center, "bench-center")


def make_site(root: Path, broker_url: str, width: int, height: int, device_id: str = "bench-device") -> Site:
    center, center_pub = make_center(root)
    device = DevicePaths(root / "device")
    add_device(center, init_identity(device, device_id))
    enroll(device, center_pub, broker_url, None, None)
    profile = root / "profile.toml"
    profile.write_text(profile_text(width, height), encoding="utf-8")
    store = ConsentStore(device.consent)
    now = time.time()
    store.write(live_record(now, now + 3600.0, store.current(), 8.0))
    return Site(center, center_pub, device, profile)
