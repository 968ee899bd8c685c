"""What the device's commands share: which data folder and which profile they act on.

The data folder is ``--data-dir``, else ``$EDGE_AGENT_DATA_DIR``, else the service's ``/var/lib/edge-agent``:
never a folder guessed from where the command happens to run. A command that reads or changes consent refuses a
folder that holds no device identity, naming it, rather than answer for a device that is not there.

The profile is ``--profile`` when given, else the one flashed under ``--profile-root`` (or the configuration root,
``$EDGE_AGENT_CONFIG_ROOT`` or ``/etc/edge-agent``) when one is flashed, else the embedded default: the caps the
homeowner's commands apply are the device's own.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edge_agent.config.loader import load_profile
from edge_agent.config.models import Profile
from edge_agent.config.profiles import ACTIVE, load_active_profile
from edge_agent.core.paths import DevicePaths, default_config_root, default_data_dir
from edge_agent.errors import ConfigError


def paths_of(args: argparse.Namespace) -> DevicePaths:
    return DevicePaths(Path(args.data_dir) if args.data_dir else default_data_dir())


def device_paths(args: argparse.Namespace) -> DevicePaths:
    """The data folder of a device that exists: one with a device identity."""
    paths = paths_of(args)
    if not paths.signing_key.exists():
        raise ConfigError(
            f"{paths.root}: no device here (no device identity); give the device's data folder with --data-dir "
            f"(the service uses {default_data_dir()})"
        )
    return paths


def profile_root_of(args: argparse.Namespace) -> Path | None:
    """Where the device's flashed profile is: ``--profile-root``, else the configuration root when a profile is
    flashed there. None: nothing flashed."""
    given = getattr(args, "profile_root", None)
    if given:
        return Path(given)
    root = default_config_root()
    return root if (root / ACTIVE).is_symlink() else None


def profile_of(args: argparse.Namespace) -> tuple[Profile, str]:
    """The profile a command applies: ``--profile``, else the flashed one, else the embedded default."""
    name = getattr(args, "profile", None)
    if name:
        return load_profile(name)
    root = profile_root_of(args)
    if root is not None:
        return load_active_profile(root)
    return load_profile(None)
