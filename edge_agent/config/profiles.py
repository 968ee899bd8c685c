"""Profiles on a device: flashing, rollback, diff, and telling the audit log and the running agent.

Layout under the configuration root (``/etc/edge-agent`` on an installed system, any folder in tests)::

    device.toml              require_signed = true (the default when the file is missing)
    installer-keys/*.pub     trusted installer Ed25519 public keys (base64 of the raw 32 bytes)
    profiles/                the catalogue of profiles that can be flashed by name
    profiles.d/NAME-SHA.toml flashed copies (content-addressed), each with its detached .sig
    profile.toml             symlink to the active copy: replacing it is the one atomic commit of a flash
    profile.previous.toml    symlink to the copy it replaced, for ``rollback``

Reading and finding profiles is :mod:`edge_agent.config.catalogue`; installer keys and detached signatures are
:mod:`edge_agent.config.signatures`. Their public names are re-exported here, so that ``profiles`` stays the one
module the command line and provisioning use.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_agent.config.catalogue import (
    ProfileDoc,
    catalogue_dirs,
    list_catalogue,
    load_doc,
    parse_doc,
    read_bytes,
    resolve,
    sha256_hex,
)
from edge_agent.config.models import Profile
from edge_agent.config.signatures import (
    KEYS_DIR,
    SIG_SUFFIX,
    SIGNATURE_CONTEXT,
    DeviceSettings,
    SignatureFile,
    check_signature,
    device_settings,
    keygen,
    load_public_key,
    sig_path_of,
    sign,
    trusted_keys,
    verify,
)
from edge_agent.core.audit import AuditLog
from edge_agent.core.files import atomic_write, fsync_dir
from edge_agent.errors import ConfigError

__all__ = [
    "ACTIVE",
    "DEFAULT_ROOT",
    "FLASHED",
    "KEYS_DIR",
    "PREVIOUS",
    "SIGNATURE_CONTEXT",
    "SIG_SUFFIX",
    "DeviceSettings",
    "FlashResult",
    "ProfileDoc",
    "SignatureFile",
    "active_sha256",
    "catalogue_dirs",
    "check_signature",
    "device_settings",
    "diff",
    "effective_settings",
    "flash",
    "keygen",
    "list_catalogue",
    "load_active",
    "load_active_profile",
    "load_doc",
    "load_public_key",
    "parse_doc",
    "read_bytes",
    "record",
    "reload_agent",
    "resolve",
    "rollback",
    "sha256_hex",
    "sig_path_of",
    "sign",
    "trusted_keys",
    "verify",
]

log = logging.getLogger(__name__)

DEFAULT_ROOT = Path("/etc/edge-agent")
ACTIVE = "profile.toml"
PREVIOUS = "profile.previous.toml"
FLASHED = "profiles.d"


@dataclass(frozen=True, slots=True)
class FlashResult:
    name: str
    sha256: str
    path: Path
    previous_sha256: str | None
    signed_by: str | None
    changed: bool


# --- the active profile ----------------------------------------------------------------------------------------


def _link_target(link: Path) -> Path | None:
    if not link.is_symlink():
        return None
    return link.parent / os.readlink(link)


def active_sha256(root: Path) -> str | None:
    """SHA-256 of the active profile's bytes, or None when nothing is flashed."""
    target = _link_target(root / ACTIVE)
    return sha256_hex(target.read_bytes()) if target and target.exists() else None


def _set_link(link: Path, target: Path) -> None:
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(os.path.relpath(target, link.parent), tmp)
    os.replace(tmp, link)
    fsync_dir(link.parent)


def _load_flashed(path: Path, root: Path) -> tuple[ProfileDoc, str | None]:
    doc = parse_doc(str(path), path, read_bytes(path))
    # The file name carries the hash prefix: a copy edited in place is caught even on a device without signing.
    if not path.stem.endswith("-" + doc.sha256[:12]):
        raise ConfigError(f"{path}: altered after it was flashed (SHA-256 does not match its name)")
    return doc, check_signature(doc, root)


def load_active(root: Path = DEFAULT_ROOT) -> tuple[ProfileDoc, str | None]:
    """The flashed profile, checked as the device requires. This is what the agent runs (and reloads on HUP)."""
    target = _link_target(root / ACTIVE)
    if target is None:
        raise ConfigError(f"{root / ACTIVE}: no profile has been flashed; run 'edge-agent profile flash NAME'")
    return _load_flashed(target, root)


def load_active_profile(root: Path = DEFAULT_ROOT) -> tuple[Profile, str]:
    """Like :func:`edge_agent.config.loader.load_profile`, for the flashed profile under ``root``."""
    doc, _ = load_active(root)
    return doc.profile, doc.text


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / ".profile.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _prune(root: Path) -> None:
    """Keep only the active and previous copies: older ones are history the audit log already holds."""
    keep = {_link_target(root / ACTIVE), _link_target(root / PREVIOUS)}
    for path in (root / FLASHED).glob("*.toml"):
        if path not in keep:
            path.unlink()
            path.with_name(path.name + SIG_SUFFIX).unlink(missing_ok=True)


