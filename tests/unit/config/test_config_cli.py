"""``edge-agent profile ...`` and ``edge-agent provision`` through the real command line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edge_agent.cli import main
from edge_agent.config import keys
from edge_agent.config.models import CenterIdentityFile
from edge_agent.core.audit import AuditLog

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    monkeypatch.chdir(REPO)  # profiles are looked up by name in ./firmware_profiles
    key = tmp_path / "installer.key"
    assert main(["profile", "keygen", str(key)]) == 0
    root = tmp_path / "etc"
    (root / "installer-keys").mkdir(parents=True)
    shutil.copy(tmp_path / "installer.key.pub", root / "installer-keys" / "tech.pub")
    work = tmp_path / "work"
    work.mkdir()
    for name in ("pi4-cam3", "usb-uvc"):
        shutil.copy(REPO / "firmware_profiles" / f"{name}.toml", work / f"{name}.toml")
        assert main(["profile", "sign", str(work / f"{name}.toml"), "--key", str(key)]) == 0
    return {"key": key, "root": root, "work": work, "data": tmp_path / "data"}


def test_schema_is_json_schema_of_a_profile(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert {"camera", "redaction", "consent", "zones"} <= set(schema["properties"])


def test_validate_all_shipped_profiles(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    assert main(["profile", "validate"]) == 0
    out = capsys.readouterr().out
    assert out.count("ok   ") >= 5 and "FAIL" not in out


def test_validate_names_file_rule_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\n[consent]\nmax_live_hours = 100\n')
    assert main(["profile", "validate", str(bad)]) == 2
    out = capsys.readouterr().out
    assert f"{bad}:2: consent:" in out and "'hard-caps'" in out


def test_flash_rollback_with_audit_entries(setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    root, work, data = setup["root"], setup["work"], setup["data"]
    base = ["--data-dir", str(data), "profile"]
    assert main([*base, "flash", str(work / "pi4-cam3.toml"), "--root", str(root)]) == 0
    assert main([*base, "flash", str(work / "usb-uvc.toml"), "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "flashed profile usb-uvc" in out and "no running agent" in out
    assert main([*base, "rollback", "--root", str(root)]) == 0
    assert "rolled back to profile pi4-cam3" in capsys.readouterr().out
    entries = list(AuditLog(data / "audit.log").entries())
    assert [(e["kind"], e["profile"]) for e in entries] == [
        ("profile_flash", "pi4-cam3"),
        ("profile_flash", "usb-uvc"),
        ("profile_rollback", "pi4-cam3"),
    ]
    assert AuditLog(data / "audit.log").verify().ok

    assert main(["profile", "show", "--root", str(root)]) == 0
    shown = capsys.readouterr().out
    assert 'name = "pi4-cam3"' in shown and "signed by" in shown
    assert main(["profile", "list", "--root", str(root)]) == 0
    listed = capsys.readouterr().out
    assert "pi4-cam3" in listed


def test_flash_unsigned_is_one_line_error_exit_2(setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--data-dir", str(setup["data"]), "profile", "flash", "dev-linux", "--root", str(setup["root"])])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not signed" in err
    assert not (setup["data"] / "audit.log").exists()


def test_diff_against_active(setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    root, work = setup["root"], setup["work"]
    main(["--data-dir", str(setup["data"]), "profile", "flash", str(work / "pi4-cam3.toml"), "--root", str(root)])
    capsys.readouterr()
    assert main(["profile", "diff", str(work / "usb-uvc.toml"), "--root", str(root)]) == 1
    out = capsys.readouterr().out
    assert 'camera.encoder: "hardware" -> "x264"' in out


def test_provision_command(setup: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    boot = tmp_path / "boot"
    boot.mkdir()
    (boot / "cmdline.txt").write_text("console=tty1 root=PARTUUID=1-02 rootwait\n")
    center = tmp_path / "center.pub.json"
    keys.write_public_json(
        center,
        CenterIdentityFile(
            center_id="rtcc-test",
            x25519=keys.b64(keys.x25519_public_bytes(keys.new_x25519()[0].public_key())),
            ed25519=keys.b64(keys.ed25519_public_bytes(keys.new_ed25519()[0].public_key())),
        ),
    )
    code = main([
        "provision", "--boot", str(boot), "--profile", str(setup["work"] / "pi4-cam3.toml"),
        "--center", str(center), "--broker", "mqtt://10.0.0.5:1883",
        "--installer-pub", str(tmp_path / "installer.key.pub"),
    ])
    assert code == 0, capsys.readouterr().err
    assert (boot / "edge-agent" / "SHA256SUMS").is_file()
    assert "firstboot.sh" in (boot / "cmdline.txt").read_text()
