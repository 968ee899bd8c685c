"""Profiles on a device: signing with installer keys, flashing, rollback, diff and listing.

Layout under the configuration root (``/etc/edge-agent`` on an installed system, any folder in tests)::

    device.toml              require_signed = true (the default when the file is missing)
    installer-keys/*.pub     trusted installer Ed25519 public keys (base64 of the raw 32 bytes)
    profiles/                the catalogue of profiles that can be flashed by name
    profiles.d/NAME-SHA.toml flashed copies (content-addressed), each with its detached .sig
    profile.toml             symlink to the active copy: replacing it is the one atomic commit of a flash
    profile.previous.toml    symlink to the copy it replaced, for ``rollback``

A signature is detached (``FILE.toml.sig``, JSON) so that the TOML stays readable: Ed25519 over a context string
and the SHA-256 of the exact bytes of the profile.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import logging
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import Field

from edge_agent.config import keys
from edge_agent.config.loader import (
    DEFAULT_PROFILE,
    PROFILE_DIRS,
    embedded_profile_text,
    load_model,
    parse_json,
    parse_toml,
)
from edge_agent.config.models import Profile, Strict
from edge_agent.consent.audit import AuditLog
from edge_agent.errors import ConfigError
from edge_agent.fsutil import atomic_write, fsync_dir

log = logging.getLogger(__name__)

DEFAULT_ROOT = Path("/etc/edge-agent")
ACTIVE = "profile.toml"
PREVIOUS = "profile.previous.toml"
FLASHED = "profiles.d"
KEYS_DIR = "installer-keys"
SIG_SUFFIX = ".sig"
SIGNATURE_CONTEXT = b"edge-agent profile signature v1\x00"
_EMBEDDED = "<embedded default profile>"


class SignatureFile(Strict):
    """A detached profile signature (``FILE.toml.sig``)."""

    kind: Literal["edge-agent-profile-signature"] = "edge-agent-profile-signature"
    key_id: Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    signature: Annotated[str, Field(min_length=80, max_length=96)]


class DeviceSettings(Strict):
    """``<root>/device.toml``: how this device treats profiles. Missing file: signed profiles are required."""

    require_signed: bool = True


@dataclass(frozen=True, slots=True)
class ProfileDoc:
    """A profile with its exact bytes: the bytes are what is hashed, signed and flashed."""

    source: str
    path: Path | None
    data: bytes
    profile: Profile

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def text(self) -> str:
        return self.data.decode("utf-8")


@dataclass(frozen=True, slots=True)
class FlashResult:
    name: str
    sha256: str
    path: Path
    previous_sha256: str | None
    signed_by: str | None
    changed: bool


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: file not found") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc


def parse_doc(source: str, path: Path | None, data: bytes) -> ProfileDoc:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: not UTF-8 text") from exc
    return ProfileDoc(source, path, data, parse_toml(source, text, Profile))


def catalogue_dirs(root: Path | None) -> list[Path]:
    """Where profiles are looked up by name: the source tree, the root's catalogue, the installed catalogue."""
    dirs = [PROFILE_DIRS[0]]
    if root is not None:
        dirs.append(root / "profiles")
    dirs.extend(d for d in PROFILE_DIRS[1:] if d not in dirs)
    return dirs


def resolve(name_or_path: str, root: Path | None = None) -> Path | None:
    """A file path, or a name looked up in :func:`catalogue_dirs`; None means the embedded default."""
    if name_or_path.endswith(".toml") or "/" in name_or_path:
        return Path(name_or_path)
    for folder in catalogue_dirs(root):
        path = folder / f"{name_or_path}.toml"
        if path.is_file():
            return path
    if name_or_path == DEFAULT_PROFILE:
        return None
    looked = ", ".join(str(d) for d in catalogue_dirs(root))
    raise ConfigError(f"profile {name_or_path!r} not found (looked for {name_or_path}.toml in {looked})")


def load_doc(name_or_path: str, root: Path | None = None) -> ProfileDoc:
    path = resolve(name_or_path, root)
    if path is None:
        return parse_doc(_EMBEDDED, None, embedded_profile_text().encode("utf-8"))
    return parse_doc(str(path), path, read_bytes(path))


