"""Provisioning: prepare the boot partition of a freshly imaged Raspberry Pi OS card.

Everything the first boot needs goes into ``<boot>/edge-agent/``: the signed profile, the installer public key
the device will trust, the crime center's public identity and broker, a source bundle of the agent, the
first-boot scripts from ``deploy/provision/``, and a ``SHA256SUMS`` the device checks before it installs.
The boot partition is FAT and readable by anyone holding the card: the device makes its own identity key on first
boot, and the only secret that may be written is the device's broker client key (``--tls-key``), which the first
boot installs into the agent's state and then deletes from the card.

Start-up happens in two stages because the kernel command line runs before the network is up:
``cmdline.txt`` gets ``systemd.run=<mount>/edge-agent/firstboot.sh`` (or, when Raspberry Pi Imager already
installed its own ``firstrun.sh`` there, a call is chained into that script). ``firstboot.sh`` installs a
one-shot service and removes the hook; after the reboot that service installs the agent with the network up.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import shlex
import tarfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import edge_agent
from edge_agent.config import keys, profiles
from edge_agent.core.files import atomic_write
from edge_agent.errors import ConfigError

log = logging.getLogger(__name__)

BUNDLE = "edge-agent"
BOOT_MOUNT = "/boot/firmware"  # where Raspberry Pi OS (Bookworm and later) mounts the boot partition
SCRIPTS = ("firstboot.sh", "firstboot-install.sh", "edge-agent-firstboot.service")
SOURCE_PARTS = ("pyproject.toml", "README.md", "edge_agent", "firmware_profiles", "systemd", "deploy")
HOOK_ARGS = "systemd.run_success_action=reboot systemd.unit=kernel-command-line.target"
_HOOK_MARK = "# edge-agent first boot"


@dataclass(frozen=True, slots=True)
class ProvisionResult:
    folder: Path
    files: tuple[str, ...]
    hook: str


def default_source() -> Path:
    """The source checkout this package runs from (``make provision`` from a clone)."""
    root = Path(edge_agent.__file__).resolve().parent.parent
    if not (root / "pyproject.toml").is_file() or not (root / "deploy" / "provision").is_dir():
        raise ConfigError(f"{root}: not an edge-agent source checkout; pass --source DIR")
    return root


def _check_broker(broker: str) -> None:
    parts = urlsplit(broker)
    if parts.scheme not in {"mqtt", "mqtts"} or not parts.hostname or parts.port is None:
        raise ConfigError(f"--broker {broker!r}: expected mqtt://host:port or mqtts://host:port")


def _check_client_cert(device_id: str | None, tls_ca: Path | None, tls_cert: Path | None,
                       tls_key: Path | None) -> None:
    """A client certificate comes with its key, the CA, and a device id equal to its common name (the broker's ACLs
    let a device publish only under that name)."""
    if (tls_cert is None) != (tls_key is None):
        raise ConfigError("--tls-cert and --tls-key go together")
    if tls_cert is None:
        return
    if tls_ca is None:
        raise ConfigError("--tls-cert needs --tls-ca")
    common_name = keys.certificate_common_name(tls_cert)
    if device_id != common_name:
        raise ConfigError(f"{tls_cert}: the certificate is for {common_name!r}; pass --device-id {common_name} so "
                          "that the device gets the same name")


def _source_bundle(source: Path) -> bytes:
    """A reproducible tar.gz of the parts of the source tree that ``deploy/install.sh`` needs."""

    def clean(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        if "__pycache__" in info.name or info.name.endswith((".pyc", ".egg-info")):
            return None
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        info.mtime = 0
        return info

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for part in SOURCE_PARTS:
            path = source / part
            if path.exists():
                tar.add(path, arcname=part, filter=clean)
    return buf.getvalue()


def _check_signed(doc: profiles.ProfileDoc, installer_pub: Path) -> str:
    """The device will require a signature by this key: refuse now rather than at first boot in the field."""
    public = profiles.load_public_key(installer_pub)
    sig_path = profiles.sig_path_of(doc)
    if sig_path is None:
        raise ConfigError(f"{doc.source}: cannot be signed; copy it to a file and sign that")
    trusted = {keys.key_id(keys.ed25519_public_bytes(public)): public}
    return profiles.verify(doc, sig_path, trusted)


def _existing_hook(boot: Path) -> tuple[str, Path | None]:
    """The card's kernel command line and the script its ``systemd.run=`` already runs, if any."""
    cmdline_path = boot / "cmdline.txt"
    if not cmdline_path.is_file():
        raise ConfigError(f"{boot}: no cmdline.txt; is this the boot partition of a Raspberry Pi OS card?")
    cmdline = cmdline_path.read_text(encoding="utf-8").strip()
    match = re.search(r"systemd\.run=(\S+)", cmdline)
    if match is None or f"/{BUNDLE}/firstboot.sh" in match.group(1):
        return cmdline, None
    other = boot / Path(match.group(1)).name
    if not other.is_file():
        raise ConfigError(f"{cmdline_path}: systemd.run={match.group(1)} is not on this partition; remove it")
    return cmdline, other


