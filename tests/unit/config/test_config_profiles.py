"""Signing, flashing, rollback, audit entries and the agent reload, on a folder root with real Ed25519 keys."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.config import profiles
from edge_agent.core.audit import AuditLog
from edge_agent.errors import ConfigError

PROFILES_DIR = Path(__file__).resolve().parents[3] / "firmware_profiles"


@pytest.fixture
def installer(tmp_path: Path) -> Path:
    key = tmp_path / "keys" / "installer.key"
    key.parent.mkdir()
    profiles.keygen(key)
    return key


@pytest.fixture
def root(tmp_path: Path, installer: Path) -> Path:
    root = tmp_path / "etc"
    (root / profiles.KEYS_DIR).mkdir(parents=True)
    shutil.copy(installer.with_name(installer.name + ".pub"), root / profiles.KEYS_DIR / "tech.pub")
    return root


def _signed_copy(tmp_path: Path, name: str, key: Path, edit: str = "") -> Path:
    path = tmp_path / "work" / f"{name}.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text((PROFILES_DIR / f"{name}.toml").read_text() + edit)
    profiles.sign(path, key)
    return path


def test_keygen_writes_a_private_key_only_the_owner_can_read(installer: Path) -> None:
    assert installer.stat().st_mode & 0o777 == 0o600
    assert len(installer.with_name("installer.key.pub").read_text().strip()) == 44


def test_sign_writes_a_detached_signature_over_the_exact_bytes(tmp_path: Path, installer: Path) -> None:
    path = _signed_copy(tmp_path, "pi4-cam3", installer)
    sig = json.loads(path.with_name("pi4-cam3.toml.sig").read_text())
    assert sig["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert sig["kind"] == "edge-agent-profile-signature"


def test_sign_refuses_a_profile_below_the_floor(tmp_path: Path, installer: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\n[redaction]\nneighbour_masks = false\n')
    with pytest.raises(ConfigError, match="neighbour-masks"):
        profiles.sign(bad, installer)
    assert not bad.with_name("bad.toml.sig").exists()


def test_flash_installs_a_signed_profile_and_keeps_the_previous(tmp_path: Path, root: Path, installer: Path) -> None:
    first = _signed_copy(tmp_path, "pi4-cam3", installer)
    r1 = profiles.flash(str(first), root)
    assert r1.changed and r1.previous_sha256 is None and r1.signed_by
    doc, signer = profiles.load_active(root)
    assert doc.data == first.read_bytes() and signer == r1.signed_by

    second = _signed_copy(tmp_path, "pi5-cam3", installer)
    r2 = profiles.flash(str(second), root)
    assert r2.previous_sha256 == r1.sha256
    assert profiles.load_active_profile(root)[0].name == "pi5-cam3"
    assert (root / profiles.PREVIOUS).resolve().read_bytes() == first.read_bytes()

    # Flashing the same bytes again changes nothing.
    assert profiles.flash(str(second), root).changed is False


def test_rollback_restores_the_previous_and_a_second_rollback_undoes_it(
    tmp_path: Path, root: Path, installer: Path
) -> None:
    profiles.flash(str(_signed_copy(tmp_path, "pi4-cam3", installer)), root)
    profiles.flash(str(_signed_copy(tmp_path, "usb-uvc", installer)), root)
    back = profiles.rollback(root)
    assert back.name == "pi4-cam3"
    assert profiles.load_active_profile(root)[0].name == "pi4-cam3"
    assert profiles.rollback(root).name == "usb-uvc"


def test_rollback_without_previous_is_refused(tmp_path: Path, root: Path, installer: Path) -> None:
    with pytest.raises(ConfigError, match="no previous profile"):
        profiles.rollback(root)
    profiles.flash(str(_signed_copy(tmp_path, "pi4-cam3", installer)), root)
    with pytest.raises(ConfigError, match="no previous profile"):
        profiles.rollback(root)


def test_unsigned_profile_is_refused_by_default(root: Path) -> None:
    with pytest.raises(ConfigError, match="not signed"):
        profiles.flash(str(PROFILES_DIR / "dev-linux.toml"), root)
    assert not (root / profiles.ACTIVE).exists()


def test_altered_profile_is_refused(tmp_path: Path, root: Path, installer: Path) -> None:
    path = _signed_copy(tmp_path, "pi4-cam3", installer)
    path.write_text(path.read_text().replace("max_live_hours = 8", "max_live_hours = 12"))
    with pytest.raises(ConfigError, match="altered since it was signed"):
        profiles.flash(str(path), root)


def test_forged_signature_is_refused(tmp_path: Path, root: Path, installer: Path) -> None:
    path = _signed_copy(tmp_path, "pi4-cam3", installer)
    sig_path = path.with_name(path.name + ".sig")
    sig = json.loads(sig_path.read_text())
    other = _signed_copy(tmp_path, "pi5-cam3", installer).with_name("pi5-cam3.toml.sig")
    sig["signature"] = json.loads(other.read_text())["signature"]
    sig_path.write_text(json.dumps(sig))
    with pytest.raises(ConfigError, match="does not verify"):
        profiles.flash(str(path), root)


def test_untrusted_installer_key_is_refused(tmp_path: Path, root: Path) -> None:
    stranger = tmp_path / "stranger.key"
    profiles.keygen(stranger)
    path = _signed_copy(tmp_path, "pi4-cam3", stranger)
    with pytest.raises(ConfigError, match="does not trust"):
        profiles.flash(str(path), root)


def test_device_may_allow_unsigned_but_still_checks_present_signatures(
    tmp_path: Path, root: Path, installer: Path
) -> None:
    (root / "device.toml").write_text("require_signed = false\n")
    assert profiles.flash("dev-linux", root).signed_by is None
    path = _signed_copy(tmp_path, "pi4-cam3", installer, edit="\n")
    path.write_text(path.read_text() + "# edited\n")
    with pytest.raises(ConfigError, match="altered"):
        profiles.flash(str(path), root)


def test_flashed_copy_edited_in_place_is_refused_at_load(tmp_path: Path, root: Path, installer: Path) -> None:
    profiles.flash(str(_signed_copy(tmp_path, "pi4-cam3", installer)), root)
    target = (root / profiles.ACTIVE).resolve()
    target.write_text(target.read_text().replace("max_live_hours = 8", "max_live_hours = 12"))
    with pytest.raises(ConfigError, match="altered"):
        profiles.load_active(root)


def test_a_profile_below_the_floor_cannot_be_flashed(root: Path) -> None:
    (root / "device.toml").write_text("require_signed = false\n")
    bad = root / "bad.toml"
    bad.write_text('name = "bad"\n[consent]\nmax_live_hours = 72\n')
    with pytest.raises(ConfigError, match="hard-caps"):
        profiles.flash(str(bad), root)


def test_only_active_and_previous_copies_are_kept(tmp_path: Path, root: Path, installer: Path) -> None:
    for name in ("pi4-cam3", "pi5-cam3", "usb-uvc"):
        profiles.flash(str(_signed_copy(tmp_path, name, installer)), root)
    kept = {p.name.rsplit("-", 1)[0] for p in (root / profiles.FLASHED).glob("*.toml")}
    assert kept == {"pi5-cam3", "usb-uvc"}


def test_record_appends_hash_chained_audit_entries(tmp_path: Path, root: Path, installer: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    result = profiles.flash(str(_signed_copy(tmp_path, "pi4-cam3", installer)), root)
    profiles.record(data, "profile_flash", result, root)
    profiles.record(data, "profile_rollback", result, root)
    log = AuditLog(data / "audit.log")
    entries = list(log.entries())
    assert [e["kind"] for e in entries] == ["profile_flash", "profile_rollback"]
    assert entries[0]["profile"] == "pi4-cam3" and entries[0]["sha256"] == result.sha256
    assert log.verify().ok


def test_diff_lists_effective_changes() -> None:
    a = profiles.load_doc(str(PROFILES_DIR / "pi4-cam3.toml")).profile
    b = profiles.load_doc(str(PROFILES_DIR / "pi5-cam3.toml")).profile
    changes = {k: (old, new) for k, old, new in profiles.diff(a, b)}
    assert changes["camera.encoder"] == ("hardware", "x264")
    assert "camera.width" not in changes
    assert profiles.diff(a, a) == []


def test_load_by_name_and_unknown_name(root: Path) -> None:
    assert profiles.load_doc("usb-uvc", root).profile.camera.source == "usb:0"
    with pytest.raises(ConfigError, match="not found"):
        profiles.load_doc("no-such-profile", root)


# --- reload of a running agent -------------------------------------------------------------------------------

AGENT = """
import signal, sys, time, pathlib
out = pathlib.Path(sys.argv[1])
signal.signal(signal.SIGHUP, lambda *_: out.write_text("reloaded"))
print("ready", flush=True)
while not out.exists():
    time.sleep(0.01)
