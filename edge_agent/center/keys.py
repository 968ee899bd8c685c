"""The crime center's key pair and its allow-list of enrolled devices.

Layout under the center's folder ``DIR``::

    keys/center.x25519.key    HPKE private key: opens segments sealed for the center
    keys/center.ed25519.key   signing key: signs police requests
    center.pub.json           the public half, handed to every device at enrolment
    devices/<device-id>.json  one public identity file per enrolled device (the explicit allow-list)
    withdrawn/<device-id>.json  identity of a withdrawn device: its segments are refused, its evidence still checks

Everything under ``DIR`` is 0600 (files) and 0700 (folders) from ``keys init`` on (see
:mod:`edge_agent.center.files`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from edge_agent.center.files import DIR_MODE, FILE_MODE, secure_root
from edge_agent.config import keys
from edge_agent.config.models import CenterIdentityFile, DeviceIdentityFile
from edge_agent.errors import CenterError, ConfigError


@dataclass(frozen=True, slots=True)
class CenterPaths:
    root: Path

    @property
    def x25519_key(self) -> Path:
        return self.root / "keys" / "center.x25519.key"

    @property
    def ed25519_key(self) -> Path:
        return self.root / "keys" / "center.ed25519.key"

    @property
    def public(self) -> Path:
        return self.root / "center.pub.json"

    @property
    def devices(self) -> Path:
        return self.root / "devices"

    @property
    def withdrawn(self) -> Path:
        return self.root / "withdrawn"

    @property
    def store(self) -> Path:
        return self.root / "store"

    @property
    def parts(self) -> Path:
        return self.root / "parts"

    @property
    def pending(self) -> Path:
        return self.root / "pending"

    @property
    def deadletter(self) -> Path:
        return self.root / "deadletter"

    @property
    def rejected(self) -> Path:
        return self.root / "rejected.jsonl"

    @property
    def evidence(self) -> Path:
        return self.root / "evidence.jsonl"

    @property
    def status(self) -> Path:
        return self.root / "status"

    @property
    def repair(self) -> Path:
        return self.root / "repair"


@dataclass(frozen=True, slots=True)
class CenterKeys:
    identity: CenterIdentityFile
    x25519: X25519PrivateKey
    ed25519: Ed25519PrivateKey


def init_keys(paths: CenterPaths, center_id: str | None = None) -> Path:
    if paths.x25519_key.exists() or paths.ed25519_key.exists():
        raise CenterError(f"{paths.root}: center keys already exist; refusing to overwrite them")
    secure_root(paths.root)
    keys.ensure_private_dir(paths.x25519_key.parent)
    xkey, xraw = keys.new_x25519()
    skey, sraw = keys.new_ed25519()
    keys.write_private(paths.x25519_key, xraw)
    keys.write_private(paths.ed25519_key, sraw)
    ident = CenterIdentityFile(
        center_id=center_id or "center-" + secrets.token_hex(4),
        x25519=keys.b64(keys.x25519_public_bytes(xkey.public_key())),
        ed25519=keys.b64(keys.ed25519_public_bytes(skey.public_key())),
    )
    keys.write_public_json(paths.public, ident, mode=FILE_MODE)
    return paths.public


def load_keys(paths: CenterPaths) -> CenterKeys:
    if not paths.x25519_key.exists():
        raise CenterError(f"{paths.root}: no center keys; run: edge-center --dir {paths.root} keys init")
    ident, _, _ = keys.load_center_identity(paths.public)
    return CenterKeys(ident, keys.load_x25519_private(paths.x25519_key), keys.load_ed25519_private(paths.ed25519_key))


def add_device(paths: CenterPaths, identity_file: Path) -> DeviceIdentityFile:
    ident, _ = keys.load_device_identity(identity_file)
    target = paths.devices / f"{ident.device_id}.json"
    former = paths.withdrawn / f"{ident.device_id}.json"
    if former.exists() and keys.load_device_identity(former)[0].ed25519 != ident.ed25519:
        raise CenterError(
            f"{identity_file}: device id {ident.device_id} was withdrawn from this center under another key, and its "
            "evidence must stay verifiable with that key; enrol the device under a new id"
        )
    if target.exists():
        existing, _ = keys.load_device_identity(target)
        if existing.ed25519 != ident.ed25519:
            raise CenterError(
                f"{identity_file}: device {ident.device_id} is already enrolled with a different key; "
                f"remove {target} first if the device was re-keyed"
            )
    keys.write_public_json(target, ident, mode=FILE_MODE, dir_mode=DIR_MODE)
    return ident


class DeviceRegistry:
    """The allow-list: the center trusts no device key it was not given. Re-reads a device file on a miss so that
    a worker picks up devices enrolled while it runs, and checks that a known device's file is still there, so that
    a device withdrawn while it runs is refused from its next message on.

    ``also``: more folders to look in after ``folder`` (``withdrawn/``, to check evidence of withdrawn devices)."""

    def __init__(self, folder: Path, *also: Path) -> None:
        self._folders = (folder, *also)
        self._folder = folder
        self._keys: dict[str, Ed25519PublicKey] = {}

    def _path(self, device_id: str) -> Path | None:
        if "/" in device_id or device_id.startswith("."):
            return None
        return next((p for f in self._folders if (p := f / f"{device_id}.json").is_file()), None)

    def __call__(self, device_id: str) -> Ed25519PublicKey | None:
        path = self._path(device_id)
        if path is None:
            self._keys.pop(device_id, None)
            return None
        key = self._keys.get(device_id)
        if key is not None:
            return key
        try:
            ident, key = keys.load_device_identity(path)
        except ConfigError:
            return None
        if ident.device_id != device_id:
            return None
        self._keys[device_id] = key
        return key

    def device_ids(self) -> list[str]:
        return sorted(p.stem for p in self._folder.glob("*.json")) if self._folder.is_dir() else []
