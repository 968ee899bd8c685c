"""Where the device keeps its state: one data folder, laid out by :class:`DevicePaths`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class DevicePaths:
    root: Path

    @property
    def signing_key(self) -> Path:
        return self.root / "identity" / "device.ed25519.key"

    @property
    def public(self) -> Path:
        return self.root / "device.pub.json"

    @property
    def enrollment(self) -> Path:
        return self.root / "enrollment.json"

    @property
    def consent(self) -> Path:
        return self.root / "consent.json"

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    @property
    def audit(self) -> Path:
        return self.root / "audit.log"

    @property
    def pid(self) -> Path:
        return self.root / "agent.pid"

    @property
    def agent_state(self) -> Path:
        """What the running agent last said about itself (broker connection, refusals): ``status`` reads it."""
        return self.root / "agent-state.json"


# The system locations the service uses (systemd/edge-agent.service); the environment can move them (tests, a
# second agent on a development machine), and every command's --data-dir overrides the data folder.
SYSTEM_DATA_DIR = Path("/var/lib/edge-agent")
SYSTEM_CONFIG_ROOT = Path("/etc/edge-agent")
DATA_DIR_ENV = "EDGE_AGENT_DATA_DIR"
CONFIG_ROOT_ENV = "EDGE_AGENT_CONFIG_ROOT"


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get(DATA_DIR_ENV) or SYSTEM_DATA_DIR)


def default_config_root(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get(CONFIG_ROOT_ENV) or SYSTEM_CONFIG_ROOT)
