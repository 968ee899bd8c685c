"""Installer keys and detached profile signatures, and the device's rule for when a signature is required.

A signature is detached (``FILE.toml.sig``, JSON) so that the TOML stays readable: Ed25519 over a context string
and the SHA-256 of the exact bytes of the profile. Under the configuration root, ``installer-keys/*.pub`` are the
trusted installer public keys (base64 of the raw 32 bytes) and ``device.toml`` says whether signatures are
required (``require_signed = true``, the default when the file is missing).
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Annotated, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import Field

from edge_agent.config import keys
from edge_agent.config.catalogue import ProfileDoc, parse_doc, read_bytes, sha256_hex
from edge_agent.config.loader import load_model, parse_json
from edge_agent.config.models import Strict
from edge_agent.core.files import atomic_write
from edge_agent.errors import ConfigError

KEYS_DIR = "installer-keys"
SIG_SUFFIX = ".sig"
SIGNATURE_CONTEXT = b"edge-agent profile signature v1\x00"


class SignatureFile(Strict):
    """A detached profile signature (``FILE.toml.sig``)."""

    kind: Literal["edge-agent-profile-signature"] = "edge-agent-profile-signature"
    key_id: Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    signature: Annotated[str, Field(min_length=80, max_length=96)]


class DeviceSettings(Strict):
    """``<root>/device.toml``: how this device treats profiles. Missing file: signed profiles are required."""

    require_signed: bool = True


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
    if key_path.suffix == ".pub":
        raise ConfigError(
            f"{key_path}: this is the public half of an installer key; sign with the private key "
            f"{key_path.with_suffix('')} (the device trusts signatures checked against the .pub)"
        )
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
