"""Provisioning a card: a folder stands in for the boot partition; the first-boot script runs on a folder root."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from edge_agent.config import keys, profiles, provision
from edge_agent.config.models import CenterIdentityFile
from edge_agent.errors import ConfigError
from tests.integration.test_acl import Ca

REPO = Path(__file__).resolve().parents[3]
CMDLINE = "console=serial0,115200 console=tty1 root=PARTUUID=1234-02 rootfstype=ext4 fsck.repair=yes rootwait"


@pytest.fixture
def center(tmp_path: Path) -> Path:
    x_key, _ = keys.new_x25519()
    e_key, _ = keys.new_ed25519()
    path = tmp_path / "center.pub.json"
    keys.write_public_json(
        path,
        CenterIdentityFile(
            center_id="rtcc-test",
            x25519=keys.b64(keys.x25519_public_bytes(x_key.public_key())),
            ed25519=keys.b64(keys.ed25519_public_bytes(e_key.public_key())),
        ),
    )
    return path


@pytest.fixture
def signed(tmp_path: Path) -> tuple[Path, Path]:
    key = tmp_path / "installer.key"
    public = profiles.keygen(key)
    profile = tmp_path / "pi4-cam3.toml"
    shutil.copy(REPO / "firmware_profiles" / "pi4-cam3.toml", profile)
    profiles.sign(profile, key)
    return profile, public


@pytest.fixture
def boot(tmp_path: Path) -> Path:
    boot = tmp_path / "bootfs"
    boot.mkdir()
    (boot / "cmdline.txt").write_text(CMDLINE + "\n")
    return boot


def _provision(boot: Path, signed: tuple[Path, Path], center: Path) -> provision.ProvisionResult:
    profile, public = signed
    return provision.provision(
        boot, str(profile), center=center, broker="mqtts://broker.example:8883", installer_pub=public, source=REPO
    )


def test_provision_writes_a_checked_bundle(boot: Path, signed: tuple[Path, Path], center: Path) -> None:
    result = _provision(boot, signed, center)
    folder = boot / "edge-agent"
    for line in (folder / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
    assert set(result.files) >= {"profile/pi4-cam3.toml", "profile/pi4-cam3.toml.sig", "center.pub.json"}
    settings = (folder / "settings.env").read_text()
    assert "BROKER=mqtts://broker.example:8883" in settings and "PROFILE=profile/pi4-cam3.toml" in settings
    # The copied profile still verifies against the copied installer key, as the device will check it.
    trusted = profiles.trusted_keys(folder)
    doc = profiles.load_doc(str(folder / "profile" / "pi4-cam3.toml"))
    assert profiles.verify(doc, folder / "profile" / "pi4-cam3.toml.sig", trusted) in trusted


def test_bundle_holds_the_source_and_no_private_key(boot: Path, signed: tuple[Path, Path], center: Path) -> None:
    _provision(boot, signed, center)
    with tarfile.open(boot / "edge-agent" / "edge-agent-src.tar.gz") as tar:
        names = tar.getnames()
    assert "pyproject.toml" in names and "deploy/install.sh" in names and "systemd/edge-agent.service" in names
    assert not any("__pycache__" in n or n.startswith(".venv") for n in names)
    for path in boot.rglob("*"):
        if path.is_file() and path.suffix != ".gz":
            assert "PRIVATE" not in path.read_text(errors="replace").upper()
    assert not any(p.name.endswith(".key") for p in boot.rglob("*"))


def test_cmdline_gets_one_hook_on_the_same_line(boot: Path, signed: tuple[Path, Path], center: Path) -> None:
    _provision(boot, signed, center)
    _provision(boot, signed, center)  # idempotent
    text = (boot / "cmdline.txt").read_text()
    assert text.count("\n") == 1 and text.startswith(CMDLINE)
    assert text.count("systemd.run=/boot/firmware/edge-agent/firstboot.sh") == 1


def test_chains_into_an_existing_imager_firstrun(boot: Path, signed: tuple[Path, Path], center: Path) -> None:
    (boot / "cmdline.txt").write_text(CMDLINE + " systemd.run=/boot/firstrun.sh systemd.run_success_action=reboot\n")
    (boot / "firstrun.sh").write_text("#!/bin/bash\nset +e\necho imager\n")
    result = _provision(boot, signed, center)
    assert "chained" in result.hook
    lines = (boot / "firstrun.sh").read_text().splitlines()
    assert lines[0] == "#!/bin/bash" and "/boot/firmware/edge-agent/firstboot.sh" in lines[2]
    assert "edge-agent" not in (boot / "cmdline.txt").read_text()


def test_refuses_unsigned_profile_and_bad_inputs(
    tmp_path: Path, boot: Path, signed: tuple[Path, Path], center: Path
) -> None:
    _, public = signed
    unsigned = tmp_path / "usb-uvc.toml"
    shutil.copy(REPO / "firmware_profiles" / "usb-uvc.toml", unsigned)
    with pytest.raises(ConfigError, match="not signed"):
        provision.provision(boot, str(unsigned), center=center, broker="mqtt://b:1883", installer_pub=public)
    with pytest.raises(ConfigError, match="--broker"):
        provision.provision(boot, str(signed[0]), center=center, broker="http://b", installer_pub=public)
    (boot / "cmdline.txt").unlink()
    with pytest.raises(ConfigError, match=r"no cmdline\.txt"):
        _provision(boot, signed, center)
    assert not (boot / "edge-agent").exists()


def test_firstboot_script_installs_the_service_and_removes_its_hook(
    tmp_path: Path, boot: Path, signed: tuple[Path, Path], center: Path
) -> None:
    _provision(boot, signed, center)
    rootfs = tmp_path / "rootfs"
    result = subprocess.run(
        ["bash", str(boot / "edge-agent" / "firstboot.sh")],
        env={"EDGE_ROOTFS": str(rootfs), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    unit = rootfs / "etc/systemd/system/edge-agent-firstboot.service"
    assert f"ExecStart=/bin/bash {boot}/edge-agent/firstboot-install.sh" in unit.read_text()
    wants = rootfs / "etc/systemd/system/multi-user.target.wants/edge-agent-firstboot.service"
    assert wants.is_symlink() and wants.resolve() == unit.resolve()
    assert (boot / "cmdline.txt").read_text() == CMDLINE + "\n"


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_deploy_scripts_pass_shellcheck() -> None:
    scripts = [REPO / "deploy" / "install.sh", *sorted((REPO / "deploy" / "provision").glob("*.sh"))]
    result = subprocess.run(["shellcheck", *map(str, scripts)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


def test_install_script_dry_run_covers_every_step(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(REPO / "deploy" / "install.sh"), "--profile", "pi4-cam3", "--broker", "mqtt://127.0.0.1:1883"],
        env={"EDGE_DRY_RUN": "1", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "useradd --system" in out and "edge-agent" in out
    assert "venv --system-site-packages /opt/edge-agent/venv" in out
    assert "profile flash pi4-cam3 --root /etc/edge-agent" in out
    assert "require_signed = true" in out and "10-broker.conf: 127.0.0.1" in out


def test_provision_names_the_device_after_its_certificate(
    boot: Path, signed: tuple[Path, Path], center: Path, tmp_path: Path
) -> None:
    ca = Ca(tmp_path, "device-ca")
    issued = ca.issue("door-1")
    profile, public = signed
    common = {"center": center, "broker": "mqtts://broker.example:8883", "installer_pub": public, "source": REPO,
              "tls_ca": ca.path, "tls_cert": issued.cert, "tls_key": issued.key}
    with pytest.raises(ConfigError, match="door-1"):
        provision.provision(boot, str(profile), device_id="door-2", **common)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="go together"):
        provision.provision(boot, str(profile), device_id="door-1",
                            **{**common, "tls_key": None})  # type: ignore[arg-type]
    provision.provision(boot, str(profile), device_id="door-1", **common)  # type: ignore[arg-type]
    settings = (boot / "edge-agent" / "settings.env").read_text()
    assert "DEVICE_ID=door-1" in settings and "TLS_CERT=device.pem" in settings and "TLS_KEY=device.key" in settings
    assert (boot / "edge-agent" / "device.pem").read_bytes() == issued.cert.read_bytes()


def test_install_script_names_the_device_and_installs_its_client_certificate(tmp_path: Path) -> None:
    center = tmp_path / "center.pub.json"
    result = subprocess.run(
        [str(REPO / "deploy" / "install.sh"), "--device-id", "door-1", "--center", str(center), "--broker",
         "mqtts://127.0.0.1:8883", "--tls-ca", "ca.pem", "--tls-cert", "door-1.pem", "--tls-key", "door-1.key"],
        env={"EDGE_DRY_RUN": "1", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "keys init --device-id door-1" in out
    assert "-m 0600 door-1.key /var/lib/edge-agent/tls/device.key" in out
    assert "--tls-cert /var/lib/edge-agent/tls/device.pem --tls-key /var/lib/edge-agent/tls/device.key" in out
    lone = subprocess.run([str(REPO / "deploy" / "install.sh"), "--tls-cert", "x.pem"],
                          env={"EDGE_DRY_RUN": "1", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
                          capture_output=True, text=True, check=False)
    assert lone.returncode == 2 and "go together" in lone.stderr
