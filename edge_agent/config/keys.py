"""Key files: generation, loading, and the public identity files exchanged between device and center.

Private keys are raw 32-byte keys, base64 in a file of mode 0600. Public identity files are JSON validated by
the models in :mod:`edge_agent.config.models`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from edge_agent.config.loader import load_model, read_text
from edge_agent.config.models import CenterIdentityFile, DeviceIdentityFile
from edge_agent.core.files import atomic_write
from edge_agent.errors import ConfigError

RAW = serialization.Encoding.Raw


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise ConfigError(f"{what}: not valid base64") from exc
    if len(raw) != 32:
        raise ConfigError(f"{what}: expected a 32-byte key, got {len(raw)} bytes")
    return raw


def ed25519_public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(RAW, serialization.PublicFormat.Raw)


def x25519_public_bytes(key: X25519PublicKey) -> bytes:
    return key.public_bytes(RAW, serialization.PublicFormat.Raw)


def key_id(public_raw: bytes) -> str:
    """A short, stable identifier of a public key (first 8 bytes of its SHA-256, hex)."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


def write_private(path: Path, raw: bytes) -> None:
    if path.exists():
        raise ConfigError(f"{path}: already exists; refusing to overwrite a key")
    atomic_write(path, (b64(raw) + "\n").encode("ascii"), mode=0o600, exclusive=True)


def read_private(path: Path) -> bytes:
    mode = path.stat().st_mode & 0o777 if path.exists() else 0
    if mode & 0o077:
        raise ConfigError(f"{path}: private key is readable by others (mode {mode:o}); run chmod 600 {path}")
    return unb64(read_text(path).strip(), str(path))


def read_password(path: Path) -> str:
    """A password kept in a file of its own (first line), refused when others may read it."""
    mode = path.stat().st_mode & 0o777 if path.exists() else 0
    if mode & 0o077:
        raise ConfigError(f"{path}: password file is readable by others (mode {mode:o}); run chmod 600 {path}")
    lines = read_text(path).splitlines()
    if not lines or not lines[0]:
        raise ConfigError(f"{path}: password file is empty")
    return lines[0]


def load_ed25519_private(path: Path) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(read_private(path))


def load_x25519_private(path: Path) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(read_private(path))


def new_ed25519() -> tuple[Ed25519PrivateKey, bytes]:
    key = Ed25519PrivateKey.generate()
    return key, key.private_bytes(RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption())


def new_x25519() -> tuple[X25519PrivateKey, bytes]:
    key = X25519PrivateKey.generate()
    return key, key.private_bytes(RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption())


def write_public_json(
    path: Path, model: DeviceIdentityFile | CenterIdentityFile, *, mode: int = 0o644, dir_mode: int | None = None
) -> None:
    text = json.dumps(model.model_dump(), indent=2, sort_keys=True) + "\n"
    atomic_write(path, text.encode("utf-8"), mode=mode, dir_mode=dir_mode)


def load_device_identity(path: Path) -> tuple[DeviceIdentityFile, Ed25519PublicKey]:
    ident = load_model(path, DeviceIdentityFile)
    return ident, Ed25519PublicKey.from_public_bytes(unb64(ident.ed25519, f"{path}: ed25519"))


def load_center_identity(path: Path) -> tuple[CenterIdentityFile, X25519PublicKey, Ed25519PublicKey]:
    ident = load_model(path, CenterIdentityFile)
    return ident, *center_public_keys(ident, str(path))


def center_public_keys(ident: CenterIdentityFile, where: str) -> tuple[X25519PublicKey, Ed25519PublicKey]:
    return (
        X25519PublicKey.from_public_bytes(unb64(ident.x25519, f"{where}: x25519")),
        Ed25519PublicKey.from_public_bytes(unb64(ident.ed25519, f"{where}: ed25519")),
    )


def ensure_private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def certificate_common_name(path: Path) -> str:
    """The subject's common name of a PEM certificate (the broker's ACLs use it as the MQTT user name)."""
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the certificate: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise ConfigError(f"{path}: not a PEM certificate") from exc
    names = cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
    if not names:
        raise ConfigError(f"{path}: the certificate has no common name")
    return str(names[0].value)