def _hook(boot: Path, mount: str) -> str:
    """Arrange for ``firstboot.sh`` to run on the first boot; return a one-line description."""
    script = f"{mount}/{BUNDLE}/firstboot.sh"
    cmdline_path = boot / "cmdline.txt"
    cmdline, other = _existing_hook(boot)
    if f"systemd.run={script}" in cmdline:
        return f"already in {cmdline_path}"
    if other is None:
        atomic_write(cmdline_path, f"{cmdline} systemd.run={script} {HOOK_ARGS}\n".encode(), 0o644)
        return f"{cmdline_path}: systemd.run={script}"
    # Imager's firstrun.sh (user, Wi-Fi, SSH) already owns the single systemd.run: chain into it.
    text = other.read_text(encoding="utf-8")
    if _HOOK_MARK not in text:
        first, _, rest = text.partition("\n")
        call = f"{_HOOK_MARK}\n/bin/bash {shlex.quote(script)} || echo 'edge-agent first boot failed' >&2\n"
        atomic_write(other, f"{first}\n{call}{rest}".encode(), 0o755)
    return f"chained into {other}"


def _settings(profile_file: str, broker: str, tls_ca: bool, device_id: str, client_cert: bool) -> bytes:
    lines = {
        "PROFILE": f"profile/{profile_file}",
        "BROKER": broker,
        "CENTER": "center.pub.json",
        "INSTALLER_KEYS": "installer-keys",
        "TLS_CA": "ca.pem" if tls_ca else "",
        "DEVICE_ID": device_id,
        "TLS_CERT": "device.pem" if client_cert else "",
        "TLS_KEY": "device.key" if client_cert else "",
    }
    return "".join(f"{k}={shlex.quote(v)}\n" for k, v in lines.items()).encode("utf-8")


def provision(
    boot: Path,
    profile: str,
    *,
    center: Path,
    broker: str,
    installer_pub: Path | None,
    tls_ca: Path | None = None,
    source: Path | None = None,
    mount: str = BOOT_MOUNT,
    device_id: str | None = None,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
) -> ProvisionResult:
    """Write ``<boot>/edge-agent/`` and the first-boot hook. Validates everything before writing anything."""
    if not boot.is_dir():
        raise ConfigError(f"--boot {boot}: not a folder")
    if installer_pub is None:
        raise ConfigError("--installer-pub is required: installed devices accept only signed profiles")
    _check_broker(broker)
    _check_client_cert(device_id, tls_ca, tls_cert, tls_key)
    _existing_hook(boot)
    keys.load_center_identity(center)
    doc = profiles.load_doc(profile)
    signer = _check_signed(doc, installer_pub)
    src = source or default_source()
    assert doc.path is not None  # _check_signed refused the embedded default
    sig_path = profiles.sig_path_of(doc)
    assert sig_path is not None
    files: dict[str, bytes] = {
        f"profile/{doc.path.name}": doc.data,
        f"profile/{sig_path.name}": sig_path.read_bytes(),
        f"installer-keys/{signer}.pub": installer_pub.read_bytes(),
        "center.pub.json": center.read_bytes(),
        "settings.env": _settings(doc.path.name, broker, tls_ca is not None, device_id or "", tls_cert is not None),
        "edge-agent-src.tar.gz": _source_bundle(src),
    }
    if tls_ca is not None:
        files["ca.pem"] = profiles.read_bytes(tls_ca)
    if tls_cert is not None and tls_key is not None:
        files["device.pem"] = profiles.read_bytes(tls_cert)
        files["device.key"] = profiles.read_bytes(tls_key)
    for name in SCRIPTS:
        files[name] = profiles.read_bytes(src / "deploy" / "provision" / name)
    folder = boot / BUNDLE
    for name, data in sorted(files.items()):
        mode = 0o755 if name.endswith(".sh") else 0o600 if name.endswith(".key") else 0o644
        atomic_write(folder / name, data, mode)
    sums = "".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in sorted(files.items()))
    atomic_write(folder / "SHA256SUMS", sums.encode("ascii"), 0o644)
    hook = _hook(boot, mount)
    log.info("provisioned %s with profile %s (%s)", boot, doc.profile.name, doc.sha256[:12])
    return ProvisionResult(folder, (*sorted(files), "SHA256SUMS"), hook)
