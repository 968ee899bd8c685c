"""The device's identity key and its enrolment with a crime center, read from and written to its data folder."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from edge_agent.config import keys
from edge_agent.config.loader import load_model
from edge_agent.config.models import DeviceIdentityFile, Enrollment, TlsSettings
from edge_agent.core.files import atomic_write
from edge_agent.core.paths import DevicePaths
from edge_agent.errors import ConfigError


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    device_id: str
    signing_key: Ed25519PrivateKey


def default_device_id(public_raw: bytes) -> str:
    return "dev-" + keys.key_id(public_raw)[:12]


def init_identity(paths: DevicePaths, device_id: str | None = None) -> Path:
    if paths.signing_key.exists():
        raise ConfigError(f"{paths.signing_key}: device identity already exists; refusing to overwrite it")
    keys.ensure_private_dir(paths.signing_key.parent)
    key, raw = keys.new_ed25519()
    public_raw = keys.ed25519_public_bytes(key.public_key())
    ident = DeviceIdentityFile(device_id=device_id or default_device_id(public_raw), ed25519=keys.b64(public_raw))
    keys.write_private(paths.signing_key, raw)
    keys.write_public_json(paths.public, ident)
    return paths.public


def load_identity(paths: DevicePaths) -> DeviceIdentity:
    if not paths.signing_key.exists():
        raise ConfigError(f"{paths.root}: no device identity; run: edge-agent --data-dir {paths.root} keys init")
    ident, public = keys.load_device_identity(paths.public)
    key = keys.load_ed25519_private(paths.signing_key)
    if keys.ed25519_public_bytes(key.public_key()) != keys.ed25519_public_bytes(public):
        raise ConfigError(f"{paths.public}: public key does not match {paths.signing_key}")
    return DeviceIdentity(ident.device_id, key)


def enroll(
    paths: DevicePaths, center_key_file: Path, broker: str, tls: TlsSettings | None, archive_key: str | None
) -> Enrollment:
    ident, _, _ = keys.load_center_identity(center_key_file)
    if tls is not None and tls.cert_file:
        device, _ = keys.load_device_identity(paths.public)
        common_name = keys.certificate_common_name(Path(tls.cert_file))
        if common_name != device.device_id:
            # The broker's ACL lets a certificate publish only under its own common name: every segment would be
            # refused (135). Say so now, not after the first share.
            raise ConfigError(
                f"{tls.cert_file}: the certificate is for {common_name!r}, this device is {device.device_id!r}; "
                f"the names must match (keys init --device-id {common_name}, or a certificate for "
                f"{device.device_id})"
            )
    if archive_key is not None:
        keys.unb64(archive_key, "--archive-key")
    enrollment = Enrollment(broker=broker, center=ident, tls=tls, archive_x25519=archive_key)
    text = json.dumps(enrollment.model_dump(), indent=2, sort_keys=True) + "\n"
    atomic_write(paths.enrollment, text.encode("utf-8"), mode=0o600)
    return enrollment


def load_enrollment(paths: DevicePaths) -> Enrollment | None:
    if not paths.enrollment.exists():
        return None
    return load_model(paths.enrollment, Enrollment)


def center_recipient_keys(enrollment: Enrollment) -> list[X25519PublicKey]:
    """The HPKE recipients of every shared segment: the center, and the homeowner's archive key if set."""
    center_x, _ = keys.center_public_keys(enrollment.center, "enrollment.json: center")
    recipients = [center_x]
    if enrollment.archive_x25519:
        recipients.append(X25519PublicKey.from_public_bytes(keys.unb64(enrollment.archive_x25519, "archive key")))
    return recipients