def flash(name_or_path: str, root: Path = DEFAULT_ROOT) -> FlashResult:
    """Validate, check the signature, and make a profile the active one, keeping the one it replaces."""
    doc = load_doc(name_or_path, root)
    signed_by = check_signature(doc, root)
    sig_path = sig_path_of(doc)
    with _locked(root):
        dest = root / FLASHED / f"{doc.profile.name}-{doc.sha256[:12]}.toml"
        current = _link_target(root / ACTIVE)
        if current == dest:
            return FlashResult(doc.profile.name, doc.sha256, dest, None, signed_by, changed=False)
        previous_sha = sha256_hex(read_bytes(current)) if current and current.exists() else None
        atomic_write(dest, doc.data, 0o644)
        if signed_by is not None and sig_path is not None:
            atomic_write(dest.with_name(dest.name + SIG_SUFFIX), read_bytes(sig_path), 0o644)
        if current is not None:
            _set_link(root / PREVIOUS, current)
        _set_link(root / ACTIVE, dest)
        _prune(root)
    log.info("flashed profile %s (%s) under %s", doc.profile.name, doc.sha256[:12], root)
    return FlashResult(doc.profile.name, doc.sha256, dest, previous_sha, signed_by, changed=True)


def rollback(root: Path = DEFAULT_ROOT) -> FlashResult:
    """Make the previous profile active again (and the current one previous, so a second rollback undoes it)."""
    with _locked(root):
        previous = _link_target(root / PREVIOUS)
        current = _link_target(root / ACTIVE)
        if previous is None or not previous.exists():
            raise ConfigError(f"{root}: there is no previous profile to roll back to")
        doc, signed_by = _load_flashed(previous, root)
        if current is not None:
            _set_link(root / PREVIOUS, current)
        _set_link(root / ACTIVE, previous)
    current_sha = sha256_hex(read_bytes(current)) if current and current.exists() else None
    log.info("rolled back to profile %s (%s) under %s", doc.profile.name, doc.sha256[:12], root)
    return FlashResult(doc.profile.name, doc.sha256, previous, current_sha, signed_by, changed=True)


# --- comparing ------------------------------------------------------------------------------------------------


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, sub in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), sub, out)
    else:
        out[prefix] = value


def effective_settings(profile: Profile) -> dict[str, Any]:
    """Every setting with its effective value (defaults included), by dotted key."""
    out: dict[str, Any] = {}
    _flatten("", profile.model_dump(mode="json"), out)
    return out


def diff(old: Profile, new: Profile) -> list[tuple[str, Any, Any]]:
    """Settings whose effective value differs: (key, old, new), sorted by key."""
    a, b = effective_settings(old), effective_settings(new)
    return [(k, a.get(k), b.get(k)) for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)]


# --- side effects on the running device ------------------------------------------------------------------------


def record(data_dir: Path, kind: str, result: FlashResult, root: Path) -> dict[str, Any]:
    """Append a ``profile_flash``/``profile_rollback`` entry to the device's audit log."""
    path = data_dir / "audit.log"
    entry = AuditLog(path).append(
        kind,
        profile=result.name,
        sha256=result.sha256,
        previous_sha256=result.previous_sha256,
        signed_by=result.signed_by,
        root=str(root),
    )
    # A technician runs this as root; the agent's own user must still be able to append afterwards.
    owner = data_dir.stat()
    if os.geteuid() == 0 and path.stat().st_uid != owner.st_uid:
        os.chown(path, owner.st_uid, owner.st_gid)
    return entry


def _is_agent(pid: int) -> bool:
    """Guard against a stale pid file naming an unrelated process (SIGHUP would end most programs)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"edge-agent" in cmdline or b"edge_agent" in cmdline


def reload_agent(data_dir: Path) -> str:
    """Ask a running agent (``<data-dir>/agent.pid``) to reload its profile; say what happened."""
    pid_file = data_dir / "agent.pid"
    try:
        pid = int(pid_file.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        return f"no running agent ({pid_file} not found): the profile applies at the next start"
    except (OSError, ValueError):
        return f"{pid_file} is unreadable: restart the agent to apply the profile"
    if not _is_agent(pid):
        return f"no running agent (pid {pid} in {pid_file} is gone): the profile applies at the next start"
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        return f"no running agent (pid {pid} exited): the profile applies at the next start"
    except PermissionError:
        return f"cannot signal the agent (pid {pid}): run 'systemctl reload edge-agent' as root"
    return f"agent (pid {pid}) told to reload its profile (SIGHUP); the outbox is kept"