"""


@pytest.fixture
def fake_agent(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    marker = tmp_path / "hup"
    # "edge_agent" in the command line is how the pid-file check recognises the agent.
    proc = subprocess.Popen(
        [sys.executable, "-c", AGENT, str(marker), "edge_agent-run"], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    yield proc, marker
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_reload_sends_sighup_to_the_agent(tmp_path: Path, fake_agent: tuple[subprocess.Popen[str], Path]) -> None:
    proc, marker = fake_agent
    (tmp_path / "agent.pid").write_text(f"{proc.pid}\n")
    message = profiles.reload_agent(tmp_path)
    assert f"pid {proc.pid}" in message and "SIGHUP" in message
    proc.wait(timeout=10)
    assert marker.read_text() == "reloaded"


def test_reload_does_not_signal_an_unrelated_process(tmp_path: Path) -> None:
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        (tmp_path / "agent.pid").write_text(str(sleeper.pid))
        assert "no running agent" in profiles.reload_agent(tmp_path)
        time.sleep(0.05)
        assert sleeper.poll() is None
    finally:
        os.kill(sleeper.pid, signal.SIGTERM)
        sleeper.wait()


def test_reload_without_pid_file_says_so(tmp_path: Path) -> None:
    assert "next start" in profiles.reload_agent(tmp_path)