def list_catalogue(root: Path | None = None) -> list[Path]:
    """Profile files by name, first folder winning, sorted by name."""
    seen: dict[str, Path] = {}
    for folder in catalogue_dirs(root):
        if folder.is_dir():
            for path in sorted(folder.glob("*.toml")):
                seen.setdefault(path.stem, path)
    return [seen[name] for name in sorted(seen)]


# --- keys and signatures -------------------------------------------------------------------------------------


def keygen(private_path: Path) -> Path:
    """Create an installer key: the private key at ``private_path`` (0600) and ``<private_path>.pub``."""
    key, raw = keys.new_ed25519()
    keys.write_private(private_path, raw)
    public_path = private_path.with_name(private_path.name + ".pub")
    atomic_write(public_path, (keys.b64(keys.ed25519_public_bytes(key.public_key())) + "\n").encode(), 0o644)
    return public_path


def load_public_key(path: Path) -> Ed25519PublicKey:
    text = read_bytes(path).decode("ascii", errors="replace").strip()
    return Ed25519PublicKey.from_public_bytes(keys.unb64(text, str(path)))


def trusted_keys(root: Path) -> dict[str, Ed25519PublicKey]:
    """The installer keys this device trusts, by key id."""
    folder = root / KEYS_DIR
    found: dict[str, Ed25519PublicKey] = {}
    if folder.is_dir():
        for path in sorted(folder.glob("*.pub")):
            public = load_public_key(path)
            found[keys.key_id(keys.ed25519_public_bytes(public))] = public
    return found


def _signed_message(data: bytes) -> bytes:
    return SIGNATURE_CONTEXT + hashlib.sha256(data).digest()


def sign(path: Path, key_path: Path) -> Path:
    """Sign the profile at ``path`` (validated first: nobody signs a profile that breaks the floor)."""
    data = read_bytes(path)
    parse_doc(str(path), path, data)
    key = keys.load_ed25519_private(key_path)
    sig = SignatureFile(
        key_id=keys.key_id(keys.ed25519_public_bytes(key.public_key())),
        sha256=sha256_hex(data),
        signature=keys.b64(key.sign(_signed_message(data))),
    )
    sig_path = path.with_name(path.name + SIG_SUFFIX)
    atomic_write(sig_path, (json.dumps(sig.model_dump(), indent=2) + "\n").encode("utf-8"), 0o644)
    return sig_path


def verify(doc: ProfileDoc, sig_path: Path, trusted: dict[str, Ed25519PublicKey]) -> str:
    """Check a detached signature; return the signer's key id. Raises ``ConfigError`` saying what is wrong."""
    if not sig_path.is_file():
        raise ConfigError(f"{doc.source}: not signed (no {sig_path.name}); sign it with 'edge-agent profile sign'")
    sig = parse_json(str(sig_path), read_bytes(sig_path).decode("utf-8", errors="replace"), SignatureFile)
    if sig.sha256 != doc.sha256:
        raise ConfigError(f"{doc.source}: altered since it was signed (SHA-256 differs from {sig_path.name})")
    public = trusted.get(sig.key_id)
    if public is None:
        raise ConfigError(f"{doc.source}: signed by installer key {sig.key_id}, which this device does not trust")
    try:
        raw = base64.b64decode(sig.signature, validate=True)
        public.verify(raw, _signed_message(doc.data))
    except (ValueError, InvalidSignature) as exc:
        raise ConfigError(f"{doc.source}: signature in {sig_path.name} does not verify") from exc
    return sig.key_id


def device_settings(root: Path) -> DeviceSettings:
    path = root / "device.toml"
    return load_model(path, DeviceSettings) if path.exists() else DeviceSettings()


def sig_path_of(doc: ProfileDoc) -> Path | None:
    return doc.path.with_name(doc.path.name + SIG_SUFFIX) if doc.path else None


def check_signature(doc: ProfileDoc, root: Path) -> str | None:
    """The device's rule: a signature, if present, must verify; if the device requires one, it must exist."""
    sig_path = sig_path_of(doc)
    required = device_settings(root).require_signed
    if sig_path is None:
        if required:
            raise ConfigError(f"{doc.source}: cannot be signed; this device requires signed profiles")
        return None
    if required or sig_path.exists():
        return verify(doc, sig_path, trusted_keys(root))
    return None


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
